// HyperLogLog distinct counting (Flajolet et al. 2007) over 32-bit hashes, with the small- and
// large-range corrections; mergeable by register-wise max, so partitions and panes combine exactly.
import { StoqError } from "./errors.js";

export const HLL_MIN_PRECISION = 4;
export const HLL_MAX_PRECISION = 16;
/** 2^-v for every register value (at most 32 - 4 + 1): estimate() runs per window and summary, 4096+ registers each. */
const INVERSE_POWERS = Float64Array.from({ length: 64 }, (_, v) => 2 ** -v);

export class HyperLogLog {
  readonly precision: number;
  readonly registers: Uint8Array;

  constructor(precision = 12, registers?: Uint8Array) {
    if (!Number.isInteger(precision) || precision < HLL_MIN_PRECISION || precision > HLL_MAX_PRECISION) {
      throw new StoqError("RECORD_INVALID", `HyperLogLog precision ${precision} is outside ${HLL_MIN_PRECISION}..${HLL_MAX_PRECISION}`);
    }
    this.precision = precision;
    const m = 1 << precision;
    if (registers !== undefined && registers.length !== m) {
      throw new StoqError("RECORD_INVALID", `HyperLogLog of precision ${precision} needs ${m} registers, got ${registers.length}`);
    }
    this.registers = registers ?? new Uint8Array(m);
  }

  /** Relative standard error of the estimate: 1.04 / sqrt(m). */
  get standardError(): number {
    return 1.04 / Math.sqrt(this.registers.length);
  }

  /** Adds an element by its 32-bit hash (see hashString32). */
  addHash(hash: number): void {
    const p = this.precision;
    const idx = hash >>> (32 - p);
    // The low (32 - p) bits give the run length; the sentinel bit caps it at 32 - p + 1.
    const rho = Math.clz32(((hash << p) | (1 << (p - 1))) >>> 0) + 1;
    const r = this.registers;
    if (rho > (r[idx] ?? 0)) r[idx] = rho;
  }

  merge(other: HyperLogLog): void {
    if (other.precision !== this.precision) {
      throw new StoqError("RECORD_INVALID", `cannot merge HyperLogLog of precision ${other.precision} into ${this.precision}`);
    }
    const a = this.registers;
    const b = other.registers;
    for (let i = 0; i < a.length; i++) {
      const v = b[i] ?? 0;
      if (v > (a[i] ?? 0)) a[i] = v;
    }
  }

  clear(): void {
    this.registers.fill(0);
  }

  estimate(): number {
    const r = this.registers;
    const m = r.length;
    let sum = 0;
    let zeros = 0;
    for (let i = 0; i < m; i++) {
      const v = r[i] ?? 0;
      sum += INVERSE_POWERS[v] ?? 0;
      if (v === 0) zeros++;
    }
    const alpha = m === 16 ? 0.673 : m === 32 ? 0.697 : m === 64 ? 0.709 : 0.7213 / (1 + 1.079 / m);
    const raw = (alpha * m * m) / sum;
    if (raw <= 2.5 * m && zeros > 0) return m * Math.log(m / zeros);
    const two32 = 4294967296;
    if (raw > two32 / 30) return -two32 * Math.log(1 - raw / two32);
    return raw;
  }
}
