// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A benchmark harness for bench/xdp.ts (not loaded in production): gives every run of a repeated test
 * frame a new IPv4 source address, then tail-calls the program under test (stoq_xdp_ingress, or the empty
 * reference, timed the same way). bpf_prog_test_run keeps the frame between repetitions, so the address
 * counts up across runs: each one is a packet from a source never seen before. */
#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Slot 0: the program under test, set by the benchmark. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} bench_target SEC(".maps");

#define IPV4_SADDR_OFF (14 + 12)	/* untagged Ethernet, then the IPv4 source address */

SEC("xdp")
int stoq_bench_rotate(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 *saddr = data + IPV4_SADDR_OFF;

	if ((void *)(saddr + 1) > end)
		return XDP_ABORTED;
	*saddr = bpf_htonl(bpf_ntohl(*saddr) + 1);
	bpf_tail_call(ctx, &bench_target, 0);
	return XDP_ABORTED;
}
