/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Ring buffer output for the kernel programs: the common event header, byte copies from either hook's
 * packet, and submission that wakes the consumer only when enough data waits. Kernel-only. */
#ifndef STOQ_EVENTS_H
#define STOQ_EVENTS_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>

#include "maps.h"
#include "parsing.h"
#include "stoq_shared.h"

/* Ring data pending before the consumer is woken (set before load). A wakeup per event cost ~7 us on
 * the veth path; the consumer also drains on a timer, so a quiet ring is still read. */
const volatile __u32 stoq_wakeup_bytes = 256 * 1024;

/* The pending data is checked every this many events per CPU: the query is a helper call. */
#define STOQ_WAKEUP_CHECK_MASK 7

static __always_inline void event_header(struct stoq_event_header *h, __u16 kind, int hook,
					 __u32 ifindex, __u64 now, const struct pkt *p)
{
	h->kind = kind;
	h->hook = hook;
	h->_pad = 0;
	h->ifindex = ifindex;
	h->ts_ns = now;
	__builtin_memcpy(h->tuple.saddr, p->saddr, 16);
	__builtin_memcpy(h->tuple.daddr, p->daddr, 16);
	h->tuple.sport = p->sport;
	h->tuple.dport = p->dport;
	h->tuple.proto = p->proto;
	h->tuple.family = p->family;
	h->tuple._pad[0] = 0;
	h->tuple._pad[1] = 0;
}

/* Copies len (1..max) packet bytes from offset off into to; either hook's context. */
static __always_inline long load_bytes(void *ctx, int hook, __u32 off, void *to, __u32 len)
{
	if (hook == STOQ_HOOK_XDP_INGRESS)
		return bpf_xdp_load_bytes(ctx, off, to, len);
	return bpf_skb_load_bytes(ctx, off, to, len);
}

/* Submits size bytes of ev; every failure is counted. */
static __always_inline void emit(const void *ev, __u64 size, struct stoq_stats *st)
{
	__u64 flags = BPF_RB_NO_WAKEUP;
	__u64 n = st->count[STOQ_STAT_EVENT];

	if ((n & STOQ_WAKEUP_CHECK_MASK) == 0 &&
	    bpf_ringbuf_query(&stoq_events, BPF_RB_AVAIL_DATA) >= stoq_wakeup_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	if (bpf_ringbuf_output(&stoq_events, (void *)ev, size, flags))
		st->count[STOQ_STAT_LOST_RINGBUF]++;
	else
		st->count[STOQ_STAT_EVENT] = n + 1;
}

#endif /* STOQ_EVENTS_H */
