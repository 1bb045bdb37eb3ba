// The rule for a collector configured to enforce: the kernel stays in observe mode until the model it
// holds is at least the newest acceptable one the model topic had when the collector started, so a late
// starter never drops traffic on an old model (or none).
import { setTimeout as sleep } from "node:timers/promises";
import { backoffDelayMs } from "../../../lib/src/kafka.js";
import type { Logger } from "../../../lib/src/log.js";

/** Wakes whoever waits for the applied model version to reach a target. */
export class AppliedVersion {
  #version: bigint;
  readonly #waiters = new Set<() => void>();

  constructor(initial = 0n) {
    this.#version = initial;
  }

  get value(): bigint {
    return this.#version;
  }

  set(v: bigint): void {
    this.#version = v;
    for (const w of this.#waiters) w();
  }

  /** Resolves true once the version is at least `target`, false if `signal` aborts first. */
  async reach(target: bigint, signal: AbortSignal): Promise<boolean> {
    while (this.#version < target) {
      if (signal.aborted) return false;
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          this.#waiters.delete(wake);
          signal.removeEventListener("abort", wake);
          resolve();
        };
        this.#waiters.add(wake);
        signal.addEventListener("abort", wake, { once: true });
      });
    }
    return true;
  }
}

export interface GateOptions {
  /** The newest acceptable version on the model topic now (reads the topic to its end). */
  readonly newestOnTopic: () => Promise<bigint>;
  readonly applied: AppliedVersion;
  readonly enforce: () => void;
  readonly signal: AbortSignal;
  readonly log: Logger;
}

/**
 * Reads the topic's newest acceptable version (retrying with backoff while the broker is away), waits
 * until that version is applied, then calls enforce(). Returns false when aborted before enforcing.
 */
export async function enforceWhenCurrent(o: GateOptions): Promise<boolean> {
  let target: bigint | null = null;
  for (let attempt = 0; target === null; attempt++) {
    if (o.signal.aborted) return false;
    try {
      target = await o.newestOnTopic();
    } catch (e) {
      o.log.warn({ err: e instanceof Error ? e.message : String(e), attempt }, "enforcement: cannot read the model topic to its end yet; staying in observe");
      await sleep(backoffDelayMs(attempt), undefined, { signal: o.signal }).catch(() => undefined);
    }
  }
  if (!(await o.applied.reach(target, o.signal))) return false;
  o.enforce();
  o.log.info({ applied: String(o.applied.value), newestOnTopic: String(target) }, "enforcement: the newest model is applied, enforcing");
  return true;
}
