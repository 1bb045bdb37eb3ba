// Interns the keys of one dimension (domains, addresses, flow keys) as dense integer ids with a hard
// bound, storing the strings in a byte arena and the hash index in typed arrays, so a million keys cost
// no JS objects, no GC marking and about 40 bytes plus the key's characters.
//
// Layout per id: `meta` pairs of arena offset (u32) and length and width (u32: bit 31 = two bytes per
// code unit), adjacent so a comparison touches one cache line; reference count (u32). Index: open addressing with linear probing over `slots`, pairs of (hash,
// id + 1; 0 = empty) so a probe reads one cache line, at most 3/4 full; removal by backward shift so no
// tombstones accumulate.
import { fmix32, hashString32 } from "../../../lib/src/hash.js";

/** Id returned when the table is full: the caller folds the record into an overflow bucket. */
export const OVERFLOW = -1;
const WIDE = 0x80000000;

export class KeyTable {
  readonly capacity: number;
  private slots: Int32Array;
  private mask: number;
  private meta: Uint32Array;
  private refs: Uint32Array;
  private arena: Uint8Array;
  private arenaUsed = 0;
  private arenaGarbage = 0;
  private freeIds: Int32Array;
  private freeCount = 0;
  private nextId = 0;
  private live = 0;
  /** Lookups refused because the table was full. */
  overflows = 0;
  /** Hash of the most recent lookup, so sketches reuse it instead of hashing the key again. */
  lastHash = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`key table capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    const initial = Math.min(capacity, 1024);
    this.slots = new Int32Array(2 * tableSizeFor(initial));
    this.mask = this.slots.length / 2 - 1;
    this.meta = new Uint32Array(2 * initial);
    this.refs = new Uint32Array(initial);
    this.freeIds = new Int32Array(initial);
    this.arena = new Uint8Array(initial * 24);
  }

  get size(): number {
    return this.live;
  }

  /** Bytes held by the typed arrays of this table. */
  get byteSize(): number {
    return this.slots.byteLength + this.arena.byteLength + this.refs.length * 16;
  }

  /** The id of `key`, interning it if new; OVERFLOW when the table is full. Sets `lastHash`. */
  intern(key: string): number {
    const h = hashString32(key);
    this.lastHash = h;
    const hs = h | 0;
    const slots = this.slots;
    let i = h & this.mask;
    for (;;) {
      const s = slots[2 * i + 1] ?? 0;
      if (s === 0) break;
      if (slots[2 * i] === hs && this.equals(s - 1, key)) return s - 1;
      i = (i + 1) & this.mask;
    }
    if (this.live >= this.capacity) {
      this.overflows++;
      return OVERFLOW;
    }
    if (this.freeCount === 0 && this.nextId === this.refs.length) this.growIds();
    const id = this.freeCount > 0 ? (this.freeIds[--this.freeCount] ?? 0) : this.nextId++;
    this.store(id, key);
    this.refs[id] = 0;
    slots[2 * i] = hs;
    slots[2 * i + 1] = id + 1;
    this.live++;
    if (this.live * 4 > (this.mask + 1) * 3) this.grow();
    return id;
  }

  /** The id of `key` if interned, else -1; never inserts. */
  find(key: string): number {
    const h = hashString32(key);
    let i = h & this.mask;
    for (;;) {
      const s = this.slots[2 * i + 1] ?? 0;
      if (s === 0) return -1;
      if (this.slots[2 * i] === (h | 0) && this.equals(s - 1, key)) return s - 1;
      i = (i + 1) & this.mask;
    }
  }

  keyOf(id: number): string {
    const off = this.meta[2 * id] ?? 0;
    const meta = this.meta[2 * id + 1] ?? 0;
    const len = meta & ~WIDE;
    const buf = Buffer.from(this.arena.buffer, this.arena.byteOffset, this.arena.byteLength);
    return meta & WIDE ? buf.toString("utf16le", off, off + 2 * len) : buf.toString("latin1", off, off + len);
  }

  /** A window started to hold state for the key. */
  retain(id: number): void {
    this.refs[id] = (this.refs[id] ?? 0) + 1;
  }

  /** A window holding the key was dropped; at zero references the id is freed for reuse. */
  release(id: number): void {
    // A release without a retain would wrap the count and corrupt the index: fail loudly instead.
    if ((this.refs[id] ?? 0) === 0) throw new RangeError(`key id ${id} released more often than retained`);
    const r = (this.refs[id] ?? 0) - 1;
    this.refs[id] = r;
    if (r === 0) this.remove(id);
  }

  refCount(id: number): number {
    return this.refs[id] ?? 0;
  }

  private equals(id: number, key: string): boolean {
    const meta = this.meta[2 * id + 1] ?? 0;
    const len = meta & ~WIDE;
    if (len !== key.length) return false;
    const a = this.arena;
    let off = this.meta[2 * id] ?? 0;
    if (meta & WIDE) {
      for (let i = 0; i < len; i++, off += 2) if (((a[off] ?? 0) | ((a[off + 1] ?? 0) << 8)) !== key.charCodeAt(i)) return false;
      return true;
    }
    for (let i = 0; i < len; i++) if (a[off + i] !== key.charCodeAt(i)) return false;
    return true;
  }

  /** hashString32 of the stored key, from the arena (the index keeps hashes by slot, not by id). */
  private storedHash(id: number): number {
    const meta = this.meta[2 * id + 1] ?? 0;
    const len = meta & ~WIDE;
    const a = this.arena;
    const off = this.meta[2 * id] ?? 0;
    let h = 0x811c9dc5;
    if (meta & WIDE) for (let i = 0; i < len; i++) h = Math.imul(h ^ ((a[off + 2 * i] ?? 0) | ((a[off + 2 * i + 1] ?? 0) << 8)), 0x01000193);
    else for (let i = 0; i < len; i++) h = Math.imul(h ^ (a[off + i] ?? 0), 0x01000193);
    return fmix32(h);
  }

  private store(id: number, key: string): void {
    let wide = false;
    for (let i = 0; i < key.length; i++) {
      if (key.charCodeAt(i) > 0xff) {
        wide = true;
        break;
      }
    }
    const bytes = wide ? 2 * key.length : key.length;
    if (this.arenaUsed + bytes > this.arena.length) this.makeRoom(bytes);
    const off = this.arenaUsed;
    const a = this.arena;
    if (wide) {
      for (let i = 0; i < key.length; i++) {
        const c = key.charCodeAt(i);
        a[off + 2 * i] = c & 0xff;
        a[off + 2 * i + 1] = c >>> 8;
      }
    } else {
      for (let i = 0; i < key.length; i++) a[off + i] = key.charCodeAt(i);
    }
    this.meta[2 * id] = off;
    this.meta[2 * id + 1] = key.length | (wide ? WIDE : 0);
    this.arenaUsed += bytes;
  }

  /** Compacts the arena when half of it is freed keys, else doubles it. */
  private makeRoom(bytes: number): void {
    if (this.arenaGarbage * 2 >= this.arenaUsed) {
      this.compact();
      if (this.arenaUsed + bytes <= this.arena.length) return;
    }
    // 1.5x rather than 2x: the arena of a million keys is tens of MiB, and the bound is on memory.
    let size = Math.ceil(this.arena.length * 1.5);
    while (size < this.arenaUsed + bytes) size = Math.ceil(size * 1.5);
    const next = new Uint8Array(size);
    next.set(this.arena.subarray(0, this.arenaUsed));
    this.arena = next;
  }

  private compact(): void {
    const next = new Uint8Array(this.arena.length);
    let used = 0;
    for (let i = 0; i <= this.mask; i++) {
      const s = this.slots[2 * i + 1] ?? 0;
      if (s === 0) continue;
      const id = s - 1;
      const meta = this.meta[2 * id + 1] ?? 0;
      const bytes = meta & WIDE ? 2 * (meta & ~WIDE) : meta;
      const off = this.meta[2 * id] ?? 0;
      next.set(this.arena.subarray(off, off + bytes), used);
      this.meta[2 * id] = used;
      used += bytes;
    }
    this.arena = next;
    this.arenaUsed = used;
    this.arenaGarbage = 0;
  }

  private remove(id: number): void {
    const mask = this.mask;
    const slots = this.slots;
    let i = this.storedHash(id) & mask;
    while ((slots[2 * i + 1] ?? 0) !== id + 1) i = (i + 1) & mask;
    // Backward-shift deletion: pull later entries of the probe run into the hole.
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const s = slots[2 * j + 1] ?? 0;
      if (s === 0) break;
      const home = (slots[2 * j] ?? 0) & mask;
      // The entry may fill the hole when the hole lies on its probe path from home to j.
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        slots[2 * hole] = slots[2 * j] ?? 0;
        slots[2 * hole + 1] = s;
        hole = j;
      }
    }
    slots[2 * hole] = 0;
    slots[2 * hole + 1] = 0;
    const meta = this.meta[2 * id + 1] ?? 0;
    this.arenaGarbage += meta & WIDE ? 2 * (meta & ~WIDE) : meta;
    this.freeIds[this.freeCount++] = id;
    this.live--;
  }

  /** Per-id arrays grow by doubling up to the capacity, so an idle dimension costs little. */
  private growIds(): void {
    const n = Math.min(this.capacity, this.refs.length * 2);
    const widen = <T extends Uint32Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    const meta = new Uint32Array(2 * n);
    meta.set(this.meta);
    this.meta = meta;
    this.refs = widen(this.refs, (k) => new Uint32Array(k));
    this.freeIds = widen(this.freeIds, (k) => new Int32Array(k));
  }

  private grow(): void {
    const size = 2 * (this.mask + 1);
    const next = new Int32Array(2 * size);
    const mask = size - 1;
    for (let i = 0; i <= this.mask; i++) {
      const s = this.slots[2 * i + 1] ?? 0;
      if (s === 0) continue;
      const h = this.slots[2 * i] ?? 0;
      let j = h & mask;
      while ((next[2 * j + 1] ?? 0) !== 0) j = (j + 1) & mask;
      next[2 * j] = h;
      next[2 * j + 1] = s;
    }
    this.slots = next;
    this.mask = mask;
  }
}

function tableSizeFor(n: number): number {
  let size = 16;
  while (size * 3 < n * 4) size *= 2;
  return size;
}
