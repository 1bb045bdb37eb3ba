// The detector's view of stoq.aggregates.v1: one total per (stream, window size, hop, dimension, key,
// window), summed over the aggregator's partition tasks with only each task's latest revision counted,
// and closed in window order once the stream's event time has moved past it.
//
// Why sum over tasks: the aggregator aggregates each input partition separately (`aggregator_instance`
// names the task), so a global, node or source row of one window comes from several tasks. Why the latest
// revision: a task re-emits a window with its new total when late records arrive; adding revisions
// would count those records twice.
import { aggregateStream } from "../../../lib/src/aggregate-stream.js";
import type { Dimension, WindowAggregate } from "../../../lib/src/avro.js";

export type Stream = "dns" | "flow" | "other";

/** Dimensions where every window has a value (no row = zero records), so gaps are filled with zeros. */
export const DENSE_DIMENSIONS: ReadonlySet<Dimension> = new Set<Dimension>(["global", "node"]);

/**
 * Which input stream a row summarises: its `stream` field (WindowAggregate v2). Rows written before the
 * field (null) fall back to their indicator measure (aggregateStream), needed only while the topic's
 * retention still holds v1 rows; "other" for a row that says neither.
 */
export function streamOf(row: WindowAggregate): Stream {
  return aggregateStream(row) ?? "other";
}

export interface TaskCount {
  readonly revision: number;
  readonly count: number;
}

export interface SeriesWindow<T> {
  readonly series: Series<T>;
  readonly start: number;
  readonly end: number;
  /** Sum over tasks of each task's latest count. */
  total: number;
  readonly byTask: Map<string, TaskCount>;
  /** The latest row of the task with the largest count: for evidence (top-k, measures). */
  sample: WindowAggregate;
  closed: boolean;
}

export interface Series<T> {
  readonly id: string;
  readonly stream: Stream;
  readonly sizeMs: number;
  readonly hopMs: number;
  readonly kind: WindowAggregate["kind"];
  readonly dimension: Dimension;
  readonly key: string;
  readonly dense: boolean;
  /** Open windows and the few most recent closed ones (for revisions that come after the close). */
  readonly windows: Map<number, SeriesWindow<T>>;
  /** Start of the newest closed window; -Infinity before the first close. */
  lastClosedStart: number;
  /** The owner's per-series state (a baseline, say). */
  readonly state: T;
}

export type IngestOutcome = "new" | "revised" | "unchanged" | "too_late";

export interface WindowTableOptions<T> {
  /** A window closes when its stream has seen a window ending this long after its end (allowed lateness). */
  readonly closeDelayMs: number;
  /** Series kept; past it the least recently updated one is evicted (with its state). */
  readonly maxSeries: number;
  /** Closed windows kept per series to absorb revisions that arrive after the close. */
  readonly retainClosed?: number;
  readonly initState: (s: Omit<Series<T>, "state" | "windows" | "lastClosedStart">) => T;
}

interface Group {
  readonly sizeMs: number;
  /** Latest window end seen in this (stream, size, hop). */
  frontier: number;
  /** Window start -> ids of series with that window open. */
  readonly pending: Map<number, Set<string>>;
}

export class WindowTable<T> {
  private readonly series = new Map<string, Series<T>>();
  private readonly groups = new Map<string, Group>();
  evicted = 0;
  tooLate = 0;

  constructor(private readonly o: WindowTableOptions<T>) {
    if (!(o.maxSeries >= 1)) throw new RangeError(`maxSeries ${o.maxSeries} must be at least 1`);
  }

  get size(): number {
    return this.series.size;
  }

  get(id: string): Series<T> | undefined {
    return this.series.get(id);
  }

  /** Folds one row in; returns its window (undefined when too late to matter) and what changed. */
  ingest(row: WindowAggregate): { outcome: IngestOutcome; window?: SeriesWindow<T> } {
    const stream = streamOf(row);
    const groupId = `${stream}|${row.size_ms}|${row.hop_ms}`;
    const id = `${groupId}|${row.dimension}|${row.key}`;
    let s = this.series.get(id);
    if (s === undefined) {
      const base = { id, stream, sizeMs: row.size_ms, hopMs: row.hop_ms, kind: row.kind, dimension: row.dimension, key: row.key, dense: DENSE_DIMENSIONS.has(row.dimension) };
      s = { ...base, windows: new Map(), lastClosedStart: -Infinity, state: this.o.initState(base) };
      this.series.set(id, s);
      if (this.series.size > this.o.maxSeries) this.evictOldest();
    } else {
      // Map order is insertion order: re-inserting keeps the least recently updated series first.
      this.series.delete(id);
      this.series.set(id, s);
    }
    let w = s.windows.get(row.window_start_ms);
    if (w === undefined) {
      if (row.window_start_ms <= s.lastClosedStart) {
        this.tooLate++;
        return { outcome: "too_late" };
      }
      w = { series: s, start: row.window_start_ms, end: row.window_end_ms, total: 0, byTask: new Map(), sample: row, closed: false };
      s.windows.set(w.start, w);
      const g = this.group(groupId, row.size_ms);
      let ids = g.pending.get(w.start);
      if (ids === undefined) g.pending.set(w.start, (ids = new Set()));
      ids.add(id);
    }
    const g = this.group(groupId, row.size_ms);
    if (row.window_end_ms > g.frontier) g.frontier = row.window_end_ms;
    const prev = w.byTask.get(row.aggregator_instance);
    if (prev !== undefined && prev.revision >= row.revision) return { outcome: "unchanged", window: w };
    w.byTask.set(row.aggregator_instance, { revision: row.revision, count: row.count });
    w.total += row.count - (prev?.count ?? 0);
    if (row.count >= w.sample.count || w.sample.aggregator_instance === row.aggregator_instance) w.sample = row;
    return { outcome: prev === undefined && w.byTask.size === 1 ? "new" : "revised", window: w };
  }

  /**
   * Closes, oldest first, every open window whose stream's frontier is at least `closeDelayMs` past its
   * end. `onClose` sees each once, in start order per series.
   */
  closeReady(onClose: (w: SeriesWindow<T>) => void, force = false): void {
    const retain = this.o.retainClosed ?? 4;
    for (const g of this.groups.values()) {
      if (g.pending.size === 0) continue;
      const starts = [...g.pending.keys()].sort((a, b) => a - b);
      for (const start of starts) {
        if (!force && start + g.sizeMs + this.o.closeDelayMs > g.frontier) break;
        const ids = g.pending.get(start)!;
        g.pending.delete(start);
        for (const id of ids) {
          const s = this.series.get(id);
          const w = s?.windows.get(start);
          if (s === undefined || w === undefined || w.closed) continue;
          w.closed = true;
          onClose(w);
          s.lastClosedStart = Math.max(s.lastClosedStart, start);
          let closedCount = 0;
          for (const [st, x] of [...s.windows].sort((a, b) => b[0] - a[0])) {
            if (!x.closed) continue;
            if (++closedCount > retain) s.windows.delete(st);
          }
        }
      }
    }
  }

  /** Closes every open window regardless of the frontier (end of a finite input). */
  closeAll(onClose: (w: SeriesWindow<T>) => void): void {
    this.closeReady(onClose, true);
  }

  private group(id: string, sizeMs: number): Group {
    let g = this.groups.get(id);
    if (g === undefined) this.groups.set(id, (g = { sizeMs, frontier: -Infinity, pending: new Map() }));
    return g;
  }

  private evictOldest(): void {
    const first = this.series.keys().next();
    if (first.done === true) return;
    this.series.delete(first.value);
    this.evicted++;
  }
}
