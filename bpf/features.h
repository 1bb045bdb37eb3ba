/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The feature builder of feature_spec v1 (docs/feature-spec.md): name features from the question name,
 * packet features, per-source features and user-space facts, as fixed-point integers equal bit for bit
 * to the TypeScript reference lib/src/model/features.ts. Kernel-only. */
#ifndef STOQ_FEATURES_H
#define STOQ_FEATURES_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>

#include "consts.h"
#include "dns.h"
#include "feature_tables.h"
#include "stoq_shared.h"

#define FNV32_OFFSET 0x811c9dc5u
#define FNV32_PRIME 0x01000193u

/* floor(x * recip[k] / 2^shift): ratios and means as one multiply and one arithmetic shift. */
static __always_inline __s32 mul_recip(__s64 x, __u32 k, __u32 shift)
{
	return (__s32)((x * (__s64)stoq_recip[k & 0xff]) >> shift);
}

static __always_inline __s32 bigram_at(const struct stoq_bigram *bg, __u32 idx)
{
	/* Symbols are < STOQ_SYMBOLS by construction; the verifier only knows they fit 6 bits. */
	if (idx >= STOQ_BIGRAM_SYMBOLS * STOQ_BIGRAM_SYMBOLS)
		idx = 0;
	return bg->q8[idx];
}

/* Character statistics of one region (SUB or SLD). */
struct region_stats {
	__u32 idn;		/* a label starts with "xn--" (ASCII case folded) */
	__s64 bigram_sum;
	__s32 bigram_min;
	__u32 nlog_sum;		/* running sum over symbols of stoq_nlog[count] */
	__u32 digits;
	__u32 other;
	__u32 vowels;
	__s32 cons_run;
};

/* Verifier workaround: a loop that exits when its index reaches a bound pins the bound to that index,
 * so every possible exit would be verified as its own state through the rest of the function. Each
 * loop reads its bounds afresh from memory instead, and the pinned copies die. */
#define RELOAD(x) (*(volatile __typeof__(x) *)&(x))

/* Branch-free min and max of small signed values: a data-dependent branch here would make the
 * verifier track each outcome as a distinct state in every loop iteration. */
static __always_inline __s32 min_s32(__s32 a, __s32 b)
{
	__s32 d = a - b;

	return b + (d & (d >> 31));
}

static __always_inline __s32 max_s32(__s32 a, __s32 b)
{
	__s32 d = a - b;

	return a - (d & (d >> 31));
}

/* 1 when the label whose length byte is at q->b[i] starts with "xn--" (RFC 5890 A-label prefix). */
static __always_inline __u32 label_is_idn(const struct dns_qbuf *q, __u32 i, __u32 len)
{
	__u32 w;

	if (len < 4 || i > sizeof(q->b) - 5)
		return 0;
	w = q->b[i + 1] | ((__u32)q->b[i + 2] << 8) | ((__u32)q->b[i + 3] << 16) |
	    ((__u32)q->b[i + 4] << 24);
	return (w | 0x2020) == 0x2d2d6e78;
}

/* One character of a region: bigram, histogram (running n log n), classes, consonant run. */
#define REGION_CHAR(info, prev_row, run, r, hist)				\
	do {									\
		__u32 s_ = (info) & STOQ_SYM_MASK;				\
		__s32 bg_ = bigram_at(bg, (prev_row) + s_);			\
		__u32 n_ = (hist)[s_];						\
		(r).bigram_sum += bg_;						\
		(r).bigram_min = min_s32((r).bigram_min, bg_);			\
		(prev_row) = s_ * STOQ_BIGRAM_SYMBOLS;				\
		(r).nlog_sum += stoq_nlog_delta[n_ & 0xff];			\
		(hist)[s_] = n_ + 1;						\
		(r).digits += ((info) >> 8) & 1;				\
		(r).other += ((info) >> 9) & 1;					\
		(r).vowels += ((info) >> 10) & 1;				\
		(run) = ((run) + 1) & -(((info) >> 11) & 1);			\
		(r).cons_run = max_s32((r).cons_run, (run));			\
	} while (0)

/* One symbol of the region's sequence B s(label) B s(label) ... B (B = STOQ_SYM_BOUNDARY) rolled into the
 * last three, and the trigram they make stored at key slot `at`. The SUB loop stores unconditionally (a
 * store under "three symbols seen yet" there took the verifier past its budget): its first two symbols
 * store into slots 254 and 255, which are never read (n <= 252). */
#define NGRAM_PUSH(nk, tri, sym, region, at)					\
	do {									\
		(tri) = (((tri) << 6) | (sym)) & 0x3ffff;			\
		(nk)->key[(at) & 0xff] = (tri) | (region);			\
	} while (0)

_Static_assert(STOQ_SYM_DIGIT == 1 << 8 && STOQ_SYM_OTHER == 1 << 9 && STOQ_SYM_VOWEL == 1 << 10 &&
		       STOQ_SYM_CONSONANT == 1 << 11,
	       "REGION_CHAR shifts match the class bits");

/* Name features (indices 0..15) of the name walked into n (stoq_dns_question); n->hash, the
 * distinct-names hash: FNV-1a over the lower-cased wire bytes; and the name's trigram keys in nk (the
 * rows of lib/src/model/ngrams.ts ngramRows before hashing: SUB and SLD sequences, TLD never read).
 * Global: verified once for any layout. Returns 0. */
__noinline int stoq_name_features(const struct dns_qbuf *q, struct dns_name *n,
				  const struct stoq_bigram *bg, struct stoq_features *ft,
				  struct stoq_name_work *nk)
{
	__u8 *hist;
	struct region_stats sub = {}, sld = {};
	__u32 h = FNV32_OFFSET, next = 0, prev_row = 0, tri = 0, sym;
	__s32 run = 0;
	__u32 sld_off, tld_off, wire_len, sub_len, sld_len, sub_labels, n_sub;

	if (!q || !n || !bg || !ft || !nk)
		return 0;
	hist = nk->hist;
	sld_off = RELOAD(n->sld_off);
	__builtin_memset(hist, 0, sizeof(nk->hist));
	/* SUB: every label left of the SLD, bytes [0, sld_off). */
	for (__u32 i = 0; i < STOQ_QNAME_MAX; i++) {
		__u32 b, info;

		if (i >= sld_off)
			break;
		b = q->b[i];
		info = stoq_sym_info[b];
		h = (h ^ (info >> STOQ_SYM_LOWER_SHIFT)) * FNV32_PRIME;
		if (i == next) {
			if (i)
				sub.bigram_sum += bigram_at(bg, prev_row + STOQ_SYM_BOUNDARY);
			sub.idn |= label_is_idn(q, i, b);
			prev_row = STOQ_SYM_BOUNDARY * STOQ_BIGRAM_SYMBOLS;
			run = 0;
			next = (i + 1 + b) & DNS_OFF_MASK;
			sym = STOQ_SYM_BOUNDARY;
		} else {
			REGION_CHAR(info, prev_row, run, sub, hist);
			sym = info & STOQ_SYM_MASK;
		}
		/* Byte i's symbol ends the SUB trigram number i - 2. */
		NGRAM_PUSH(nk, tri, sym, STOQ_NGRAM_REGION_SUB, i - 2);
	}
	/* The SLD's length byte is the boundary closing SUB: sld_off - 1 trigrams in all. */
	if (sld_off) {
		sub.bigram_sum += bigram_at(bg, prev_row + STOQ_SYM_BOUNDARY);
		NGRAM_PUSH(nk, tri, STOQ_SYM_BOUNDARY, STOQ_NGRAM_REGION_SUB, sld_off - 2);
	}

	/* SLD: one label, its length byte at sld_off. */
	sld_off = RELOAD(n->sld_off);
	n_sub = sld_off ? sld_off - 1 : 0;
	tld_off = RELOAD(n->tld_off);
	__builtin_memset(hist, 0, sizeof(nk->hist));
	prev_row = STOQ_SYM_BOUNDARY * STOQ_BIGRAM_SYMBOLS;
	run = 0;
	for (__u32 k = 0; k <= STOQ_LABEL_MAX; k++) {
		__u32 i = (sld_off + k) & 0xff;
		__u32 b, info;

		if (i >= tld_off)
			break;
		b = q->b[i];
		info = stoq_sym_info[b];
		h = (h ^ (info >> STOQ_SYM_LOWER_SHIFT)) * FNV32_PRIME;
		if (k == 0) {
			sld.idn = label_is_idn(q, i, b);
			sym = STOQ_SYM_BOUNDARY;
		} else {
			REGION_CHAR(info, prev_row, run, sld, hist);
			sym = info & STOQ_SYM_MASK;
		}
		/* SLD trigrams follow SUB's: byte sld_off + k ends number n_sub + k - 2. */
		if (k >= 2)
			NGRAM_PUSH(nk, tri, sym, 0, n_sub + k - 2);
		else
			tri = (tri << 6) | sym;
	}
	tld_off = RELOAD(n->tld_off);
	sld_off = RELOAD(n->sld_off);
	nk->n = n_sub;
	if (tld_off != sld_off) {
		__s32 e = bigram_at(bg, prev_row + STOQ_SYM_BOUNDARY);

		sld.bigram_sum += e;
		sld.bigram_min = min_s32(sld.bigram_min, e);
		/* The TLD's length byte closes the SLD: tld_off - sld_off - 1 trigrams. */
		NGRAM_PUSH(nk, tri, STOQ_SYM_BOUNDARY, 0, n_sub + tld_off - sld_off - 2);
		nk->n = (n_sub + tld_off - sld_off - 1) & 0xff;
	}

	/* TLD and the root label: only hashed. */
	sld_off = RELOAD(n->sld_off);
	tld_off = RELOAD(n->tld_off);
	wire_len = RELOAD(n->wire_len);
	for (__u32 k = 0; k <= STOQ_LABEL_MAX + 1; k++) {
		__u32 i = (tld_off + k) & 0xff;

		if (i >= wire_len)
			break;
		h = (h ^ (stoq_sym_info[q->b[i]] >> STOQ_SYM_LOWER_SHIFT)) * FNV32_PRIME;
	}

	sub_len = n->sub_len & 0xff;
	sld_len = n->sld_len & 0xff;
	sub_labels = n->labels >= 2 ? n->labels - 2 : 0;
	ft->f[STOQ_F_SUB_LEN] = sub_len;
	ft->f[STOQ_F_SUB_LABELS] = sub_labels;
	ft->f[STOQ_F_SUB_MAX_LABEL] = n->sub_max;
	ft->f[STOQ_F_SUB_BIGRAM] = mul_recip(sub.bigram_sum, sub_len + sub_labels, 16);
	ft->f[STOQ_F_SUB_ENTROPY] = mul_recip((__s64)stoq_nlog[sub_len] - sub.nlog_sum, sub_len, 16);
	ft->f[STOQ_F_SUB_DIGITS] = mul_recip(sub.digits, sub_len, 8);
	ft->f[STOQ_F_SUB_OTHER] = mul_recip(sub.other, sub_len, 8);
	ft->f[STOQ_F_IDN] = sub.idn | sld.idn;
	ft->f[STOQ_F_SLD_LEN] = sld_len;
	ft->f[STOQ_F_SLD_BIGRAM] = mul_recip(sld.bigram_sum, sld_len + (tld_off != sld_off), 16);
	ft->f[STOQ_F_SLD_BIGRAM_MIN] = sld.bigram_min;
	ft->f[STOQ_F_SLD_ENTROPY] = mul_recip((__s64)stoq_nlog[sld_len] - sld.nlog_sum, sld_len, 16);
	ft->f[STOQ_F_SLD_DIGITS] = mul_recip(sld.digits, sld_len, 8);
	ft->f[STOQ_F_SLD_VOWELS] = mul_recip(sld.vowels, sld_len, 8);
	ft->f[STOQ_F_SLD_CONS_RUN] = sld.cons_run;
	ft->f[STOQ_F_TLD_LEN] = n->tld_len;
	n->hash = h;
	return 0;
}

/* The TLD row's key (lib/src/model/ngrams.ts ngramTldKey): FNV-1a over the lower-cased bytes from the TLD's
 * length byte through the root label, with STOQ_NGRAM_TLD_MARK set, stored at nk->key[nk->n], after the
 * name's trigram keys, where a model with the TLD row reads it (ngram.h). Its own global function: folded
 * into stoq_name_features' last loop it took that function past the verifier's 1M instructions. Returns 0. */
__noinline int stoq_tld_key(const struct dns_qbuf *q, const struct dns_name *n, struct stoq_name_work *nk)
{
	__u32 h = FNV32_OFFSET, tld_off, wire_len;

	if (!q || !n || !nk)
		return 0;
	tld_off = n->tld_off;
	wire_len = n->wire_len;
	for (__u32 k = 0; k <= STOQ_LABEL_MAX + 1; k++) {
		__u32 i = (tld_off + k) & 0xff;

		if (i >= wire_len)
			break;
		h = (h ^ (stoq_sym_info[q->b[i]] >> STOQ_SYM_LOWER_SHIFT)) * FNV32_PRIME;
	}
	nk->key[nk->n & 0xff] = h | STOQ_NGRAM_TLD_MARK;
	return 0;
}

#endif /* STOQ_FEATURES_H */
