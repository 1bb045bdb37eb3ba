// Keyed tumbling windows over event time for the detectors that read raw events (DNS, flows): one state
// per (key, window), closed when the watermark passes the window's end, with a bound on live keys.
// Window starts are multiples of the size since the epoch, so a replay cuts the same windows.

export interface WindowSlot<S> {
  readonly key: string;
  readonly start: number;
  readonly end: number;
  readonly state: S;
}

export interface KeyedWindowsOptions<S> {
  readonly windowMs: number;
  /** How far behind the newest event time the watermark trails (out-of-order events within it still count). */
  readonly latenessMs: number;
  /** Live (key, window) states; past it the least recently touched is closed early. */
  readonly maxKeys: number;
  readonly create: (key: string, start: number) => S;
}

export class KeyedWindows<S> {
  private readonly live = new Map<string, WindowSlot<S>>();
  private maxTime = -Infinity;
  /** Window boundary the last close() scanned up to: nothing new can close before the next one. */
  private scanned = -Infinity;
  /** Events older than the watermark's closed windows: not counted. */
  late = 0;
  /** States closed early because of the key bound. */
  evicted = 0;

  constructor(private readonly o: KeyedWindowsOptions<S>) {
    if (!(o.windowMs > 0)) throw new RangeError(`windowMs ${o.windowMs} must be positive`);
  }

  get size(): number {
    return this.live.size;
  }

  get watermark(): number {
    return this.maxTime - this.o.latenessMs;
  }

  startOf(tMs: number): number {
    return tMs - (((tMs % this.o.windowMs) + this.o.windowMs) % this.o.windowMs);
  }

  /**
   * The state of `key`'s window containing `tMs`, or null when that window is already closed. Windows a
   * newer event closes, or the key bound evicts, go to `onClose` first.
   */
  slot(key: string, tMs: number, onClose: (w: WindowSlot<S>) => void): WindowSlot<S> | null {
    if (tMs > this.maxTime) this.maxTime = tMs;
    const start = this.startOf(tMs);
    if (start + this.o.windowMs <= this.watermark && !this.live.has(`${key}\u0000${start}`)) {
      this.late++;
      return null;
    }
    const id = `${key}\u0000${start}`;
    let w = this.live.get(id);
    if (w === undefined) {
      w = { key, start, end: start + this.o.windowMs, state: this.o.create(key, start) };
      if (this.live.size >= this.o.maxKeys) {
        const oldest = this.live.values().next().value!;
        this.live.delete(`${oldest.key}\u0000${oldest.start}`);
        this.evicted++;
        onClose(oldest);
      }
    } else {
      this.live.delete(id);
    }
    this.live.set(id, w);
    return w;
  }

  /** The live window of `key` holding `tMs`, without creating or touching it. */
  peek(key: string, tMs: number): WindowSlot<S> | undefined {
    return this.live.get(`${key}\u0000${this.startOf(tMs)}`);
  }

  /** Closes every window that ended at or before the watermark (or every window with `all`), oldest first. */
  close(onClose: (w: WindowSlot<S>) => void, all = false): void {
    const wm = all ? Infinity : this.watermark;
    if (!all) {
      const boundary = this.startOf(wm);
      if (boundary <= this.scanned) return;
      this.scanned = boundary;
    }
    const done: WindowSlot<S>[] = [];
    for (const w of this.live.values()) if (w.end <= wm) done.push(w);
    done.sort((a, b) => a.start - b.start || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    for (const w of done) {
      this.live.delete(`${w.key}\u0000${w.start}`);
      onClose(w);
    }
  }

  /** Moves event time forward without an event (an idle input). */
  advanceTo(tMs: number): void {
    if (tMs > this.maxTime) this.maxTime = tMs;
  }
}
