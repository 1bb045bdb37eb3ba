// The integer reference of feature_spec v1's per-source state (features 19..25) and user-space facts
// (26..28): what the kernel keeps per client address and how it turns that into features.
// Kept in sync with docs/feature-spec.md ("Per-source state") and the kernel's state update code.
import { LC, LC_BITS, RECIP } from "./feature-tables.js";
import { LONG_NAME_SUB_LEN, isTunnelQtype } from "./features.js";

export const SOURCE_CONST = {
  /** Length of the rate window; the state keeps the current and the previous window. */
  WINDOW_NS: 1_000_000_000,
  /** Decayed counters are halved together when their total reaches this, so ratios follow recent traffic. */
  DECAY_AT: 256,
  /** EWMA weight 1/8 for the average query size and response time. */
  EWMA_SHIFT: 3,
  /** Response times are kept in units of 1024 ns (a shift, not a division). */
  RT_UNIT_SHIFT: 10,
  RT_MAX: 1 << 20,
  COUNT_MAX: 65535,
  FACT_AGE_MAX: 1 << 20,
  FACT_CHAIN_MAX: 15,
} as const;

export const SOURCE_FEATURE_COUNT = 7;
export const FACT_FEATURE_COUNT = 3;

export interface QueryObservation {
  nowNs: bigint;
  /** nameHash of the query name. */
  hash: number;
  qtype: number;
  /** DNS message length in bytes. */
  dnsLen: number;
  /** The SUB_LEN feature of the query name. */
  subLen: number;
  qid: number;
}

export interface ResponseObservation {
  nowNs: bigint;
  qid: number;
  rcode: number;
}

function popcount64(x: bigint): number {
  let n = 0;
  for (let v = x; v !== 0n; v &= v - 1n) n++;
  return n;
}

/** Floor shift on a signed value, as the kernel's arithmetic shift on s32. */
function asr(x: number, s: number): number {
  return Math.floor(x / 2 ** s);
}

/** The state of one source address; zero-initialised like a fresh map entry. */
export class SourceState {
  winStartNs = 0n;
  namesCur = 0n;
  namesPrev = 0n;
  lastQueryNs = 0n;
  qCur = 0;
  qPrev = 0;
  avgQsizeQ4 = 0;
  rtAvg = 0;
  lastQid = 0;
  qTotal = 0;
  qTunnel = 0;
  qLong = 0;
  respTotal = 0;
  respNx = 0;

  private roll(now: bigint): void {
    const W = BigInt(SOURCE_CONST.WINDOW_NS);
    const elapsed = now - this.winStartNs;
    if (elapsed < W) return;
    const adjacent = elapsed < 2n * W;
    this.qPrev = adjacent ? this.qCur : 0;
    this.namesPrev = adjacent ? this.namesCur : 0n;
    this.qCur = 0;
    this.namesCur = 0n;
    this.winStartNs = now;
  }

  /** A query from this source; call before reading features() for that query. */
  onQuery(q: QueryObservation): void {
    this.roll(q.nowNs);
    this.qCur = Math.min(this.qCur + 1, SOURCE_CONST.COUNT_MAX);
    this.namesCur |= 1n << BigInt(q.hash >>> 26);
    const sizeQ4 = Math.min(q.dnsLen, SOURCE_CONST.COUNT_MAX) << 4;
    this.avgQsizeQ4 = this.avgQsizeQ4 === 0 ? sizeQ4 : this.avgQsizeQ4 + asr(sizeQ4 - this.avgQsizeQ4, SOURCE_CONST.EWMA_SHIFT);
    this.qTotal += 1;
    if (isTunnelQtype(q.qtype)) this.qTunnel += 1;
    if (q.subLen >= LONG_NAME_SUB_LEN) this.qLong += 1;
    if (this.qTotal >= SOURCE_CONST.DECAY_AT) {
      this.qTotal >>= 1;
      this.qTunnel >>= 1;
      this.qLong >>= 1;
    }
    this.lastQid = q.qid;
    this.lastQueryNs = q.nowNs;
  }

  /** A response addressed to this source. */
  onResponse(r: ResponseObservation): void {
    this.respTotal += 1;
    if (r.rcode === 3) this.respNx += 1;
    if (this.respTotal >= SOURCE_CONST.DECAY_AT) {
      this.respTotal >>= 1;
      this.respNx >>= 1;
    }
    if (this.lastQueryNs !== 0n && r.qid === this.lastQid && r.nowNs >= this.lastQueryNs) {
      const units = (r.nowNs - this.lastQueryNs) >> BigInt(SOURCE_CONST.RT_UNIT_SHIFT);
      const rt = Number(units > BigInt(SOURCE_CONST.RT_MAX) ? BigInt(SOURCE_CONST.RT_MAX) : units);
      this.rtAvg = this.rtAvg === 0 ? rt : this.rtAvg + asr(rt - this.rtAvg, SOURCE_CONST.EWMA_SHIFT);
      this.lastQueryNs = 0n;
    }
  }

  /** Features 19..25 in order. */
  features(): Int32Array {
    const bits = Math.min(Math.max(popcount64(this.namesPrev), popcount64(this.namesCur)), LC_BITS);
    return Int32Array.of(
      Math.max(this.qPrev, this.qCur),
      LC[bits]!,
      asr(this.respNx * RECIP[this.respTotal]!, 8),
      this.avgQsizeQ4 >> 4,
      this.rtAvg,
      asr(this.qTunnel * RECIP[this.qTotal]!, 8),
      asr(this.qLong * RECIP[this.qTotal]!, 8),
    );
  }
}

/** The collector's facts for a server address (features 26..28); null when the map has no entry. */
export function factFeatures(fact: { certAgeHours: number; chainLen: number } | null): Int32Array {
  if (fact === null) return new Int32Array(FACT_FEATURE_COUNT);
  return Int32Array.of(
    1,
    Math.min(Math.max(fact.certAgeHours, 0), SOURCE_CONST.FACT_AGE_MAX),
    Math.min(Math.max(fact.chainLen, 0), SOURCE_CONST.FACT_CHAIN_MAX),
  );
}
