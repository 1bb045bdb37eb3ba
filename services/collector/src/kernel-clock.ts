// Converts the kernel programs' timestamps (bpf_ktime_get_ns, CLOCK_MONOTONIC) to wall-clock event time
// with one offset taken at start-up, so every record of a run shares the same clock correction.

/** CLOCK_MONOTONIC now, in nanoseconds: the clock bpf_ktime_get_ns reads (libuv's hrtime is the same). */
export function monotonicNowNs(): bigint {
  return process.hrtime.bigint();
}

export class KernelClock {
  /** Wall-clock microseconds minus monotonic microseconds. */
  readonly offsetUs: number;

  constructor(offsetUs?: number) {
    this.offsetUs = offsetUs ?? KernelClock.measureOffsetUs();
  }

  /**
   * Reads both clocks several times and keeps the pair read closest together: a preemption between the
   * two reads would otherwise shift every record of the run by its length.
   */
  static measureOffsetUs(): number {
    let best = Infinity;
    let offset = 0;
    for (let i = 0; i < 9; i++) {
      const m0 = process.hrtime.bigint();
      const wallUs = (performance.timeOrigin + performance.now()) * 1000;
      const m1 = process.hrtime.bigint();
      const spread = Number(m1 - m0);
      if (spread < best) {
        best = spread;
        offset = wallUs - Number((m0 + m1) / 2n) / 1000;
      }
    }
    return Math.round(offset);
  }

  /** Kernel nanoseconds to epoch microseconds. A double keeps whole microseconds exact up to 2^53 us. */
  wallUs(kernelNs: bigint | number): number {
    return Math.floor(Number(kernelNs) / 1000) + this.offsetUs;
  }
}
