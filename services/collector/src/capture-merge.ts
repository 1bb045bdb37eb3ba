// Merges several captures into one time-ordered stream, each shifted so that its first packet falls at a
// chosen offset from the first capture's start: how scenarios splice real attack captures into background.
import { readCapture, type CapturedPacket } from "./pcap.js";

export interface CaptureInput {
  readonly path: string;
  /** Seconds after the start of the first input at which this capture's first packet is placed; null keeps its own times. */
  readonly offsetS: number | null;
}

/** Parses "file.pcap" or "file.pcap@80" (offset in seconds). */
export function parseCaptureInput(arg: string): CaptureInput {
  const m = /^(.*)@(\d+(?:\.\d+)?)$/.exec(arg);
  return m ? { path: m[1]!, offsetS: Number(m[2]) } : { path: arg, offsetS: null };
}

interface Head {
  readonly it: AsyncIterator<CapturedPacket>;
  shiftUs: number | null;
  readonly offsetS: number | null;
  next: CapturedPacket | null;
}

/** K-way merge by (shifted) timestamp; ties keep input order. Inputs are few, so a linear scan is enough. */
export async function* mergeCaptures(inputs: readonly CaptureInput[]): AsyncGenerator<CapturedPacket> {
  const heads: Head[] = inputs.map((i) => ({ it: readCapture(i.path)[Symbol.asyncIterator](), shiftUs: null, offsetS: i.offsetS, next: null }));
  let baseUs: number | null = null;
  const advance = async (h: Head): Promise<void> => {
    const r = await h.it.next();
    if (r.done) {
      h.next = null;
      return;
    }
    const p = r.value;
    if (h.shiftUs === null) {
      baseUs ??= p.tsUs;
      h.shiftUs = h.offsetS === null ? 0 : baseUs + Math.round(h.offsetS * 1e6) - p.tsUs;
    }
    h.next = h.shiftUs === 0 ? p : { ...p, tsUs: p.tsUs + h.shiftUs };
  };
  // The first input's first packet defines the base, so it is read first.
  for (const h of heads) await advance(h);
  for (;;) {
    let best: Head | null = null;
    for (const h of heads) if (h.next && (!best || h.next.tsUs < best.next!.tsUs)) best = h;
    if (!best) return;
    yield best.next!;
    await advance(best);
  }
}
