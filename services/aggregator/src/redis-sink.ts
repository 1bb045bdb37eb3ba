// Projects the committed aggregates topic into Redis for Grafana and StoqClient: per-window totals
// merged over the partials of all input partitions, a time series per key, and the top keys per window,
// all with TTLs. Reads stoq.aggregates.v1 read-committed and writes idempotently (a partial is kept only
// if its revision is newer), so a replay after a crash rewrites the same values.
//
// Layout (keys under the client's key prefix; <s> is the input stream, dns or flow; <w> is the window
// name, "1m" or "1m/10s"):
//   stoq:agg:<s>:<w>:<dimension>:<key>:<start>  hash  p:<task> = partial JSON, rev:<task> = its revision,
//                                                      total = the merged WindowAggregate JSON
//   stoq:ts:<s>:<w>:<dimension>:<key>           zset  score = window start (ms), member = merged JSON
//                                                      (ZRANGEBYSCORE from to: one member per window)
//   stoq:top:<s>:<w>:<dimension>:<start>        zset  member = key, score = merged count (ZREVRANGE 0 k-1)
//   stoq:starts:<s>:<w>                         zset  member = score = the start (ms) of a window with a
//                                                      top-k set (ZREVRANGE 0 n-1: the newest; no KEYS scan)
// The stream is part of every key because source, destination, node and global rows exist for DNS
// events and for flows alike: without it a DNS row and a flow row of one key and window would merge as if
// they were partials of one stream, adding events to flows.
// Sorted sets rather than RedisTimeSeries: plain Redis from Debian has no modules, a window revision
// must replace its point (ZREMRANGEBYSCORE + ZADD), and ranges by time are one command.
import type { Redis } from "ioredis";
import { aggregateStream } from "../../../lib/src/aggregate-stream.js";
import { decodeAs, type AggregateStream, type MeasureSummary, type WindowAggregate } from "../../../lib/src/avro.js";
import { createConsumer, type KafkaConnection, type KafkaConsumer } from "../../../lib/src/kafka.js";
import { createLogger, type Logger } from "../../../lib/src/log.js";
import { aggregatorMetrics } from "./metrics.js";
import { formatDuration } from "./windows.js";

export interface RedisSinkDeps {
  readonly kafka: KafkaConnection;
  readonly redis: Redis;
  readonly topic: string;
  readonly groupId?: string;
  /** TTL in seconds for a window of this size. */
  readonly ttlSeconds: (sizeMs: number) => number;
  /** Keys kept per window in a top-k sorted set. */
  readonly topKeys?: number;
  readonly log?: Logger;
}

export interface RedisSink {
  start(): Promise<void>;
  close(): Promise<void>;
  readonly stopped: Promise<void>;
}

// Stores the partial when its revision is newer than the stored one; returns the hash, else nil.
const PUT_PARTIAL = `
local cur = redis.call('HGET', KEYS[1], 'rev:' .. ARGV[1])
if cur and tonumber(cur) >= tonumber(ARGV[2]) then return false end
redis.call('HSET', KEYS[1], 'rev:' .. ARGV[1], ARGV[2], 'p:' .. ARGV[1], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return redis.call('HGETALL', KEYS[1])
`;

export function windowName(a: Pick<WindowAggregate, "size_ms" | "hop_ms">): string {
  return a.hop_ms === a.size_ms ? formatDuration(a.size_ms) : `${formatDuration(a.size_ms)}/${formatDuration(a.hop_ms)}`;
}

export const redisKeys = {
  agg: (stream: AggregateStream, a: WindowAggregate): string => `agg:${stream}:${windowName(a)}:${a.dimension}:${a.key}:${a.window_start_ms}`,
  series: (stream: AggregateStream, window: string, dimension: string, key: string): string => `ts:${stream}:${window}:${dimension}:${key}`,
  top: (stream: AggregateStream, window: string, dimension: string, start: number): string => `top:${stream}:${window}:${dimension}:${start}`,
  starts: (stream: AggregateStream, window: string): string => `starts:${stream}:${window}`,
};

function mergeMeasures(parts: readonly MeasureSummary[][]): MeasureSummary[] {
  const byName = new Map<string, MeasureSummary & { m2: number; best: number }>();
  for (const list of parts) {
    for (const m of list) {
      const e = byName.get(m.name);
      if (e === undefined) {
        byName.set(m.name, { ...m, m2: m.variance * m.count, best: m.count });
        continue;
      }
      const n = e.count + m.count;
      if (m.count > 0) {
        const delta = m.mean - e.mean;
        e.m2 += m.variance * m.count + (delta * delta * e.count * m.count) / n;
        e.mean += (delta * m.count) / n;
        e.min = e.count > 0 ? Math.min(e.min, m.min) : m.min;
        e.max = e.count > 0 ? Math.max(e.max, m.max) : m.max;
      }
      e.count = n;
      // Quantiles of a union need the sketches: the partial with most samples stands in for the rest.
      if (m.count > e.best) {
        e.best = m.count;
        e.p50 = m.p50;
        e.p90 = m.p90;
        e.p99 = m.p99;
      }
    }
  }
  return [...byName.values()].map(({ m2, best: _best, ...m }) => ({ ...m, variance: m.count > 0 ? m2 / m.count : 0 }));
}

/**
 * The total of the partials of one window and key published by different tasks (input partitions).
 * Counts, rates, moments, histograms and top-k add exactly; distinct counts add (exact when a key
 * lives in one partition, an upper bound otherwise); quantiles come from the largest partial.
 */
export function mergePartials(parts: readonly WindowAggregate[]): WindowAggregate {
  const first = parts[0];
  if (first === undefined) throw new RangeError("mergePartials: no partials");
  const stream = aggregateStream(first);
  if (parts.some((p) => aggregateStream(p) !== stream)) throw new RangeError("mergePartials: partials of different input streams");
  const top = new Map<string, number>();
  for (const p of parts) for (const e of p.top_k) top.set(e.key, (top.get(e.key) ?? 0) + e.count);
  const distinct = new Map<string, number>();
  for (const p of parts) for (const d of p.distinct) distinct.set(d.name, (distinct.get(d.name) ?? 0) + d.estimate);
  const flows = parts.map((p) => p.flow_stats).filter((f) => f !== null);
  let flowStats: WindowAggregate["flow_stats"] = null;
  const f0 = flows[0];
  if (f0 !== undefined) {
    const seconds = first.size_ms / 1000;
    const sizes = mergeMeasures(flows.map((f) => [{ name: "s", count: f.packet_rate_per_second * seconds, mean: f.mean_packet_size, variance: f.variance_packet_size, min: 0, max: 0, p50: null, p90: null, p99: null }]))[0];
    const iat = mergeMeasures(flows.map((f) => [{ name: "i", ...f.inter_arrival_time_distribution, p50: null, p90: null, p99: null }]))[0];
    flowStats = {
      mean_packet_size: sizes?.mean ?? 0,
      variance_packet_size: sizes?.variance ?? 0,
      packet_rate_per_second: flows.reduce((s, f) => s + f.packet_rate_per_second, 0),
      bandwidth_utilization: flows.reduce((s, f) => s + f.bandwidth_utilization, 0),
      link_capacity_bps: f0.link_capacity_bps,
      flow_duration_histogram: { upper_bounds: f0.flow_duration_histogram.upper_bounds, counts: f0.flow_duration_histogram.counts.map((_, i) => flows.reduce((s, f) => s + (f.flow_duration_histogram.counts[i] ?? 0), 0)) },
      inter_arrival_time_distribution: { count: iat?.count ?? 0, mean: iat?.mean ?? 0, variance: iat?.variance ?? 0, min: iat?.min ?? 0, max: iat?.max ?? 0 },
    };
  }
  return {
    ...first,
    count: parts.reduce((s, p) => s + p.count, 0),
    rate_per_s: parts.reduce((s, p) => s + p.rate_per_s, 0),
    measures: mergeMeasures(parts.map((p) => p.measures)),
    distinct: [...distinct].map(([name, estimate]) => ({ name, estimate })),
    top_k: [...top].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, Math.max(...parts.map((p) => p.top_k.length))).map(([key, count]) => ({ key, count })),
    flow_stats: flowStats,
    late_count: parts.reduce((s, p) => s + p.late_count, 0),
    final: parts.every((p) => p.final),
    aggregator_instance: parts.map((p) => p.aggregator_instance).sort().join(","),
    revision: parts.reduce((s, p) => s + p.revision, 0),
  };
}

export function createRedisSink(deps: RedisSinkDeps): RedisSink {
  const log = deps.log ?? createLogger("aggregator-redis");
  const topKeys = deps.topKeys ?? 100;
  let consumer: KafkaConsumer | null = null;
  deps.redis.defineCommand("stoqPutPartial", { numberOfKeys: 1, lua: PUT_PARTIAL });
  const put = (pipeline: ReturnType<Redis["pipeline"]>, key: string, task: string, rev: number, json: string, ttl: number): void => {
    (pipeline as unknown as { stoqPutPartial(k: string, t: string, r: number, j: string, ttl: number): void }).stoqPutPartial(key, task, rev, json, ttl);
  };

  async function write(all: readonly WindowAggregate[]): Promise<void> {
    const rows: { r: WindowAggregate; stream: AggregateStream }[] = [];
    for (const r of all) {
      const stream = aggregateStream(r);
      if (stream !== null) rows.push({ r, stream });
      else log.warn({ dimension: r.dimension, key: r.key, window_start_ms: r.window_start_ms }, "aggregate of unknown input stream (no stream, no indicator measure): not projected");
    }
    const p1 = deps.redis.pipeline();
    for (const { r, stream } of rows) put(p1, redisKeys.agg(stream, r), r.aggregator_instance, r.revision, JSON.stringify(r), deps.ttlSeconds(r.size_ms));
    const results = (await p1.exec()) ?? [];
    const p2 = deps.redis.pipeline();
    const starts = new Set<string>();
    rows.forEach(({ r, stream }, i) => {
      const [err, hash] = results[i] ?? [null, null];
      if (err) throw err;
      if (!Array.isArray(hash)) return; // an older or repeated revision: nothing changed
      const partials: WindowAggregate[] = [];
      for (let j = 0; j + 1 < hash.length; j += 2) if (String(hash[j]).startsWith("p:")) partials.push(JSON.parse(String(hash[j + 1])) as WindowAggregate);
      const total = mergePartials(partials);
      const ttl = deps.ttlSeconds(r.size_ms);
      const w = windowName(r);
      const json = JSON.stringify(total);
      const aggKey = redisKeys.agg(stream, r);
      p2.hset(aggKey, "total", json);
      const ts = redisKeys.series(stream, w, r.dimension, r.key);
      p2.zremrangebyscore(ts, r.window_start_ms, r.window_start_ms);
      p2.zadd(ts, r.window_start_ms, json);
      // Points older than the TTL fall off the front of the series.
      p2.zremrangebyscore(ts, "-inf", r.window_start_ms - ttl * 1000);
      p2.expire(ts, ttl);
      if (r.dimension !== "global" && r.dimension !== "node") {
        const top = redisKeys.top(stream, w, r.dimension, r.window_start_ms);
        p2.zadd(top, total.count, r.key);
        p2.zremrangebyrank(top, 0, -(topKeys + 1));
        p2.expire(top, ttl);
        // The index of the starts of windows with top keys: one entry per stream, window and start
        // however many rows it has, expiring with them (older starts fall off, the set goes with the last).
        const startsKey = redisKeys.starts(stream, w);
        if (!starts.has(`${startsKey}|${r.window_start_ms}`)) {
          starts.add(`${startsKey}|${r.window_start_ms}`);
          p2.zadd(startsKey, r.window_start_ms, String(r.window_start_ms));
          p2.zremrangebyscore(startsKey, "-inf", r.window_start_ms - ttl * 1000);
          p2.expire(startsKey, ttl);
        }
      }
    });
    const out = (await p2.exec()) ?? [];
    for (const [err] of out) if (err) throw err;
    aggregatorMetrics.redisWrites.inc(rows.length);
  }

  let stop: { resolve(): void; reject(e: unknown): void } = { resolve: () => undefined, reject: () => undefined };
  const stopped = new Promise<void>((resolve, reject) => (stop = { resolve, reject }));
  stopped.catch(() => undefined);
  return {
    stopped,
    async start() {
      consumer = createConsumer(deps.kafka, {
        groupId: deps.groupId ?? "stoq-aggregator-redis",
        topics: [deps.topic],
        readCommitted: true,
        logger: log,
        eachBatch: (batch) => write(batch.records.map((r) => decodeAs<WindowAggregate>("WindowAggregate", r.value ?? Buffer.alloc(0)))),
      });
      consumer.stopped.then(() => stop.resolve(), (e: unknown) => stop.reject(e));
      await consumer.start();
    },
    async close() {
      await consumer?.close();
      stop.resolve();
    },
  };
}
