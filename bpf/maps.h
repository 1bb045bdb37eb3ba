/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Every map of the STOQ programs, each with why it exists and what bounds its size. The XDP and TC
 * programs live in one object so they share these. Kernel-only; key and value types are in
 * stoq_shared.h and stoq_model.h. */
#ifndef STOQ_MAPS_H
#define STOQ_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "consts.h"
#include "mlp.h"
#include "stoq_shared.h"

/* Flow statistics the collector exports and expires. Two tables because a 16-byte IPv4 key hashes
 * ~10 ns faster than the 40-byte IPv6 one on every TCP/UDP packet; LRU so a full table evicts the
 * coldest flow instead of failing. Bounded by STOQ_FLOWS_MAX each. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, STOQ_FLOWS_MAX);
	__type(key, struct stoq_flow_key4);
	__type(value, struct stoq_flow);
} stoq_flows4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, STOQ_FLOWS_MAX);
	__type(key, struct stoq_flow_key6);
	__type(value, struct stoq_flow);
} stoq_flows6 SEC(".maps");

/* Per-querier DNS state behind the rate, distinct-name and NXDOMAIN features. IPv4 keyed by
 * address, IPv6 by /64 prefix. Bounded by STOQ_SOURCES_MAX each; LRU for the same reason as flows. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, STOQ_SOURCES_MAX);
	__type(key, __u32);
	__type(value, struct stoq_source);
} stoq_sources4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, STOQ_SOURCES_MAX);
	__type(key, __u64);
	__type(value, struct stoq_source);
} stoq_sources6 SEC(".maps");

/* Admission filter: a first packet only stamps a slot here; the second packet of the same flow or
 * source inside the window earns an LRU entry. A hash, not LRU, would still pay the insert; a bit
 * array would need a clearer. Each slot is a 32-bit key tag plus what the first packet carried, so
 * the admitted entry counts it too. Bounded by STOQ_ADMIT_SLOTS. */
struct stoq_admit_slot {
	__u32 tag;		/* hash of the key, 0 = empty */
	__u16 len;		/* L3 length of the first packet */
	__u8 dir;		/* its direction in the canonical key */
	__u8 tcp_flags;
	__u32 seq_end;		/* TCP: the sequence number just past it */
	__u16 payload_len;
	__u16 _pad;
	__u64 first_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STOQ_ADMIT_SLOTS);
	__type(key, __u32);
	__type(value, struct stoq_admit_slot);
} stoq_admit SEC(".maps");

/* Facts only user space can know (certificate age, chain length), written by the collector per
 * server address and joined by the feature builder. Plain hash: the collector owns eviction.
 * Bounded by STOQ_SERVERS_MAX. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STOQ_SERVERS_MAX);
	__type(key, struct stoq_server_key);
	__type(value, struct stoq_server_facts);
} stoq_servers SEC(".maps");

/* The benign character-bigram table of the feature spec (stoq_shared.h), written by the collector:
 * too big for .rodata knobs and replaced when the trainer publishes a new table. One entry. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stoq_bigram);
} stoq_bigrams SEC(".maps");

/* The models: slots A and B for the swap, plus the shadow slot (stoq_model.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STOQ_MODEL_SLOTS);
	__type(key, __u32);
	__type(value, struct stoq_model);
} stoq_models SEC(".maps");

/* The models' n-gram tables (stoq_model.h): 2^14 rows of 64 bytes per slot, 3 MiB in all, apart from
 * stoq_models because a table is up to 1 MiB and is read in place, row by row, never copied. Written by
 * the collector between a slot's version-0 write and its real-version write. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STOQ_MODEL_SLOTS * STOQ_NGRAM_SLOT_ROWS);
	__type(key, __u32);
	__type(value, struct stoq_ngram_row);
} stoq_ngrams SEC(".maps");

/* The name walk's work area (stoq_model.h): the trigram keys of the name being scored and the walk's
 * histogram, per CPU, 1.1 KiB the stack cannot spare. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stoq_name_work);
} stoq_name_work SEC(".maps");

/* Which slot is active and the enforcement mode: one entry, flipped by the collector. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stoq_control);
} stoq_control SEC(".maps");

/* Each CPU's packed copy of each model slot (mlp.h), per hook because the TC and XDP programs may run
 * on one CPU. Derived data only: rebuilt from stoq_models whenever a slot's version changes. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STOQ_MODEL_SLOTS * STOQ_HOOKS);
	__type(key, __u32);
	__type(value, struct stoq_packed_model);
} stoq_packed SEC(".maps");

/* Counters: one stoq_stats per hook per CPU, so counting never contends. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STOQ_HOOKS);
	__type(key, __u32);
	__type(value, struct stoq_stats);
} stoq_stats SEC(".maps");

/* Events to user space (stoq_shared.h); its size bounds how long the consumer may stall. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, STOQ_RINGBUF_BYTES);
} stoq_events SEC(".maps");

/* Per-CPU room to build events (or a new flow entry) before bpf_ringbuf_output copies them out: too
 * big for the 512-byte stack, and building in place would double the verifier's paths on reserve
 * failure. Two entries: STOQ_SCRATCH_EVENT, and STOQ_SCRATCH_PAYLOAD for a segment's payload that a
 * hello event is built from at the same time. */
#define STOQ_SCRATCH_EVENT 0
#define STOQ_SCRATCH_PAYLOAD 1

union stoq_scratch {
	struct stoq_flow flow;
	struct stoq_dns_event dns;
	struct stoq_tls_hello_event tls;
	struct stoq_payload_event payload;
	struct stoq_drop_event drop;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, union stoq_scratch);
} stoq_scratch SEC(".maps");

#endif /* STOQ_MAPS_H */
