/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The quantized MLP that the XDP program scores with: its map layout and its integer arithmetic rules.
 * Shared by the kernel programs (bpf/), the collector's model writer and the TypeScript reference
 * (lib/src/model/int8-mlp.ts). Kept in sync with lib/src/model/layout.ts; the BTF layout test fails when
 * the two drift.
 *
 * Arithmetic (feature_spec-independent, version STOQ_QUANT_RULES = 1). All shifts are arithmetic
 * (floor toward -inf) on signed 64-bit values; clamp(v, lo, hi) saturates.
 *   input   x[i]  = clamp(((s64)(f[i] - in_zero[i]) * in_mul[i] + 2^15) >> 16, -127, 127)   (int8)
 *   hidden  a[j]  = b1[j] + sum_i w1[j][i] * x[i] + ((sum_t ngram[row_t][j]) << ngram_shift)  (s64)
 *           h[j]  = clamp(((s64)a[j] * h_mul + 2^(h_shift-1)) >> h_shift, 0, 127)          (ReLU, int8)
 *   output  out   = b2 + sum_j w2[j] * h[j]                                                (int32)
 *   verdict threat when out >= threshold (threshold derived from threat_threshold by the trainer)
 * Bounds: |w1 x| <= 127*127*STOQ_MAX_IN = 516,128 and |w2 h| <= 127*127*STOQ_MAX_HIDDEN = 1,032,256,
 * so int32 accumulators cannot overflow for |b1|, |b2| < 2^30. h_shift is in [1, 31].
 *
 * N-gram table (ngram_bits != 0): row_t are the table rows of the name's hashed character trigrams
 * (docs/feature-spec.md "N-gram table", lib/src/model/ngrams.ts) and, with STOQ_NGRAM_FLAG_TLD, its TLD's
 * row: at most STOQ_NGRAM_MAX_PER_NAME - 2 trigrams (a 255-byte name) plus one, so at most
 * STOQ_NGRAM_MAX_PER_NAME rows, so |sum_t ngram[row_t][j]| <= 252 * 128 < 2^15. With ngram_shift <= STOQ_NGRAM_SHIFT_MAX = 16 the
 * shifted sum is < 2^31 and |a[j]| < 2^30 + 2^20 + 2^31 < 2^32, so a[j] * h_mul (|h_mul| <= 2^31) stays
 * exact in s64. The shift is a multiplication by 2^ngram_shift (two's complement, negative sums too).
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

/* The n-gram table (lib/src/model/ngrams.ts): row = ((key * STOQ_NGRAM_HASH_MUL) mod 2^32) >> (32 - bits)
 * with key = ((region * 64 + a) * 64 + b) * 64 + c, region SLD = 0, SUB = 1, for each trigram; and, in a
 * model with STOQ_NGRAM_FLAG_TLD, one more row whose key is the TLD's: FNV-1a over the lower-cased wire
 * bytes from the TLD's length byte through the root label, with STOQ_NGRAM_TLD_MARK set (trigram keys are
 * below 2^19, so no TLD key equals a trigram key). */
#define STOQ_NGRAM_MIN_BITS 6
#define STOQ_NGRAM_MAX_BITS 14
#define STOQ_NGRAM_SLOT_ROWS (1 << STOQ_NGRAM_MAX_BITS)
#define STOQ_NGRAM_SHIFT_MAX 16
#define STOQ_NGRAM_MAX_PER_NAME 252
#define STOQ_NGRAM_HASH_MUL 0x9e3779b1u
#define STOQ_NGRAM_REGION_SUB (1 << 18)
#define STOQ_NGRAM_TLD_MARK 0x80000000u
#define STOQ_NGRAM_FLAG_TLD 1	/* ngram_flags: the table holds the TLD row */

/* Value of the n-gram map (BPF_MAP_TYPE_ARRAY, STOQ_MODEL_SLOTS * STOQ_NGRAM_SLOT_ROWS entries): row r of
 * slot s at key s * STOQ_NGRAM_SLOT_ROWS + r; w[j] is hidden unit j's weight, 0 past n_hidden. Only the
 * first 2^ngram_bits rows of a slot are read. */
struct stoq_ngram_row {
	__s8 w[STOQ_MAX_HIDDEN];
} __attribute__((aligned(8)));	/* read as 8 u64 words */

/* Kernel-only (never written by user space): the per-CPU work area of the name walk (features.h), too
 * big for the stack. key: the name's trigram keys, region * 2^18 + a * 2^12 + b * 2^6 + c, in no
 * particular order (the table sum is a bag), read by every model scored after the walk (ngram.h).
 * hist: the walk's symbol histogram of the region it is in. */
struct stoq_name_work {
	__u32 n;		/* trigram keys, <= STOQ_NGRAM_MAX_PER_NAME - 2 */
	__u32 _pad;
	__u32 key[256];		/* 256 so a masked index stays inside; key[n] is the TLD's key */
	__u8 hist[64];
};

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
	__u8 ngram_bits;    /* log2 of the n-gram table's rows: 0 = no table, else 6..14 */
	__u8 ngram_flags;   /* STOQ_NGRAM_FLAG_TLD or 0; 0 without a table */
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
 * write the whole value once with version 0, then the slot's 2^ngram_bits n-gram rows (if it has a
 * table), then the value again with the real version, then flip `active`. A CPU that was still copying
 * the slot when the rewrite began sees the version change and discards its copy (the packet passes
 * unscored) instead of scoring with a mix of two models. The table is read in place for every packet,
 * and the version is read again after the rows are summed: a change means rows of two models may have
 * been mixed, and the packet passes unscored (STOQ_STAT_UNSCORED_MODEL_CHANGED). */
struct stoq_control {
	__u32 active; /* STOQ_MODEL_SLOT_A or STOQ_MODEL_SLOT_B */
	__u32 mode;   /* STOQ_MODE_* */
	__u32 shadow; /* non-zero: score the shadow slot as well */
	__u32 _pad;
};

#endif /* STOQ_MODEL_H */
