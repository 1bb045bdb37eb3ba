/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Flow accounting for the kernel programs: canonical flow keys, the admission filter that keeps
 * one-packet flows out of the LRU tables, and the per-direction statistics update. Kernel-only.
 *
 * Concurrency: a direction is normally updated by one CPU at a time (RSS keeps a flow on one queue;
 * the other direction is the other hook), so plain read-modify-write is used; a rare concurrent
 * update can lose one packet's contribution to an estimate, never corrupt the entry. */
#ifndef STOQ_FLOW_H
#define STOQ_FLOW_H

#include <linux/types.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "consts.h"
#include "maps.h"
#include "parsing.h"
#include "stoq_shared.h"

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02

/* Admission window: the second packet must follow the first within ~4 s (a TCP handshake, a retried
 * query); nanoseconds because the programs already read the clock once per packet. */
#ifndef STOQ_ADMIT_WINDOW_NS
#define STOQ_ADMIT_WINDOW_NS (4ULL * 1000 * 1000 * 1000)
#endif

/* Seeds keep flow and source tags apart in the shared admission array. */
#define ADMIT_SEED_FLOW 0x9e3779b97f4a7c15ULL
#define ADMIT_SEED_SOURCE 0xc2b2ae3d27d4eb4fULL

static __always_inline __u64 mix64(__u64 h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/* A non-zero 32-bit tag of a key made of n u64 words. */
static __always_inline __u32 admit_tag(const __u64 *w, int n, __u64 seed)
{
	__u64 h = seed;

#pragma unroll
	for (int i = 0; i < n; i++)
		h = mix64(h ^ w[i]);
	return (__u32)h | 1;
}

/* The sequence number just past a segment: SYN and FIN each take one (RFC 9293 §3.4). */
static __always_inline __u32 tcp_seq_end(const struct pkt *p)
{
	return p->seq + p->payload_len + !!(p->tcp_flags & TCP_FLAG_SYN) +
	       !!(p->tcp_flags & TCP_FLAG_FIN);
}

/* Returns 1 when the key's first packet is waiting in its slot (copied to *first and cleared), so
 * the caller inserts the entry; otherwise stamps the slot with this packet and returns 0. */
static __always_inline int admit(__u32 tag, __u64 now, __u32 len, __u8 dir, __u8 tcp_flags,
				 __u32 seq_end, __u32 payload_len, struct stoq_admit_slot *first)
{
	__u32 idx = tag & STOQ_ADMIT_MASK;
	struct stoq_admit_slot *s = bpf_map_lookup_elem(&stoq_admit, &idx);

	if (!s)
		return 0;
	if (s->tag == tag && now - s->first_ns < STOQ_ADMIT_WINDOW_NS) {
		*first = *s;
		s->tag = 0;
		return 1;
	}
	s->tag = tag;
	s->len = len;
	s->dir = dir;
	s->tcp_flags = tcp_flags;
	s->seq_end = seq_end;
	s->payload_len = payload_len;
	s->first_ns = now;
	return 0;
}

/* One packet of `len` L3 bytes into a direction; for TCP, seq_end is tcp_seq_end() of the segment. */
static __always_inline void flow_dir_account(struct stoq_flow_dir *d, __u64 now, __u32 len, __u8 proto,
					     __u8 tcp_flags, __u32 seq_end, __u32 payload_len)
{
	__u64 had = d->packets;

	if (had) {
		__u64 gap = now > d->last_ns ? now - d->last_ns : 0;
		__u64 g = gap >> 10;

		d->iat_sum_ns += gap;
		d->iat_sq += g * g;
		if (gap < d->iat_min_ns)
			d->iat_min_ns = gap;
		if (gap > d->iat_max_ns)
			d->iat_max_ns = gap;
	}
	d->packets = had + 1;
	d->bytes += len;
	d->bytes_sq += (__u64)len * len;
	d->last_ns = now;
	if (proto == IPPROTO_TCP) {
		d->tcp_flags |= tcp_flags;
		if (!had || (__s32)(seq_end - d->seq_end) > 0)
			d->seq_end = seq_end;
		else if (payload_len)
			d->retrans++;
	}
}

/* A new entry holding the admitted flow's first packet and this one, built in `f` (scratch). */
static __always_inline void flow_init(struct stoq_flow *f, const struct stoq_admit_slot *first,
				      __u32 dir, __u64 now, const struct pkt *p)
{
	__u32 fd = first->dir & 1;

	__builtin_memset(f, 0, sizeof(*f));
	f->dir[0].iat_min_ns = ~0ULL;
	f->dir[1].iat_min_ns = ~0ULL;
	f->first_ns = first->first_ns;
	f->initiator = fd;
	flow_dir_account(&f->dir[fd], first->first_ns, first->len, p->proto, first->tcp_flags,
			 first->seq_end, first->payload_len);
	flow_dir_account(&f->dir[dir & 1], now, p->ip_len, p->proto, p->tcp_flags, tcp_seq_end(p),
			 p->payload_len);
	f->last_ns = now;
}

/* Looks up or admits the flow of p; returns the entry (NULL while deferred or on failure) and its
 * direction in *dir. `scratch` holds the new entry while it is inserted. */
static __always_inline struct stoq_flow *flow_update(const struct pkt *p, __u64 now,
						     struct stoq_stats *st, struct stoq_flow *scratch,
						     __u32 *dir)
{
	struct stoq_admit_slot first;
	struct stoq_flow *f;
	union {
		struct stoq_flow_key4 k4;
		struct stoq_flow_key6 k6;
		__u64 w[5];
	} key = {};
	__u32 tag;
	long err;

	if (p->family == 4) {
		__u32 s = bpf_ntohl(p->saddr[3]), d = bpf_ntohl(p->daddr[3]);

		*dir = s > d || (s == d && bpf_ntohs(p->sport) > bpf_ntohs(p->dport));
		key.k4.addr_a = *dir ? p->daddr[3] : p->saddr[3];
		key.k4.addr_b = *dir ? p->saddr[3] : p->daddr[3];
		key.k4.port_a = *dir ? p->dport : p->sport;
		key.k4.port_b = *dir ? p->sport : p->dport;
		key.k4.proto = p->proto;
		f = bpf_map_lookup_elem(&stoq_flows4, &key.k4);
	} else {
		int order = 0;

#pragma unroll
		for (int i = 0; i < 4; i++) {
			__u32 s = bpf_ntohl(p->saddr[i]), d = bpf_ntohl(p->daddr[i]);

			if (order == 0 && s != d)
				order = s < d ? -1 : 1;
		}
		if (order == 0)
			order = bpf_ntohs(p->sport) > bpf_ntohs(p->dport) ? 1 : -1;
		*dir = order > 0;
		__builtin_memcpy(key.k6.addr_a, *dir ? p->daddr : p->saddr, 16);
		__builtin_memcpy(key.k6.addr_b, *dir ? p->saddr : p->daddr, 16);
		key.k6.port_a = *dir ? p->dport : p->sport;
		key.k6.port_b = *dir ? p->sport : p->dport;
		key.k6.proto = p->proto;
		f = bpf_map_lookup_elem(&stoq_flows6, &key.k6);
	}
	if (f) {
		flow_dir_account(&f->dir[*dir & 1], now, p->ip_len, p->proto, p->tcp_flags,
				 tcp_seq_end(p), p->payload_len);
		f->last_ns = now;
		return f;
	}

	tag = admit_tag(key.w, p->family == 4 ? 2 : 5, ADMIT_SEED_FLOW);
	if (!admit(tag, now, p->ip_len, *dir, p->tcp_flags, tcp_seq_end(p), p->payload_len, &first)) {
		st->count[STOQ_STAT_FLOW_DEFERRED]++;
		return NULL;
	}
	flow_init(scratch, &first, *dir, now, p);
	if (p->family == 4) {
		err = bpf_map_update_elem(&stoq_flows4, &key.k4, scratch, BPF_NOEXIST);
		f = err ? NULL : bpf_map_lookup_elem(&stoq_flows4, &key.k4);
	} else {
		err = bpf_map_update_elem(&stoq_flows6, &key.k6, scratch, BPF_NOEXIST);
		f = err ? NULL : bpf_map_lookup_elem(&stoq_flows6, &key.k6);
	}
	st->count[err ? STOQ_STAT_LOST_FLOW_UPDATE : STOQ_STAT_FLOW_NEW]++;
	return f;
}

#endif /* STOQ_FLOW_H */
