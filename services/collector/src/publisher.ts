// Encodes the collector's records with Avro and hands them to the producer in batches per topic, with
// a bound on records in flight so a fast replay waits for the broker instead of growing without limit.
import { Counter } from "prom-client";
import { encode, type RecordName } from "../../../lib/src/avro.js";
import type { KafkaProducer, ProduceRecord } from "../../../lib/src/kafka.js";

const published = new Counter({
  name: "stoq_collector_records_total",
  help: "Records the collector published, by topic.",
  labelNames: ["topic"],
});

export interface PublisherOptions {
  readonly batchRecords?: number;
  readonly maxInFlightRecords?: number;
}

export class Publisher {
  private readonly pending = new Map<string, ProduceRecord[]>();
  private readonly inFlight = new Set<Promise<void>>();
  private inFlightRecords = 0;
  private readonly batchRecords: number;
  private readonly maxInFlight: number;
  readonly counts = new Map<string, number>();

  constructor(
    private readonly producer: KafkaProducer,
    o: PublisherOptions = {},
  ) {
    this.batchRecords = o.batchRecords ?? 2000;
    this.maxInFlight = o.maxInFlightRecords ?? 50_000;
  }

  /** Queues one record; resolves at once unless too many records wait for the broker. */
  async add(topic: string, name: RecordName, key: string, value: unknown): Promise<void> {
    let batch = this.pending.get(topic);
    if (!batch) this.pending.set(topic, (batch = []));
    batch.push({ key, value: encode(name, value) });
    if (batch.length >= this.batchRecords) this.send(topic);
    while (this.inFlightRecords > this.maxInFlight) await Promise.race(this.inFlight);
  }

  private send(topic: string): void {
    const batch = this.pending.get(topic);
    if (!batch || batch.length === 0) return;
    this.pending.set(topic, []);
    this.inFlightRecords += batch.length;
    const p: Promise<void> = this.producer.send(topic, batch).then((r) => {
      published.inc({ topic }, r.delivered);
      this.counts.set(topic, (this.counts.get(topic) ?? 0) + r.delivered);
    }).finally(() => {
      this.inFlightRecords -= batch.length;
      this.inFlight.delete(p);
    });
    this.inFlight.add(p);
  }

  /** Sends every queued record and waits until the broker acknowledged (or the producer shed) them. */
  async flush(): Promise<void> {
    for (const topic of this.pending.keys()) this.send(topic);
    await Promise.all(this.inFlight);
  }
}
