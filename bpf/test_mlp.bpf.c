// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A test harness for mlp.h and ngram.h (not loaded in production): scores the feature vector and the
 * trigram keys carried in the test frame with a model slot (and n-gram table) of its own maps, through
 * the same packing, table summing and scoring code as stoq.bpf.c, and writes the result back into the
 * frame for test/kernel/score.test.ts to read from data_out.
 *
 * Frame in:  u32 slot | s32 features[STOQ_MAX_IN] | u32 n | u32 keys[n + 1] (n <= STOQ_NGRAM_MAX_PER_NAME,
 *            and below it for a model with the TLD row): n trigram keys and the TLD's key, as the name
 *            walk leaves them
 *            with bit 31 of slot set, the slot's version is zeroed between the table sum and the
 *            version reread, as a collector's rewrite racing the packet would
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

#define RACE_FLAG 0x80000000u

/* Set per run from the frame: whether STOQ_NGRAM_AFTER_SUM plays the racing writer. */
__u32 race_rewrite;

#define STOQ_NGRAM_AFTER_SUM(m)								\
	do {										\
		if (race_rewrite)							\
			*(volatile __u64 *)&((struct stoq_model *)(m))->version = 0;	\
	} while (0)

/* ngram.h reads the table from the map of this name, as in maps.h. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STOQ_MODEL_SLOTS * STOQ_NGRAM_SLOT_ROWS);
	__type(key, __u32);
	__type(value, struct stoq_ngram_row);
} stoq_ngrams SEC(".maps");

#include "ngram.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STOQ_MODEL_SLOTS);
	__type(key, __u32);
	__type(value, struct stoq_packed_model);
} mlp_packed SEC(".maps");

struct mlp_input {
	struct stoq_features f;
	struct stoq_name_work w;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mlp_input);
} mlp_input SEC(".maps");

SEC("xdp")
int stoq_test_mlp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 *out = data, zero = 0, slot, n, off;
	struct stoq_packed_model *pm;
	struct mlp_input *in;
	struct stoq_model *m;
	int err, prepared = 0;
	__s32 score = 0;

	if ((void *)(out + 2) > end)
		return XDP_ABORTED;
	race_rewrite = out[0] & RACE_FLAG;
	slot = out[0] & ~RACE_FLAG;
	m = bpf_map_lookup_elem(&mlp_models, &slot);
	pm = bpf_map_lookup_elem(&mlp_packed, &slot);
	in = bpf_map_lookup_elem(&mlp_input, &zero);
	off = sizeof(__u32) + sizeof(in->f);
	if (!m || !pm || !in || bpf_xdp_load_bytes(ctx, sizeof(__u32), &in->f, sizeof(in->f)) ||
	    bpf_xdp_load_bytes(ctx, off, &n, sizeof(n)) || n > STOQ_NGRAM_MAX_PER_NAME)
		return XDP_ABORTED;
	in->w.n = n;
	if (bpf_xdp_load_bytes(ctx, off + sizeof(n), in->w.key, (n + 1) * sizeof(__u32)))
		return XDP_ABORTED;
	err = stoq_score_model(m, pm, slot, &in->f, &in->w, &score, &prepared);
	out[0] = err ? 0 : score;
	out[1] = err;
	return XDP_PASS;
}
