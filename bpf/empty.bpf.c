// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The reference of bench/xdp.ts: an XDP program that does nothing, timed the same way as stoq.bpf.c
 * so every ratio divides out the test-run harness. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int stoq_xdp_empty(struct xdp_md *ctx)
{
	return XDP_PASS;
}
