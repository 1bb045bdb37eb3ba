/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The quantized MLP of stoq_model.h evaluated in the kernel, bit for bit by its rules, from a per-CPU
 * packed copy of the model. Kernel-only; used by stoq.bpf.c.
 *
 * Why a packed copy: scalar int8 MACs cost ~6 BPF instructions each (byte load, two shifts to sign
 * extend, stack load, multiply, add), 512 of them for 16x32 ~ 350 ns here. Packing three hidden units'
 * weights for one input into one u64 (21-bit lanes) makes one 64-bit multiply-add do three MACs:
 *   P[g][i] = w1[3g][i] + w1[3g+1][i] * 2^21 + w1[3g+2][i] * 2^42        (mod 2^64)
 *   sum_i P[g][i] * x[i] = a0 + a1 * 2^21 + a2 * 2^42                   (exact: |a| < 2^19)
 * since |sum_i w x| <= 127 * 127 * STOQ_MAX_IN = 516,128 < 2^20, each lane is recovered exactly by
 * sign-extending 21 bits and subtracting before the next arithmetic shift.
 *
 * The copy is derived by the program itself the first time a CPU meets a slot's version, so the model
 * map keeps the contract layout and the collector's swap protocol is untouched. A derivation rereads
 * the version after copying; if the collector rewrote the slot meanwhile (it zeroes the version first,
 * see stoq_model.h) the copy is discarded and the packet passes unscored, so no packet is ever scored
 * by a mix of two models.
 */
#ifndef STOQ_MLP_H
#define STOQ_MLP_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>

#include "stoq_model.h"
#include "stoq_shared.h"

#define STOQ_LANE_BITS 21
#define STOQ_GROUPS ((STOQ_MAX_HIDDEN + 2) / 3)
#define STOQ_UNITS (STOQ_GROUPS * 3)
#define STOQ_N_IN_SHORT 16	/* models reading at most 16 inputs take the shorter unrolled loop */

struct stoq_packed_model {
	__u64 version;		/* of the slot this was derived from; 0 = nothing derived */
	__u32 n_in;		/* STOQ_N_IN_SHORT or STOQ_MAX_IN: inputs the unrolled loop reads */
	__u32 n_groups;		/* ceil(n_hidden / 3) */
	__s64 h_mul;
	__s64 h_round;		/* 2^(h_shift - 1) */
	__u64 h_shift;
	__s64 b2;
	__s64 threshold;
	__u32 ngram_words;	/* ceil(n_hidden / 8) 8-unit words per table row; 0 = no n-gram table */
	__u32 ngram_row_shift;	/* 32 - ngram_bits: a trigram's row is its hash >> this */
	__u64 ngram_shift;
	__u32 ngram_tld;	/* 1: the name's TLD row joins its trigram rows */
	__u32 ngram_rows;	/* rows summed for the current packet (ngram.h) */
	__s64 in_zero[STOQ_MAX_IN];
	__s64 in_mul[STOQ_MAX_IN];	/* 0 beyond n_in, so padded inputs quantize to 0 */
	__s64 b1[STOQ_UNITS];		/* 0 beyond n_hidden */
	__s64 w2[STOQ_UNITS];		/* 0 beyond n_hidden, so padded units add nothing */
	__u64 w1[STOQ_GROUPS][STOQ_MAX_IN];
	/* Work areas for one packet, kept here because the 512-byte stack cannot spare them; the entry is
	 * per CPU and per hook, and a program runs to completion on its CPU. x: the quantized inputs.
	 * bias: b1 plus the packet's shifted n-gram sums (ngram.h), the hidden layer's starting value; b1
	 * itself for a model without a table (set once, when the copy is derived). */
	__u64 x[STOQ_MAX_IN];
	__s64 bias[STOQ_UNITS];
	__u64 ngram_acc[2 * STOQ_MAX_HIDDEN / 8];	/* ngram.h's lane accumulators */
};

/* Why a model cannot score, as the STOQ_STAT_UNSCORED_ code to count; 0 when it can. */
static __always_inline int stoq_model_check(const struct stoq_model *m, __u64 version)
{
	if (version == 0)
		return STOQ_STAT_UNSCORED_NO_MODEL;
	if (m->feature_spec != STOQ_FEATURE_SPEC)
		return STOQ_STAT_UNSCORED_FEATURE_SPEC;
	if (m->n_in == 0 || m->n_in > STOQ_MAX_IN || m->n_hidden == 0 ||
	    m->n_hidden > STOQ_MAX_HIDDEN || m->h_shift == 0 || m->h_shift > 31)
		return STOQ_STAT_UNSCORED_MODEL_SHAPE;
	if (m->ngram_bits == 0 ? m->ngram_shift != 0 || m->ngram_flags != 0
			       : m->ngram_bits < STOQ_NGRAM_MIN_BITS || m->ngram_bits > STOQ_NGRAM_MAX_BITS ||
				 m->ngram_shift > STOQ_NGRAM_SHIFT_MAX || (m->ngram_flags & ~STOQ_NGRAM_FLAG_TLD))
		return STOQ_STAT_UNSCORED_MODEL_SHAPE;
	return 0;
}

/* All ones when a < b, else 0, branch-free so the packing loops verify in one pass. The barrier
 * stops the compiler from seeing a comparison and splitting the loop at b, which would pin b to a
 * constant per exit and verify the rest once per possible model shape. */
static __always_inline __u64 mask_lt(__u32 a, __u32 b)
{
	__u64 d = (__u64)a - (__u64)b;

	barrier_var(d);
	return -(d >> 63);
}

/* Global (verified once, not per call site) and out of line: it runs once per CPU per model version.
 * Returns 0 or an STOQ_STAT_UNSCORED_ code. */
__noinline int stoq_model_pack(const struct stoq_model *m, struct stoq_packed_model *pm)
{
	__u64 version;
	__u32 n_in, n_hidden;
	int err;

	if (!m || !pm)
		return STOQ_STAT_UNSCORED_NO_MODEL;
	version = *(volatile const __u64 *)&m->version;
	pm->version = 0;
	err = stoq_model_check(m, version);
	if (err)
		return err;
	n_in = m->n_in;
	n_hidden = m->n_hidden;
	pm->n_in = n_in <= STOQ_N_IN_SHORT ? STOQ_N_IN_SHORT : STOQ_MAX_IN;
	pm->n_groups = (n_hidden + 2) / 3;
	pm->h_mul = m->h_mul;
	pm->h_shift = m->h_shift;
	pm->h_round = 1LL << ((m->h_shift - 1) & 31);
	pm->b2 = m->b2;
	pm->threshold = m->threshold;
	pm->ngram_words = m->ngram_bits ? (n_hidden + 7) / 8 : 0;
	pm->ngram_row_shift = 32 - m->ngram_bits;
	pm->ngram_shift = m->ngram_shift;
	pm->ngram_tld = m->ngram_flags & STOQ_NGRAM_FLAG_TLD;
	for (__u32 i = 0; i < STOQ_MAX_IN; i++) {
		__u64 keep = mask_lt(i, n_in);

		pm->in_zero[i] = (__s64)m->in_zero[i] & keep;
		pm->in_mul[i] = (__s64)m->in_mul[i] & keep;
	}
	for (__u32 j = 0; j < STOQ_UNITS; j++) {
		__u32 jj = j < STOQ_MAX_HIDDEN ? j : 0;
		__u64 keep = mask_lt(j, n_hidden);

		pm->b1[j] = (__s64)m->b1[jj] & keep;
		pm->bias[j] = pm->b1[j];
		pm->w2[j] = (__s64)m->w2[jj] & keep;
	}
	for (__u32 g = 0; g < STOQ_GROUPS; g++) {
		__u32 j = g * 3;
		__u64 k0 = mask_lt(j, n_hidden), k1 = mask_lt(j + 1, n_hidden);
		__u64 k2 = mask_lt(j + 2, n_hidden);
		/* Rows past the layout (unit 64, 65 of the last group) read row 0 and are masked off. */
		__u32 j1 = j + 1 < STOQ_MAX_HIDDEN ? j + 1 : 0, j2 = j + 2 < STOQ_MAX_HIDDEN ? j + 2 : 0;

		for (__u32 i = 0; i < STOQ_MAX_IN; i++) {
			__u64 keep = mask_lt(i, n_in);

			pm->w1[g][i] = (((__u64)(__s64)m->w1[j][i] & k0) +
					(((__u64)(__s64)m->w1[j1][i] & k1) << STOQ_LANE_BITS) +
					(((__u64)(__s64)m->w1[j2][i] & k2) << (2 * STOQ_LANE_BITS))) &
				       keep;
		}
	}
	/* A writer that zeroed or bumped the version while we copied leaves a mixed copy: discard it. */
	asm volatile("" ::: "memory");
	if (*(volatile const __u64 *)&m->version != version)
		return STOQ_STAT_UNSCORED_NO_MODEL;
	pm->version = version;
	return 0;
}

static __always_inline __s64 sext_lane(__u64 v)
{
	return (__s64)(v << (64 - STOQ_LANE_BITS)) >> (64 - STOQ_LANE_BITS);
}

/* min(max(v, lo), hi) without branches: a branch per clamp both mispredicts on real inputs and
 * multiplies the verifier's paths (three outcomes per clamp, ~130 clamps per model). |v| < 2^62. */
static __always_inline __s64 clamp_s64(__s64 v, __s64 lo, __s64 hi)
{
	__s64 d = v - lo;

	v = lo + (d & ~(d >> 63));
	d = v - hi;
	return hi + (d & (d >> 63));
}

/* The hidden and output layers for inputs already quantized into x (N of them, unrolled), from the
 * packet's starting values in bias. */
#define STOQ_MLP_LAYERS(N)							\
	for (__u32 g = 0; g < STOQ_GROUPS; g++) {				\
		__u64 acc = 0, t;						\
		__s64 a0, a1, a2, h;						\
		__u32 j = g * 3;						\
		if (g >= n_groups)						\
			break;							\
		_Pragma("unroll")						\
		for (int i = 0; i < (N); i++)					\
			acc += pm->w1[g][i] * x[i];				\
		a0 = sext_lane(acc);						\
		t = (__u64)((__s64)(acc - (__u64)a0) >> STOQ_LANE_BITS);	\
		a1 = sext_lane(t);						\
		a2 = (__s64)(t - (__u64)a1) >> STOQ_LANE_BITS;			\
		h = clamp_s64(((pm->bias[j] + a0) * h_mul + h_round) >> h_shift, 0, 127); \
		out += pm->w2[j] * h;						\
		h = clamp_s64(((pm->bias[j + 1] + a1) * h_mul + h_round) >> h_shift, 0, 127); \
		out += pm->w2[j + 1] * h;					\
		h = clamp_s64(((pm->bias[j + 2] + a2) * h_mul + h_round) >> h_shift, 0, 127); \
		out += pm->w2[j + 2] * h;					\
	}

/* The int32 output of the model for one feature vector. Global: verified once, not per call site. */
__noinline int stoq_mlp(struct stoq_packed_model *pm, const struct stoq_features *f)
{
	__u64 *x;
	__s64 out, h_mul, h_round;
	__u64 h_shift;
	__u32 n_groups;

	if (!pm || !f)
		return 0;
	x = pm->x;
	out = pm->b2;
	h_mul = pm->h_mul;
	h_round = pm->h_round;
	h_shift = pm->h_shift & 31;
	n_groups = pm->n_groups;

	if (pm->n_in == STOQ_N_IN_SHORT) {
#pragma unroll
		for (int i = 0; i < STOQ_N_IN_SHORT; i++)
			x[i] = (__u64)clamp_s64((((__s64)f->f[i] - pm->in_zero[i]) * pm->in_mul[i] +
						 (1 << 15)) >> 16, -127, 127);
		STOQ_MLP_LAYERS(STOQ_N_IN_SHORT)
	} else {
#pragma unroll
		for (int i = 0; i < STOQ_MAX_IN; i++)
			x[i] = (__u64)clamp_s64((((__s64)f->f[i] - pm->in_zero[i]) * pm->in_mul[i] +
						 (1 << 15)) >> 16, -127, 127);
		STOQ_MLP_LAYERS(STOQ_MAX_IN)
	}
	return (__s32)out;
}

#endif /* STOQ_MLP_H */
