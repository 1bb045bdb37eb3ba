// TypeScript shapes of the Avro records in schemas/*.avsc (field docs live there). Kept in sync with the
// schemas by lib/test/avro.test.ts, which checks a sample of each against its schema field by field.
//
// Mapping: int, long, float, double -> number (a long must be an integer with |x| < 2^52, the range avsc reads
// exactly: encode rejects more and decode refuses it; sums that can pass it are doubles in the schemas); bytes -> Buffer;
// enum -> string union; ["null", T] -> T | null; map -> Record<string, T>. Times carry their unit in the
// field name: packet-derived times are microseconds since the epoch (_us), the rest milliseconds (_ms).

export type Verdict = "pass" | "drop" | "observe";
export type EntityType =
  | "registered_domain"
  | "qname"
  | "source"
  | "destination"
  | "flow"
  | "certificate"
  | "node"
  | "global";

export interface DnsFlags {
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  ad: boolean;
  cd: boolean;
}

export interface DnsAnswer {
  name: string;
  type: number;
  ttl: number;
  data: string;
}

export interface DnsEdns {
  udp_size: number;
  do_bit: boolean;
  version: number;
}

export interface DnsEvent {
  event_time_us: number;
  node: string;
  src_addr: string;
  src_port: number;
  dst_addr: string;
  dst_port: number;
  transport: "udp" | "tcp";
  txid: number;
  is_response: boolean;
  opcode: number;
  qname: string;
  registered_domain: string;
  qtype: number;
  qclass: number;
  rcode: number;
  flags: DnsFlags;
  answers: DnsAnswer[];
  answer_count: number;
  authority_count: number;
  additional_count: number;
  edns: DnsEdns | null;
  query_size: number | null;
  response_size: number | null;
  response_time_us: number | null;
  model_score: number | null;
  verdict: Verdict | null;
  model_version: number | null;
}

export type FlowEndReason = "active_timeout" | "idle_timeout" | "fin" | "rst" | "evicted" | "shutdown";

export interface FlowRecord {
  node: string;
  ip_version: number;
  protocol: number;
  src_addr: string;
  dst_addr: string;
  src_port: number;
  dst_port: number;
  first_seen_us: number;
  last_seen_us: number;
  packets_fwd: number;
  packets_rev: number;
  bytes_fwd: number;
  bytes_rev: number;
  size_sum: number;
  size_sumsq: number;
  iat_sum_us: number;
  iat_sumsq_us2: number;
  iat_min_us: number | null;
  iat_max_us: number | null;
  tcp_flags_fwd: number;
  tcp_flags_rev: number;
  syn_count: number;
  fin_count: number;
  rst_count: number;
  retransmissions: number;
  zero_window_count: number;
  rtt_us: number | null;
  end_reason: FlowEndReason;
  community_id: string | null;
}

export interface CertObservation {
  event_time_us: number;
  node: string;
  sha256: string;
  subject: string;
  issuer: string;
  san_dns: string[];
  san_ip: string[];
  serial: string;
  not_before_ms: number;
  not_after_ms: number;
  key_algorithm: string;
  key_size: number;
  signature_algorithm: string;
  is_ca: boolean;
  self_signed: boolean;
  chain_position: number;
  chain_length: number;
  sni: string | null;
  server_addr: string;
  server_port: number;
  client_addr: string;
  tls_version: number;
  sct_present: boolean;
}

export interface FeatureVector {
  event_time_us: number;
  node: string;
  src_addr: string;
  feature_spec: number;
  values: number[];
  score: number;
  verdict: Verdict;
  model_version: number;
  slot: "active" | "shadow";
  context: string | null;
}

export type WindowKind = "tumbling" | "hopping";
export type Dimension = "registered_domain" | "qname" | "source" | "destination" | "flow" | "node" | "global";
export type AggregateStream = "dns" | "flow";

export interface MeasureSummary {
  name: string;
  count: number;
  mean: number;
  variance: number;
  min: number;
  max: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
}

export interface DistinctEstimate {
  name: string;
  estimate: number;
}

export interface TopKEntry {
  key: string;
  count: number;
}

export interface Histogram {
  upper_bounds: number[];
  counts: number[];
}

export interface Distribution {
  count: number;
  mean: number;
  variance: number;
  min: number;
  max: number;
}

export interface FlowStatistics {
  mean_packet_size: number;
  variance_packet_size: number;
  packet_rate_per_second: number;
  bandwidth_utilization: number;
  link_capacity_bps: number | null;
  flow_duration_histogram: Histogram;
  inter_arrival_time_distribution: Distribution;
}

export interface WindowAggregate {
  window_start_ms: number;
  window_end_ms: number;
  size_ms: number;
  hop_ms: number;
  kind: WindowKind;
  dimension: Dimension;
  key: string;
  /** The input stream summarised (schema v2); null only in v1 records: see aggregate-stream.ts. */
  stream: AggregateStream | null;
  count: number;
  rate_per_s: number;
  measures: MeasureSummary[];
  distinct: DistinctEstimate[];
  top_k_of: string | null;
  top_k: TopKEntry[];
  flow_stats: FlowStatistics | null;
  late_count: number;
  final: boolean;
  aggregator_instance: string;
  revision: number;
}

export type ThreatLevel = "none" | "low" | "medium" | "high" | "critical";

export interface Evidence {
  name: string;
  value: number;
  unit: string;
  detail: string | null;
}

export interface Anomaly {
  id: string;
  detector: string;
  entity_type: EntityType;
  entity: string;
  window_start_ms: number;
  window_end_ms: number;
  score: number;
  z_score: number | null;
  threat_level: ThreatLevel;
  confidence: number;
  evidence: Evidence[];
  recommendation: string;
  detected_at_ms: number;
  model_version: number | null;
}

export interface Label {
  entity_type: EntityType;
  entity: string;
  label: "benign" | "suspicious" | "malicious";
  family: string | null;
  source: "threat_intel" | "analyst" | "detection";
  source_ref: string | null;
  confidence: number;
  labelled_at_ms: number;
  note: string | null;
}

export interface ModelUpdate {
  model_name: string;
  version: number;
  feature_spec: number;
  quant_rules: number;
  created_at_ms: number;
  training_metrics: Record<string, number>;
  n_in: number;
  n_hidden: number;
  in_zero: number[];
  in_mul: number[];
  b1: number[];
  /** n_hidden * n_in int8, row-major; view with `new Int8Array(w1.buffer, w1.byteOffset, w1.length)`. */
  w1: Buffer;
  h_mul: number;
  h_shift: number;
  w2: Buffer;
  b2: number;
  threshold: number;
  threat_threshold: number;
  output_scale: number;
  /** 0 = no n-gram table, else 6..14 (schema v2; v1 records read as 0). */
  ngram_bits: number;
  ngram_shift: number;
  /** 2^ngram_bits * n_hidden int8, row-major; empty without a table. */
  ngram: Buffer;
  signing_key_id: string;
  signature: Buffer;
}

export interface DlqEntry {
  origin_topic: string;
  partition: number;
  offset: number;
  record_timestamp_ms: number | null;
  key: Buffer | null;
  value: Buffer;
  error_code: string;
  error_message: string;
  consumer_group: string;
  service: string;
  failed_at_ms: number;
}

/** Record name -> its TypeScript shape. */
export interface RecordMap {
  DnsEvent: DnsEvent;
  FlowRecord: FlowRecord;
  CertObservation: CertObservation;
  FeatureVector: FeatureVector;
  WindowAggregate: WindowAggregate;
  Anomaly: Anomaly;
  Label: Label;
  ModelUpdate: ModelUpdate;
  DlqEntry: DlqEntry;
}
