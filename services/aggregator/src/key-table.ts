// Interns the keys of one dimension (domains, addresses, flow keys) as dense integer ids with a hard
// bound, storing the strings in a byte arena and the hash index in typed arrays, so a million keys cost
// no JS objects, no GC marking and about 40 bytes plus the key's characters.
//
// Layout. Index: open addressing with linear probing over `slots`, pairs of (hash, arena offset + 1;
// 0 = empty), at most 3/4 full, removal by backward shift so no tombstones accumulate. Arena entry:
// id (u32 LE), length (u16 LE, bit 15 = two bytes per code unit), the code units: a lookup reads the
// index pair and then one entry, two cache misses in a table too big for the caches (an id-indexed
// offset/length column in between would be a third). Per id: arena offset (u32; for a free id, the
// next free id) and reference count (u32).
//
// Links. A table may name parent tables (a query name's registered domain, a flow's source and
// destination): each entry then carries, between its length and its code units, one link per parent
// (parent id i32, -1 = none; parent key hash u32; parent key length u16), so one lookup of the finer
// key yields the coarser keys it implies, in the cache line already read. Invariant: a link holds a
// reference on its parent id (retained by setLink, released when the entry is freed), so a linked id
// is live and names the same key for as long as the entry exists; no stale id can be read from a link.
// Whether a link applies to a record is the caller's check (KeyTable only stores what was linked).
import { fmix32, hashString32 } from "../../../lib/src/hash.js";

/** Id returned when the table is full: the caller folds the record into an overflow bucket. */
export const OVERFLOW = -1;
/** Longest key stored, in UTF-16 code units (DNS names are at most 253); longer keys overflow. */
export const MAX_KEY_LENGTH = 0x7fff;
const WIDE = 0x8000;
const HEADER = 6;
const LINK_BYTES = 10;
const NO_FREE = 0xffffffff;

export class KeyTable {
  readonly capacity: number;
  private slots: Int32Array;
  private mask: number;
  private offsets: Uint32Array;
  private refs: Uint32Array;
  private arena: Uint8Array;
  private arenaUsed = 0;
  private arenaGarbage = 0;
  private freeHead = NO_FREE;
  private nextId = 0;
  private live = 0;
  /** Lookups refused because the table was full (or the key too long). */
  overflows = 0;
  /** Hash of the most recent lookup, so sketches reuse it instead of hashing the key again. */
  lastHash = 0;

  /** Arena offset of the entry the last intern() found or stored (-1 on OVERFLOW); valid until the next intern(). */
  lastEntry = -1;
  /** Bytes before an entry's code units: id, length, links. */
  private readonly header: number;

  constructor(
    capacity: number,
    /** Tables of the keys each entry links to (see Links), in link order. */
    private readonly parents: readonly KeyTable[] = [],
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`key table capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.header = HEADER + LINK_BYTES * parents.length;
    const initial = Math.min(capacity, 1024);
    this.slots = new Int32Array(2 * tableSizeFor(initial));
    this.mask = this.slots.length / 2 - 1;
    this.offsets = new Uint32Array(initial);
    this.refs = new Uint32Array(initial);
    this.arena = new Uint8Array(initial * 24);
  }

  get size(): number {
    return this.live;
  }

  /** Bytes held by the typed arrays of this table. */
  get byteSize(): number {
    return this.slots.byteLength + this.arena.byteLength + this.refs.length * 8;
  }

  /** The id of `key`, interning it if new; OVERFLOW when the table is full. Sets `lastHash`. */
  intern(key: string): number {
    return this.internHashed(key, hashString32(key));
  }

  /** intern() of a key whose hashString32 the caller already has. */
  internHashed(key: string, h: number): number {
    this.lastHash = h;
    const hs = h | 0;
    const slots = this.slots;
    const mask = this.mask;
    let i = h & mask;
    for (;;) {
      const e = slots[2 * i + 1] ?? 0;
      if (e === 0) break;
      if (slots[2 * i] === hs && this.equals(e - 1, key)) {
        this.lastEntry = e - 1;
        return this.idAt(e - 1);
      }
      i = (i + 1) & mask;
    }
    if (this.live >= this.capacity || key.length > MAX_KEY_LENGTH) {
      this.overflows++;
      this.lastEntry = -1;
      return OVERFLOW;
    }
    let id: number;
    if (this.freeHead !== NO_FREE) {
      id = this.freeHead;
      this.freeHead = this.offsets[id] ?? NO_FREE;
    } else {
      if (this.nextId === this.refs.length) this.growIds();
      id = this.nextId++;
    }
    const off = this.store(id, key);
    this.refs[id] = 0;
    // store() may have compacted the arena, which rewrites the index entries but not their places.
    this.slots[2 * i] = hs;
    this.slots[2 * i + 1] = off + 1;
    this.live++;
    if (this.live * 4 > (this.mask + 1) * 3) this.grow();
    this.lastEntry = off;
    return id;
  }

  /** The id of `key` if interned, else -1; never inserts. */
  find(key: string): number {
    const h = hashString32(key);
    let i = h & this.mask;
    for (;;) {
      const e = this.slots[2 * i + 1] ?? 0;
      if (e === 0) return -1;
      if (this.slots[2 * i] === (h | 0) && this.equals(e - 1, key)) return this.idAt(e - 1);
      i = (i + 1) & this.mask;
    }
  }

  keyOf(id: number): string {
    const off = this.offsets[id] ?? 0;
    const a = this.arena;
    const meta = (a[off + 4] ?? 0) | ((a[off + 5] ?? 0) << 8);
    const len = meta & ~WIDE;
    const buf = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    const p = off + this.header;
    return meta & WIDE ? buf.toString("utf16le", p, p + 2 * len) : buf.toString("latin1", p, p + len);
  }

  /** Arena offset of the entry of live id `id` (for links of a key found without intern()). */
  entryOf(id: number): number {
    return this.offsets[id] ?? 0;
  }

  /** Parent id of link `j` of the entry at `off`, -1 when not linked. */
  linkId(off: number, j: number): number {
    const a = this.arena;
    const p = off + HEADER + LINK_BYTES * j;
    return (a[p] ?? 0) | ((a[p + 1] ?? 0) << 8) | ((a[p + 2] ?? 0) << 16) | ((a[p + 3] ?? 0) << 24);
  }

  /** hashString32 of the parent key of link `j` (valid when linked). */
  linkHash(off: number, j: number): number {
    const a = this.arena;
    const p = off + HEADER + LINK_BYTES * j + 4;
    return ((a[p] ?? 0) | ((a[p + 1] ?? 0) << 8) | ((a[p + 2] ?? 0) << 16) | ((a[p + 3] ?? 0) << 24)) >>> 0;
  }

  /** Length (code units) of the parent key of link `j` (valid when linked). */
  linkLength(off: number, j: number): number {
    const a = this.arena;
    const p = off + HEADER + LINK_BYTES * j + 8;
    return (a[p] ?? 0) | ((a[p + 1] ?? 0) << 8);
  }

  /** Links the entry at `off` to live id `id` of parent table `j` (key hash `hash`, length `length`), retaining it. */
  setLink(off: number, j: number, id: number, hash: number, length: number): void {
    const parent = this.parents[j];
    if (parent === undefined || id < 0 || length > MAX_KEY_LENGTH) return;
    if (this.linkId(off, j) >= 0) throw new RangeError(`link ${j} of the entry at ${off} is already set`);
    parent.retain(id);
    const a = this.arena;
    const p = off + HEADER + LINK_BYTES * j;
    writeU32(a, p, id);
    writeU32(a, p + 4, hash);
    a[p + 8] = length & 0xff;
    a[p + 9] = length >>> 8;
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

  private idAt(off: number): number {
    const a = this.arena;
    return ((a[off] ?? 0) | ((a[off + 1] ?? 0) << 8) | ((a[off + 2] ?? 0) << 16) | ((a[off + 3] ?? 0) << 24)) >>> 0;
  }

  private equals(off: number, key: string): boolean {
    const a = this.arena;
    const meta = (a[off + 4] ?? 0) | ((a[off + 5] ?? 0) << 8);
    const len = meta & ~WIDE;
    if (len !== key.length) return false;
    let p = off + this.header;
    if (meta & WIDE) {
      for (let i = 0; i < len; i++, p += 2) if (((a[p] ?? 0) | ((a[p + 1] ?? 0) << 8)) !== key.charCodeAt(i)) return false;
      return true;
    }
    for (let i = 0; i < len; i++) if (a[p + i] !== key.charCodeAt(i)) return false;
    return true;
  }

  /** hashString32 of the key stored at `off`, from the arena (the index keeps hashes by slot, not by id). */
  private storedHash(off: number): number {
    const a = this.arena;
    const meta = (a[off + 4] ?? 0) | ((a[off + 5] ?? 0) << 8);
    const len = meta & ~WIDE;
    const p = off + this.header;
    let h = 0x811c9dc5;
    if (meta & WIDE) for (let i = 0; i < len; i++) h = Math.imul(h ^ ((a[p + 2 * i] ?? 0) | ((a[p + 2 * i + 1] ?? 0) << 8)), 0x01000193);
    else for (let i = 0; i < len; i++) h = Math.imul(h ^ (a[p + i] ?? 0), 0x01000193);
    return fmix32(h);
  }

  /** Appends the entry of `id` to the arena; returns its offset. */
  private store(id: number, key: string): number {
    let wide = false;
    for (let i = 0; i < key.length; i++) {
      if (key.charCodeAt(i) > 0xff) {
        wide = true;
        break;
      }
    }
    const bytes = this.header + (wide ? 2 * key.length : key.length);
    if (this.arenaUsed + bytes > this.arena.length) this.makeRoom(bytes);
    const off = this.arenaUsed;
    const a = this.arena;
    a[off] = id & 0xff;
    a[off + 1] = (id >>> 8) & 0xff;
    a[off + 2] = (id >>> 16) & 0xff;
    a[off + 3] = id >>> 24;
    const meta = key.length | (wide ? WIDE : 0);
    a[off + 4] = meta & 0xff;
    a[off + 5] = meta >>> 8;
    for (let j = 0; j < this.parents.length; j++) writeU32(a, off + HEADER + LINK_BYTES * j, 0xffffffff);
    const p = off + this.header;
    if (wide) {
      for (let i = 0; i < key.length; i++) {
        const c = key.charCodeAt(i);
        a[p + 2 * i] = c & 0xff;
        a[p + 2 * i + 1] = c >>> 8;
      }
    } else {
      for (let i = 0; i < key.length; i++) a[p + i] = key.charCodeAt(i);
    }
    this.offsets[id] = off;
    this.arenaUsed += bytes;
    return off;
  }

  private entryBytes(off: number): number {
    const a = this.arena;
    const meta = (a[off + 4] ?? 0) | ((a[off + 5] ?? 0) << 8);
    return this.header + (meta & WIDE ? 2 * (meta & ~WIDE) : meta);
  }

  /** Compacts the arena when half of it is freed keys, else grows it. */
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
      const e = this.slots[2 * i + 1] ?? 0;
      if (e === 0) continue;
      const off = e - 1;
      const bytes = this.entryBytes(off);
      next.set(this.arena.subarray(off, off + bytes), used);
      this.offsets[this.idAt(off)] = used;
      this.slots[2 * i + 1] = used + 1;
      used += bytes;
    }
    this.arena = next;
    this.arenaUsed = used;
    this.arenaGarbage = 0;
  }

  private remove(id: number): void {
    const mask = this.mask;
    const slots = this.slots;
    const off = this.offsets[id] ?? 0;
    let i = this.storedHash(off) & mask;
    while ((slots[2 * i + 1] ?? 0) !== off + 1) i = (i + 1) & mask;
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
    for (let j = 0; j < this.parents.length; j++) {
      const pid = this.linkId(off, j);
      if (pid >= 0) this.parents[j]?.release(pid);
    }
    this.arenaGarbage += this.entryBytes(off);
    this.offsets[id] = this.freeHead;
    this.freeHead = id;
    this.live--;
  }

  /** Per-id arrays grow by doubling up to the capacity, so an idle dimension costs little. */
  private growIds(): void {
    const n = Math.min(this.capacity, this.refs.length * 2);
    const offsets = new Uint32Array(n);
    offsets.set(this.offsets);
    this.offsets = offsets;
    const refs = new Uint32Array(n);
    refs.set(this.refs);
    this.refs = refs;
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

function writeU32(a: Uint8Array, p: number, v: number): void {
  a[p] = v & 0xff;
  a[p + 1] = (v >>> 8) & 0xff;
  a[p + 2] = (v >>> 16) & 0xff;
  a[p + 3] = v >>> 24;
}

function tableSizeFor(n: number): number {
  let size = 16;
  while (size * 3 < n * 4) size *= 2;
  return size;
}
