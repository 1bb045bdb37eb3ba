/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* TLS handshake recognition for the kernel programs: the record and handshake headers (RFC 8446 §5.1,
 * §4) and the server_name extension of a ClientHello (RFC 6066 §3), walked with bounded loops over the
 * bytes of one segment. Certificates are not parsed here: their segments go to user space. Kernel-only. */
#ifndef STOQ_TLS_H
#define STOQ_TLS_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>

#include "consts.h"
#include "stoq_shared.h"

#define TLS_CONTENT_HANDSHAKE 22
#define TLS_HS_CLIENT_HELLO 1
#define TLS_HS_SERVER_HELLO 2
#define TLS_EXT_SERVER_NAME 0
#define TLS_SNI_HOST_NAME 0

/* record: type(1) version(2) length(2) | handshake: type(1) length(3) | hello: version(2) random(32) */
#define TLS_RECORD_HDR 5
#define TLS_HELLO_SESSION_OFF (TLS_RECORD_HDR + 4 + 2 + 32)

/* Verifier workaround: masked offsets keep every extension-loop iteration in one tracked range. */
#define TLS_OFF_MASK 0x7ff

struct tls_hello {
	__u16 record_version;
	__u16 hello_version;
	__u32 hello_len;
	__u32 sni_off;		/* from the payload start */
	__u32 sni_len;
	__u8 flags;		/* STOQ_TLS_F_* */
};

static __always_inline __u32 get_be16(const __u8 *p)
{
	return ((__u32)p[0] << 8) | p[1];
}

/* The handshake type of a segment that starts with a TLS handshake record, or -1. */
static __always_inline int tls_handshake_type(__u8 *pl, void *end, __u32 plen)
{
	if (plen < TLS_RECORD_HDR + 1 || (void *)(pl + TLS_RECORD_HDR + 1) > end)
		return -1;
	if (pl[0] != TLS_CONTENT_HANDSHAKE || pl[1] != 3 || pl[2] > 4)
		return -1;
	return pl[TLS_RECORD_HDR];
}

/* A segment's payload as copied into a payload event: the ClientHello is parsed from this copy so the
 * parser can be a global function, verified once rather than once per length combination. */
struct tls_buf {
	__u8 b[STOQ_PAYLOAD_MAX];
};

struct tls_sni {
	__u8 b[STOQ_SNI_MAX + 1];
};

/* Finds the SNI of the ClientHello at the start of buf (plen payload bytes of this segment copied)
 * and copies it to sni. Returns 0 (th filled; STOQ_TLS_F_SNI set when found) or STOQ_STAT_ERR_TLS_*.
 * A hello longer than the segment is flagged STOQ_TLS_F_SPLIT; its SNI is still found when it lies
 * inside the segment. */
__noinline int stoq_tls_client_hello(const struct tls_buf *buf, __u32 plen, struct tls_hello *th,
				     struct tls_sni *sni)
{
	const __u8 *pl;
	__u32 off, len, ext_end, avail;

	if (!buf || !th || !sni)
		return STOQ_STAT_ERR_TLS_MALFORMED;
	pl = buf->b;
	if (plen > sizeof(buf->b))
		plen = sizeof(buf->b);
	th->flags = 0;
	th->sni_len = 0;
	if (plen < TLS_HELLO_SESSION_OFF + 1)
		return STOQ_STAT_ERR_TLS_SPLIT;
	th->record_version = get_be16(pl + 1);
	th->hello_len = ((__u32)pl[6] << 16) | ((__u32)pl[7] << 8) | pl[8];
	th->hello_version = get_be16(pl + 9);
	avail = plen;
	if (TLS_RECORD_HDR + 4 + th->hello_len > plen)
		th->flags |= STOQ_TLS_F_SPLIT;
	else
		avail = TLS_RECORD_HDR + 4 + th->hello_len;
	if (avail > sizeof(buf->b))
		avail = sizeof(buf->b);

	len = pl[TLS_HELLO_SESSION_OFF];
	if (len > 32)
		return STOQ_STAT_ERR_TLS_MALFORMED;
	/* Each read is guarded by a bound on the offset itself (not off + n): the verifier does not carry
	 * a bound on off + n back to off. */
	off = TLS_HELLO_SESSION_OFF + 1 + len;			/* cipher_suites */
	if (off + 2 > avail || off > sizeof(buf->b) - 2)
		goto short_data;
	off = off + 2 + get_be16(pl + off);			/* compression_methods */
	if (off + 1 > avail || off > sizeof(buf->b) - 1)
		goto short_data;
	off = off + 1 + pl[off];				/* extensions */
	if (off + 2 > avail || off > sizeof(buf->b) - 2)
		goto short_data;
	ext_end = off + 2 + get_be16(pl + off);
	off += 2;

	for (int k = 0; k < STOQ_TLS_EXT_MAX; k++) {
		const __u8 *e;
		__u32 type;

		if (off >= ext_end)
			return 0;
		if (off + 4 > avail)
			goto short_data;
		/* An extension header plus the server_name prefix (9 bytes) always fits the buffer. */
		if (off > sizeof(buf->b) - 9)
			goto short_data;
		e = pl + off;
		type = get_be16(e);
		len = get_be16(e + 2);
		if (type == TLS_EXT_SERVER_NAME) {
			__u32 name_len;

			/* list length(2) | name_type(1) | name length(2) | name */
			if (off + 9 > avail)
				goto short_data;
			if (e[6] != TLS_SNI_HOST_NAME)
				return 0;
			name_len = get_be16(e + 7);
			if (name_len == 0 || name_len > STOQ_SNI_MAX || name_len + 5 > len)
				return STOQ_STAT_ERR_TLS_MALFORMED;
			if (off + 9 + name_len > avail)
				goto short_data;
			for (__u32 i = 0; i < STOQ_SNI_MAX; i++) {
				__u32 at = off + 9 + i;

				if (i >= name_len)
					break;
				/* Verifier workaround: index through the checked register. */
				barrier_var(at);
				if (at >= sizeof(buf->b))
					break;
				sni->b[i] = buf->b[at];
			}
			th->sni_off = off + 9;
			th->sni_len = name_len;
			th->flags |= STOQ_TLS_F_SNI;
			return 0;
		}
		off = off + 4 + len;
		if (off > avail)
			goto short_data;
		off &= TLS_OFF_MASK;
	}
	return 0;

short_data:
	/* Running out of bytes is only normal when the hello continues in the next segment. */
	return (th->flags & STOQ_TLS_F_SPLIT) ? STOQ_STAT_ERR_TLS_SPLIT : STOQ_STAT_ERR_TLS_MALFORMED;
}

#endif /* STOQ_TLS_H */
