/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Header parsing for the XDP and TC programs: a cursor walks Ethernet, 802.1Q/802.1ad tags, IPv4
 * (with options), IPv6 (with a bounded extension-header chain), UDP and TCP. One helper per header;
 * each checks bounds before every access and returns a negative STOQ_STAT_ERR_ code on short or
 * malformed data. Kernel-only. */
#ifndef STOQ_PARSING_H
#define STOQ_PARSING_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "consts.h"
#include "stoq_shared.h"

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif
#ifndef ETH_P_PPP_SES
#define ETH_P_PPP_SES 0x8864
#endif

/* Packet offsets read back from memory are masked before pointer arithmetic. Headers end well inside
 * 16 KiB, and the verifier only learns a bound for pointers whose offset range stays under 64 KiB. */
#define STOQ_OFF_MASK 0x3fff

struct cursor {
	void *start;		/* the frame's first byte, for offsets */
	void *pos;
	void *end;
};

struct vlan_hdr {
	__be16 tci;
	__be16 encapsulated_proto;
};

/* What the parsers learned about one packet. Addresses are IPv4-mapped for IPv4. */
struct pkt {
	__u32 saddr[4];
	__u32 daddr[4];
	__u16 sport;		/* network order */
	__u16 dport;		/* network order */
	__u16 ip_len;		/* L3 length from the IP header (clamped to the frame) */
	__u8 family;		/* 4 or 6, 0 until an IP header parsed */
	__u8 proto;		/* transport protocol */
	__u8 tcp_flags;
	__u8 _pad[3];
	__u32 seq;		/* TCP sequence number, host order */
	__u32 l4_len;		/* transport bytes (header + payload) per the IP length */
	__u32 payload_len;	/* transport payload bytes per the IP and UDP lengths */
	__u32 payload_off;	/* payload offset from the frame start */
	__u32 _pad2;
};

/* The payload offset of the cursor's position. Verifier workaround: barrier_var keeps it a plain
 * scalar, so (pos - start) + x is never re-associated into 32-bit pointer arithmetic. */
static __always_inline __u32 cursor_offset(const struct cursor *c)
{
	__u32 off = c->pos - c->start;

	barrier_var(off);
	return off;
}

static __always_inline int proto_is_vlan(__u16 h_proto)
{
	return h_proto == bpf_htons(ETH_P_8021Q) || h_proto == bpf_htons(ETH_P_8021AD);
}

/* PPPoE session header (RFC 2516 §4): ver/type, code, session id, length, then the PPP protocol. */
struct pppoe_hdr_min {
	__u8 vertype;
	__u8 code;
	__be16 session;
	__be16 length;
	__be16 ppp_proto;
};

#define PPP_IP 0x0021
#define PPP_IPV6 0x0057

/* A PPPoE session frame: returns the EtherType of the IP it carries, or 0 (not IP: nothing to parse). */
static __always_inline int parse_pppoe(struct cursor *c)
{
	struct pppoe_hdr_min *ph = c->pos;

	if ((void *)(ph + 1) > c->end)
		return -STOQ_STAT_ERR_PPPOE_SHORT;
	c->pos = ph + 1;
	if (ph->ppp_proto == bpf_htons(PPP_IP))
		return bpf_htons(ETH_P_IP);
	if (ph->ppp_proto == bpf_htons(PPP_IPV6))
		return bpf_htons(ETH_P_IPV6);
	return 0;
}

/* Ethernet, up to STOQ_VLAN_MAX tags and a PPPoE session header; returns the EtherType of the network
 * layer (network order). */
static __always_inline int parse_ethhdr(struct cursor *c)
{
	struct ethhdr *eth = c->pos;
	__u16 h_proto;

	if ((void *)(eth + 1) > c->end)
		return -STOQ_STAT_ERR_ETH_SHORT;
	c->pos = eth + 1;
	h_proto = eth->h_proto;

#pragma unroll
	for (int i = 0; i < STOQ_VLAN_MAX; i++) {
		struct vlan_hdr *vlh = c->pos;

		if (!proto_is_vlan(h_proto))
			return h_proto;
		if ((void *)(vlh + 1) > c->end)
			return -STOQ_STAT_ERR_VLAN_SHORT;
		c->pos = vlh + 1;
		h_proto = vlh->encapsulated_proto;
	}
	if (proto_is_vlan(h_proto))
		return -STOQ_STAT_ERR_VLAN_DEPTH;
	if (h_proto == bpf_htons(ETH_P_PPP_SES))
		return parse_pppoe(c);
	return h_proto;
}

static __always_inline void map_ipv4(__u32 *dst, __u32 addr)
{
	dst[0] = 0;
	dst[1] = 0;
	dst[2] = bpf_htonl(0x0000ffff);
	dst[3] = addr;
}

/* IPv4 with options; returns the transport protocol. A non-first fragment has no transport header:
 * it is reported as -STOQ_STAT_ERR_FRAGMENT after the addresses are filled in. */
static __always_inline int parse_ipv4(struct cursor *c, struct pkt *p)
{
	struct iphdr *iph = c->pos;
	__u32 hdr_len, tot_len;

	if ((void *)(iph + 1) > c->end)
		return -STOQ_STAT_ERR_IPV4_SHORT;
	hdr_len = iph->ihl * 4;
	tot_len = bpf_ntohs(iph->tot_len);
	if (iph->version != 4 || hdr_len < sizeof(*iph) || tot_len < hdr_len)
		return -STOQ_STAT_ERR_IPV4_HEADER;
	if (c->pos + hdr_len > c->end)
		return -STOQ_STAT_ERR_IPV4_SHORT;

	p->family = 4;
	p->proto = iph->protocol;
	map_ipv4(p->saddr, iph->saddr);
	map_ipv4(p->daddr, iph->daddr);
	/* Ethernet pads short frames: the IP length, not the frame, says where the datagram ends. */
	if (c->pos + tot_len > c->end)
		tot_len = c->end - c->pos;
	p->ip_len = tot_len;
	p->l4_len = tot_len - hdr_len;
	c->pos += hdr_len;
	if (iph->frag_off & bpf_htons(0x1fff))
		return -STOQ_STAT_ERR_FRAGMENT;
	return iph->protocol;
}

struct ipv6_opt_hdr_min {
	__u8 nexthdr;
	__u8 hdrlen;
	__be16 frag_off;	/* fragment header only */
};

/* IPv6 and its extension headers (hop-by-hop, routing, fragment, destination options, AH);
 * returns the transport protocol, or IPPROTO_NONE/ESP-style values the caller does not parse. */
static __always_inline int parse_ipv6(struct cursor *c, struct pkt *p)
{
	struct ipv6hdr *ip6h = c->pos;
	__u32 payload_len;
	__u8 nexthdr;

	if ((void *)(ip6h + 1) > c->end)
		return -STOQ_STAT_ERR_IPV6_SHORT;
	p->family = 6;
	__builtin_memcpy(p->saddr, &ip6h->saddr, 16);
	__builtin_memcpy(p->daddr, &ip6h->daddr, 16);
	payload_len = bpf_ntohs(ip6h->payload_len);
	/* 0 is a jumbogram (RFC 2675): trust the frame. */
	if (payload_len == 0 || c->pos + sizeof(*ip6h) + payload_len > c->end)
		payload_len = c->end - c->pos - sizeof(*ip6h);
	p->ip_len = payload_len + sizeof(*ip6h);
	nexthdr = ip6h->nexthdr;
	c->pos = ip6h + 1;

#pragma unroll
	for (int i = 0; i < STOQ_IPV6_EXT_MAX; i++) {
		struct ipv6_opt_hdr_min *eh = c->pos;
		__u32 len;

		switch (nexthdr) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
		case IPPROTO_AH:
		case IPPROTO_FRAGMENT:
			break;
		default:
			p->proto = nexthdr;
			p->l4_len = payload_len;
			return nexthdr;
		}
		if ((void *)(eh + 1) > c->end)
			return -STOQ_STAT_ERR_IPV6_EXT_SHORT;
		if (nexthdr == IPPROTO_FRAGMENT) {
			len = 8;
			if (eh->frag_off & bpf_htons(0xfff8)) {
				p->proto = eh->nexthdr;
				return -STOQ_STAT_ERR_FRAGMENT;
			}
		} else if (nexthdr == IPPROTO_AH) {
			len = (eh->hdrlen + 2) * 4;	/* RFC 4302 §2.2: in 32-bit words, minus 2 */
		} else {
			len = (eh->hdrlen + 1) * 8;	/* RFC 8200 §4.3: in 8-octet units, minus 1 */
		}
		if (len > payload_len)
			return -STOQ_STAT_ERR_IPV6_EXT_SHORT;
		payload_len -= len;
		nexthdr = eh->nexthdr;
		if (c->pos + len > c->end)
			return -STOQ_STAT_ERR_IPV6_EXT_SHORT;
		c->pos += len;
	}
	switch (nexthdr) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_DSTOPTS:
	case IPPROTO_AH:
	case IPPROTO_FRAGMENT:
		return -STOQ_STAT_ERR_IPV6_EXT_DEPTH;
	}
	p->proto = nexthdr;
	p->l4_len = payload_len;
	return nexthdr;
}

/* UDP; the payload length is the smaller of what UDP and IP claim (tcpdump's zlip captures lie in
 * the UDP length), and never more than the frame holds. */
static __always_inline int parse_udp(struct cursor *c, struct pkt *p)
{
	struct udphdr *udph = c->pos;
	__u32 len;

	if ((void *)(udph + 1) > c->end)
		return -STOQ_STAT_ERR_UDP_SHORT;
	p->sport = udph->source;
	p->dport = udph->dest;
	len = bpf_ntohs(udph->len);
	if (len > p->l4_len)
		len = p->l4_len;
	len = len < sizeof(*udph) ? 0 : len - sizeof(*udph);
	c->pos = udph + 1;
	p->payload_off = cursor_offset(c);
	p->payload_len = len;
	return 0;
}

/* TCP with options. */
static __always_inline int parse_tcp(struct cursor *c, struct pkt *p)
{
	struct tcphdr *tcph = c->pos;
	__u32 hdr_len;

	if ((void *)(tcph + 1) > c->end)
		return -STOQ_STAT_ERR_TCP_SHORT;
	p->sport = tcph->source;
	p->dport = tcph->dest;
	p->seq = bpf_ntohl(tcph->seq);
	p->tcp_flags = ((__u8 *)tcph)[13];
	hdr_len = tcph->doff * 4;
	if (hdr_len < sizeof(*tcph))
		return -STOQ_STAT_ERR_TCP_HEADER;
	if (c->pos + hdr_len > c->end)
		return -STOQ_STAT_ERR_TCP_SHORT;
	c->pos += hdr_len;
	p->payload_off = cursor_offset(c);
	p->payload_len = p->l4_len > hdr_len ? p->l4_len - hdr_len : 0;
	return 0;
}

#endif /* STOQ_PARSING_H */
