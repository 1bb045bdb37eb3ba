// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A test harness for mlp.h (not loaded in production): scores the feature vector carried in the test
 * frame with a model slot of its own map, through the same packing and scoring code as stoq.bpf.c, and
 * writes the result back into the frame for test/kernel/score.test.ts to read from data_out.
 *
 * Frame in:  u32 slot | s32 features[STOQ_MAX_IN]
 * Frame out: s32 score | u32 err (0 or the STOQ_STAT_UNSCORED_ reason) | the rest unchanged */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "mlp.h"
#include "stoq_model.h"
#include "stoq_shared.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STOQ_MODEL_SLOTS);
	__type(key, __u32);
	__type(value, struct stoq_model);
} mlp_models SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STOQ_MODEL_SLOTS);
	__type(key, __u32);
	__type(value, struct stoq_packed_model);
} mlp_packed SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stoq_features);
} mlp_input SEC(".maps");

SEC("xdp")
int stoq_test_mlp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct stoq_packed_model *pm;
	struct stoq_features *f;
	struct stoq_model *m;
	__u32 *out = data, zero = 0, slot;
	int err = 0;

	if ((void *)(out + 2) > end)
		return XDP_ABORTED;
	slot = out[0];
	m = bpf_map_lookup_elem(&mlp_models, &slot);
	pm = bpf_map_lookup_elem(&mlp_packed, &slot);
	f = bpf_map_lookup_elem(&mlp_input, &zero);
	if (!m || !pm || !f || bpf_xdp_load_bytes(ctx, sizeof(__u32), f, sizeof(*f)))
		return XDP_ABORTED;
	if (pm->version != m->version || m->version == 0)
		err = stoq_model_pack(m, pm);
	out[0] = err ? 0 : stoq_mlp(pm, f);
	out[1] = err;
	return XDP_PASS;
}
