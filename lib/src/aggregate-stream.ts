// Which input stream (DNS events or flow records) a WindowAggregate summarises, for v1 records too.
import type { AggregateStream, WindowAggregate } from "./avro-records.js";

/**
 * The row's `stream`; for records written before WindowAggregate v2 (null, the default), the stream its
 * indicator measure names: the v1 aggregator gave every DNS row "nxdomain" and every flow row "rst".
 * Needed only while the topic (30-day retention) and Redis still hold v1 rows; null if neither is there.
 */
export function aggregateStream(row: Pick<WindowAggregate, "stream" | "measures">): AggregateStream | null {
  if (row.stream != null) return row.stream; // undefined too: v1 JSON kept in Redis has no such property
  for (const m of row.measures) {
    if (m.name === "nxdomain") return "dns";
    if (m.name === "rst") return "flow";
  }
  return null;
}
