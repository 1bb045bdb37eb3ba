// The key bounds of the aggregator and its eviction policy, in one place.
//
// Policy: a key (domain, query name, address, flow) is tracked exactly while its dimension's table has
// room. A key stays in the table while any pane or window still holds state for it (or a query name or
// flow key linking it, which every such window also holds), and is freed when the last such window
// passes its end + allowed lateness. When the table is full, records with a new
// key still count fully in the window's "(other)" row (so every total stays exact) and the key enters a
// Space-Saving summary of that window (64 counters), from which it can still reach the published top-k
// with a count that is an upper bound. Nothing is evicted from a live window, so a tracked key's figures
// are never approximations; the overflow is counted (stoq_aggregator_key_overflow_total).
import { KeyTable } from "./key-table.js";
import { DIMENSIONS } from "./windows.js";
import type { KeyTablesByDim } from "./window-state.js";

export interface KeyBounds {
  /** Config statistical_analysis.dns_pattern_analysis.max_domains_tracked: domains and query names. */
  readonly maxDomainsTracked: number;
  /** Config performance.concurrent_flows_limit: flow keys, and source and destination addresses. */
  readonly concurrentFlowsLimit: number;
  /** Collector nodes; a fleet is small, the bound only guards against a runaway label. */
  readonly maxNodes: number;
}

export const DEFAULT_MAX_NODES = 4096;
/** Link indexes of the tables createKeyTables() links. */
export const LINK_DOMAIN = 0;
export const LINK_SOURCE = 0;
export const LINK_DESTINATION = 1;

/** One table per dimension kind; source and destination share the address table (same key space). */
export function createKeyTables(b: KeyBounds): KeyTablesByDim {
  const address = new KeyTable(b.concurrentFlowsLimit);
  const domain = new KeyTable(b.maxDomainsTracked);
  // A query name links to its registered domain, a flow key to its source and destination (LINK_*):
  // one lookup of the finer key instead of three.
  const byName: Record<(typeof DIMENSIONS)[number], KeyTable | null> = {
    global: null,
    node: new KeyTable(b.maxNodes),
    registered_domain: domain,
    qname: new KeyTable(b.maxDomainsTracked, [domain]),
    source: address,
    destination: address,
    flow: new KeyTable(b.concurrentFlowsLimit, [address, address]),
  };
  return DIMENSIONS.map((d) => byName[d]);
}
