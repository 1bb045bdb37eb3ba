/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The model's n-gram table in the kernel (stoq_model.h): the trigram keys a name's walk leaves behind
 * (features.h), their rows summed per hidden unit from the stoq_ngrams map, and the scoring of one model
 * slot with them. Kernel-only; the including program defines the stoq_ngrams map (maps.h, or the test
 * harness's own).
 *
 * Summing with SWAR: a row holds 64 int8 weights, 8 per u64 word. XOR 0x80 per byte makes each a biased
 * u8 (w + 128, 0..255); the even bytes masked in place and the odd bytes shifted down fill the 16-bit
 * lanes of two u64 accumulators, so one word costs a load, an XOR, two masks, a shift and two adds for
 * 8 units. At most STOQ_NGRAM_MAX_PER_NAME = 252 rows per name and 252 * 255 < 2^16, so no lane carries
 * into the next; the bias 128 * n is taken off each unit's lane at the end. Only ceil(n_hidden / 8) words
 * of a row are read.
 */
#ifndef STOQ_NGRAM_H
#define STOQ_NGRAM_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>

#include "mlp.h"
#include "stoq_model.h"
#include "stoq_shared.h"

#define STOQ_NGRAM_WORDS (STOQ_MAX_HIDDEN / 8)

/* What a test harness does between the summing and the version reread (bpf/test_mlp.bpf.c rewrites the
 * slot there, the race the reread exists for); nothing in the data path. */
#ifndef STOQ_NGRAM_AFTER_SUM
#define STOQ_NGRAM_AFTER_SUM(m) do {} while (0)
#endif
#define STOQ_NGRAM_BYTE_BIAS 0x8080808080808080ULL
#define STOQ_NGRAM_EVEN_BYTES 0x00ff00ff00ff00ffULL

_Static_assert(STOQ_NGRAM_MAX_PER_NAME * 255 < 1 << 16, "16-bit lanes cannot overflow");
_Static_assert(STOQ_NGRAM_WORDS == 8, "STOQ_NGRAM_WORD is spelled out for 8 words");

/* Word k of a row into the two accumulators of units 8k..8k+7; past the model's words, on to the next
 * row (inside stoq_ngram_sum's row loop). */
#define STOQ_NGRAM_WORD(k)							\
	do {									\
		__u64 v_;							\
		if ((k) >= words)						\
			goto next_row;						\
		v_ = *(const __u64 *)&row->w[8 * (k)] ^ STOQ_NGRAM_BYTE_BIAS;	\
		acc[2 * (k)] += v_ & STOQ_NGRAM_EVEN_BYTES;			\
		acc[2 * (k) + 1] += (v_ >> 8) & STOQ_NGRAM_EVEN_BYTES;		\
	} while (0)

/* Sets pm->bias[j] = b1[j] + ((sum of unit j over the rows of nk's keys) << ngram_shift) for the units
 * the table covers, reading slot `slot` of stoq_ngrams: the n trigram keys, and key[n] (the TLD's) too
 * for a model with the TLD row. Global: verified once; the row loop is bounded by
 * STOQ_NGRAM_MAX_PER_NAME. Returns 0 or an STOQ_STAT_UNSCORED_ code. */
__noinline int stoq_ngram_sum(struct stoq_packed_model *pm, const struct stoq_name_work *nk, __u32 slot)
{
	__u64 *acc;
	__u32 n, base, row_shift;
	__s64 bias;
	__u64 shift;

	if (!pm || !nk)
		return STOQ_STAT_UNSCORED_NO_MODEL;
	acc = pm->ngram_acc;
	__builtin_memset(acc, 0, sizeof(pm->ngram_acc));
	/* The TLD row is key[n]: n + 1 rows, n <= STOQ_NGRAM_MAX_PER_NAME - 2 from the walk. Neither a
	 * branch (the verifier walked the row loop once per outcome, +150k instructions) nor a clamp to the
	 * loop's bound (+75k) here: the count is kept for the bias instead of re-derived. */
	n = nk->n + (pm->ngram_tld & 1);
	pm->ngram_rows = n;
	row_shift = pm->ngram_row_shift & 31;
	base = (slot & 3) * STOQ_NGRAM_SLOT_ROWS;
	for (__u32 t = 0; t < STOQ_NGRAM_MAX_PER_NAME; t++) {
		const struct stoq_ngram_row *row;
		/* Reread per row: a word count carried in a register would be narrowed differently by each
		 * early exit below, and the verifier could not merge the iterations' states. */
		__u32 words = *(volatile __u32 *)&pm->ngram_words;
		__u32 idx;

		if (t >= n)
			break;
		idx = base + ((nk->key[t] * STOQ_NGRAM_HASH_MUL) >> row_shift);
		row = bpf_map_lookup_elem(&stoq_ngrams, &idx);
		if (!row)
			return STOQ_STAT_UNSCORED_NO_MODEL;
		STOQ_NGRAM_WORD(0);
		STOQ_NGRAM_WORD(1);
		STOQ_NGRAM_WORD(2);
		STOQ_NGRAM_WORD(3);
		STOQ_NGRAM_WORD(4);
		STOQ_NGRAM_WORD(5);
		STOQ_NGRAM_WORD(6);
		STOQ_NGRAM_WORD(7);
next_row:;
	}
	/* n reread: the loop's exits each pinned the register copy to a different value. */
	bias = 128 * (__s64)(*(volatile const __u32 *)&pm->ngram_rows & 0x1ff);
	shift = pm->ngram_shift & 31;
#pragma unroll
	for (int w = 0; w < STOQ_NGRAM_WORDS; w++) {
		if (w >= *(volatile __u32 *)&pm->ngram_words)
			break;
#pragma unroll
		for (int b = 0; b < 8; b++) {
			int j = 8 * w + b;
			__s64 s = (__s64)((acc[2 * w + (b & 1)] >> (16 * (b >> 1))) & 0xffff) - bias;

			pm->bias[j] = pm->b1[j] + (__s64)((__u64)s << shift);
		}
	}
	return 0;
}

/* Scores ft and the name's trigrams nk with model slot `slot` (m) through this CPU's packed copy pm:
 * derives the copy when the slot's version changed (*prepared set), adds the table rows for a model with
 * one, and rereads the version after summing them. Returns 0 with *out set, or the STOQ_STAT_UNSCORED_
 * reason. */
static __always_inline int stoq_score_model(const struct stoq_model *m, struct stoq_packed_model *pm,
					    __u32 slot, const struct stoq_features *ft,
					    const struct stoq_name_work *nk, __s32 *out, int *prepared)
{
	__u64 version = *(volatile const __u64 *)&m->version;
	int err;

	if (version == 0)
		return STOQ_STAT_UNSCORED_NO_MODEL;
	if (pm->version != version) {
		*prepared = 1;
		err = stoq_model_pack(m, pm);
		if (err)
			return err;
	}
	if (pm->ngram_words) {
		err = stoq_ngram_sum(pm, nk, slot);
		if (err)
			return err;
		STOQ_NGRAM_AFTER_SUM(m);
		/* A writer zeroes the version before it touches the rows and sets it after: unchanged
		 * means every row summed belongs to the model the copy was derived from. */
		asm volatile("" ::: "memory");
		if (*(volatile const __u64 *)&m->version != pm->version)
			return STOQ_STAT_UNSCORED_MODEL_CHANGED;
	}
	*out = stoq_mlp(pm, ft);
	return 0;
}

#endif /* STOQ_NGRAM_H */
