/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The quantized MLP that the XDP program scores with: its map layout and its integer arithmetic rules.
 * Shared by the kernel programs (bpf/), the collector's model writer and the TypeScript reference
 * (lib/src/model/int8-mlp.ts). Kept in sync with lib/src/model/layout.ts; the BTF layout test fails when
 * the two drift.
 *
 * Arithmetic (feature_spec-independent, version STOQ_QUANT_RULES = 1). All shifts are arithmetic
 * (floor toward -inf) on signed 64-bit values; clamp(v, lo, hi) saturates.
 *   input   x[i]  = clamp(((s64)(f[i] - in_zero[i]) * in_mul[i] + 2^15) >> 16, -127, 127)   (int8)
 *   hidden  a[j]  = b1[j] + sum_i w1[j][i] * x[i]                                          (int32)
 *           h[j]  = clamp(((s64)a[j] * h_mul + 2^(h_shift-1)) >> h_shift, 0, 127)          (ReLU, int8)
 *   output  out   = b2 + sum_j w2[j] * h[j]                                                (int32)
 *   verdict threat when out >= threshold (threshold derived from threat_threshold by the trainer)
 * Bounds: |w1 x| <= 127*127*STOQ_MAX_IN = 516,128 and |w2 h| <= 127*127*STOQ_MAX_HIDDEN = 1,032,256,
 * so int32 accumulators cannot overflow for |b1|, |b2| < 2^30. h_shift is in [1, 31].
 */
#ifndef STOQ_MODEL_H
#define STOQ_MODEL_H

#include <linux/types.h>

#define STOQ_QUANT_RULES 1
#define STOQ_MAX_IN 32     /* inputs the layout can hold; feature_spec says how many are used */
#define STOQ_MAX_HIDDEN 64 /* the design caps the hidden layer at 64 */

/* Slots of the model map: two for the active/inactive swap, one for a shadow model. */
#define STOQ_MODEL_SLOT_A 0
#define STOQ_MODEL_SLOT_B 1
#define STOQ_MODEL_SLOT_SHADOW 2
#define STOQ_MODEL_SLOTS 3

/* Value of the model map (BPF_MAP_TYPE_ARRAY, STOQ_MODEL_SLOTS entries). A slot with version 0 is empty. */
struct stoq_model {
	__u64 version;      /* strictly increasing across published models */
	__u32 feature_spec; /* must equal the program's STOQ_FEATURE_SPEC or the packet is passed unscored */
	__u32 n_in;         /* inputs used, <= STOQ_MAX_IN */
	__u32 n_hidden;     /* hidden units used, <= STOQ_MAX_HIDDEN */
	__s32 h_mul;        /* hidden requantization multiplier */
	__u32 h_shift;      /* hidden requantization shift, 1..31 */
	__s32 b2;           /* output bias */
	__s32 threshold;    /* verdict threshold on the int32 output */
	__u16 ngram_bits;   /* log2 of the n-gram table's rows: 0 = no table, else 6..14 */
	__u16 ngram_shift;  /* left shift of each unit's table sum, 0..STOQ_NGRAM_SHIFT_MAX */
	__s32 in_zero[STOQ_MAX_IN];
	__s32 in_mul[STOQ_MAX_IN]; /* Q16 multipliers */
	__s32 b1[STOQ_MAX_HIDDEN];
	__s8 w1[STOQ_MAX_HIDDEN][STOQ_MAX_IN]; /* row j = weights into hidden unit j */
	__s8 w2[STOQ_MAX_HIDDEN];
};

/* Modes of enforcement, chosen by the operator. */
#define STOQ_MODE_OBSERVE 0 /* score and count, never drop */
#define STOQ_MODE_SHADOW 1  /* also score the shadow slot; never drop */
#define STOQ_MODE_ENFORCE 2 /* drop when the active model says threat */

/* Value of the control map (BPF_MAP_TYPE_ARRAY, 1 entry). The collector writes the inactive slot in
 * full, then flips `active` with one aligned 32-bit store; the program reads `active` once per packet.
 *
 * Writing a slot (bpf/mlp.h derives a per-CPU packed copy from it and checks `version` before and after):
 * write the whole value once with version 0, then again with the real version, then flip `active`. A
 * CPU that was still copying the slot when the rewrite began sees the version change and discards its
 * copy (the packet passes unscored) instead of scoring with a mix of two models. */
struct stoq_control {
	__u32 active; /* STOQ_MODEL_SLOT_A or STOQ_MODEL_SLOT_B */
	__u32 mode;   /* STOQ_MODE_* */
	__u32 shadow; /* non-zero: score the shadow slot as well */
	__u32 _pad;
};

#endif /* STOQ_MODEL_H */
