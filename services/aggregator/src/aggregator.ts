// The aggregator service loop: consumes DNS events and flow records, aggregates each input partition in
// its own task, and commits in one Kafka transaction the aggregates, the changelog and the consumer
// offsets (exactly once; see task.ts for the recovery contract). Start-up wiring calls createAggregator.
import { randomUUID } from "node:crypto";
import { encode, projection, type DnsEvent, type FlowRecord, type WindowAggregate } from "../../../lib/src/avro.js";
import { withDeadLetter } from "../../../lib/src/dead-letter.js";
import { StoqError } from "../../../lib/src/errors.js";
import {
  createAdmin,
  createConsumer,
  createProducer,
  createTransactionalProducer,
  isGroupFencedError,
  type ConsumedBatch,
  type KafkaConnection,
  type KafkaConsumer,
  type KafkaTransaction,
  type ProduceRecord,
} from "../../../lib/src/kafka.js";
import { createLogger, type Logger } from "../../../lib/src/log.js";
import { TOPICS } from "../../../lib/src/topics.js";
import { createKeyTables } from "./bounds.js";
import { aggregatorMetrics as m } from "./metrics.js";
import type { WindowEmission } from "./partition-aggregation.js";
import type { AggregatorSettings } from "./settings.js";
import { Task } from "./task.js";
import { DIMENSIONS } from "./windows.js";
import type { Stream } from "./window-state.js";

export interface AggregatorTopics {
  readonly dns: string;
  readonly flows: string;
  readonly aggregates: string;
  /** The compacted changelog topic; created by the aggregator if missing. */
  readonly state: string;
  readonly dlq: string;
}

export const DEFAULT_AGGREGATOR_TOPICS: AggregatorTopics = {
  dns: TOPICS.dns,
  flows: TOPICS.flows,
  aggregates: TOPICS.aggregates,
  state: "stoq.aggregator-state.v1",
  dlq: TOPICS.dlq,
};

export interface AggregatorDeps {
  readonly kafka: KafkaConnection;
  readonly settings: AggregatorSettings;
  /** Consumer group shared by all instances; default "stoq-aggregator". */
  readonly groupId?: string;
  /** Stable across restarts of this instance: the transactional id derives from it, fencing a zombie. */
  readonly instance: string;
  /** Default `<group>-<instance>`: see createAggregator. */
  readonly transactionalId?: string;
  readonly topics?: AggregatorTopics;
  readonly statePartitions?: number;
  readonly maxBatchRecords?: number;
  readonly log?: Logger;
  /** Called after each committed transaction with what it made visible (tests, the demo). */
  readonly onCommitted?: (rows: readonly WindowAggregate[]) => void;
}

export interface AggregatorStats {
  readonly tasks: number;
  readonly records: number;
  readonly transactions: number;
  readonly restores: number;
  /** Passes over the changelog: one restores every partition of an assignment. */
  readonly changelogReads: number;
  /** Times the tasks and the uncommitted work were dropped because the group moved to a new generation. */
  readonly rebalances: number;
  /** Commits the group refused because it had moved on from their generation (their work was dropped). */
  readonly refusedCommits: number;
  readonly skippedOnReplay: number;
}

export interface Aggregator {
  /** Resolves once the consumer has joined its group. */
  start(): Promise<void>;
  /** Commits the open transaction and leaves the group. */
  close(): Promise<void>;
  /** Rejects when the loop stops on an error (a failed transaction: restart the process to recover). */
  readonly stopped: Promise<void>;
  stats(): AggregatorStats;
}

/**
 * The fields of the input records the window core reads (task.ts, partition-aggregation.ts); decoding
 * skips the others. aggregator.test.ts checks the lists against what ingestion reads.
 */
export const DNS_FIELDS = ["event_time_us", "node", "is_response", "src_addr", "dst_addr", "qname", "registered_domain", "rcode", "query_size", "response_size", "response_time_us"] as const;
export const FLOW_FIELDS = [
  "node",
  "protocol",
  "src_addr",
  "dst_addr",
  "src_port",
  "dst_port",
  "first_seen_us",
  "last_seen_us",
  "packets_fwd",
  "packets_rev",
  "bytes_fwd",
  "bytes_rev",
  "size_sum",
  "size_sumsq",
  "iat_sum_us",
  "iat_sumsq_us2",
  "iat_min_us",
  "iat_max_us",
  "rst_count",
  "end_reason",
  "community_id",
] as const;
const decodeDns = projection<DnsEvent>("DnsEvent", DNS_FIELDS);
const decodeFlow = projection<FlowRecord>("FlowRecord", FLOW_FIELDS);

// The Kafka module sends Buffer values only; an empty value marks a deleted changelog key.
const DELETED = Buffer.alloc(0);

/**
 * The transactional id is `<group>-<instance>`, stable across restarts: a restarted instance fences its
 * previous incarnation (a zombie's commits fail) and the broker aborts that one's open transaction at
 * once, so the changelog restore does not wait for the transaction timeout.
 */
export function createAggregator(deps: AggregatorDeps): Aggregator {
  const settings = deps.settings;
  const topics = deps.topics ?? DEFAULT_AGGREGATOR_TOPICS;
  const groupId = deps.groupId ?? "stoq-aggregator";
  const log = deps.log ?? createLogger("aggregator");
  const statePartitions = deps.statePartitions ?? 6;
  const keyTables = createKeyTables(settings.bounds);
  const tasks = new Map<string, Task<ConsumedBatch>>();
  const touched = new Set<Task<ConsumedBatch>>();
  const txProducer = createTransactionalProducer(deps.kafka, deps.transactionalId ?? `${groupId}-${deps.instance}`);
  const dlqProducer = createProducer(deps.kafka, { logger: log });
  let tx: KafkaTransaction | null = null;
  let committing: Promise<void> | null = null;
  let closing = false;
  // Work since the last commit: the tasks it touched and the aggregates it emitted. The transaction is
  // opened and written at commit time, so a batch costs no round trip to the broker.
  let txPending = false;
  let txStarted = 0;
  let txRows: WindowAggregate[] = [];
  let txOut: ProduceRecord[] = [];
  let chain: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | null = null;
  let consumer: KafkaConsumer | null = null;
  let records = 0;
  let transactions = 0;
  let restores = 0;
  let changelogReads = 0;
  let rebalances = 0;
  let refusedCommits = 0;
  // The group generation the tasks and the uncommitted work belong to. Batches of an older one, and of
  // one whose commit the group refused (`staleThrough`), are dropped: the consumer re-reads them from
  // the committed offsets once it has rejoined. `resets` counts the drops, so a batch handler that was
  // waiting when one happened knows its task is gone.
  let generation = -1;
  let staleThrough = -1;
  let resets = 0;
  let failed: ((e: unknown) => void) | null = null;
  let stopResolve: () => void = () => undefined;
  const stopped = new Promise<void>((resolve, reject) => {
    failed = reject;
    stopResolve = resolve;
  });
  stopped.catch(() => undefined);

  // Batches and the commit timer share the transaction: run them one at a time.
  function serial<T>(f: () => Promise<T>): Promise<T> {
    const p = chain.then(f);
    chain = p.then(
      () => undefined,
      () => undefined,
    );
    return p;
  }

  function streamOf(topic: string): Stream {
    if (topic === topics.dns) return "dns";
    if (topic === topics.flows) return "flow";
    throw new StoqError("RECORD_INVALID", `aggregator got a batch from ${topic}, which it does not consume`);
  }

  /**
   * Captures everything since the last commit (aggregates, changelog, offsets: one consistent cut) and
   * commits it in a transaction that runs while the next batches are ingested; transactions stay one at
   * a time. Resolves when this one is committed.
   */
  function commit(): Promise<void> {
    if (!txPending) return committing ?? Promise.resolve();
    const out = txOut;
    const rows = txRows;
    const state: ProduceRecord[] = [];
    const offsets: ConsumedBatch[] = [];
    for (const task of touched) {
      const cp = task.checkpoint();
      const partition = partitionOfTask(task.name, statePartitions);
      for (const s of cp.state) state.push({ key: s.key, value: s.value ?? DELETED, partition });
      if (cp.commitAfter !== null) offsets.push(cp.commitAfter);
    }
    touched.clear();
    txOut = [];
    txRows = [];
    txPending = false;
    const cut = generation;
    const previous = committing;
    const done = (async () => {
      await previous;
      const started = process.hrtime.bigint();
      try {
        tx = await txProducer.begin();
        await sendSliced(tx, topics.aggregates, out);
        await sendSliced(tx, topics.state, state);
        // The offsets go last: the group checks the generation when they are added, so a transaction
        // whose offsets were accepted wrote all its changelog before the group could move on, and the
        // next owner's restore (which reads up to fences written after it joined) waits for it.
        for (const batch of offsets) await tx.sendOffsets(batch);
        await tx.commit();
        tx = null;
      } catch (error) {
        await tx?.abort().catch(() => undefined);
        tx = null;
        if (isGroupFencedError(error)) {
          // A rebalance: the group moved on from the generation this work was fetched in. Nothing of it
          // is committed; the partitions are read again from the committed offsets by their owners in
          // the new generation (this instance included), with state restored from the changelog.
          log.info({ generation: cut, err: error instanceof Error ? error.message : String(error) }, "aggregator: the group rebalanced under a commit; dropping the tasks and re-reading from the committed offsets");
          refusedCommits++;
          staleThrough = Math.max(staleThrough, cut);
          if (generation <= cut) dropTasks();
          return;
        }
        // The tasks have moved past what is committed: stop, and let a restart rebuild from the
        // changelog and the committed offsets (a fenced producer: another incarnation took over).
        throw new StoqError("KAFKA_TRANSACTION_FATAL", `aggregator commit failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
      transactions++;
      m.transactions.inc();
      m.checkpointSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
      deps.onCommitted?.(rows);
      refreshGauges();
    })();
    committing = done;
    done.then(
      () => {
        if (committing === done) committing = null;
        if (!closing) serial(() => Promise.resolve(commitIfDue())).catch(fail);
      },
      (error: unknown) => fail(error),
    );
    return done;
  }

  /**
   * Starts a commit when the interval is up. With one still in flight it does not wait (ingesting goes
   * on): the commit after it starts when it settles, and holds the work of both intervals.
   */
  function commitIfDue(): void {
    if (!txPending || Date.now() - txStarted < settings.commitIntervalMs) return;
    if (committing !== null) return;
    void commit().catch(() => undefined);
  }

  /**
   * Drops every task and the work not yet committed: a new generation reads each of its partitions again
   * from the committed offsets, and a task is rebuilt from the changelog when its first batch comes.
   */
  function dropTasks(): void {
    for (const t of tasks.values()) t.dispose();
    tasks.clear();
    touched.clear();
    txOut = [];
    txRows = [];
    txPending = false;
    restoreCache = null;
    resets++;
    rebalances++;
  }

  function refreshGauges(): void {
    let bytes = 0;
    const seen = new Set<unknown>();
    DIMENSIONS.forEach((d, i) => {
      const kt = keyTables[i];
      if (kt == null) return;
      if (d !== "destination") m.trackedKeys.set({ dimension: d === "source" ? "address" : d }, kt.size);
      if (!seen.has(kt)) bytes += kt.byteSize;
      seen.add(kt);
    });
    const lowest = new Map<Stream, number>();
    for (const t of tasks.values()) {
      bytes += t.agg.byteSize;
      lowest.set(t.stream, Math.min(lowest.get(t.stream) ?? Infinity, t.watermark));
    }
    m.stateBytes.set(bytes);
    for (const [s, wm] of lowest) if (Number.isFinite(wm)) m.watermarkLag.set({ stream: s }, (Date.now() - wm) / 1000);
  }

  /**
   * Reads the changelog up to fences written now, so every earlier transaction has settled, and returns
   * the latest value of every key of the tasks in `wanted`, by task.
   */
  async function readChangelog(wanted: ReadonlySet<string>): Promise<Map<string, Map<string, Buffer>>> {
    const fence = `fence|${randomUUID()}`;
    const ftx = await txProducer.begin();
    await ftx.send(
      topics.state,
      Array.from({ length: statePartitions }, (_, p) => ({ key: fence, value: DELETED, partition: p })),
    );
    await ftx.commit();
    changelogReads++;
    const out = new Map<string, Map<string, Buffer>>();
    for (const name of wanted) out.set(name, new Map());
    const fenced = new Set<number>();
    let done!: () => void;
    const complete = new Promise<void>((r) => (done = r));
    const reader = createConsumer(deps.kafka, {
      groupId: `${groupId}-restore-${randomUUID()}`,
      topics: [topics.state],
      start: "earliest",
      readCommitted: true,
      maxBatchRecords: 5000,
      logger: log,
      eachBatch: (batch) => {
        for (const r of batch.records) {
          const key = r.key?.toString() ?? "";
          if (key === fence) fenced.add(r.partition);
          else {
            const state = out.get(key.slice(0, key.indexOf("|")));
            if (state === undefined) continue;
            if (r.value === null || r.value.length === 0) state.delete(key);
            else state.set(key, r.value);
          }
        }
        if (fenced.size === statePartitions) done();
        return Promise.resolve();
      },
    });
    await reader.start();
    await Promise.race([complete, reader.stopped]);
    await reader.close();
    return out;
  }

  /**
   * The changelog state of tasks not open yet, read with the last restore in the same group generation.
   * One pass over the changelog restores every partition of an assignment, not one pass per partition.
   * Valid for the generation: its partitions are this member's, no other instance commits to their
   * changelog in it (a previous owner's transactions settled before the fences were read), and this
   * instance writes a task's changelog only once the task is open, which takes its entry out.
   */
  let restoreCache: { generation: number; tasks: Map<string, Map<string, Buffer>> } | null = null;

  async function openTask(batch: ConsumedBatch): Promise<Task<ConsumedBatch> | null> {
    const name = `${batch.topic}/${batch.partition}`;
    const old = tasks.get(name);
    if (old !== undefined) {
      tasks.delete(name);
      touched.delete(old);
      old.dispose();
    }
    const started = Date.now();
    let state = restoreCache !== null && restoreCache.generation === batch.generation && batch.generation >= 0 ? restoreCache.tasks.get(name) : undefined;
    if (state !== undefined) restoreCache?.tasks.delete(name);
    else {
      // Our own open transaction would hold back the read-committed changelog reader: settle it first.
      const before = resets;
      await commit();
      if (resets !== before) return null;
      const wanted = new Set([name]);
      for (const topic of [topics.dns, topics.flows]) {
        for (const p of batch.assigned.get(topic) ?? []) if (!tasks.has(`${topic}/${p}`)) wanted.add(`${topic}/${p}`);
      }
      const read = await readChangelog(wanted);
      state = read.get(name) ?? new Map<string, Buffer>();
      read.delete(name);
      restoreCache = { generation: batch.generation, tasks: read };
    }
    const task = new Task<ConsumedBatch>(name, streamOf(batch.topic), settings, keyTables);
    task.restore(state);
    tasks.set(name, task);
    restores++;
    m.restoreSeconds.observe((Date.now() - started) / 1000);
    log.info({ task: name, ms: Date.now() - started, watermark: task.watermark }, "task restored from the changelog");
    return task;
  }

  function toRecords(es: readonly WindowEmission[], stream: Stream): ProduceRecord[] {
    const out: ProduceRecord[] = [];
    for (const e of es) {
      m.emissions.inc({ stream, window: e.spec.name, kind: e.revision === 0 ? "first" : "revision" });
      m.rows.inc({ stream, window: e.spec.name }, e.rows.length);
      for (const r of e.rows) {
        if (r.dimension === "global") m.windowCount.set({ stream, window: e.spec.name }, r.count);
        // The record's Kafka time is when it was produced (its event time is in the body): window ends run up
        // to a day ahead for open 24h windows, and records of garbage or replayed event times can be
        // negative or ancient, which the broker rejects (log.message.timestamp.*) or retention drops.
        out.push({ key: `${stream}/${r.size_ms}/${r.window_start_ms}/${r.dimension}/${r.key}`, value: encode("WindowAggregate", r) });
        txRows.push(r);
      }
    }
    return out;
  }

  const decodeValue = (topic: string, value: Buffer, start?: number, end?: number): DnsEvent | FlowRecord =>
    topic === topics.dns ? decodeDns(value, start, end) : decodeFlow(value, start, end);

  // Decodes the batch's records again, sends those that do not decode to the DLQ, and hands on nothing:
  // the ones that decoded are already ingested.
  const deadLetters = withDeadLetter<DnsEvent | FlowRecord>({
    decode: (value, record) => decodeValue(record.topic, value),
    handle: () => Promise.resolve(),
    producer: dlqProducer,
    service: "aggregator",
    dlqTopic: topics.dlq,
    logger: log,
  });

  async function handle(batch: ConsumedBatch): Promise<void> {
    const name = `${batch.topic}/${batch.partition}`;
    let task = tasks.get(name);
    // A batch that does not continue where the task stopped means the partition was elsewhere (or the
    // consumer went back to the committed offset): rebuild from the changelog.
    const before = resets;
    if (task === undefined || batch.startOffset !== task.position) {
      const opened = await openTask(batch);
      // The group refused a commit meanwhile: the batch belongs to a generation being dropped.
      if (opened === null || resets !== before) {
        if (opened !== null && tasks.get(name) === opened) {
          tasks.delete(name);
          opened.dispose();
        }
        return;
      }
      task = opened;
    }
    const overflowBefore = keyTables.map((k) => k?.overflows ?? 0);
    const skippedBefore = task.skippedOnReplay;
    const lateBefore = task.agg.lateTotal;
    // Each value is decoded in place from the fetched bytes as the task ingests it, so no decoded record
    // outlives its turn (they die young, which the garbage collector handles cheaply).
    const decode = batch.topic === topics.dns ? decodeDns : decodeFlow;
    let undecodable = 0;
    const valueAt = (i: number): DnsEvent | FlowRecord | null => {
      const length = batch.valueLength(i);
      if (length >= 0) {
        const start = batch.valueStart(i);
        try {
          return decode(batch.valueSource(i), start, start + length);
        } catch {
          // Counted, and sent to the DLQ below.
        }
      }
      undecodable++;
      return null;
    };
    const emissions = task.ingest(batch.offsets, valueAt, batch, batch.nextOffset);
    // Before this batch's offsets can be part of a commit (commits run after this handler, in order).
    if (undecodable > 0) await deadLetters(batch);
    if (resets !== before) return;
    const ingested = batch.count - undecodable;
    records += ingested;
    m.records.inc({ stream: task.stream }, ingested - (task.skippedOnReplay - skippedBefore));
    m.replaySkipped.inc({ stream: task.stream }, task.skippedOnReplay - skippedBefore);
    m.lateDropped.inc({ stream: task.stream }, task.agg.lateTotal - lateBefore);
    keyTables.forEach((k, i) => {
      const d = (k?.overflows ?? 0) - (overflowBefore[i] ?? 0);
      if (d > 0) m.keyOverflow.inc({ dimension: DIMENSIONS[i] ?? "global" }, d);
    });
    if (!txPending) {
      txPending = true;
      txStarted = Date.now();
    }
    touched.add(task);
    for (const r of toRecords(emissions, task.stream)) txOut.push(r);
    commitIfDue();
  }

  function eachBatch(batch: ConsumedBatch): Promise<void> {
    // Closing: what is fetched now is left for the next owner (its offsets are not committed).
    if (closing) return Promise.resolve();
    return serial(async () => {
      try {
        if (batch.generation <= staleThrough || batch.generation < generation) return;
        if (batch.generation > generation) {
          // A join: the consumer went back to the committed offsets of the new assignment. Work of the
          // old generation cannot commit in this one; the transaction in flight settles first, so the
          // changelog read for the new tasks holds what it committed.
          if (generation >= 0) {
            log.info({ from: generation, to: batch.generation }, "aggregator: new group generation; tasks rebuilt from the changelog");
            dropTasks();
          }
          generation = batch.generation;
          await committing?.catch(() => undefined);
        }
        await handle(batch);
      } catch (error) {
        // The tasks have moved past what is committed: retrying the batch would count it twice. Stop,
        // and let a restart rebuild from the changelog and the committed offsets (a transaction in
        // flight holds an earlier consistent cut and may still commit).
        throw new StoqError("KAFKA_TRANSACTION_FATAL", `aggregator batch ${batch.topic}/${batch.partition} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
    });
  }

  function fail(error: unknown): void {
    log.fatal({ err: error instanceof Error ? error.message : String(error) }, "aggregator: transaction failed; stopping so a restart recovers from the changelog");
    failed?.(error);
    void consumer?.close().catch(() => undefined);
  }

  return {
    stopped,
    async start() {
      const admin = createAdmin(deps.kafka);
      try {
        await admin.createTopics([
          {
            name: topics.state,
            partitions: statePartitions,
            config: { "cleanup.policy": "compact", "min.compaction.lag.ms": "60000", "segment.ms": String(3_600_000) },
          },
        ]);
      } finally {
        await admin.close();
      }
      consumer = createConsumer(deps.kafka, {
        groupId,
        topics: [topics.dns, topics.flows],
        commit: "by-transaction",
        readCommitted: true,
        maxBatchRecords: deps.maxBatchRecords ?? 5000,
        logger: log,
        eachBatch,
      });
      consumer.stopped.catch(fail);
      await consumer.start();
      // Commit even when no batch arrives, so outputs never wait on traffic.
      timer = setInterval(() => {
        serial(() => Promise.resolve(commitIfDue())).catch(fail);
      }, settings.commitIntervalMs);
      timer.unref();
    },
    async close() {
      if (timer !== null) clearInterval(timer);
      closing = true;
      // The last transaction commits offsets as a member of the group, so it goes before leaving.
      await serial(commit).catch(fail);
      await consumer?.close();
      await txProducer.close();
      await dlqProducer.close();
      for (const t of tasks.values()) t.dispose();
      stopResolve();
    },
    stats() {
      let skipped = 0;
      for (const t of tasks.values()) skipped += t.skippedOnReplay;
      return { tasks: tasks.size, records, transactions, restores, changelogReads, rebalances, refusedCommits, skippedOnReplay: skipped };
    },
  };
}

// One produce request per slice: a window of a million keys must not become one request over the
// broker's limits. The limit that matters is per partition (a partition's batch must stay under
// message.max.bytes, 1 MiB by default), so a slice holds up to SLICE_PARTITION_BYTES for each partition
// it writes: a checkpoint's changelog, spread over the state partitions, goes in a few requests rather
// than one per 512 KiB, and each request is a round trip the transaction waits for while ingestion runs.
// Records without a partition (keyed aggregates) count against every partition.
const SLICE_PARTITION_BYTES = 512 * 1024;
const SLICE_REQUEST_BYTES = 8 << 20;

async function sendSliced(tx: KafkaTransaction, topic: string, records: readonly ProduceRecord[]): Promise<void> {
  let from = 0;
  const perPartition = new Map<number, number>();
  let anyPartition = 0;
  let total = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    const bytes = r.value.length + 64 + (r.key == null ? 0 : Buffer.byteLength(r.key));
    const fullest = r.partition === undefined ? Math.max(0, ...perPartition.values()) : (perPartition.get(r.partition) ?? 0);
    if (i > from && (fullest + anyPartition + bytes > SLICE_PARTITION_BYTES || total + bytes > SLICE_REQUEST_BYTES)) {
      await tx.send(topic, records.slice(from, i));
      from = i;
      perPartition.clear();
      anyPartition = 0;
      total = 0;
    }
    if (r.partition === undefined) anyPartition += bytes;
    else perPartition.set(r.partition, (perPartition.get(r.partition) ?? 0) + bytes);
    total += bytes;
  }
  if (from < records.length) await tx.send(topic, records.slice(from));
}

/** The changelog partition of a task: its input partition, so restores spread over the state topic. */
export function partitionOfTask(task: string, statePartitions: number): number {
  const p = Number(task.slice(task.lastIndexOf("/") + 1));
  return Number.isInteger(p) ? p % statePartitions : 0;
}
