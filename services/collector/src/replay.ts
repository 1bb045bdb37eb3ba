// Replays a capture file through an observer at its original pace, N times faster, or as fast as the
// parsers go; event time always comes from the capture's timestamps, whatever the pace.
import { setTimeout as sleep } from "node:timers/promises";
import { CaptureDecoder, readCapture, type CaptureStats, type CapturedPacket } from "./pcap.js";
import type { Observer } from "./observer.js";

/** 1 = original speed, N = N times faster, "max" = no pacing. */
export type ReplaySpeed = number | "max";

export interface ReplayOptions {
  readonly speed?: ReplaySpeed;
  readonly signal?: AbortSignal;
  /** Called every `progressEvery` packets (long replays show progress). */
  readonly onProgress?: (packets: number) => void;
  readonly progressEvery?: number;
}

export interface ReplayResult {
  readonly packets: number;
  readonly wallMs: number;
  /** Capture time covered, first to last packet. */
  readonly captureSpanUs: number;
  readonly capture: CaptureStats;
}

// Sleeping for less than this costs more in timer overhead than it buys in accuracy.
const MIN_SLEEP_MS = 2;

/** Delays each packet until its capture-relative time (divided by `speed`) has passed on the wall clock. */
export async function* paced(packets: AsyncIterable<CapturedPacket>, speed: ReplaySpeed, signal?: AbortSignal): AsyncGenerator<CapturedPacket> {
  if (speed !== "max" && !(speed > 0)) throw new RangeError(`replay speed must be a positive number or "max", got ${speed}`);
  let firstTs: number | null = null;
  let wallStart = 0;
  for await (const p of packets) {
    signal?.throwIfAborted();
    if (speed !== "max") {
      if (firstTs === null) {
        firstTs = p.tsUs;
        wallStart = performance.now();
      } else {
        const due = wallStart + (p.tsUs - firstTs) / 1000 / speed;
        const wait = due - performance.now();
        if (wait >= MIN_SLEEP_MS) await sleep(wait, undefined, { signal });
      }
    }
    yield p;
  }
}

/** Streams a capture through `observer` and flushes it at the end. */
export async function replayFile(path: string, observer: Observer, opts: ReplayOptions = {}): Promise<ReplayResult> {
  const decoder = new CaptureDecoder();
  const started = performance.now();
  const every = opts.progressEvery ?? 100_000;
  let n = 0;
  let first: number | null = null;
  let last = 0;
  for await (const p of paced(readCapture(path, decoder), opts.speed ?? "max", opts.signal)) {
    observer.capture(p);
    first ??= p.tsUs;
    last = p.tsUs;
    if (++n % every === 0) opts.onProgress?.(n);
  }
  observer.flush();
  return { packets: n, wallMs: performance.now() - started, captureSpanUs: first === null ? 0 : last - first, capture: decoder.stats };
}
