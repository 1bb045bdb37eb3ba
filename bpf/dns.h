/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* DNS message parsing for the kernel programs: the 12-byte header (RFC 1035 §4.1.1) and the label
 * structure of the first question name, walked label by label with bounded loops; compression
 * pointers are refused, never followed, so a pointer loop cannot cost anything. Kernel-only. */
#ifndef STOQ_DNS_H
#define STOQ_DNS_H

#include <linux/types.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "consts.h"
#include "stoq_shared.h"

/*  0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15
 * |                      ID                       |
 * |QR|   Opcode  |AA|TC|RD|RA| Z|AD|CD|   RCODE   |
 * |        QDCOUNT / ANCOUNT / NSCOUNT / ARCOUNT   |
 */
struct dns_hdr {
	__be16 id;
	__be16 flags;
	__be16 qdcount;
	__be16 ancount;
	__be16 nscount;
	__be16 arcount;
};

#define DNS_QR 0x8000
#define DNS_OPCODE(flags) (((flags) >> 11) & 0xf)
#define DNS_RCODE(flags) ((flags) & 0xf)
#define DNS_RCODE_NXDOMAIN 3

/* The question section as copied into an event: the bytes after the header, as far as the capture
 * reaches. Walked from this copy rather than the packet so the walkers can be global functions,
 * verified once over unknown inputs instead of once per possible label layout. */
struct dns_qbuf {
	__u8 b[STOQ_DNS_CAPTURE_MAX - sizeof(struct dns_hdr)];
};

/* The wire structure of a question name, from one walk over its length bytes. Regions are counted
 * from the right (the kernel has no public-suffix list): TLD = last label, SLD = the one before,
 * SUB = every label left of the SLD. Offsets are relative to the name's first byte. */
struct dns_name {
	__u32 wire_len;		/* bytes including every length byte and the root label */
	__u32 labels;
	__u32 sld_off;		/* offset of the SLD's length byte; = tld_off when there is no SLD */
	__u32 tld_off;		/* offset of the TLD's length byte */
	__u32 sub_len;		/* bytes in SUB labels (length bytes excluded) */
	__u32 sub_max;		/* longest SUB label */
	__u32 sld_len;
	__u32 tld_len;
	__u16 qtype;
	__u16 qclass;
	__u32 hash;		/* FNV-1a of the lower-cased wire name (set by the feature builder) */
};

/* Verifier workaround: offsets are masked after every computation so that each loop iteration's
 * state keeps one bounded tracked range instead of one state per possible label start (which
 * exceeds the 1M-instruction budget on a 255-byte walk). */
#define DNS_OFF_MASK 0x1ff

/* Walks the first question of q (avail bytes present and inside the message): the name's length
 * bytes, then qtype and qclass. Returns 0 or STOQ_STAT_ERR_DNS_* (positive: a global function's
 * return is read by callers that count it). The root name (a resolver's priming query) walks fine
 * with 0 labels; the scorer declines it, as it has nothing to score. */
__noinline int stoq_dns_question(const struct dns_qbuf *q, __u32 avail, struct dns_name *n)
{
	__u32 off = 0, prev = 0, last = 0, prev_len = 0, last_len = 0;
	__u32 labels = 0, sub_len = 0, sub_max = 0;

	if (!q || !n)
		return STOQ_STAT_ERR_DNS_SHORT;
	if (avail > sizeof(q->b))
		avail = sizeof(q->b);
	for (int k = 0; k < (STOQ_QNAME_MAX + 1) / 2; k++) {
		__u32 len;

		if (off >= avail)
			return STOQ_STAT_ERR_DNS_NAME_TRUNCATED;
		len = q->b[off];
		if (len == 0) {
			if (off + 5 > avail)
				return STOQ_STAT_ERR_DNS_NAME_TRUNCATED;
			n->wire_len = off + 1;
			n->labels = labels;
			n->tld_off = last;
			n->tld_len = last_len;
			n->sld_off = labels >= 2 ? prev : last;
			n->sld_len = labels >= 2 ? prev_len : 0;
			n->sub_len = sub_len;
			n->sub_max = sub_max;
			n->qtype = ((__u32)q->b[off + 1] << 8) | q->b[off + 2];
			n->qclass = ((__u32)q->b[off + 3] << 8) | q->b[off + 4];
			n->hash = 0;
			return 0;
		}
		if (len > STOQ_LABEL_MAX)
			return len >= 0xc0 ? STOQ_STAT_ERR_DNS_POINTER : STOQ_STAT_ERR_DNS_LABEL;
		/* The label two back now belongs to SUB. */
		if (labels >= 2) {
			sub_len += prev_len;
			sub_max = prev_len > sub_max ? prev_len : sub_max;
		}
		prev = last;
		prev_len = last_len;
		last = off;
		last_len = len;
		labels++;
		off = (off + len + 1) & DNS_OFF_MASK;
		/* The root label must fit too: a name is at most 255 bytes with it. */
		if (off >= STOQ_QNAME_MAX)
			return STOQ_STAT_ERR_DNS_NAME_LONG;
	}
	return STOQ_STAT_ERR_DNS_NAME_LONG;
}

#endif /* STOQ_DNS_H */
