// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The STOQ data path: an XDP ingress program (the enforcement point) and a TC egress program (observe
 * only) sharing one parser, the flow and source tables, the feature builder and the quantized MLP.
 * DNS queries are scored; everything else only updates state and reports events. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "consts.h"
#include "dns.h"
#include "events.h"
#include "features.h"
#include "flow.h"
#include "maps.h"
#include "mlp.h"
#include "ngram.h"
#include "parsing.h"
#include "source.h"
#include "stoq_model.h"
#include "stoq_shared.h"
#include "tls.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define DNS_TCP_PREFIX 2	/* RFC 1035 §4.2.2: a 2-byte length precedes each message */

_Static_assert(STOQ_STAT_MAX <= STOQ_STAT_SLOTS, "stats slots");

static __always_inline void count(struct stoq_stats *st, __u32 stat)
{
	st->count[stat & (STOQ_STAT_SLOTS - 1)]++;
}

/* Parses up to the transport header. Returns 0 with p filled for UDP/TCP, 1 for a packet with nothing
 * more to parse (non-IP, other transports) or a negative STOQ_STAT_ERR_ code. */
static __always_inline int parse_headers(struct cursor *c, struct pkt *p)
{
	int rc = parse_ethhdr(c);

	if (rc < 0)
		return rc;
	if (rc == bpf_htons(ETH_P_IP))
		rc = parse_ipv4(c, p);
	else if (rc == bpf_htons(ETH_P_IPV6))
		rc = parse_ipv6(c, p);
	else
		return 1;
	if (rc < 0)
		return rc;
	if (rc == IPPROTO_UDP)
		return parse_udp(c, p);
	if (rc == IPPROTO_TCP)
		return parse_tcp(c, p);
	return 1;
}

struct score {
	__u64 version;
	__s32 out;
	__s32 threshold;
};

/* Scores ft and the name's trigrams nk with model slot `slot` through this CPU's packed copy; returns
 * 0 or the STOQ_STAT_UNSCORED_ reason. */
static __always_inline int score_slot(__u32 slot, int hook, const struct stoq_features *ft,
				      const struct stoq_name_work *nk, struct stoq_stats *st,
				      struct score *sc)
{
	__u32 key = slot + hook * STOQ_MODEL_SLOTS;
	struct stoq_packed_model *pm;
	struct stoq_model *m;
	int prepared = 0, err;

	m = bpf_map_lookup_elem(&stoq_models, &slot);
	pm = bpf_map_lookup_elem(&stoq_packed, &key);
	if (!m || !pm)
		return STOQ_STAT_UNSCORED_NO_MODEL;
	err = stoq_score_model(m, pm, slot, ft, nk, &sc->out, &prepared);
	if (prepared)
		st->count[STOQ_STAT_MODEL_PREPARED]++;
	if (err)
		return err;
	sc->threshold = pm->threshold;
	sc->version = pm->version;
	return 0;
}

/* Scores the query in ev (its name's trigrams in nk) with the active model (and the shadow model when
 * asked) and returns the verdict; any missing piece passes the packet and names why in ev->unscored. */
static __always_inline int decide(struct stoq_dns_event *ev, const struct stoq_name_work *nk, int hook,
				  struct stoq_stats *st)
{
	struct stoq_control *ctl;
	struct score sc = {}, sh = {};
	__u32 zero = 0, active, mode;
	int err;

	ctl = bpf_map_lookup_elem(&stoq_control, &zero);
	if (!ctl) {
		ev->unscored = STOQ_STAT_UNSCORED_NO_CONTROL;
		return STOQ_VERDICT_PASS;
	}
	/* One read of `active` per packet: the collector flips it with one aligned store. */
	active = *(volatile __u32 *)&ctl->active;
	mode = ctl->mode;
	if (active > STOQ_MODEL_SLOT_B) {
		ev->unscored = STOQ_STAT_UNSCORED_NO_MODEL;
		return STOQ_VERDICT_PASS;
	}
	err = score_slot(active, hook, &ev->features, nk, st, &sc);
	if (err) {
		ev->unscored = err;
		return STOQ_VERDICT_PASS;
	}
	ev->model_version = sc.version;
	ev->score = sc.out;
	ev->threshold = sc.threshold;
	st->count[STOQ_STAT_SCORED]++;
	if (sc.out >= sc.threshold) {
		ev->flags |= STOQ_DNS_F_THREAT;
		st->count[STOQ_STAT_THREAT]++;
	}
	if ((mode == STOQ_MODE_SHADOW || ctl->shadow) &&
	    !score_slot(STOQ_MODEL_SLOT_SHADOW, hook, &ev->features, nk, st, &sh)) {
		ev->flags |= STOQ_DNS_F_SHADOW;
		ev->shadow_version = sh.version;
		ev->shadow_score = sh.out;
		st->count[STOQ_STAT_SHADOW_SCORED]++;
		if (sh.out >= sh.threshold) {
			ev->flags |= STOQ_DNS_F_SHADOW_THREAT;
			st->count[STOQ_STAT_SHADOW_THREAT]++;
		}
	}
	if (hook == STOQ_HOOK_XDP_INGRESS && mode == STOQ_MODE_ENFORCE && (ev->flags & STOQ_DNS_F_THREAT))
		return STOQ_VERDICT_DROP;
	return STOQ_VERDICT_PASS;
}

/* The features that are not read from the name: query type, size, source state, server facts. */
static __always_inline void packet_features(struct stoq_dns_event *ev, __u32 msg_len)
{
	__u32 qt = ev->qtype;
	struct stoq_features *ft = &ev->features;

	ft->f[STOQ_F_QTYPE_ADDR] = qt == 1 || qt == 28 || qt == 64 || qt == 65;
	ft->f[STOQ_F_QTYPE_TUNNEL] = qt == 16 || qt == 10 || qt == 5 || qt == 15 || qt == 33 ||
				     qt == 255 || qt >= 65280;
	ft->f[STOQ_F_QUERY_SIZE] = msg_len < 65535 ? msg_len : 65535;
}

/* A DNS message at frame offset msg_off (msg_len bytes per the IP/UDP/TCP lengths). The message is first copied into
 * the event (up to STOQ_DNS_CAPTURE_MAX bytes); parsing and features then read the copy. Returns the
 * verdict. */
static __always_inline int handle_dns(void *ctx, int hook, __u32 ifindex, void *end, struct pkt *p,
				      __u32 msg_off, __u32 msg_len, __u8 tcp, __u64 now,
				      struct stoq_stats *st)
{
	struct stoq_dns_event *ev;
	struct stoq_name_work *nk;
	struct stoq_bigram *bg;
	struct dns_name n = {};
	struct dns_hdr *dh;
	__u32 zero = 0, hflags, copy_len;
	int verdict = STOQ_VERDICT_PASS, rc;

	if (msg_len < sizeof(struct dns_hdr)) {
		st->count[STOQ_STAT_ERR_DNS_SHORT]++;
		return STOQ_VERDICT_PASS;
	}
	ev = bpf_map_lookup_elem(&stoq_scratch, &zero);
	if (!ev)
		return STOQ_VERDICT_PASS;
	copy_len = msg_len < STOQ_DNS_CAPTURE_MAX ? msg_len : STOQ_DNS_CAPTURE_MAX;
	if (load_bytes(ctx, hook, msg_off, ev->msg, copy_len)) {
		st->count[STOQ_STAT_ERR_DNS_SHORT]++;
		return STOQ_VERDICT_PASS;
	}
	/* Everything before msg is rewritten; msg bytes past `captured` are never submitted. */
	__builtin_memset(ev, 0, offsetof(struct stoq_dns_event, msg));
	event_header(&ev->h, STOQ_EVENT_DNS, hook, ifindex, now, p);
	dh = (struct dns_hdr *)ev->msg;
	hflags = bpf_ntohs(dh->flags);
	ev->id = bpf_ntohs(dh->id);
	ev->hdr_flags = hflags;
	ev->qdcount = bpf_ntohs(dh->qdcount);
	ev->ancount = bpf_ntohs(dh->ancount);
	ev->nscount = bpf_ntohs(dh->nscount);
	ev->arcount = bpf_ntohs(dh->arcount);
	ev->msg_len = msg_len;
	ev->captured = copy_len;
	ev->ip_len = p->ip_len;
	ev->feature_spec = STOQ_FEATURE_SPEC;
	ev->flags = tcp ? STOQ_DNS_F_TCP : 0;
	if (hflags & DNS_QR) {
		ev->flags |= STOQ_DNS_F_RESPONSE;
		st->count[STOQ_STAT_DNS_RESPONSE]++;
	} else {
		st->count[STOQ_STAT_DNS_QUERY]++;
	}

	rc = STOQ_STAT_UNSCORED_OPCODE;
	if (ev->qdcount) {
		rc = stoq_dns_question((struct dns_qbuf *)(ev->msg + sizeof(struct dns_hdr)),
				       copy_len - sizeof(struct dns_hdr), &n);
		if (rc)
			count(st, rc);
		else {
			ev->qtype = n.qtype;
			ev->qclass = n.qclass;
			ev->qname_len = n.wire_len;
			ev->labels = n.labels;
		}
	}

	if (hflags & DNS_QR) {
		stoq_source_response(ev, now);
	} else {
		bg = bpf_map_lookup_elem(&stoq_bigrams, &zero);
		nk = bpf_map_lookup_elem(&stoq_name_work, &zero);
		if (rc) {
			ev->unscored = rc == STOQ_STAT_UNSCORED_OPCODE ? rc : STOQ_STAT_UNSCORED_NAME;
		} else if (n.labels == 0) {
			ev->unscored = STOQ_STAT_UNSCORED_NAME;
		} else if (DNS_OPCODE(hflags) != 0) {
			ev->unscored = STOQ_STAT_UNSCORED_OPCODE;
		} else if (!bg || bg->q8[0] >= 0 || !nk) {
			ev->unscored = STOQ_STAT_UNSCORED_NO_TABLES;
		} else {
			stoq_name_features((struct dns_qbuf *)(ev->msg + sizeof(struct dns_hdr)), &n, bg,
					   &ev->features, nk);
			stoq_tld_key((struct dns_qbuf *)(ev->msg + sizeof(struct dns_hdr)), &n, nk);
			packet_features(ev, msg_len);
			stoq_source_query(ev, &n, now);
			verdict = decide(ev, nk, hook, st);
		}
		if (ev->unscored)
			count(st, ev->unscored);
	}

	ev->verdict = verdict;
	emit(ev, offsetof(struct stoq_dns_event, msg) + (copy_len & 0x3ff), st);

	if (verdict == STOQ_VERDICT_DROP) {
		__u32 key = STOQ_SCRATCH_PAYLOAD;
		struct stoq_drop_event *de = bpf_map_lookup_elem(&stoq_scratch, &key);

		if (de) {
			__builtin_memcpy(&de->h, &ev->h, sizeof(de->h));
			de->h.kind = STOQ_EVENT_DROP;
			de->model_version = ev->model_version;
			de->score = ev->score;
			de->threshold = ev->threshold;
			emit(de, sizeof(*de), st);
		}
	}
	return verdict;
}

/* Copies this segment's payload (up to STOQ_PAYLOAD_MAX bytes) into the payload scratch event;
 * returns it, or NULL. */
static __always_inline struct stoq_payload_event *copy_payload(void *ctx, int hook, __u32 ifindex,
							       struct pkt *p, __u8 what, __u64 now)
{
	__u32 key = STOQ_SCRATCH_PAYLOAD, len = p->payload_len;
	struct stoq_payload_event *ev = bpf_map_lookup_elem(&stoq_scratch, &key);

	if (!ev)
		return NULL;
	if (len > STOQ_PAYLOAD_MAX)
		len = STOQ_PAYLOAD_MAX;
	if (len == 0 || load_bytes(ctx, hook, p->payload_off, ev->data, len))
		return NULL;
	event_header(&ev->h, STOQ_EVENT_PAYLOAD, hook, ifindex, now, p);
	ev->seq = p->seq;
	ev->len = p->payload_len;
	ev->captured = len;
	ev->what = what;
	__builtin_memset(ev->_pad, 0, sizeof(ev->_pad));
	return ev;
}

static __always_inline void emit_payload(struct stoq_payload_event *ev, struct stoq_stats *st)
{
	__u32 len = ev->captured;

	if (len > STOQ_PAYLOAD_MAX)
		return;
	st->count[STOQ_STAT_TLS_SEGMENT]++;
	emit(ev, offsetof(struct stoq_payload_event, data) + len, st);
}

/* TLS handshakes: the ClientHello's SNI is read here; server handshake segments after a ServerHello
 * (and the rest of a split ClientHello) go to user space while the flow's capture budget lasts. */
static __always_inline void handle_tls(void *ctx, int hook, __u32 ifindex, void *data, void *end,
				       struct pkt *p,
				       struct stoq_flow *f, __u32 dir, __u64 now, struct stoq_stats *st)
{
	struct stoq_flow_dir *d = f ? &f->dir[dir & 1] : NULL;
	int type = tls_handshake_type(data + (p->payload_off & STOQ_OFF_MASK), end, p->payload_len);
	struct stoq_payload_event *pe;

	if (type == TLS_HS_CLIENT_HELLO) {
		__u32 key = STOQ_SCRATCH_EVENT;
		struct stoq_tls_hello_event *ev;
		struct tls_hello th = {};
		int rc;

		st->count[STOQ_STAT_TLS_CLIENT_HELLO]++;
		pe = copy_payload(ctx, hook, ifindex, p, STOQ_PAYLOAD_TLS_CLIENT, now);
		ev = bpf_map_lookup_elem(&stoq_scratch, &key);
		if (!pe || !ev)
			return;
		rc = stoq_tls_client_hello((struct tls_buf *)pe->data, pe->captured, &th,
					   (struct tls_sni *)ev->sni);
		if (rc)
			count(st, rc);
		event_header(&ev->h, STOQ_EVENT_TLS_HELLO, hook, ifindex, now, p);
		ev->seq = p->seq;
		ev->record_version = th.record_version;
		ev->hello_version = th.hello_version;
		ev->hello_len = th.hello_len;
		ev->flags = th.flags | (rc == STOQ_STAT_ERR_TLS_SPLIT ? STOQ_TLS_F_SPLIT : 0);
		ev->sni_len = th.sni_len;
		__builtin_memset(ev->_pad, 0, sizeof(ev->_pad));
		if (ev->flags & STOQ_TLS_F_SNI)
			st->count[STOQ_STAT_TLS_SNI]++;
		emit(ev, offsetof(struct stoq_tls_hello_event, sni) + (ev->sni_len & 0x1ff), st);
		if ((ev->flags & STOQ_TLS_F_SPLIT) && !(ev->flags & STOQ_TLS_F_SNI)) {
			emit_payload(pe, st);
			if (d)
				d->tls_capture = 2;
		}
		return;
	}
	if (type == TLS_HS_SERVER_HELLO) {
		pe = copy_payload(ctx, hook, ifindex, p, STOQ_PAYLOAD_TLS_SERVER, now);
		if (pe)
			emit_payload(pe, st);
		if (d)
			d->tls_capture = STOQ_TLS_CAPTURE_SEGMENTS - 1;
		return;
	}
	if (d && d->tls_capture) {
		d->tls_capture--;
		pe = copy_payload(ctx, hook, ifindex, p,
				  f->initiator == (dir & 1) ? STOQ_PAYLOAD_TLS_CLIENT
							    : STOQ_PAYLOAD_TLS_SERVER,
				  now);
		if (pe)
			emit_payload(pe, st);
	}
}

/* Everything after the transport header, for both hooks. Returns the verdict. */
static __always_inline int l4_body(void *ctx, int hook, __u32 ifindex, void *data, void *end,
				   struct pkt *p)
{
	__u32 key = STOQ_SCRATCH_EVENT, hk = hook, dir = 0;
	struct stoq_flow *f, *scratch;
	struct stoq_stats *st;
	__u64 now;

	st = bpf_map_lookup_elem(&stoq_stats, &hk);
	scratch = bpf_map_lookup_elem(&stoq_scratch, &key);
	if (!st || !scratch)
		return STOQ_VERDICT_PASS;
	now = bpf_ktime_get_ns();
	/* DNS over UDP is reported as DNS events, not flows: every query/response pair is its own
	 * 5-tuple, and a flow entry per transaction would cost an LRU insert per query. */
	if (p->proto == IPPROTO_UDP &&
	    (p->sport == bpf_htons(STOQ_DNS_PORT) || p->dport == bpf_htons(STOQ_DNS_PORT)))
		return handle_dns(ctx, hook, ifindex, end, p, p->payload_off, p->payload_len, 0, now, st);
	f = flow_update(p, now, st, scratch, &dir);
	if (p->proto == IPPROTO_UDP)
		return STOQ_VERDICT_PASS;
	if (p->payload_len == 0)
		return STOQ_VERDICT_PASS;
	if (p->sport == bpf_htons(STOQ_DNS_PORT) || p->dport == bpf_htons(STOQ_DNS_PORT)) {
		__u8 *pl = data + (p->payload_off & STOQ_OFF_MASK);
		__u32 len;

		if ((void *)(pl + DNS_TCP_PREFIX) > end || p->payload_len < DNS_TCP_PREFIX) {
			st->count[STOQ_STAT_ERR_DNS_SHORT]++;
			return STOQ_VERDICT_PASS;
		}
		len = ((__u32)pl[0] << 8) | pl[1];
		if (len > p->payload_len - DNS_TCP_PREFIX)
			len = p->payload_len - DNS_TCP_PREFIX;
		return handle_dns(ctx, hook, ifindex, end, p, p->payload_off + DNS_TCP_PREFIX, len, 1, now,
				  st);
	}
	handle_tls(ctx, hook, ifindex, data, end, p, f, dir, now, st);
	return STOQ_VERDICT_PASS;
}

/* Global, so verified once: the header parser reaches it by dozens of paths (VLAN depths, IPv6
 * extension chains) whose packet offsets differ, and would otherwise verify all of it per path. */
__noinline int stoq_l4_xdp(struct xdp_md *ctx, struct pkt *p)
{
	if (!p)
		return STOQ_VERDICT_PASS;
	return l4_body(ctx, STOQ_HOOK_XDP_INGRESS, ctx->ingress_ifindex, (void *)(long)ctx->data,
		       (void *)(long)ctx->data_end, p);
}

__noinline int stoq_l4_tc(struct __sk_buff *skb, struct pkt *p)
{
	if (!p)
		return STOQ_VERDICT_PASS;
	return l4_body(skb, STOQ_HOOK_TC_EGRESS, skb->ifindex, (void *)(long)skb->data,
		       (void *)(long)skb->data_end, p);
}

static __always_inline int stoq_run(void *ctx, int hook, void *data, void *end)
{
	__u32 key = hook;
	struct stoq_stats *st = bpf_map_lookup_elem(&stoq_stats, &key);
	struct cursor c = { .start = data, .pos = data, .end = end };
	struct pkt p = {};
	int verdict = STOQ_VERDICT_PASS, rc;

	if (!st)
		return STOQ_VERDICT_PASS;
	st->count[STOQ_STAT_PACKETS]++;
	rc = parse_headers(&c, &p);
	if (p.family == 4)
		st->count[STOQ_STAT_IPV4]++;
	else if (p.family == 6)
		st->count[STOQ_STAT_IPV6]++;
	else if (rc == 1)
		st->count[STOQ_STAT_NON_IP]++;
	if (rc < 0)
		count(st, -rc);
	else if (rc == 0)
		verdict = hook == STOQ_HOOK_XDP_INGRESS ? stoq_l4_xdp(ctx, &p) : stoq_l4_tc(ctx, &p);
	st->count[verdict == STOQ_VERDICT_DROP ? STOQ_STAT_VERDICT_DROP : STOQ_STAT_VERDICT_PASS]++;
	return verdict;
}

SEC("xdp")
int stoq_xdp_ingress(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;

	return stoq_run(ctx, STOQ_HOOK_XDP_INGRESS, data, end) ==
			       STOQ_VERDICT_DROP
		       ? XDP_DROP
		       : XDP_PASS;
}

/* Egress packets built by local sockets keep TCP payload in page fragments: small ones (where DNS
 * messages and handshakes are) are pulled linear first; bulk TSO skbs are left as they are. */
SEC("tc")
int stoq_tc_egress(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u32 len = skb->len;

	if (end - data < len && len <= STOQ_TC_PULL_BYTES) {
		bpf_skb_pull_data(skb, len);
		data = (void *)(long)skb->data;
		end = (void *)(long)skb->data_end;
	}
	stoq_run(skb, STOQ_HOOK_TC_EGRESS, data, end);
	return TC_ACT_OK;
}
