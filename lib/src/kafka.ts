// The one module that owns the Kafka client (@platformatic/kafka, chosen by bench/kafka.ts): connection
// config, the idempotent producer with its bounded backlog, consumer groups, transactions, admin and
// graceful shutdown. Nothing of the client leaks through the exported types.
import { once } from "node:events";
import {
  Admin,
  compatibilityPartitioner,
  compressionsAlgorithmsByBitmask,
  Consumer,
  createAPI,
  fetchV17,
  FetchIsolationLevels,
  GenericError,
  ProduceAcks,
  Producer,
  ResponseError,
  type Message,
  type MessagesStream,
  type MessageToProduce,
} from "@platformatic/kafka";
import { Counter, Gauge } from "prom-client";
import { isStoqError, StoqError } from "./errors.js";
import { createLogger, type Logger } from "./log.js";

// ---------------------------------------------------------------------------------------------------
// Connection

export interface KafkaTls {
  readonly ca?: string | Buffer;
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  readonly servername?: string;
  /** Default true; false only for a lab broker with a self-signed certificate. */
  readonly rejectUnauthorized?: boolean;
}

export interface KafkaSasl {
  readonly mechanism: "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512";
  readonly username: string;
  /** Read by the caller from a file or the environment; this module never logs it. */
  readonly password: string;
}

export interface KafkaConnection {
  /** "host:port" of one or more bootstrap brokers. */
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly tls?: KafkaTls | null;
  readonly sasl?: KafkaSasl | null;
  readonly connectTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
}

export interface BackoffOptions {
  /** First retry waits up to this long; each further retry doubles the ceiling. */
  readonly initialMs?: number;
  readonly maxMs?: number;
}

const DEFAULT_BACKOFF = { initialMs: 100, maxMs: 10_000 } as const;

/** "Full jitter" backoff: uniform in [0, min(max, initial * 2^attempt)], so restarted clients spread out. */
export function backoffDelayMs(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = options.initialMs ?? DEFAULT_BACKOFF.initialMs;
  const max = options.maxMs ?? DEFAULT_BACKOFF.maxMs;
  return Math.round(random() * Math.min(max, initial * 2 ** Math.min(attempt, 30)));
}

/**
 * Whether trying again may help: broker and network trouble yes; a programmer or input error (bad
 * arguments, a record too large, an authorization failure, a fenced producer) never.
 */
export function isRetriable(error: unknown): boolean {
  if (isStoqError(error)) return error.canRetry;
  if (error instanceof Error && GenericError.isGenericError(error)) return (error as GenericError).findBy("canRetry", false) === null;
  return false;
}

// The group moved on from the generation a commit was made in: a rebalance, the member's session expired,
// or another member took its static instance id. A transaction that commits offsets in that generation
// fails; the member rejoins and the new owners of its partitions read from the committed offsets.
const GROUP_FENCING = new Set(["ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID", "REBALANCE_IN_PROGRESS", "FENCED_INSTANCE_ID"]);

/**
 * Whether the error (or one it wraps) is the consumer group fencing a stale generation or member, as
 * opposed to a producer fenced by a newer incarnation of its transactional id (PRODUCER_FENCED,
 * INVALID_PRODUCER_EPOCH), which is not.
 */
export function isGroupFencedError(error: unknown, depth = 0): boolean {
  if (!(error instanceof Error) || depth > 8) return false;
  const apiId = (error as { apiId?: unknown }).apiId;
  if (typeof apiId === "string" && GROUP_FENCING.has(apiId)) return true;
  if (error instanceof AggregateError && (error.errors as unknown[]).some((e) => isGroupFencedError(e, depth + 1))) return true;
  return isGroupFencedError(error.cause, depth + 1);
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const nested = error instanceof AggregateError ? error.errors.map(describe).join("; ") : "";
  const cause = error.cause instanceof Error ? ` (cause: ${describe(error.cause)})` : "";
  return `${error.message}${nested ? ` [${nested}]` : ""}${cause}`;
}

/** A short, stable name for the kind of an error, used to log each kind once rather than each time. */
export function errorKind(error: unknown): string {
  if (isStoqError(error)) return error.code;
  if (error instanceof Error && GenericError.isGenericError(error)) {
    const inner = error instanceof AggregateError ? (error.errors as unknown[]).at(-1) : undefined;
    const apiId = (error as { apiId?: unknown }).apiId;
    return inner !== undefined ? errorKind(inner) : `${error.code}${typeof apiId === "string" ? `:${apiId}` : ""}`;
  }
  return error instanceof Error ? error.name : typeof error;
}

function parseBroker(broker: string): { host: string; port: number } {
  const m = /^(.+):(\d{1,5})$/.exec(broker);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) {
    throw new StoqError("CONFIG_INVALID", `kafka.brokers: ${JSON.stringify(broker)} is not host:port with a port 1-65535`);
  }
  return { host: m[1]!, port };
}

function clientOptions(conn: KafkaConnection, retryDelayMs: number) {
  if (conn.brokers.length === 0) throw new StoqError("CONFIG_INVALID", "kafka.brokers: empty; give at least one host:port");
  if (!conn.clientId) throw new StoqError("CONFIG_INVALID", "kafka.clientId: empty; give the service name");
  const tls = conn.tls
    ? {
        ca: conn.tls.ca,
        cert: conn.tls.cert,
        key: conn.tls.key,
        servername: conn.tls.servername,
        rejectUnauthorized: conn.tls.rejectUnauthorized ?? true,
      }
    : undefined;
  return {
    clientId: conn.clientId,
    bootstrapBrokers: conn.brokers.map(parseBroker),
    connectTimeout: conn.connectTimeoutMs ?? 5000,
    requestTimeout: conn.requestTimeoutMs ?? 30_000,
    ...(tls ? { tls } : {}),
    ...(conn.sasl ? { sasl: { mechanism: conn.sasl.mechanism, username: conn.sasl.username, password: conn.sasl.password } } : {}),
    // The client's own retries stay short and few; the long waits through an outage are ours (backoff
    // with jitter, bounded memory), because its retry loop keeps every error of every attempt.
    retries: 3,
    retryDelay: retryDelayMs,
  };
}

// ---------------------------------------------------------------------------------------------------
// Records

export interface ProduceRecord {
  readonly key?: Buffer | string | null;
  readonly value: Buffer;
  readonly headers?: Readonly<Record<string, Buffer | string>>;
  /** Default: by key (murmur2, as the Java client), round-robin without a key. */
  readonly partition?: number;
  readonly timestampMs?: number;
}

export interface ConsumedRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly timestampMs: number;
  readonly key: Buffer | null;
  /** null for a tombstone. */
  readonly value: Buffer | null;
  readonly headers: ReadonlyMap<string, Buffer>;
}

/** Records of one partition, in offset order. */
export interface ConsumedBatch {
  readonly groupId: string;
  readonly topic: string;
  readonly partition: number;
  /**
   * The partition's position before and after this batch, control records and aborted transactions
   * included: a batch continues the previous one of its partition when its startOffset is the other's
   * nextOffset (not so after a rebalance or a restart moved the position).
   */
  readonly startOffset: number;
  readonly nextOffset: number;
  /** The number of records. */
  readonly count: number;
  /**
   * The values (null for a tombstone), views into the fetched bytes, built on first use: for handlers
   * that decode each value at once. A value kept longer keeps the whole fetch in memory; `records` holds
   * copies.
   */
  readonly values: readonly (Buffer | null)[];
  /**
   * Where value i lies in the fetched bytes without a view built for it: `valueLength(i)` bytes (-1 for
   * a tombstone) of `valueSource(i)` from `valueStart(i)`. For decoders that read in place (hot loops).
   */
  valueSource(i: number): Buffer;
  valueStart(i: number): number;
  valueLength(i: number): number;
  /** offsets[i] is the offset of values[i]. */
  readonly offsets: readonly number[];
  /** The same records with their keys, timestamps and headers, built on first use. */
  readonly records: readonly ConsumedRecord[];
  /**
   * The consumer group generation the batch was fetched in (-1 if unknown), and the partitions by topic
   * this member was assigned in it: within one generation the assignment does not change.
   */
  readonly generation: number;
  readonly assigned: ReadonlyMap<string, readonly number[]>;
}

function checkRecords(topic: string, records: readonly ProduceRecord[]): void {
  if (typeof topic !== "string" || topic.length === 0) throw new StoqError("RECORD_INVALID", `topic must be a non-empty string, got ${JSON.stringify(topic)}`);
  if (!((records as unknown) instanceof Array)) throw new StoqError("RECORD_INVALID", `records for ${topic} must be an array`);
  for (const [i, r] of records.entries()) {
    if (!Buffer.isBuffer((r as ProduceRecord | undefined)?.value)) throw new StoqError("RECORD_INVALID", `${topic} record ${i}: value must be a Buffer (encode it first)`);
    if (r.key != null && typeof r.key !== "string" && !Buffer.isBuffer(r.key)) throw new StoqError("RECORD_INVALID", `${topic} record ${i}: key must be a Buffer, a string or null`);
    if (r.partition !== undefined && (!Number.isInteger(r.partition) || r.partition < 0)) throw new StoqError("RECORD_INVALID", `${topic} record ${i}: partition ${r.partition} is not a non-negative integer`);
  }
}

function toMessage(topic: string, r: ProduceRecord): MessageToProduce {
  const headers = r.headers ? new Map(Object.entries(r.headers).map(([k, v]) => [Buffer.from(k), Buffer.from(v)])) : undefined;
  return {
    topic,
    value: r.value,
    ...(r.key != null ? { key: Buffer.from(r.key) } : {}),
    ...(headers ? { headers } : {}),
    ...(r.partition !== undefined ? { partition: r.partition } : {}),
    ...(r.timestampMs !== undefined ? { timestamp: BigInt(r.timestampMs) } : {}),
  };
}

// The client's default sends every unkeyed record to partition 0 and hashes keys differently from the
// Java client; keyed records here land where any other Kafka client would put them.
function partitioner(): (message: MessageToProduce, key: Buffer | undefined) => number {
  let next = 0;
  return (message, key) => (key ? compatibilityPartitioner(message, key) : next++ & 0x7fffffff);
}

function recordBytes(r: ProduceRecord): number {
  let n = 70 + r.value.length + (r.key == null ? 0 : Buffer.byteLength(r.key));
  for (const [k, v] of Object.entries(r.headers ?? {})) n += k.length + Buffer.byteLength(v);
  return n;
}

// ---------------------------------------------------------------------------------------------------
// Metrics (prom-client default registry, exposed by each service's /metrics)

const liveProducers = new Set<KafkaProducer>();
const shedCounter = new Counter({
  name: "stoq_kafka_shed_records_total",
  help: "Records dropped from a producer's backlog because it was full while the broker was away.",
  labelNames: ["topic"],
});
const retryCounter = new Counter({
  name: "stoq_kafka_produce_retries_total",
  help: "Produce requests retried after a retriable broker or network error.",
});
// Consumer lag: per partition a consumer of this process is assigned, the records between the end a
// consumer can read (the last stable offset under read_committed, else the high watermark, as the last
// Fetch response gave it) and the position after the last batch its handler finished. Labels are topic
// and partition only; two consumers of one partition in one process report the larger lag.
interface LagSource {
  lag(into: Map<string, { topic: string; partition: number; lag: number }>): void;
}
const lagSources = new Set<LagSource>();
new Gauge({
  name: "stoq_consumer_lag_records",
  help: "Records a consumer has yet to process: partition end (last stable offset for read_committed consumers) minus its position after the last handled batch.",
  labelNames: ["topic", "partition"],
  collect() {
    const byPartition = new Map<string, { topic: string; partition: number; lag: number }>();
    for (const source of lagSources) source.lag(byPartition);
    // Partitions no longer assigned (rebalanced away, consumer closed) drop out.
    this.reset();
    for (const { topic, partition, lag } of byPartition.values()) this.set({ topic, partition: String(partition) }, lag);
  },
});

new Gauge({
  name: "stoq_kafka_backlog_records",
  help: "Records waiting in producer backlogs for the broker.",
  collect() {
    let n = 0;
    for (const p of liveProducers) n += p.stats().backlogRecords;
    this.set(n);
  },
});

// ---------------------------------------------------------------------------------------------------
// Producer: idempotent, acks=all, one request in flight, a bounded backlog in front of it.

export interface ProducerOptions {
  /** Backlog bound in records; past it the oldest waiting records are shed and counted. */
  readonly maxBacklogRecords?: number;
  readonly maxBacklogBytes?: number;
  /** Upper bound of one produce request; keeps every partition's batch under the broker's 1 MiB default. */
  readonly maxRequestBytes?: number;
  /** zstd needs Node 22.15+, so it is not offered here. */
  readonly compression?: "none" | "gzip" | "snappy" | "lz4";
  readonly retry?: BackoffOptions;
  readonly logger?: Logger;
}

export interface SendResult {
  readonly delivered: number;
  readonly shed: number;
}

export interface ProducerStats {
  /** Records not yet acknowledged: queued plus the request in flight. */
  readonly backlogRecords: number;
  readonly backlogBytes: number;
  readonly delivered: number;
  readonly shed: number;
  readonly retries: number;
}

export interface KafkaProducer {
  /**
   * Queues the records and resolves once each is acknowledged by all in-sync replicas or shed from a
   * full backlog. Never rejects because the broker is away; rejects for invalid records at once, and
   * for records the broker refuses for good (too large, not authorized).
   */
  send(topic: string, records: readonly ProduceRecord[]): Promise<SendResult>;
  /** Resolves true when the backlog is empty, false if `timeoutMs` passed first. */
  flush(timeoutMs?: number): Promise<boolean>;
  stats(): ProducerStats;
  /** Flushes for up to `timeoutMs`, sheds what is left, closes the connection. */
  close(timeoutMs?: number): Promise<void>;
}

interface Ticket {
  pending: number;
  delivered: number;
  shed: number;
  resolve(r: SendResult): void;
  reject(e: unknown): void;
  failed: boolean;
}

interface Queued {
  readonly topic: string;
  readonly record: ProduceRecord;
  readonly bytes: number;
  readonly ticket: Ticket;
}

export function createProducer(conn: KafkaConnection, options: ProducerOptions = {}): KafkaProducer {
  const maxRecords = options.maxBacklogRecords ?? 100_000;
  const maxBytes = options.maxBacklogBytes ?? 64 << 20;
  const maxRequestBytes = options.maxRequestBytes ?? 768 << 10;
  const log = options.logger ?? createLogger("kafka-producer");
  const client = new Producer({
    ...clientOptions(conn, 100),
    idempotent: true,
    acks: ProduceAcks.ALL,
    compression: options.compression ?? "none",
    partitioner: partitioner(),
    autocreateTopics: false,
  });

  // A FIFO with a moving head: shift() on a large array is O(n).
  let queue: Queued[] = [];
  let head = 0;
  let backlogBytes = 0;
  let delivered = 0;
  let shed = 0;
  let retries = 0;
  let inFlight = 0;
  let pumping = false;
  let closed = false;
  let outageLogged = false;
  let drained: (() => void)[] = [];
  let wakeSleep: (() => void) | null = null;

  const backlog = (): number => queue.length - head;

  function settle(q: Queued, how: "delivered" | "shed"): void {
    const t = q.ticket;
    t[how]++;
    if (--t.pending === 0 && !t.failed) t.resolve({ delivered: t.delivered, shed: t.shed });
  }

  function shedOldest(): void {
    const q = queue[head]!;
    queue[head++] = undefined as unknown as Queued;
    backlogBytes -= q.bytes;
    shed++;
    shedCounter.inc({ topic: q.topic });
    settle(q, "shed");
  }

  // Closing with the broker away: what is in hand is shed, not retried past the close deadline.
  function shedAll(request: Queued[]): void {
    for (const q of request) {
      shed++;
      shedCounter.inc({ topic: q.topic });
      settle(q, "shed");
    }
  }

  function compact(): void {
    if (head > 4096 && head * 2 > queue.length) {
      queue = queue.slice(head);
      head = 0;
    }
  }

  function takeRequest(): Queued[] {
    const out: Queued[] = [];
    let bytes = 0;
    while (head < queue.length) {
      const q = queue[head]!;
      if (out.length > 0 && bytes + q.bytes > maxRequestBytes) break;
      out.push(q);
      bytes += q.bytes;
      queue[head++] = undefined as unknown as Queued;
    }
    backlogBytes -= bytes;
    compact();
    return out;
  }

  async function sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        wakeSleep = null;
        resolve();
      }
      wakeSleep = done;
    });
  }

  // One request in flight: the client requires it for idempotence, and while it is out the next request
  // fills up, which batches well under load and adds no delay when idle.
  async function pump(): Promise<void> {
    if (pumping) return;
    pumping = true;
    try {
      while (backlog() > 0 && !client.closed) {
        const request = takeRequest();
        inFlight = request.length;
        // A failed request is retried as the same records in the same order, so the broker can
        // recognise a batch it already wrote (same producer id and sequence) and not write it twice.
        for (let attempt = 0; ; attempt++) {
          try {
            await client.send({ messages: request.map((q) => toMessage(q.topic, q.record)) });
            for (const q of request) settle(q, "delivered");
            delivered += request.length;
            if (outageLogged) log.info({ backlog: backlog(), shed }, "kafka: broker reachable again, backlog draining");
            outageLogged = false;
            break;
          } catch (error) {
            if (closed) {
              shedAll(request);
              break;
            }
            if (!isRetriable(error)) {
              const failure = new StoqError("KAFKA_RECORD_REJECTED", `kafka: ${request.length} records refused: ${describe(error)}`, { cause: error });
              log.error({ err: describe(error), records: request.length }, "kafka: records refused for good");
              for (const q of request) {
                if (!q.ticket.failed) q.ticket.reject(failure);
                q.ticket.failed = true;
              }
              break;
            }
            retries++;
            retryCounter.inc();
            if (!outageLogged) log.warn({ err: describe(error), kind: errorKind(error), backlog: backlog() }, "kafka: produce failed, buffering and retrying");
            outageLogged = true;
            await sleep(backoffDelayMs(attempt, options.retry));
            if (closed) {
              shedAll(request);
              break;
            }
          }
        }
      }
    } finally {
      inFlight = 0;
      pumping = false;
      if (backlog() === 0) for (const d of drained.splice(0)) d();
    }
  }

  function startPump(): void {
    pump().catch((error: unknown) => log.error({ err: describe(error) }, "kafka: producer loop failed"));
  }

  const producer: KafkaProducer = {
    send(topic, records) {
      try {
        if (closed) throw new StoqError("KAFKA_CLOSED", `kafka: send to ${topic} after the producer was closed`);
        checkRecords(topic, records);
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
      if (records.length === 0) return Promise.resolve({ delivered: 0, shed: 0 });
      return new Promise<SendResult>((resolve, reject) => {
        const ticket: Ticket = { pending: records.length, delivered: 0, shed: 0, resolve, reject, failed: false };
        for (const record of records) {
          const bytes = recordBytes(record);
          queue.push({ topic, record, bytes, ticket });
          backlogBytes += bytes;
          while (backlog() > maxRecords || (backlogBytes > maxBytes && backlog() > 1)) shedOldest();
        }
        compact();
        startPump();
      });
    },
    async flush(timeoutMs = 30_000) {
      if (backlog() === 0 && !pumping) return true;
      let timer: NodeJS.Timeout | undefined;
      const ok = await Promise.race([
        new Promise<boolean>((resolve) => drained.push(() => resolve(true))),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
      ]);
      clearTimeout(timer);
      return ok;
    },
    stats() {
      return { backlogRecords: backlog() + inFlight, backlogBytes, delivered, shed, retries };
    },
    async close(timeoutMs = 10_000) {
      if (closed) return;
      const ok = await producer.flush(timeoutMs);
      closed = true;
      if (!ok) {
        log.warn({ backlog: backlog() }, "kafka: closing with records still queued; they are shed");
        while (backlog() > 0) shedOldest();
        wakeSleep?.();
        await producer.flush(5000);
      }
      drained = [];
      liveProducers.delete(producer);
      await client.close();
    },
  };
  liveProducers.add(producer);
  return producer;
}

// ---------------------------------------------------------------------------------------------------
// Consumer groups: eachBatch per partition, commit after the handler returns (at-least-once).

export interface ConsumerOptions {
  readonly groupId: string;
  readonly topics: readonly string[];
  /** Where a group without committed offsets starts; default "earliest" so nothing is skipped. */
  readonly start?: "earliest" | "latest";
  /** Default true: records of aborted transactions are never seen. */
  readonly readCommitted?: boolean;
  /** "after-batch" (at-least-once) or "by-transaction" (the handler commits with KafkaTransaction.sendOffsets). */
  readonly commit?: "after-batch" | "by-transaction";
  readonly maxBatchRecords?: number;
  readonly sessionTimeoutMs?: number;
  readonly heartbeatIntervalMs?: number;
  readonly maxWaitMs?: number;
  readonly retry?: BackoffOptions;
  readonly logger?: Logger;
  /**
   * Called with each partition's records in order. A retriable error (StoqError with canRetry, broker
   * trouble) retries the same batch with backoff; any other error stops the consumer (see `stopped`).
   */
  readonly eachBatch: (batch: ConsumedBatch) => Promise<void>;
}

export interface KafkaConsumer {
  readonly groupId: string;
  /** Resolves once the consumer has joined its group and is fetching. */
  start(): Promise<void>;
  /** Settles when the consumer stops: resolves after close(), rejects on an error that retrying cannot fix. */
  readonly stopped: Promise<void>;
  /** Finishes the batch in hand, commits it, leaves the group. */
  close(): Promise<void>;
}

const NO_HEADERS: ReadonlyMap<string, Buffer> = new Map();
const NO_ASSIGNMENT: ReadonlyMap<string, readonly number[]> = new Map();

// ---------------------------------------------------------------------------------------------------
// The fetch path. The client turns every fetched record into several objects (its record, a copy of it,
// a diagnostics context, a header map, a message with a bound commit, a stream push); at the aggregator's
// rates that was most of its time and garbage. The client still runs the group (join, heartbeats,
// assignment, committed offsets) and its stream still schedules the fetches, but the Fetch request goes
// through `leanFetch` below: the response's record sets are read here as RecordBatch v2 (Kafka protocol,
// "Record Batch"), values as positions in the response (views only on demand), and the stream is only
// told how far each partition got.

const IS_COMPRESSED = 0x07;
const IS_LOG_APPEND_TIME = 0x08;
const IS_TRANSACTIONAL = 0x10;
const IS_CONTROL_BATCH = 0x20;
const BATCH_HEADER = 61;
// Per partition and per response: large fetches cost fewer round trips and stream wake-ups per record.
const MAX_PARTITION_FETCH_BYTES = 8 << 20;
const MAX_FETCH_BYTES = 16 << 20;
const CONTROL_ABORT = 0;

interface AbortedTransaction {
  readonly producerId: bigint;
  readonly firstOffset: bigint;
}

interface FetchedPartition {
  readonly partitionIndex: number;
  readonly highWatermark: number;
  readonly lastStableOffset: number;
  readonly abortedTransactions: readonly AbortedTransaction[] | null;
  /** The partition's record sets, undefined when there were none. */
  records?: Buffer;
}

interface FetchResponse {
  readonly responses: readonly { readonly topicId: string; readonly partitions: readonly FetchedPartition[] }[];
}

// A Reader of the client's protocol module, as far as the Fetch response below uses it.
interface ProtocolReader {
  readonly position: number;
  readonly buffer: { slice(start: number, end: number): Buffer };
  readInt8(): number;
  readInt16(): number;
  readInt32(): number;
  readInt64(): bigint;
  readUUID(): string;
  readUnsignedVarInt(): number;
  readArray<T>(f: (r: ProtocolReader, i: number) => T): T[];
  skip(n: number): void;
}

// Fetch v17, as the client sends it to the stack's Kafka 4.3 (a broker without v17 answers
// UNSUPPORTED_VERSION), with the response's records left as bytes.
function parseFetchV17(_correlationId: number, apiKey: number, apiVersion: number, reader: ProtocolReader): FetchResponse {
  const errors: [string, [number, null]][] = [];
  reader.readInt32(); // throttle_time_ms
  const errorCode = reader.readInt16();
  if (errorCode !== 0) errors.push(["", [errorCode, null]]);
  reader.readInt32(); // session_id
  const response: FetchResponse = {
    responses: reader.readArray((r, i) => ({
      topicId: r.readUUID(),
      partitions: r.readArray((r, j) => {
        const partitionIndex = r.readInt32();
        const code = r.readInt16();
        const highWatermark = Number(r.readInt64());
        const lastStableOffset = Number(r.readInt64());
        r.readInt64(); // log_start_offset
        const abortedTransactions = r.readArray((r) => ({ producerId: r.readInt64(), firstOffset: r.readInt64() }));
        r.readInt32(); // preferred_read_replica
        if (code !== 0) errors.push([`/responses/${i}/partitions/${j}`, [code, null]]);
        const p: FetchedPartition = { partitionIndex, highWatermark, lastStableOffset, abortedTransactions };
        const size = r.readUnsignedVarInt() - 1;
        if (size > 0) {
          p.records = r.buffer.slice(r.position, r.position + size);
          r.skip(size);
        }
        return p;
      }),
    })),
  };
  if (errors.length > 0) throw new ResponseError(apiKey, apiVersion, Object.fromEntries(errors), response);
  return response;
}

type FetchApi = (connection: unknown, ...args: unknown[]) => void;
const fetchApi = createAPI(1, 17, fetchV17.createRequest, parseFetchV17 as never) as unknown as FetchApi;

/** Reads Kafka varints (zig-zag) from a buffer; exact up to 2^53. */
class Cursor {
  constructor(
    public buf: Buffer,
    public pos: number,
  ) {}

  varint(): number {
    let b = this.buf[this.pos++]!;
    let n = b & 0x7f;
    for (let scale = 128; b & 0x80; scale *= 128) {
      b = this.buf[this.pos++]!;
      n += (b & 0x7f) * scale;
    }
    return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
  }
}

function int64At(buf: Buffer, at: number): number {
  return buf.readInt32BE(at) * 2 ** 32 + buf.readUInt32BE(at + 4);
}

/** One partition's records from one fetch, in offset order, as parallel arrays. */
interface Chunk {
  readonly topic: string;
  readonly partition: number;
  startOffset: number;
  nextOffset: number;
  readonly offsets: number[];
  readonly timestamps: number[];
  /** Where each record's key starts, in `sources[i]` (the response, or a decompressed batch). */
  readonly keyAt: number[];
  /** Where each record's value starts in `sources[i]`, and its length (-1: a tombstone). */
  readonly valueAt: number[];
  readonly valueLength: number[];
  readonly sources: Buffer[];
}

/**
 * Reads the record sets of one partition from `fetchOffset` on. Control batches are skipped; with
 * `readCommitted`, so are the batches of aborted transactions, tracked as the Java consumer does: a
 * producer's batches are aborted from the first offset the broker lists for its aborted transaction to
 * its abort marker (which may lie in a later fetch; a producer can have several in one).
 */
export function readRecordSets(
  buf: Buffer,
  topic: string,
  partition: number,
  fetchOffset: number,
  aborted: readonly AbortedTransaction[],
  readCommitted: boolean,
): Chunk {
  const chunk: Chunk = { topic, partition, startOffset: fetchOffset, nextOffset: fetchOffset, offsets: [], timestamps: [], keyAt: [], valueAt: [], valueLength: [], sources: [] };
  const pending = [...aborted].sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0));
  const abortedProducers = new Set<bigint>();
  let next = 0;
  const c = new Cursor(buf, 0);
  for (let pos = 0; pos + BATCH_HEADER <= buf.length; ) {
    const base = int64At(buf, pos);
    const end = pos + 12 + buf.readInt32BE(pos + 8);
    // The broker cuts the last batch of a response at the size limit: the next fetch starts at it.
    if (end > buf.length) break;
    if (buf[pos + 16] !== 2) throw new StoqError("KAFKA_UNAVAILABLE", `kafka: ${topic}/${partition} offset ${base}: record batch magic ${buf[pos + 16]}, only v2 is read`);
    const attributes = buf.readInt16BE(pos + 21);
    const last = base + buf.readInt32BE(pos + 23);
    chunk.nextOffset = last + 1;
    const batchStart = pos;
    pos = end;
    if (readCommitted && attributes & IS_TRANSACTIONAL) {
      while (next < pending.length && pending[next]!.firstOffset <= BigInt(last)) abortedProducers.add(pending[next++]!.producerId);
      const producerId = buf.readBigInt64BE(batchStart + 43);
      if (attributes & IS_CONTROL_BATCH) {
        // A control batch holds one record whose key is (version int16, type int16).
        c.buf = buf;
        c.pos = batchStart + BATCH_HEADER;
        c.varint();
        c.pos++;
        c.varint();
        c.varint();
        c.varint();
        if (buf.readInt16BE(c.pos + 2) === CONTROL_ABORT) abortedProducers.delete(producerId);
        continue;
      }
      if (abortedProducers.has(producerId)) continue;
    }
    if (attributes & IS_CONTROL_BATCH || last < fetchOffset) continue;
    const count = buf.readInt32BE(batchStart + 57);
    const baseTime = int64At(buf, batchStart + 27);
    const logAppendTime = attributes & IS_LOG_APPEND_TIME ? int64At(buf, batchStart + 35) : -1;
    let src = buf;
    c.pos = batchStart + BATCH_HEADER;
    const codec = attributes & IS_COMPRESSED;
    if (codec !== 0) {
      const algorithm = compressionsAlgorithmsByBitmask[codec];
      if (algorithm === undefined) throw new StoqError("KAFKA_UNAVAILABLE", `kafka: ${topic}/${partition} offset ${base}: unknown compression ${codec}`);
      src = algorithm.decompressSync(buf.subarray(batchStart + BATCH_HEADER, end));
      c.pos = 0;
    }
    c.buf = src;
    for (let i = 0; i < count; i++) {
      const length = c.varint();
      const recordEnd = c.pos + length;
      c.pos++; // attributes
      const timeDelta = c.varint();
      const offset = base + c.varint();
      if (offset >= fetchOffset) {
        const keyAt = c.pos;
        const keyLength = c.varint();
        if (keyLength > 0) c.pos += keyLength;
        const valueLength = c.varint();
        chunk.valueAt.push(c.pos);
        chunk.valueLength.push(valueLength < 0 ? -1 : valueLength);
        chunk.offsets.push(offset);
        chunk.timestamps.push(logAppendTime >= 0 ? logAppendTime : baseTime + timeDelta);
        chunk.keyAt.push(keyAt);
        chunk.sources.push(src);
      }
      c.pos = recordEnd;
    }
  }
  return chunk;
}

function bytesAt(c: Cursor): Buffer | null {
  const n = c.varint();
  if (n < 0) return null;
  const out = Buffer.from(c.buf.subarray(c.pos, c.pos + n));
  c.pos += n;
  return out;
}

// What a commit of a fetched position needs: the group generation it was fetched in.
interface FetchContext {
  readonly groupId: string;
  readonly memberId: string | null;
  readonly generationId: number;
  readonly coordinatorId: number;
  readonly leaderEpoch: number;
  readonly assigned: ReadonlyMap<string, readonly number[]>;
}
const fetchContext = new WeakMap<ConsumedBatch, FetchContext>();

class FetchedBatch implements ConsumedBatch {
  #records: ConsumedRecord[] | null = null;
  #values: (Buffer | null)[] | null = null;

  constructor(
    readonly groupId: string,
    private readonly chunk: Chunk,
    private readonly from: number,
    private readonly to: number,
    readonly startOffset: number,
    readonly nextOffset: number,
    readonly offsets: readonly number[],
  ) {}

  get count(): number {
    return this.to - this.from;
  }

  valueSource(i: number): Buffer {
    return this.chunk.sources[this.from + i]!;
  }

  valueStart(i: number): number {
    return this.chunk.valueAt[this.from + i]!;
  }

  valueLength(i: number): number {
    return this.chunk.valueLength[this.from + i]!;
  }

  get values(): readonly (Buffer | null)[] {
    if (this.#values !== null) return this.#values;
    const { sources, valueAt, valueLength } = this.chunk;
    const out: (Buffer | null)[] = [];
    for (let i = this.from; i < this.to; i++) {
      const n = valueLength[i]!;
      const at = valueAt[i]!;
      out.push(n < 0 ? null : sources[i]!.subarray(at, at + n));
    }
    this.#values = out;
    return out;
  }

  get topic(): string {
    return this.chunk.topic;
  }

  get generation(): number {
    return fetchContext.get(this)?.generationId ?? -1;
  }

  get assigned(): ReadonlyMap<string, readonly number[]> {
    return fetchContext.get(this)?.assigned ?? NO_ASSIGNMENT;
  }

  get partition(): number {
    return this.chunk.partition;
  }

  get records(): readonly ConsumedRecord[] {
    if (this.#records !== null) return this.#records;
    const { topic, partition, offsets, timestamps, keyAt, sources } = this.chunk;
    const out: ConsumedRecord[] = [];
    const c = new Cursor(sources[0] ?? Buffer.alloc(0), 0);
    for (let i = this.from; i < this.to; i++) {
      c.buf = sources[i]!;
      c.pos = keyAt[i]!;
      const key = bytesAt(c);
      const value = bytesAt(c);
      let headers = NO_HEADERS;
      const n = c.varint();
      if (n > 0) {
        const h = new Map<string, Buffer>();
        for (let j = 0; j < n; j++) h.set(bytesAt(c)?.toString() ?? "", bytesAt(c) ?? Buffer.alloc(0));
        headers = h;
      }
      out.push({ topic, partition, offset: BigInt(offsets[i]!), timestampMs: timestamps[i]!, key, value, headers });
    }
    this.#records = out;
    return out;
  }
}

// The part of the client's stream fetch options this path reads.
interface StreamFetchOptions {
  readonly node: number;
  readonly topics: readonly { readonly topicId: string; readonly partitions: readonly { readonly partition: number; readonly fetchOffset: bigint }[] }[];
  readonly connectionPool: { get(broker: unknown, cb: (error: Error | null, connection: unknown) => void): void };
}

interface FetchSettings {
  readonly groupId: string;
  readonly readCommitted: boolean;
  readonly maxWaitMs: number;
  readonly maxBytes: number;
  readonly maxBatch: number;
}

/**
 * The member's place in its group as of its last join (the client's "consumer:group:join", after SyncGroup):
 * `joins` counts the joins. The client updates its generation at JoinGroup and its assignment at
 * SyncGroup; batches are stamped from this snapshot instead, so a batch's generation and assignment
 * always go together, and a commit of a batch fetched before a join is made in the generation it was
 * fetched in (and refused by the broker if the group has moved on).
 */
interface Membership {
  readonly joins: number;
  readonly memberId: string | null;
  readonly generationId: number;
  readonly assigned: ReadonlyMap<string, readonly number[]>;
}

/** What a fetch saw of one partition: where it fetched from, where it got to, and where the partition ends. */
type FetchObserver = (topic: string, partition: number, fetchOffset: number, nextOffset: number, endOffset: number) => void;

/**
 * Replaces the client's fetch for its stream: `deliver` gets the batches, the stream a response of one
 * empty control batch per partition that ends where the partition's records ended, so its offsets advance.
 */
function leanFetch(client: Consumer, settings: FetchSettings, membership: () => Membership, deliver: (batches: FetchedBatch[]) => void, observe: FetchObserver): void {
  // Per partition: where the fetches that delivered nothing (control records, aborted transactions)
  // started, so the next batch says it continues from there. Reset by a join.
  const carried = new Map<string, { expect: number; start: number }>();
  let carriedJoins = -1;
  const target = client as unknown as { fetch(options: StreamFetchOptions, callback: (error: Error | null, response?: unknown) => void): void };
  target.fetch = (options, callback) => {
    client.metadata({ topics: client.topics.current }, (error, metadata) => {
      if (error || metadata === undefined) return void callback(error ?? new StoqError("KAFKA_UNAVAILABLE", "kafka: no metadata"));
      const broker = metadata.brokers.get(options.node);
      if (broker === undefined) return void callback(new StoqError("KAFKA_UNAVAILABLE", `kafka: no broker ${options.node} in the metadata`));
      const names = new Map<string, string>();
      for (const [name, t] of metadata.topics) names.set(t.id, name);
      const member = membership();
      const context = { groupId: settings.groupId, memberId: member.memberId, generationId: member.generationId, coordinatorId: client.coordinatorId ?? -1, assigned: member.assigned };
      options.connectionPool.get(broker, (error, connection) => {
        if (error) return void callback(error);
        const requested = new Map<string, number>();
        for (const t of options.topics) for (const p of t.partitions) requested.set(`${t.topicId}:${p.partition}`, Number(p.fetchOffset));
        const isolation = settings.readCommitted ? FetchIsolationLevels.READ_COMMITTED : FetchIsolationLevels.READ_UNCOMMITTED;
        fetchApi(connection, settings.maxWaitMs, 1, settings.maxBytes, isolation, 0, 0, options.topics, [], "", (error: Error | null, response: FetchResponse) => {
          if (error) return void callback(error);
          // A join while the fetch was out reset the positions to the committed offsets: what it read is
          // dropped and the positions are left alone (recording how far it got would skip records).
          if (membership().joins !== member.joins) return void callback(null, { responses: [] });
          if (carriedJoins !== member.joins) {
            carried.clear();
            carriedJoins = member.joins;
          }
          const out: FetchedBatch[] = [];
          const advanced: unknown[] = [];
          try {
            for (const t of response.responses) {
              const topic = names.get(t.topicId);
              if (topic === undefined) continue;
              const partitions: unknown[] = [];
              for (const p of t.partitions) {
                const fetchOffset = requested.get(`${t.topicId}:${p.partitionIndex}`);
                if (fetchOffset === undefined) continue;
                const endOffset = settings.readCommitted ? p.lastStableOffset : p.highWatermark;
                if (p.records === undefined) {
                  observe(topic, p.partitionIndex, fetchOffset, fetchOffset, endOffset);
                  continue;
                }
                const chunk = readRecordSets(p.records, topic, p.partitionIndex, fetchOffset, p.abortedTransactions ?? [], settings.readCommitted);
                observe(topic, p.partitionIndex, fetchOffset, chunk.offsets.length > 0 ? fetchOffset : chunk.nextOffset, endOffset);
                if (chunk.nextOffset <= fetchOffset) continue;
                const key = `${topic}:${p.partitionIndex}`;
                const carry = carried.get(key);
                if (carry !== undefined && carry.expect === fetchOffset) chunk.startOffset = carry.start;
                carried.set(key, { expect: chunk.nextOffset, start: chunk.offsets.length > 0 ? chunk.nextOffset : chunk.startOffset });
                const leaderEpoch = metadata.topics.get(topic)?.partitions[p.partitionIndex]?.leaderEpoch ?? -1;
                split(chunk, settings, { ...context, leaderEpoch }, out);
                partitions.push({ partitionIndex: p.partitionIndex, records: [{ firstOffset: BigInt(chunk.nextOffset - 1), lastOffsetDelta: 0, attributes: IS_CONTROL_BATCH, firstTimestamp: 0n, records: [] }] });
              }
              advanced.push({ topicId: t.topicId, partitions });
            }
          } catch (e) {
            return void callback(e as Error);
          }
          if (out.length > 0) deliver(out);
          callback(null, { responses: advanced });
        });
      });
    });
  };
}

/** Cuts a partition's chunk into batches of at most `maxBatch` records that chain by offset. */
function split(chunk: Chunk, settings: FetchSettings, context: FetchContext, out: FetchedBatch[]): void {
  const n = chunk.offsets.length;
  for (let from = 0; from < n; from += settings.maxBatch) {
    const to = Math.min(n, from + settings.maxBatch);
    const whole = from === 0 && to === n;
    const batch = new FetchedBatch(
      settings.groupId,
      chunk,
      from,
      to,
      from === 0 ? chunk.startOffset : chunk.offsets[from]!,
      to === n ? chunk.nextOffset : chunk.offsets[to]!,
      whole ? chunk.offsets : chunk.offsets.slice(from, to),
    );
    fetchContext.set(batch, context);
    out.push(batch);
  }
}

export function createConsumer(conn: KafkaConnection, options: ConsumerOptions): KafkaConsumer {
  if (!options.groupId) throw new StoqError("CONFIG_INVALID", "consumer groupId: empty");
  if (options.topics.length === 0) throw new StoqError("CONFIG_INVALID", `consumer ${options.groupId}: no topics`);
  const log = options.logger ?? createLogger("kafka-consumer");
  const maxBatch = options.maxBatchRecords ?? 1000;
  const commitAfterBatch = (options.commit ?? "after-batch") === "after-batch";
  const readCommitted = options.readCommitted !== false;
  const commits = new Set<Promise<void>>();
  let closing = false;
  let client: Consumer | null = null;
  let stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | null = null;
  let wake: (() => void) | null = null;
  let joined: { resolve(): void; reject(e: unknown): void } | null = null;
  let stop!: { resolve(): void; reject(e: unknown): void };
  const stopped = new Promise<void>((resolve, reject) => (stop = { resolve, reject }));
  // The owner awaits `stopped`; this keeps an owner that only calls close() from an unhandled rejection.
  stopped.catch(() => undefined);

  // Batches fetched and not yet handled; the stream is paused (no further fetch) while they exceed
  // `highWater` records.
  let pending: FetchedBatch[] = [];
  let pendingRecords = 0;
  let arrived: (() => void) | null = null;
  const highWater = Math.max(maxBatch * 4, 50_000);

  // Per partition ("topic:partition"): its end as the last fetch saw it, and the position after the last
  // batch handled (before any, where fetching started).
  const partitionEnds = new Map<string, { topic: string; partition: number; end: number }>();
  const positions = new Map<string, number>();
  const lagSource: LagSource = {
    lag(into) {
      const assigned = client?.assignments;
      if (assigned == null) return;
      for (const a of assigned) {
        for (const partition of a.partitions) {
          const key = `${a.topic}:${partition}`;
          const seen = partitionEnds.get(key);
          const position = positions.get(key);
          if (seen === undefined || position === undefined) continue;
          const lag = Math.max(0, seen.end - position);
          const other = into.get(key);
          if (other === undefined || other.lag < lag) into.set(key, { topic: a.topic, partition, lag });
        }
      }
    },
  };
  // A fetch whose records were all control records or aborted ones moves a caught-up position past them.
  const observe: FetchObserver = (topic, partition, fetchOffset, nextOffset, end) => {
    const key = `${topic}:${partition}`;
    partitionEnds.set(key, { topic, partition, end });
    const position = positions.get(key);
    if (position === undefined || (position === fetchOffset && nextOffset > fetchOffset)) positions.set(key, nextOffset);
  };

  // Replaced at each join of the current client (see Membership).
  let membership: Membership = { joins: 0, memberId: null, generationId: -1, assigned: NO_ASSIGNMENT };

  async function openStream(): Promise<void> {
    const c = new Consumer({
      ...clientOptions(conn, 250),
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: options.heartbeatIntervalMs ?? 3000,
      maxWaitTime: options.maxWaitMs ?? 500,
      maxBytesPerPartition: MAX_PARTITION_FETCH_BYTES,
      highWaterMark: 1024,
    });
    client = c;
    pending = [];
    pendingRecords = 0;
    partitionEnds.clear();
    positions.clear();
    membership = { joins: membership.joins + 1, memberId: null, generationId: -1, assigned: NO_ASSIGNMENT };
    // Registered before the stream's own listener, which refreshes the positions asynchronously: to the
    // committed offsets, and for a partition without one to where it was, since it keeps positions it
    // has. Forgetting them first makes such a partition start again from the fallback (the earliest
    // offset), as its new owner would: after a rebalance every partition is read again from what is
    // committed, and batches fetched before carry the generation they were fetched in.
    c.on("consumer:group:join", () => {
      const assigned = new Map<string, readonly number[]>();
      for (const a of c.assignments ?? []) assigned.set(a.topic, [...a.partitions]);
      membership = { joins: membership.joins + 1, memberId: c.memberId, generationId: c.generationId, assigned };
      stream?.offsetsToFetch.clear();
      positions.clear();
    });
    leanFetch(c, { groupId: options.groupId, readCommitted, maxWaitMs: options.maxWaitMs ?? 500, maxBytes: MAX_FETCH_BYTES, maxBatch }, () => membership, (batches) => {
      pending.push(...batches);
      for (const b of batches) pendingRecords += b.count;
      if (pendingRecords >= highWater && stream !== null && !stream.isPaused()) stream.pause();
      arrived?.();
    }, observe);
    stream = await c.consume({
      topics: [...options.topics],
      mode: "committed",
      fallbackMode: options.start ?? "earliest",
      autocommit: false,
      isolationLevel: readCommitted ? FetchIsolationLevels.READ_COMMITTED : FetchIsolationLevels.READ_UNCOMMITTED,
    });
    const s = stream;
    // The stream fetches only in flowing mode. Its fetches deliver through leanFetch and push nothing;
    // a message here would mean the client fetched around it, and is not silently dropped.
    s.on("data", () => s.destroy(new StoqError("KAFKA_UNAVAILABLE", "kafka: the client delivered a message outside the lean fetch path")));
  }

  async function closeClient(): Promise<void> {
    await Promise.allSettled([...commits]);
    const s = stream;
    const c = client;
    stream = null;
    client = null;
    await s?.close().catch(() => undefined);
    await c?.close().catch(() => undefined);
  }

  // Waits until records arrive, the stream fails, or close() is called.
  async function arrival(s: MessagesStream<Buffer, Buffer, Buffer, Buffer>): Promise<Error | null> {
    const ac = new AbortController();
    try {
      return await Promise.race([
        new Promise<null>((resolve) => (arrived = () => resolve(null))),
        once(s, "error", { signal: ac.signal }).then(([e]) => e as Error),
        once(s, "close", { signal: ac.signal }).then(() => new StoqError("KAFKA_UNAVAILABLE", "consumer stream closed")),
        new Promise<null>((resolve) => (wake = () => resolve(null))),
      ]);
    } finally {
      ac.abort();
      arrived = null;
      wake = null;
    }
  }

  function take(s: MessagesStream<Buffer, Buffer, Buffer, Buffer>): FetchedBatch | undefined {
    const batch = pending.shift();
    if (batch === undefined) return undefined;
    pendingRecords -= batch.count;
    if (pendingRecords < highWater / 2 && s.isPaused()) s.resume();
    return batch;
  }

  async function handle(batch: FetchedBatch): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await options.eachBatch(batch);
        positions.set(`${batch.topic}:${batch.partition}`, batch.nextOffset);
        break;
      } catch (error) {
        if (!isRetriable(error) || closing) throw error;
        log.warn({ err: describe(error), topic: batch.topic, partition: batch.partition, attempt }, "kafka: batch handler failed, retrying");
        await new Promise((r) => setTimeout(r, backoffDelayMs(attempt, options.retry)));
      }
    }
    if (commitAfterBatch && client !== null) {
      // Issued after the handler, not awaited before the next batch: commits go out in order on one
      // connection, and one that fails (a rebalance took the partition) only means the new owner
      // re-reads from the previous commit, which at-least-once allows. close() awaits the last one.
      const leaderEpoch = fetchContext.get(batch)?.leaderEpoch ?? -1;
      const commit = client.commit({ offsets: [{ topic: batch.topic, partition: batch.partition, offset: BigInt(batch.nextOffset), leaderEpoch }] });
      commits.add(commit);
      commit
        .catch((error: unknown) => log.warn({ err: describe(error), topic: batch.topic, partition: batch.partition }, "kafka: commit failed, records will be re-read"))
        .finally(() => commits.delete(commit))
        .catch(() => undefined);
    }
  }

  async function loop(): Promise<void> {
    for (let attempt = 0; !closing; ) {
      try {
        await openStream();
        attempt = 0;
        joined?.resolve();
        const s = stream!;
        while (!closing) {
          const batch = take(s);
          if (batch === undefined) {
            const failure = await arrival(s);
            if (failure && !closing) throw failure;
            continue;
          }
          await handle(batch);
          // Handlers that resolve without I/O would chain every fetched batch in microtasks; a turn of
          // the event loop between batches lets responses in (the next fetch, a transaction's sends).
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      } catch (error) {
        if (closing) break;
        if (!isRetriable(error)) throw error;
        log.warn({ err: describe(error), kind: errorKind(error), attempt }, "kafka: consumer lost the broker, reconnecting");
        await closeClient();
        await new Promise((r) => setTimeout(r, backoffDelayMs(attempt++, options.retry)));
      }
    }
  }

  let running: Promise<void> | null = null;
  return {
    groupId: options.groupId,
    stopped,
    start() {
      if (running) return Promise.reject(new StoqError("KAFKA_CLOSED", `consumer ${options.groupId} already started`));
      const ready = new Promise<void>((resolve, reject) => (joined = { resolve, reject }));
      lagSources.add(lagSource);
      running = loop().then(
        async () => {
          lagSources.delete(lagSource);
          await closeClient();
          stop.resolve();
        },
        async (error: unknown) => {
          lagSources.delete(lagSource);
          log.fatal({ err: describe(error), group: options.groupId }, "kafka: consumer stopped on an error retrying cannot fix");
          await closeClient();
          joined?.reject(error);
          stop.reject(error);
        },
      );
      return ready;
    },
    async close() {
      closing = true;
      wake?.();
      joined?.resolve();
      if (running) await running;
      else stop.resolve();
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Transactions: exactly-once read-process-write.

export interface KafkaTransaction {
  send(topic: string, records: readonly ProduceRecord[]): Promise<void>;
  /** Commits the consumer's position after `batch` as part of this transaction. */
  sendOffsets(batch: ConsumedBatch): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

export interface KafkaTransactionalProducer {
  /** One transaction at a time; begin() again only after commit() or abort(). */
  begin(): Promise<KafkaTransaction>;
  close(): Promise<void>;
}

function txError(what: string, error: unknown): StoqError {
  if (isStoqError(error)) return error;
  return isRetriable(error)
    ? new StoqError("KAFKA_TRANSACTION_FAILED", `kafka transaction ${what}: ${describe(error)}; abort and redo it`, { cause: error })
    : new StoqError("KAFKA_TRANSACTION_FATAL", `kafka transaction ${what}: ${describe(error)}`, { cause: error });
}

export function createTransactionalProducer(conn: KafkaConnection, transactionalId: string): KafkaTransactionalProducer {
  if (!transactionalId) throw new StoqError("CONFIG_INVALID", "transactionalId: empty; give one stable id per producing instance");
  const client = new Producer({
    ...clientOptions(conn, 20),
    // A new transaction meets CONCURRENT_TRANSACTIONS while the broker still writes the previous one's
    // markers; retrying after 20 ms as the Java client does, not the client's default 1 s, is 80x the rate.
    retryDelay: (_client, _op, attempt) => Math.min(1000, 20 * 2 ** (attempt - 1)),
    retries: 10,
    // The transaction timeout (the client's default is 5 s): a transaction the broker has not seen end by
    // then is aborted and its producer fenced. A checkpoint of tens of MiB of changelog sent while the
    // loop ingests can take seconds; a crashed instance that is not restarted holds read_committed
    // readers of its partitions back this long (a restarted one fences its old transaction at once).
    timeout: 20_000,
    idempotent: true,
    acks: ProduceAcks.ALL,
    transactionalId,
    // InitProducerId with "no producer yet" (-1/-1), as the Java client starts: the broker bumps the id's
    // epoch, fencing any older incarnation and aborting its open transaction at once. The client's default
    // (0/0) claims to be producer 0 at epoch 0, which the broker refuses once the id has been used.
    producerId: -1n,
    producerEpoch: -1,
    partitioner: partitioner(),
    autocreateTopics: false,
  });
  const offsetConsumers = new Map<string, Consumer>();

  return {
    async begin() {
      let tx: Awaited<ReturnType<Producer["beginTransaction"]>>;
      try {
        tx = await client.beginTransaction();
      } catch (error) {
        throw txError("begin", error);
      }
      const groups = new Set<string>();
      return {
        async send(topic, records) {
          checkRecords(topic, records);
          try {
            await tx.send({ messages: records.map((r) => toMessage(topic, r)) });
          } catch (error) {
            throw txError("send", error);
          }
        },
        async sendOffsets(batch) {
          const context = fetchContext.get(batch);
          if (!context) throw new StoqError("RECORD_INVALID", "sendOffsets: the batch did not come from a KafkaConsumer of this module");
          try {
            if (!groups.has(batch.groupId)) {
              // AddOffsetsToTxn needs only the group id; a bare client object carries it.
              let c = offsetConsumers.get(batch.groupId);
              if (!c) {
                c = new Consumer({ ...clientOptions(conn, 100), groupId: batch.groupId });
                offsetConsumers.set(batch.groupId, c);
              }
              await tx.addConsumer(c);
              groups.add(batch.groupId);
            }
            // The client deduplicates concurrent offset commits into one, so these stay sequential.
            // The client commits the offset after the message it is given: the batch's next offset.
            await tx.addOffset({ topic: batch.topic, partition: batch.partition, offset: BigInt(batch.nextOffset) - 1n, metadata: { consumer: context } } as unknown as Message);
          } catch (error) {
            throw txError("sendOffsets", error);
          }
        },
        async commit() {
          try {
            await tx.commit();
          } catch (error) {
            throw txError("commit", error);
          }
        },
        async abort() {
          try {
            await tx.abort();
          } catch (error) {
            throw txError("abort", error);
          }
        },
      };
    },
    async close() {
      for (const c of offsetConsumers.values()) await c.close().catch(() => undefined);
      await client.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Admin

export interface TopicRequest {
  readonly name: string;
  readonly partitions: number;
  readonly replicationFactor?: number;
  readonly config?: Readonly<Record<string, string>>;
}

export interface TopicDescription {
  readonly name: string;
  readonly partitions: number;
  readonly replicationFactor: number;
}

export interface GroupDescription {
  readonly groupId: string;
  /** The group state as the broker names it: "STABLE", "EMPTY", "PREPARING_REBALANCE", "DEAD", ... */
  readonly state: string;
  readonly members: number;
}

export interface KafkaAdmin {
  /** Creates the topics that do not exist yet; returns the names it created. */
  createTopics(specs: readonly TopicRequest[]): Promise<string[]>;
  deleteTopics(names: readonly string[]): Promise<void>;
  listTopics(): Promise<string[]>;
  describeTopics(names: readonly string[]): Promise<TopicDescription[]>;
  describeGroup(groupId: string): Promise<GroupDescription>;
  /**
   * The offset after the last record a read_committed consumer can read now (the last stable offset), per
   * partition index: "the end" of a topic, e.g. for catching up with a compacted topic before acting.
   */
  endOffsets(topic: string): Promise<bigint[]>;
  close(): Promise<void>;
}

export function createAdmin(conn: KafkaConnection): KafkaAdmin {
  const client = new Admin(clientOptions(conn, 100));
  const wrap = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (error) {
      throw new StoqError(isRetriable(error) ? "KAFKA_UNAVAILABLE" : "KAFKA_ADMIN_FAILED", `kafka admin ${what}: ${describe(error)}`, { cause: error });
    }
  };
  return {
    async createTopics(specs) {
      const existing = new Set(await wrap("listTopics", () => client.listTopics()));
      const created: string[] = [];
      for (const spec of specs) {
        if (existing.has(spec.name)) continue;
        try {
          await wrap(`createTopics ${spec.name}`, () =>
            client.createTopics({
              topics: [spec.name],
              partitions: spec.partitions,
              replicas: spec.replicationFactor ?? 1,
              configs: Object.entries(spec.config ?? {}).map(([name, value]) => ({ name, value })),
            }),
          );
          created.push(spec.name);
        } catch (e) {
          // Another instance created it between our list and our create: the topic exists, as asked.
          if (!/already exists/.test(describe(e))) throw e;
        }
      }
      return created;
    },
    async deleteTopics(names) {
      if (names.length > 0) await wrap("deleteTopics", () => client.deleteTopics({ topics: [...names] }));
    },
    async listTopics() {
      return wrap("listTopics", () => client.listTopics());
    },
    async describeTopics(names) {
      const md = await wrap("describeTopics", () => client.metadata({ topics: [...names], forceUpdate: true }));
      return names.map((name) => {
        const t = md.topics.get(name);
        if (!t) throw new StoqError("KAFKA_ADMIN_FAILED", `kafka admin describeTopics: no topic ${name}`);
        return { name, partitions: t.partitionsCount, replicationFactor: t.partitions[0]?.replicas.length ?? 0 };
      });
    },
    async describeGroup(groupId) {
      const groups = await wrap("describeGroups", () => client.describeGroups({ groups: [groupId] }));
      const g = groups.get(groupId);
      return { groupId, state: g?.state ?? "Dead", members: g?.members.size ?? 0 };
    },
    async endOffsets(topic) {
      const md = await wrap("metadata", () => client.metadata({ topics: [topic], forceUpdate: true }));
      const t = md.topics.get(topic);
      if (!t) throw new StoqError("KAFKA_ADMIN_FAILED", `kafka admin endOffsets: no topic ${topic}`);
      const listed = await wrap("listOffsets", () =>
        client.listOffsets({
          topics: [{ name: topic, partitions: Array.from({ length: t.partitionsCount }, (_, p) => ({ partitionIndex: p, timestamp: -1n })) }],
          isolationLevel: FetchIsolationLevels.READ_COMMITTED,
        }),
      );
      const out = new Array<bigint>(t.partitionsCount).fill(0n);
      for (const p of listed.find((x) => x.name === topic)?.partitions ?? []) out[p.partitionIndex] = p.offset;
      return out;
    },
    async close() {
      await client.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Graceful shutdown

export interface Closable {
  close(): Promise<void>;
}

export interface ShutdownOptions {
  readonly signals?: readonly NodeJS.Signals[];
  /** Past this the process exits anyway, with code 1. */
  readonly timeoutMs?: number;
  readonly logger?: Logger;
  readonly exit?: (code: number) => void;
}

/**
 * On the first SIGTERM/SIGINT, closes `closables` in reverse order (consumers leave their groups,
 * producers flush), then exits 0; a second signal or the timeout exits 1. Returns an unregister function.
 */
export function closeOnSignals(closables: readonly Closable[], options: ShutdownOptions = {}): () => void {
  const signals = options.signals ?? ["SIGTERM", "SIGINT"];
  const log = options.logger ?? createLogger("shutdown");
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let shuttingDown = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (shuttingDown) {
      log.warn({ signal }, "second signal: exiting now");
      exit(1);
      return;
    }
    shuttingDown = true;
    log.info({ signal }, "shutting down: flushing producers, leaving consumer groups");
    const timer = setTimeout(() => {
      log.error({ timeoutMs: options.timeoutMs ?? 15_000 }, "shutdown timed out");
      exit(1);
    }, options.timeoutMs ?? 15_000);
    timer.unref();
    void (async () => {
      let code = 0;
      for (const c of [...closables].reverse()) {
        try {
          await c.close();
        } catch (error) {
          code = 1;
          log.error({ err: describe(error) }, "shutdown: a close failed");
        }
      }
      clearTimeout(timer);
      exit(code);
    })();
  };
  for (const s of signals) process.on(s, onSignal);
  return () => {
    for (const s of signals) process.off(s, onSignal);
  };
}
