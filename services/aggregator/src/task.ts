// One input partition's aggregation with its changelog bookkeeping: which records a replay must skip,
// which closed panes and late deltas the next checkpoint writes (and which it deletes), and up to which
// input batch the consumer offset may be committed. Pure: the Kafka loop in aggregator.ts drives it.
//
// Recovery contract. A checkpoint commits, in one Kafka transaction: the aggregates emitted since the
// previous one, every pane closed and every late delta since (changelog keys `<task>|p|<start>|c|<i>`
// or `|l<seq>|<i>`, one per chunk), tombstones for panes no retained window needs any more, the task's progress (`<task>|m`),
// and the consumer offset just before the oldest record still in an open pane. Open panes are not
// written: a restart rebuilds the retained windows from the changelog and re-reads the open panes'
// records from that offset, skipping those before `next_offset` whose pane had already closed.
import type { DnsEvent, FlowRecord } from "../../../lib/src/avro.js";
import { PartitionAggregation, type WindowEmission } from "./partition-aggregation.js";
import { decodePane, decodeProgress, encodePane, encodeProgress, type TaskProgress } from "./state-codec.js";
import type { AggregatorSettings } from "./settings.js";
import type { KeyTablesByDim, Stream, WindowState } from "./window-state.js";

export interface StateRecord {
  readonly key: string;
  /** null deletes the key (compaction tombstone). */
  readonly value: Buffer | null;
}

export interface Checkpoint<B> {
  readonly state: StateRecord[];
  /** Commit the consumer position after this batch; null keeps the committed offset where it is. */
  readonly commitAfter: B | null;
}

export class Task<B> {
  readonly agg: PartitionAggregation;
  private nextOffset = 0;
  private replayUntil = -1;
  private replayWatermark = -Infinity;
  private seq = 0;
  private readonly batches: { seq: number; batch: B }[] = [];
  private pending: StateRecord[] = [];
  /** Changelog keys of written panes, with the time after which no window needs them. */
  private readonly livePanes = new Map<string, number>();
  private nextDeltaSeq = 0;
  skippedOnReplay = 0;

  constructor(
    readonly name: string,
    readonly stream: Stream,
    private readonly settings: AggregatorSettings,
    private readonly keyTables: KeyTablesByDim,
  ) {
    this.agg = new PartitionAggregation(name, stream, settings, keyTables);
  }

  get watermark(): number {
    return this.agg.watermark;
  }

  /**
   * Ingests one batch in offset order and returns the emissions it caused: record i is at `offsets[i]`
   * and `valueAt(i)` decodes it (null: it does not decode, the caller dead-letters it). Records are
   * decoded one at a time as they are ingested, so none outlives its turn. `endOffset` is the offset
   * after the batch (default: after its last record).
   */
  ingest(offsets: readonly number[], valueAt: (i: number) => DnsEvent | FlowRecord | null, batch: B, endOffset?: number): WindowEmission[] {
    this.seq++;
    this.agg.batchSeq = this.seq;
    this.batches.push({ seq: this.seq, batch });
    const dns = this.stream === "dns";
    const n = offsets.length;
    for (let i = 0; i < n; i++) {
      const value = valueAt(i);
      if (value === null) continue;
      const t = dns ? (value as DnsEvent).event_time_us / 1000 : (value as FlowRecord).last_seen_us / 1000;
      if (offsets[i]! < this.replayUntil && this.agg.paneEnd(t) <= this.replayWatermark) {
        if (t > this.agg.maxEventTime) this.agg.maxEventTime = t;
        this.skippedOnReplay++;
        continue;
      }
      if (dns) this.agg.ingestDns(value as DnsEvent);
      else this.agg.ingestFlow(value as FlowRecord);
    }
    if (endOffset !== undefined) this.nextOffset = endOffset;
    else if (n > 0) this.nextOffset = offsets[n - 1]! + 1;
    return this.advanceTo(this.agg.maxEventTime - this.settings.outOfOrdernessMs);
  }

  /** Moves the watermark (e.g. an idle partition following the others); returns the emissions. */
  advanceTo(watermark: number): WindowEmission[] {
    const out: WindowEmission[] = [];
    this.agg.advance(
      watermark,
      (e) => out.push(e),
      (pane, late) => this.persist(pane, late),
    );
    return out;
  }

  private persist(pane: WindowState, late: boolean): void {
    const base = `${this.name}|p|${pane.start}|${late ? `l${this.nextDeltaSeq++}` : "c"}`;
    const lastEnd = this.agg.lastWindowEnd(pane.start);
    encodePane(pane, this.keyTables).forEach((value, i) => {
      const key = `${base}|${i}`;
      this.pending.push({ key, value });
      this.livePanes.set(key, lastEnd);
    });
  }

  /** The changelog records since the last checkpoint and the batch whose end may be committed. */
  checkpoint(): Checkpoint<B> {
    const state = this.pending;
    this.pending = [];
    const wm = this.agg.watermark;
    for (const [key, lastEnd] of this.livePanes) {
      if (lastEnd + this.settings.allowedLatenessMs <= wm) {
        state.push({ key, value: null });
        this.livePanes.delete(key);
      }
    }
    state.push({ key: `${this.name}|m`, value: encodeProgress(this.progress()) });
    const oldestOpen = this.agg.oldestOpenSeq();
    let commitAfter: B | null = null;
    while (this.batches.length > 0 && (this.batches[0]?.seq ?? Infinity) < oldestOpen) {
      commitAfter = this.batches.shift()?.batch ?? null;
    }
    return { state, commitAfter };
  }

  private progress(): TaskProgress {
    return {
      watermark: this.agg.watermark,
      max_event_time: this.agg.maxEventTime,
      next_offset: this.nextOffset,
      late_since_emit: Object.fromEntries(this.agg.lateSinceEmit),
      late_total: this.agg.lateTotal,
      records_total: this.agg.recordsTotal,
      revisions: Object.fromEntries(this.agg.revisions()),
      next_delta_seq: this.nextDeltaSeq,
    };
  }

  /** Rebuilds the task from its changelog (the latest value of each of its keys; progress may be absent). */
  restore(records: ReadonlyMap<string, Buffer>): void {
    const progressBuf = records.get(`${this.name}|m`);
    if (progressBuf === undefined) return;
    const p = decodeProgress(progressBuf);
    const panes: WindowState[] = [];
    for (const [key, value] of records) {
      if (!key.startsWith(`${this.name}|p|`)) continue;
      const pane = decodePane(value, this.stream, this.keyTables);
      panes.push(pane);
      this.livePanes.set(key, this.agg.lastWindowEnd(pane.start));
    }
    this.agg.restore(p.watermark, panes, new Map(Object.entries(p.revisions)));
    for (const [k, v] of Object.entries(p.late_since_emit)) this.agg.lateSinceEmit.set(k, v);
    this.agg.lateTotal = p.late_total;
    this.agg.recordsTotal = p.records_total;
    this.agg.maxEventTime = p.max_event_time;
    this.nextOffset = p.next_offset;
    this.replayUntil = p.next_offset;
    this.replayWatermark = p.watermark;
    this.nextDeltaSeq = p.next_delta_seq;
  }

  /** Offset after the last record ingested (what a consumer position should be). */
  get position(): number {
    return this.nextOffset;
  }

  dispose(): void {
    this.agg.dispose();
  }
}
