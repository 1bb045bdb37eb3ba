/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Compile-time tunables of the kernel programs: every one overridable with -D, each with why it has
 * its value. Kernel-only; run-time knobs live in .rodata (stoq.bpf.c) or in the control map. */
#ifndef STOQ_CONSTS_H
#define STOQ_CONSTS_H

/* 802.1Q + 802.1ad (QinQ) is two tags; deeper stacks are rare enough to count and pass. */
#ifndef STOQ_VLAN_MAX
#define STOQ_VLAN_MAX 2
#endif

/* Hop-by-hop, routing, fragment, destination options twice and AH: six covers every legal chain
 * that still carries a transport header (RFC 8200 §4.1 order). */
#ifndef STOQ_IPV6_EXT_MAX
#define STOQ_IPV6_EXT_MAX 6
#endif

/* RFC 1035 §2.3.4: a name is at most 255 octets on the wire, a label at most 63. */
#define STOQ_QNAME_MAX 255
#define STOQ_LABEL_MAX 63

#ifndef STOQ_DNS_PORT
#define STOQ_DNS_PORT 53
#endif

/* Flow tables: entries are ~200 bytes, so 256 Ki flows per family is ~50 MiB; LRU evicts the
 * coldest when full, which is the right loss for a monitor. */
#ifndef STOQ_FLOWS_MAX
#define STOQ_FLOWS_MAX 262144
#endif

/* Source tables: one entry per active querier. */
#ifndef STOQ_SOURCES_MAX
#define STOQ_SOURCES_MAX 65536
#endif

/* Servers the collector has certificate facts for. */
#ifndef STOQ_SERVERS_MAX
#define STOQ_SERVERS_MAX 65536
#endif

/* Admission filter slots (24 bytes each, 1.5 MiB): a flow or source enters its LRU table on its second
 * packet inside STOQ_ADMIT_WINDOW_NS, so one-packet floods (spoofed sources, scans) never pay the
 * ~0.5-1 us LRU insert. Collisions only cost an early or late admission. */
#ifndef STOQ_ADMIT_SLOTS
#define STOQ_ADMIT_SLOTS 65536
#endif
#define STOQ_ADMIT_MASK (STOQ_ADMIT_SLOTS - 1)

/* Per-source counters restart every 2^30 ns (~1.07 s): a power of two keeps the window test a
 * shift and compare. */
#ifndef STOQ_SOURCE_WINDOW_SHIFT
#define STOQ_SOURCE_WINDOW_SHIFT 30
#endif

/* 16 MiB of ring buffer holds ~40k DNS events: ~40 ms at 1 M events/s if the consumer stalls. */
#ifndef STOQ_RINGBUF_BYTES
#define STOQ_RINGBUF_BYTES (16 * 1024 * 1024)
#endif

/* Server handshake segments handed up after a ServerHello: enough for a ~10 KiB chain. */
#ifndef STOQ_TLS_CAPTURE_SEGMENTS
#define STOQ_TLS_CAPTURE_SEGMENTS 8
#endif

/* Extensions walked in a ClientHello looking for server_name; browsers send ~15-20. */
#ifndef STOQ_TLS_EXT_MAX
#define STOQ_TLS_EXT_MAX 32
#endif

/* Egress skbs up to this size whose payload sits in page fragments are pulled linear so DNS and TLS
 * can be read; bulk TSO skbs are larger and are left alone (their payload is not a handshake). */
#ifndef STOQ_TC_PULL_BYTES
#define STOQ_TC_PULL_BYTES 2048
#endif

#ifndef offsetof
#define offsetof(type, member) __builtin_offsetof(type, member)
#endif

#endif /* STOQ_CONSTS_H */
