// Bounded in-order reassembly of one direction of a TCP connection, for the parsers that read a byte stream
// (DNS over TCP, TLS handshakes); out-of-order segments wait within a bound, retransmitted bytes are dropped.

export interface StreamChunk {
  /** Bytes now contiguous, in stream order. */
  readonly data: Buffer[];
  /** True when bytes were skipped (a hole the bound would not wait for): the consumer must resynchronise. */
  readonly gap: boolean;
}

// Segments held while waiting for a hole to fill; past either bound the hole is declared lost.
const MAX_PENDING_SEGMENTS = 64;
const MAX_PENDING_BYTES = 256 * 1024;

const NOTHING: StreamChunk = { data: [], gap: false };

/** Signed distance a - b in 32-bit sequence space. */
function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

export class TcpStream {
  private next: number | null = null;
  private pending: { seq: number; data: Buffer }[] = [];
  private pendingBytes = 0;

  /** Feeds one segment; SYN consumes one sequence number. Returns what became contiguous. */
  push(seq: number, syn: boolean, payload: Buffer): StreamChunk {
    if (syn) {
      this.next = (seq + 1) >>> 0;
      seq = (seq + 1) >>> 0;
    }
    if (payload.length === 0) return NOTHING;
    // Joined mid-connection: the first data segment seen fixes the start.
    if (this.next === null) this.next = seq;
    const d = seqDiff(seq, this.next);
    if (d + payload.length <= 0) return NOTHING;
    if (d > 0) {
      this.pending.push({ seq, data: Buffer.from(payload) });
      this.pendingBytes += payload.length;
      if (this.pending.length <= MAX_PENDING_SEGMENTS && this.pendingBytes <= MAX_PENDING_BYTES) return NOTHING;
      // Give up on the hole: continue from the earliest held segment.
      this.pending.sort((x, y) => seqDiff(x.seq, y.seq));
      this.next = this.pending[0]!.seq;
      const out: Buffer[] = [];
      this.drain(out);
      return { data: out, gap: true };
    }
    const out: Buffer[] = [d < 0 ? payload.subarray(-d) : payload];
    this.next = (this.next + payload.length + d) >>> 0;
    if (this.pending.length > 0) this.drain(out);
    return { data: out, gap: false };
  }

  private drain(out: Buffer[]): void {
    let progressed = true;
    while (progressed && this.pending.length > 0) {
      progressed = false;
      for (let i = 0; i < this.pending.length; i++) {
        const seg = this.pending[i]!;
        const d = seqDiff(seg.seq, this.next!);
        if (d > 0) continue;
        this.pending.splice(i, 1);
        this.pendingBytes -= seg.data.length;
        if (d + seg.data.length > 0) {
          out.push(seg.data.subarray(-d));
          this.next = (this.next! + seg.data.length + d) >>> 0;
        }
        progressed = true;
        break;
      }
    }
  }
}

/** Accumulates stream bytes up to a bound and hands out whole length-delimited units. */
export class ByteQueue {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly maxBytes: number) {}

  get length(): number {
    return this.buf.length;
  }

  /** Appends; returns false (and drops everything) if the bound would be exceeded. */
  append(chunks: Buffer[]): boolean {
    let add = 0;
    for (const c of chunks) add += c.length;
    if (this.buf.length + add > this.maxBytes) {
      this.buf = Buffer.alloc(0);
      return false;
    }
    // Always a copy: a held remainder must not pin the capture chunk its packet came from.
    this.buf = Buffer.concat([this.buf, ...chunks]);
    return true;
  }

  peek(): Buffer {
    return this.buf;
  }

  consume(n: number): void {
    this.buf = n >= this.buf.length ? Buffer.alloc(0) : this.buf.subarray(n);
  }

  clear(): void {
    this.buf = Buffer.alloc(0);
  }
}
