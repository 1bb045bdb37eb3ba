/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Every struct, enum and constant that crosses the kernel/user boundary: map keys and values, ring
 * buffer events, the stats counters and the feature vector. Included by the BPF programs (bpf/) and
 * mirrored in TypeScript by services/collector/src/kernel-layout.ts (kept in sync with it; the BTF
 * layout test fails when the two drift). The model layout lives beside it in stoq_model.h.
 *
 * Conventions: addresses and ports are in network byte order; IPv4 addresses inside 16-byte fields are
 * IPv4-mapped (::ffff:a.b.c.d); times are CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns); every struct
 * is laid out with explicit padding so the compiler adds none.
 */
#ifndef STOQ_SHARED_H
#define STOQ_SHARED_H

#include <linux/types.h>
#include "stoq_model.h"

/* ---- identities ---------------------------------------------------------------------------- */

/* Where a program runs; also the key of the stats map. */
#define STOQ_HOOK_XDP_INGRESS 0
#define STOQ_HOOK_TC_EGRESS 1
#define STOQ_HOOKS 2

#define STOQ_VERDICT_PASS 0
#define STOQ_VERDICT_DROP 1

/* ---- stats: one per-CPU counter for every verdict, every reason a packet went unscored and
 * every loss. Keep in sync with STAT_NAMES in services/collector/src/kernel-layout.ts.
 * Parse helpers return these as negative values (-STOQ_STAT_ERR_...), so the caller counts exactly
 * the reason that stopped it; a packet counts at most one ERR_ reason. ------------------------------ */
enum stoq_stat {
	STOQ_STAT_PACKETS = 0,		/* every packet the program ran on */
	STOQ_STAT_VERDICT_PASS,
	STOQ_STAT_VERDICT_DROP,
	STOQ_STAT_NON_IP,		/* neither IPv4 nor IPv6 after the VLAN tags and PPPoE */
	STOQ_STAT_IPV4,
	STOQ_STAT_IPV6,
	STOQ_STAT_DNS_QUERY,		/* DNS messages with QR = 0 whose header parsed */
	STOQ_STAT_DNS_RESPONSE,		/* DNS messages with QR = 1 whose header parsed */
	STOQ_STAT_TLS_CLIENT_HELLO,	/* ClientHello records recognised */
	STOQ_STAT_TLS_SNI,		/* ClientHello records whose SNI was extracted in the kernel */
	STOQ_STAT_TLS_SEGMENT,		/* TLS handshake segments handed to user space */
	STOQ_STAT_SCORED,		/* DNS queries scored by the active model */
	STOQ_STAT_THREAT,		/* ... whose score reached the threshold (whatever the mode) */
	STOQ_STAT_SHADOW_SCORED,
	STOQ_STAT_SHADOW_THREAT,
	STOQ_STAT_FLOW_NEW,		/* flows inserted into a flow table */
	STOQ_STAT_FLOW_DEFERRED,	/* first packet of a flow: remembered by the admission filter only */
	STOQ_STAT_SOURCE_NEW,		/* sources inserted into a source table */
	STOQ_STAT_SOURCE_DEFERRED,	/* first query of a source: scored with fresh-source features */
	STOQ_STAT_MODEL_PREPARED,	/* times a CPU re-derived its packed copy of a model */
	STOQ_STAT_EVENT,		/* ring buffer records submitted */
	/* why a DNS query was passed unscored: exactly one per unscored query */
	STOQ_STAT_UNSCORED_NO_CONTROL,	/* control map value missing */
	STOQ_STAT_UNSCORED_NO_MODEL,	/* active slot empty (version 0) or missing */
	STOQ_STAT_UNSCORED_FEATURE_SPEC, /* model built for another feature_spec */
	STOQ_STAT_UNSCORED_MODEL_SHAPE,	/* n_in, n_hidden, h_shift, ngram_bits or ngram_shift out of range */
	STOQ_STAT_UNSCORED_NO_TABLES,	/* the bigram table has not been loaded */
	STOQ_STAT_UNSCORED_NAME,	/* the name could not be walked (see ERR_DNS_*) or is the root */
	STOQ_STAT_UNSCORED_OPCODE,	/* not a standard query (opcode != 0) or no question */
	STOQ_STAT_UNSCORED_MODEL_CHANGED, /* the slot was rewritten while its n-gram rows were summed */
	/* parse errors: the packet is passed and, past the error, not looked at */
	STOQ_STAT_ERR_ETH_SHORT,
	STOQ_STAT_ERR_VLAN_SHORT,
	STOQ_STAT_ERR_VLAN_DEPTH,	/* more tags than STOQ_VLAN_MAX */
	STOQ_STAT_ERR_PPPOE_SHORT,
	STOQ_STAT_ERR_IPV4_SHORT,
	STOQ_STAT_ERR_IPV4_HEADER,	/* version != 4, IHL < 5 or total length < header */
	STOQ_STAT_ERR_IPV6_SHORT,
	STOQ_STAT_ERR_IPV6_EXT_SHORT,
	STOQ_STAT_ERR_IPV6_EXT_DEPTH,	/* more extension headers than STOQ_IPV6_EXT_MAX */
	STOQ_STAT_ERR_FRAGMENT,		/* a non-first fragment: no transport header to read */
	STOQ_STAT_ERR_UDP_SHORT,
	STOQ_STAT_ERR_TCP_SHORT,
	STOQ_STAT_ERR_TCP_HEADER,	/* data offset < 5 */
	STOQ_STAT_ERR_DNS_SHORT,	/* shorter than the 12-byte header (or its TCP length prefix) */
	STOQ_STAT_ERR_DNS_NAME_TRUNCATED, /* the message ends inside the question */
	STOQ_STAT_ERR_DNS_LABEL,	/* label length 64..191: reserved label types (RFC 6891 §5) */
	STOQ_STAT_ERR_DNS_NAME_LONG,	/* more than 255 octets */
	STOQ_STAT_ERR_DNS_POINTER,	/* compression pointer in the question: not followed in the kernel */
	STOQ_STAT_ERR_TLS_SPLIT,	/* ClientHello continues in a later segment: handed to user space */
	STOQ_STAT_ERR_TLS_MALFORMED,	/* lengths inside the ClientHello contradict each other */
	/* losses: something that should have been kept was not */
	STOQ_STAT_LOST_RINGBUF,		/* ring buffer full: the event was dropped */
	STOQ_STAT_LOST_FLOW_UPDATE,	/* flow table insert failed */
	STOQ_STAT_LOST_SOURCE_UPDATE,	/* source table insert failed */
	STOQ_STAT_MAX
};

/* Value of the stats map (BPF_MAP_TYPE_PERCPU_ARRAY keyed by STOQ_HOOK_*): one lookup per packet.
 * Sized to a power of two so a counter index is bounded by a mask, not a branch the compiler may
 * reorder away from the verifier; slots from STOQ_STAT_MAX on stay 0. */
#define STOQ_STAT_SLOTS 64
struct stoq_stats {
	__u64 count[STOQ_STAT_SLOTS];
};

/* ---- flows --------------------------------------------------------------------------------- */

/* A flow is keyed in canonical order (lower address, then lower port, first) so both directions of
 * a conversation share one entry; dir[0] counts packets sent by endpoint a, dir[1] by endpoint b. */
struct stoq_flow_key4 {
	__u32 addr_a;
	__u32 addr_b;
	__u16 port_a;
	__u16 port_b;
	__u8 proto;
	__u8 _pad[3];
};

struct stoq_flow_key6 {
	__u32 addr_a[4];
	__u32 addr_b[4];
	__u16 port_a;
	__u16 port_b;
	__u8 proto;
	__u8 _pad[3];
};

/* Per-direction statistics: enough to give user space packet/byte counts, the size mean and
 * variance, and the inter-arrival mean, variance, min and max without keeping packets. */
struct stoq_flow_dir {
	__u64 packets;
	__u64 bytes;		/* L3 bytes (IP header and payload): the size sum */
	__u64 bytes_sq;		/* sum of squared L3 sizes */
	__u64 last_ns;		/* 0 until this direction sends */
	__u64 iat_sum_ns;	/* inter-arrival sums cover packets - 1 gaps */
	__u64 iat_sq;		/* sum of squared gaps in (ns >> 10)^2: (1.024 us)^2 units, no overflow */
	__u64 iat_min_ns;	/* ~0 until a gap exists */
	__u64 iat_max_ns;
	__u32 retrans;		/* TCP segments with data that end at or before the highest end seen */
	__u32 seq_end;		/* highest sequence number + length seen (TCP) */
	__u8 tcp_flags;		/* OR of the flags seen */
	__u8 tls_capture;	/* segments still to hand to user space (TLS handshake in progress) */
	__u8 _pad[6];
};

struct stoq_flow {
	struct stoq_flow_dir dir[2];
	__u64 first_ns;
	__u64 last_ns;
	__u8 initiator;		/* 0 when endpoint a sent the first packet, 1 when b did */
	__u8 _pad[7];
};

/* ---- per-source DNS state ---------------------------------------------------------------------
 * feature_spec v1's per-source state (docs/feature-spec.md "Per-source state", kept in sync with
 * lib/src/model/source-state.ts). Keyed by the client: the IPv4 address, or for IPv6 the /64 prefix
 * (hosts rotate addresses inside their /64, so the prefix is the entity). Queries update it by
 * source, responses by destination. */
struct stoq_source {
	__u64 win_start_ns;
	__u64 names_cur;	/* bit (hash >> 26) of each query name in the current window */
	__u64 names_prev;
	__u64 last_q_ns;	/* 0 once the last query was answered */
	__u32 q_cur;		/* queries in the current window, saturated at 65535 */
	__u32 q_prev;
	__u32 avg_qsize_q4;	/* EWMA (1/8) of the query size, Q4 */
	__u32 rt_avg;		/* EWMA (1/8) of the response time, 1024 ns units */
	__u16 last_qid;
	__u16 q_total;		/* decayed counts: halved together when q_total reaches 256 */
	__u16 q_tunnel;
	__u16 q_long;
	__u16 resp_total;	/* halved with resp_nx when it reaches 256 */
	__u16 resp_nx;
	__u32 _pad;
};

/* ---- facts only user space knows, keyed by server address (IPv4-mapped for IPv4) ----------- */
struct stoq_server_key {
	__u32 addr[4];
};

struct stoq_server_facts {
	__u32 cert_age_hours;	/* age of the leaf certificate the server last presented */
	__u32 chain_len;	/* certificates in the chain it presented */
};

/* ---- feature vector ------------------------------------------------------------------------ */

/* The feature_spec the programs compute; a model built for another is not used (fail-open). */
#define STOQ_FEATURE_SPEC 1

/* Indices of feature_spec v1 (docs/feature-spec.md; kept in sync with FEATURE in
 * lib/src/model/features.ts). Units and scales are documented there. */
enum stoq_feature {
	STOQ_F_SUB_LEN = 0,
	STOQ_F_SUB_LABELS,
	STOQ_F_SUB_MAX_LABEL,
	STOQ_F_SUB_BIGRAM,
	STOQ_F_SUB_ENTROPY,
	STOQ_F_SUB_DIGITS,
	STOQ_F_SUB_OTHER,
	STOQ_F_IDN,
	STOQ_F_SLD_LEN,
	STOQ_F_SLD_BIGRAM,
	STOQ_F_SLD_BIGRAM_MIN,
	STOQ_F_SLD_ENTROPY,
	STOQ_F_SLD_DIGITS,
	STOQ_F_SLD_VOWELS,
	STOQ_F_SLD_CONS_RUN,
	STOQ_F_TLD_LEN,
	STOQ_F_QTYPE_ADDR,
	STOQ_F_QTYPE_TUNNEL,
	STOQ_F_QUERY_SIZE,
	STOQ_F_SRC_QPS,
	STOQ_F_SRC_DISTINCT_NAMES,
	STOQ_F_SRC_NXDOMAIN_RATIO,
	STOQ_F_SRC_AVG_QUERY_SIZE,
	STOQ_F_SRC_RESP_TIME,
	STOQ_F_SRC_TUNNEL_QTYPE_RATIO,
	STOQ_F_SRC_LONG_NAME_RATIO,
	STOQ_F_FACT_PRESENT,
	STOQ_F_FACT_CERT_AGE_HOURS,
	STOQ_F_FACT_CHAIN_LEN,
	STOQ_F_COUNT = STOQ_MAX_IN	/* 29..31 are reserved and always 0 */
};

/* Fixed-point integer features, indexed by enum stoq_feature. */
struct stoq_features {
	__s32 f[STOQ_MAX_IN];
};

/* Value of the bigram map (one entry): q8[prev * 40 + cur] = round(256 log2 P(cur | prev)) over the
 * 40 symbols of feature_spec v1, written by the collector from models/feature-spec-v1.json. A trained
 * table is negative at [0][0] (an empty label never occurs), which is how the kernel tells it loaded. */
#define STOQ_BIGRAM_SYMBOLS 40
struct stoq_bigram {
	__s16 q8[STOQ_BIGRAM_SYMBOLS * STOQ_BIGRAM_SYMBOLS];
};

/* ---- ring buffer events ------------------------------------------------------------------- */

enum stoq_event_kind {
	STOQ_EVENT_DNS = 1,		/* struct stoq_dns_event */
	STOQ_EVENT_TLS_HELLO = 2,	/* struct stoq_tls_hello_event */
	STOQ_EVENT_PAYLOAD = 3,		/* struct stoq_payload_event */
	STOQ_EVENT_DROP = 4,		/* struct stoq_drop_event */
};

struct stoq_tuple {
	__u32 saddr[4];
	__u32 daddr[4];
	__u16 sport;
	__u16 dport;
	__u8 proto;		/* IPPROTO_UDP or IPPROTO_TCP */
	__u8 family;		/* 4 or 6 */
	__u8 _pad[2];
};

struct stoq_event_header {
	__u16 kind;		/* enum stoq_event_kind */
	__u8 hook;		/* STOQ_HOOK_* */
	__u8 _pad;
	__u32 ifindex;
	__u64 ts_ns;
	struct stoq_tuple tuple;
};

#define STOQ_DNS_F_RESPONSE 0x01	/* QR = 1 */
#define STOQ_DNS_F_TCP 0x02		/* carried over TCP (first segment of the message) */
#define STOQ_DNS_F_THREAT 0x04		/* the active model's score reached its threshold */
#define STOQ_DNS_F_SHADOW_THREAT 0x08
#define STOQ_DNS_F_SHADOW 0x10		/* shadow_score and shadow_version are set */

#define STOQ_DNS_CAPTURE_MAX 512	/* bytes of the message copied; classic UDP DNS fits whole */

/* One per DNS message seen. Variable length: the record ends after msg[captured]; for queries
 * msg holds the header and question, for responses the message up to STOQ_DNS_CAPTURE_MAX. */
struct stoq_dns_event {
	struct stoq_event_header h;
	__u64 model_version;	/* 0 when unscored */
	__u64 shadow_version;
	__s32 score;		/* the active model's int32 output */
	__s32 shadow_score;
	__u32 unscored;		/* 0 when scored, else the STOQ_STAT_UNSCORED_ reason */
	__u8 verdict;		/* STOQ_VERDICT_* */
	__u8 flags;		/* STOQ_DNS_F_* */
	__u8 labels;		/* labels in the question name */
	__u8 _pad0;
	__u16 id;
	__u16 hdr_flags;	/* QR, opcode, AA, TC, RD, RA, Z, AD, CD, rcode as on the wire */
	__u16 qdcount;
	__u16 ancount;
	__u16 nscount;
	__u16 arcount;
	__u16 qtype;		/* of the first question; 0 when the name could not be walked */
	__u16 qclass;
	__u16 qname_len;	/* wire length of the name including the root label, 0 if not walked */
	__u16 msg_len;		/* DNS message length (without the TCP length prefix) */
	__u16 captured;		/* bytes of msg present */
	__u16 ip_len;		/* L3 length of the packet */
	__u32 feature_spec;	/* STOQ_FEATURE_SPEC of features[] */
	__s32 threshold;	/* the active model's threshold (when scored) */
	struct stoq_features features;
	__u8 msg[STOQ_DNS_CAPTURE_MAX];
};

#define STOQ_SNI_MAX 255	/* RFC 6066 HostName is a DNS name: at most 255 octets */

#define STOQ_TLS_F_SNI 0x01	/* sni holds the server_name extension's host name */
#define STOQ_TLS_F_SPLIT 0x02	/* the ClientHello continues in later segments */

/* One per TLS ClientHello seen. Variable length: the record ends after sni[sni_len]. */
struct stoq_tls_hello_event {
	struct stoq_event_header h;
	__u32 seq;		/* TCP sequence number of the segment */
	__u16 record_version;
	__u16 hello_version;
	__u16 hello_len;	/* handshake message length */
	__u16 sni_len;
	__u8 flags;		/* STOQ_TLS_F_* */
	__u8 _pad[7];
	__u8 sni[STOQ_SNI_MAX + 1];
};

#define STOQ_PAYLOAD_TLS_SERVER 1	/* server handshake segments: ServerHello, Certificate, ... */
#define STOQ_PAYLOAD_TLS_CLIENT 2	/* a ClientHello split across segments */

#define STOQ_PAYLOAD_MAX 1504	/* a full 1500-byte-MTU TCP payload, rounded to 8 */

/* A TCP segment's payload handed to user space for reassembly (certificates, split ClientHello).
 * Variable length: the record ends after data[captured]. */
struct stoq_payload_event {
	struct stoq_event_header h;
	__u32 seq;		/* TCP sequence number of data[0] */
	__u16 len;		/* payload length in the packet */
	__u16 captured;
	__u8 what;		/* STOQ_PAYLOAD_* */
	__u8 _pad[7];
	__u8 data[STOQ_PAYLOAD_MAX];
};

/* One per packet dropped in enforce mode, small so a flood of drops stays cheap to report. */
struct stoq_drop_event {
	struct stoq_event_header h;
	__u64 model_version;
	__s32 score;
	__s32 threshold;
};

#endif /* STOQ_SHARED_H */
