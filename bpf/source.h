/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-client DNS state and user-space facts for the kernel programs: feature_spec v1's state update on
 * queries and responses, and features 19..28 read from it (docs/feature-spec.md; kept in sync with
 * lib/src/model/source-state.ts). Kernel-only. */
#ifndef STOQ_SOURCE_H
#define STOQ_SOURCE_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>

#include "consts.h"
#include "dns.h"
#include "feature_tables.h"
#include "flow.h"
#include "maps.h"
#include "parsing.h"
#include "stoq_shared.h"

#define SRC_WINDOW_NS 1000000000ULL
#define SRC_DECAY_AT 256
#define SRC_EWMA_SHIFT 3
#define SRC_RT_UNIT_SHIFT 10
#define SRC_RT_MAX (1 << 20)
#define SRC_COUNT_MAX 65535
#define SRC_LONG_NAME_SUB_LEN 32
#define FACT_AGE_MAX (1 << 20)
#define FACT_CHAIN_MAX 15

union source_key {
	__u32 v4;
	__u64 v6;	/* the /64 prefix */
	__u64 w;
};

/* What a new entry starts from: all zeros, read from .rodata rather than built on the stack. */
static const struct stoq_source stoq_source_zero;

/* The state of the client at addr (IPv4-mapped for IPv4), inserted on its second DNS message inside the
 * admission window; NULL while deferred (features then read as zeros, as the spec allows) or when the
 * insert failed. */
static __always_inline struct stoq_source *source_get(const __u32 *addr, __u8 family, __u64 now,
						      struct stoq_stats *st)
{
	struct stoq_admit_slot first;
	struct stoq_source *s;
	union source_key k = {};
	long err;

	if (family == 4)
		k.v4 = addr[3];
	else
		__builtin_memcpy(&k.v6, addr, 8);
	s = family == 4 ? bpf_map_lookup_elem(&stoq_sources4, &k.v4)
			: bpf_map_lookup_elem(&stoq_sources6, &k.v6);
	if (s)
		return s;
	if (!admit(admit_tag(&k.w, 1, ADMIT_SEED_SOURCE ^ family), now, 0, 0, 0, 0, 0, &first)) {
		st->count[STOQ_STAT_SOURCE_DEFERRED]++;
		return NULL;
	}
	if (family == 4)
		err = bpf_map_update_elem(&stoq_sources4, &k.v4, &stoq_source_zero, BPF_NOEXIST);
	else
		err = bpf_map_update_elem(&stoq_sources6, &k.v6, &stoq_source_zero, BPF_NOEXIST);
	if (err && err != -17 /* EEXIST: another CPU inserted it first */) {
		st->count[STOQ_STAT_LOST_SOURCE_UPDATE]++;
		return NULL;
	}
	if (!err)
		st->count[STOQ_STAT_SOURCE_NEW]++;
	return family == 4 ? bpf_map_lookup_elem(&stoq_sources4, &k.v4)
			   : bpf_map_lookup_elem(&stoq_sources6, &k.v6);
}

/* The spec's "on a query", steps 1-5. */
static __always_inline void source_on_query(struct stoq_source *s, __u64 now, __u32 hash, __u32 dns_len,
					    __u32 tunnel, __u32 sub_len, __u16 qid)
{
	__u64 elapsed = now - s->win_start_ns;
	__u32 size_q4, q_total;

	if (elapsed >= SRC_WINDOW_NS) {
		int adjacent = elapsed < 2 * SRC_WINDOW_NS;

		s->q_prev = adjacent ? s->q_cur : 0;
		s->names_prev = adjacent ? s->names_cur : 0;
		s->q_cur = 0;
		s->names_cur = 0;
		s->win_start_ns = now;
	}
	if (s->q_cur < SRC_COUNT_MAX)
		s->q_cur++;
	s->names_cur |= 1ULL << (hash >> 26);
	size_q4 = (dns_len < SRC_COUNT_MAX ? dns_len : SRC_COUNT_MAX) << 4;
	s->avg_qsize_q4 = s->avg_qsize_q4 == 0
				  ? size_q4
				  : s->avg_qsize_q4 + (__u32)((__s32)(size_q4 - s->avg_qsize_q4) >>
							      SRC_EWMA_SHIFT);
	q_total = s->q_total + 1;
	s->q_tunnel += tunnel;
	s->q_long += sub_len >= SRC_LONG_NAME_SUB_LEN;
	if (q_total >= SRC_DECAY_AT) {
		q_total >>= 1;
		s->q_tunnel >>= 1;
		s->q_long >>= 1;
	}
	s->q_total = q_total;
	s->last_qid = qid;
	s->last_q_ns = now;
}

/* The spec's "on a response". */
static __always_inline void source_on_response(struct stoq_source *s, __u64 now, __u16 qid, __u32 rcode)
{
	__u32 total = s->resp_total + 1;

	s->resp_nx += rcode == DNS_RCODE_NXDOMAIN;
	if (total >= SRC_DECAY_AT) {
		total >>= 1;
		s->resp_nx >>= 1;
	}
	s->resp_total = total;
	if (s->last_q_ns && qid == s->last_qid && now >= s->last_q_ns) {
		__u64 units = (now - s->last_q_ns) >> SRC_RT_UNIT_SHIFT;
		__u32 rt = units > SRC_RT_MAX ? SRC_RT_MAX : units;

		s->rt_avg = s->rt_avg == 0 ? rt
					   : s->rt_avg + (__u32)((__s32)(rt - s->rt_avg) >> SRC_EWMA_SHIFT);
		s->last_q_ns = 0;
	}
}

static __always_inline __u32 popcount64(__u64 x)
{
	x = x - ((x >> 1) & 0x5555555555555555ULL);
	x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (x * 0x0101010101010101ULL) >> 56;
}

static __always_inline __s32 ratio_q8(__u32 x, __u32 n)
{
	return (__s32)(((__s64)x * stoq_recip[n & 0xff]) >> 8);
}

/* Features 19..25; all zero for a client without an entry. */
static __always_inline void source_features(const struct stoq_source *s, struct stoq_features *ft)
{
	__u32 a, b, bits;

	if (!s) {
		__builtin_memset(&ft->f[STOQ_F_SRC_QPS], 0, 7 * sizeof(__s32));
		return;
	}
	a = popcount64(s->names_prev);
	b = popcount64(s->names_cur);
	ft->f[STOQ_F_SRC_QPS] = s->q_prev > s->q_cur ? s->q_prev : s->q_cur;
	bits = a > b ? a : b;
	if (bits > STOQ_LC_BITS)	/* never: a popcount; tells the verifier the index fits */
		bits = STOQ_LC_BITS;
	ft->f[STOQ_F_SRC_DISTINCT_NAMES] = stoq_lc[bits];
	ft->f[STOQ_F_SRC_NXDOMAIN_RATIO] = ratio_q8(s->resp_nx, s->resp_total);
	ft->f[STOQ_F_SRC_AVG_QUERY_SIZE] = s->avg_qsize_q4 >> 4;
	ft->f[STOQ_F_SRC_RESP_TIME] = s->rt_avg;
	ft->f[STOQ_F_SRC_TUNNEL_QTYPE_RATIO] = ratio_q8(s->q_tunnel, s->q_total);
	ft->f[STOQ_F_SRC_LONG_NAME_RATIO] = ratio_q8(s->q_long, s->q_total);
}

/* Features 26..28 from the collector's facts about the server (the query's destination). */
static __always_inline void fact_features(const __u32 *server, struct stoq_features *ft)
{
	struct stoq_server_facts *fa = bpf_map_lookup_elem(&stoq_servers, server);

	ft->f[STOQ_F_FACT_PRESENT] = fa != NULL;
	ft->f[STOQ_F_FACT_CERT_AGE_HOURS] =
		!fa ? 0 : fa->cert_age_hours < FACT_AGE_MAX ? fa->cert_age_hours : FACT_AGE_MAX;
	ft->f[STOQ_F_FACT_CHAIN_LEN] =
		!fa ? 0 : fa->chain_len < FACT_CHAIN_MAX ? fa->chain_len : FACT_CHAIN_MAX;
}

/* A query from the client ev->h.tuple.saddr: state update, then features 19..28 into ev. Global, so
 * verified once. Returns 0. */
__noinline int stoq_source_query(struct stoq_dns_event *ev, const struct dns_name *n, __u64 now)
{
	__u32 hook = 0;
	struct stoq_stats *st;
	struct stoq_source *s;

	if (!ev || !n)
		return 0;
	hook = ev->h.hook & 1;
	st = bpf_map_lookup_elem(&stoq_stats, &hook);
	if (!st)
		return 0;
	s = source_get(ev->h.tuple.saddr, ev->h.tuple.family, now, st);
	if (s)
		source_on_query(s, now, n->hash, ev->msg_len, ev->features.f[STOQ_F_QTYPE_TUNNEL],
				ev->features.f[STOQ_F_SUB_LEN], ev->id);
	source_features(s, &ev->features);
	fact_features(ev->h.tuple.daddr, &ev->features);
	return 0;
}

/* A response to the client ev->h.tuple.daddr. Global, so verified once. Returns 0. */
__noinline int stoq_source_response(struct stoq_dns_event *ev, __u64 now)
{
	__u32 hook = 0;
	struct stoq_stats *st;
	struct stoq_source *s;

	if (!ev)
		return 0;
	hook = ev->h.hook & 1;
	st = bpf_map_lookup_elem(&stoq_stats, &hook);
	if (!st)
		return 0;
	s = source_get(ev->h.tuple.daddr, ev->h.tuple.family, now, st);
	if (s)
		source_on_response(s, now, ev->id, DNS_RCODE(ev->hdr_flags));
	return 0;
}

#endif /* STOQ_SOURCE_H */
