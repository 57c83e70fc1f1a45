/* kiln_attention and kiln_attention_packed against a float64 reference, on
 * every backend and dtype: awkward lengths (1, 3, 17, 257, 1000), head dims
 * 8 to 256, MHA, GQA and MQA, causal with Sq < Sk and Sq > Sk, every mask
 * shape, seqlens_k with zeros, varlen with empty and one-token sequences,
 * packed against unpacked, the fused kernel and the composite path (each
 * against the reference, and against each other), a captured graph. The
 * failing calls are in test_attention_errors.c. */
/* setenv, unsetenv: POSIX, not C11. */
#define _POSIX_C_SOURCE 200809L

#include "attention_ref.h"
#include "harness_ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void attention_register_errors(void);

static const kiln_dtype dtypes[] = {KILN_F32, KILN_F16, KILN_BF16};

typedef enum mask_kind { M_NONE, M_SQSK, M_B1SQSK, M_BHSQSK, M_B11SK } mask_kind;
typedef enum layout_kind {
  L_PADDED,
  L_VARLEN,  /* cu_seqlens_q only: keys share the queries' offsets */
  L_VARLEN_K /* cu_seqlens_q and cu_seqlens_k */
} layout_kind;

typedef struct attn_case {
  const char *name;
  layout_kind layout;
  int64_t b, sq, sk, hq, hkv, d; /* varlen: sq, sk are max_seqlen_q, max_seqlen_k */
  int causal;
  mask_kind mask;
  int seqlens; /* seqlens_k: 0 for the first sequence, 1 for the second, ... */
  int packed;
  float scale; /* 0: the default 1/sqrt(D) */
  int p_null;  /* params NULL */
  double range; /* q (and packed qkv) drawn from U(-range, range); 0: 1 */
} attn_case;

/* clang-format off */
static const attn_case cases[] = {
  {"s1_d8", L_PADDED, 1, 1, 1, 1, 1, 8, 0, M_NONE, 0, 0, 0, 0, 0},
  {"s3_d32_h4", L_PADDED, 2, 3, 3, 4, 4, 32, 0, M_NONE, 0, 0, 0, 1, 0},
  {"s17_d80_gqa8x2_causal", L_PADDED, 2, 17, 17, 8, 2, 80, 1, M_NONE, 0, 0, 0, 0, 0},
  {"s257_d128_mqa8_causal", L_PADDED, 1, 257, 257, 8, 1, 128, 1, M_NONE, 0, 0, 0, 0, 0},
  {"s1000_d32_causal", L_PADDED, 1, 1000, 1000, 2, 2, 32, 1, M_NONE, 0, 0, 0, 0, 0},
  {"s1000_d8_h4x4", L_PADDED, 1, 1000, 1000, 4, 4, 8, 0, M_NONE, 0, 0, 0, 0, 0},
  {"sq17_sk29_d256", L_PADDED, 2, 17, 29, 4, 4, 256, 0, M_NONE, 0, 0, 0.3f, 0, 0},
  {"causal_sq5_sk17", L_PADDED, 2, 5, 17, 4, 2, 32, 1, M_NONE, 0, 0, 0, 0, 0},
  {"causal_sq17_sk5", L_PADDED, 2, 17, 5, 4, 4, 32, 1, M_NONE, 0, 0, 0, 0, 0},
  {"causal_sq3_sk1000_d128", L_PADDED, 1, 3, 1000, 8, 8, 128, 1, M_NONE, 0, 0, 0, 0, 0},
  /* long enough for the CUDA backend's auto mode to pick cuDNN (D 64/128, S >= 512) */
  {"s600_d64_gqa4x2", L_PADDED, 1, 600, 600, 4, 2, 64, 0, M_NONE, 0, 0, 0, 0, 0},
  {"causal_sq520_sk700_d128", L_PADDED, 1, 520, 700, 2, 2, 128, 1, M_NONE, 0, 0, 0, 0, 0},
  {"decode_sk257_gqa8x2_seqlens", L_PADDED, 4, 1, 257, 8, 2, 64, 1, M_NONE, 1, 0, 0, 0, 0},
  {"mask_sqsk", L_PADDED, 2, 17, 23, 4, 2, 32, 0, M_SQSK, 0, 0, 0, 0, 0},
  {"mask_b1sqsk_causal", L_PADDED, 3, 17, 23, 4, 4, 32, 1, M_B1SQSK, 0, 0, 0, 0, 0},
  {"mask_bhsqsk", L_PADDED, 2, 17, 65, 4, 1, 80, 0, M_BHSQSK, 0, 0, 0, 0, 0},
  {"mask_b11sk_keypad", L_PADDED, 3, 33, 33, 12, 12, 32, 0, M_B11SK, 0, 0, 0, 0, 0},
  {"seqlens_zeros", L_PADDED, 4, 17, 70, 4, 4, 32, 0, M_NONE, 1, 0, 0, 0, 0},
  {"seqlens_zeros_causal_mask", L_PADDED, 4, 17, 70, 4, 2, 32, 1, M_B1SQSK, 1, 0, 0, 0, 0},
  {"varlen_minilm", L_VARLEN, 6, 128, 128, 12, 12, 32, 0, M_NONE, 0, 0, 0, 0, 0},
  {"varlen_causal_gqa", L_VARLEN, 5, 70, 70, 8, 2, 64, 1, M_NONE, 0, 0, 0, 0, 0},
  {"varlen_k_causal", L_VARLEN_K, 5, 17, 90, 8, 2, 32, 1, M_NONE, 0, 0, 0, 0, 0},
  {"varlen_k_seqlens", L_VARLEN_K, 5, 17, 90, 4, 4, 32, 1, M_NONE, 1, 0, 0, 0, 0},
  {"packed_s17_gqa", L_PADDED, 2, 17, 17, 8, 2, 32, 1, M_NONE, 0, 1, 0, 0, 0},
  {"packed_mask", L_PADDED, 2, 33, 33, 4, 4, 64, 0, M_B11SK, 0, 1, 0, 0, 0},
  {"packed_varlen", L_VARLEN, 5, 40, 40, 6, 3, 32, 1, M_NONE, 0, 1, 0, 0, 0},
  {"scale_negative", L_PADDED, 2, 17, 17, 2, 2, 16, 0, M_NONE, 0, 0, -0.7f, 0, 0},
  {"large_logits", L_PADDED, 1, 100, 300, 2, 1, 64, 0, M_NONE, 0, 0, 0, 0, 6.0},
  {"d3_causal_gqa", L_PADDED, 2, 9, 11, 4, 2, 3, 1, M_NONE, 0, 0, 0, 0, 0},
  {"d19_decode_mask", L_PADDED, 3, 1, 70, 4, 4, 19, 0, M_B11SK, 0, 0, 0, 0, 0},
  {"d200_sq70", L_PADDED, 1, 70, 70, 2, 1, 200, 1, M_NONE, 0, 0, 0, 0, 0},
  {"sk0_zeros", L_PADDED, 2, 5, 0, 2, 2, 8, 0, M_NONE, 0, 0, 0, 0, 0},
  {"empty_batch", L_PADDED, 0, 5, 5, 2, 2, 8, 0, M_NONE, 0, 0, 0, 0, 0},
  {"empty_sq", L_PADDED, 2, 0, 5, 2, 2, 8, 1, M_NONE, 0, 0, 0, 0, 0},
  {"varlen_all_empty", L_VARLEN_K, 3, 4, 4, 2, 2, 8, 0, M_NONE, 0, 0, 0, 0, 0},
  /* Decode against long caches (the CUDA split-key kernels: several splits
   * and several tiles per warp; a GQA group of 4 and 8; 16 rows in one
   * block; two row chunks; a mask per row; a cache of 0 and of 1 key). */
  {"decode_sk4099_gqa4_d128_seqlens", L_PADDED, 3, 1, 4099, 8, 2, 128, 1, M_NONE, 1, 0, 0, 0, 0},
  {"decode_sq4_sk2000_gqa4_d128_mask", L_PADDED, 2, 4, 2000, 8, 2, 128, 1, M_BHSQSK, 0, 0, 0, 0, 0},
  {"decode_sq3_sk1500_gqa8_d64", L_PADDED, 2, 3, 1500, 16, 2, 64, 1, M_NONE, 0, 0, 0, 0, 0},
  {"decode_varlen_k_sk3000_d32", L_VARLEN_K, 4, 2, 3000, 8, 2, 32, 1, M_NONE, 1, 0, 0, 0, 0},
  /* 96 (b, kv head) units of one chunk: on a GPU of 96 SMs or more one
   * block each, no split, 13 tiles a warp: the deep pipeline. */
  {"decode_b3_h32_sk777_seqlens", L_PADDED, 3, 1, 777, 32, 32, 64, 1, M_NONE, 1, 0, 0, 0, 0},
};
/* clang-format on */

/* One call's operands, made from a case. */
typedef struct attn_setup {
  kiln_tensor *q, *k, *v, *out; /* packed: q = k = v = qkv */
  kiln_attention_params p;
  double *qv, *kv, *vv; /* what q, k and v hold (the same array when packed) */
  ref_attention_shape rs;
  int64_t out_n;
  double vmax; /* max |v|: outputs are averages of v rows */
} attn_setup;

/* KILN_TEST_QUICK (valgrind): lengths above 64 cut to about an eighth, kept odd-ish. */
static int64_t quick_len(int64_t n) { return kt_quick() && n > 64 ? n / 8 + 1 : n; }

/* Sequence lengths of a varlen case: 0 and 1 first (where B allows), the
 * maximum last, the rest random. */
static void varlen_lengths(kt_env *env, int64_t batch, int64_t max, int64_t *len, int all_empty) {
  for (int64_t b = 0; b < batch; b++) {
    len[b] = (int64_t)(kt_rand(env) % (uint64_t)(max + 1));
    if (all_empty)
      len[b] = 0;
    else if (b == 0 && batch >= 3)
      len[b] = 0;
    else if (b == 1 || (b == 0 && batch < 3))
      len[b] = 1;
    else if (b == batch - 1)
      len[b] = max;
  }
}

static int64_t *offsets(const int64_t *len, int64_t batch, int32_t *cu) {
  int64_t *start = kt_alloc((size_t)(batch + 1) * sizeof *start);
  for (int64_t b = 0; b < batch; b++)
    start[b + 1] = start[b] + len[b];
  for (int64_t b = 0; b <= batch; b++)
    cu[b] = (int32_t)start[b];
  return start;
}

static double mask_value(kt_env *env, const attn_case *c, int64_t b, int64_t batch) {
  if (c->mask == M_B11SK && b == batch - 1)
    return -INFINITY; /* the last sequence sees no key at all: zeros */
  return kt_uniform(env, 0, 1) < 0.2 ? -INFINITY : kt_uniform(env, -2.0, 2.0);
}

static void make_mask(kt_env *env, const attn_case *c, attn_setup *s, int64_t sq, int64_t sk) {
  const int64_t batch = c->b, hq = c->hq;
  int64_t shape[4] = {batch, 1, sq, sk};
  int ndim = 4;
  ref_attention_shape *rs = &s->rs;
  rs->mask_q = sk;
  switch (c->mask) {
  case M_NONE: return;
  case M_SQSK:
    ndim = 2, shape[0] = sq, shape[1] = sk;
    break;
  case M_B1SQSK: rs->mask_b = sq * sk; break;
  case M_BHSQSK:
    shape[1] = hq, rs->mask_b = hq * sq * sk, rs->mask_h = sq * sk;
    break;
  case M_B11SK:
    shape[2] = 1, rs->mask_b = sk, rs->mask_q = 0;
    break;
  }
  kiln_tensor *m = kt_tensor(env, env->dtype, ndim, shape);
  const int64_t n = kiln_tensor_numel(m), per_b = c->mask == M_SQSK ? n : n / (batch ? batch : 1);
  double *mv = kt_alloc((size_t)(n ? n : 1) * sizeof *mv);
  for (int64_t e = 0; e < n; e++)
    mv[e] = mask_value(env, c, c->mask == M_SQSK ? 0 : e / per_b, batch);
  kt_write(env, m, mv);
  s->p.mask = m;
  rs->mask = mv;
}

static attn_setup setup(kt_env *env, const attn_case *c) {
  attn_setup s;
  memset(&s, 0, sizeof s);
  const int64_t batch = c->b, hq = c->hq, hkv = c->hkv, d = c->d;
  const int64_t sq = quick_len(c->sq), sk = quick_len(c->sk);
  int64_t *lq = kt_alloc((size_t)(batch + 1) * sizeof *lq);
  int64_t *lk = kt_alloc((size_t)(batch + 1) * sizeof *lk);
  int64_t *q_start, *k_start;
  const bool varlen = c->layout != L_PADDED;
  if (varlen) {
    const int all_empty = strcmp(c->name, "varlen_all_empty") == 0;
    varlen_lengths(env, batch, sq, lq, all_empty);
    int32_t *cu = kt_alloc((size_t)(batch + 1) * sizeof *cu);
    q_start = offsets(lq, batch, cu);
    const int64_t cu_shape[1] = {batch + 1};
    s.p.cu_seqlens_q = kx_ids(env, 1, cu_shape, cu);
    if (c->layout == L_VARLEN_K) {
      varlen_lengths(env, batch, sk, lk, all_empty);
      if (batch >= 3 && !all_empty)
        lk[2] = 0; /* a sequence with queries and no keys: zeros */
      int32_t *cuk = kt_alloc((size_t)(batch + 1) * sizeof *cuk);
      k_start = offsets(lk, batch, cuk);
      s.p.cu_seqlens_k = kx_ids(env, 1, cu_shape, cuk);
    } else {
      memcpy(lk, lq, (size_t)batch * sizeof *lk);
      k_start = q_start;
    }
    s.p.max_seqlen_q = sq;
    s.p.max_seqlen_k = c->layout == L_VARLEN_K ? sk : sq;
  } else {
    q_start = kt_alloc((size_t)(batch + 1) * sizeof *q_start);
    k_start = kt_alloc((size_t)(batch + 1) * sizeof *k_start);
    for (int64_t b = 0; b < batch; b++) {
      lq[b] = sq, lk[b] = sk;
      q_start[b] = b * sq, k_start[b] = b * sk;
    }
  }
  const int64_t tq = varlen ? q_start[batch] : batch * sq;
  const int64_t tk = varlen ? k_start[batch] : batch * sk;
  if (c->seqlens) {
    int32_t *sl = kt_alloc((size_t)(batch + 1) * sizeof *sl);
    for (int64_t b = 0; b < batch; b++) {
      int64_t n = b == 0 ? 0 : b == 1 ? (lk[b] < 1 ? lk[b] : 1)
                 : b == batch - 1 ? lk[b] : (int64_t)(kt_rand(env) % (uint64_t)(lk[b] + 1));
      sl[b] = (int32_t)n;
      lk[b] = n;
    }
    const int64_t shape[1] = {batch};
    s.p.seqlens_k = kx_ids(env, 1, shape, sl);
  }

  const double range = c->range > 0 ? c->range : 1.0;
  ref_attention_shape *rs = &s.rs;
  *rs = (ref_attention_shape){.batch = batch, .hq = hq, .hkv = hkv, .d = d, .q_start = q_start,
                              .lq = lq, .k_start = k_start, .lk = lk, .causal = c->causal};
  if (c->packed) {
    const int64_t heads = hq + 2 * hkv;
    const int64_t shape[4] = {batch, sq, heads, d}, vshape[3] = {tq, heads, d};
    s.q = s.k = s.v = varlen ? kt_tensor(env, env->dtype, 3, vshape)
                             : kt_tensor(env, env->dtype, 4, shape);
    s.qv = s.kv = s.vv = kt_random(env, s.q, -range, range);
    rs->q_row = rs->k_row = rs->v_row = heads * d;
    rs->k_off = hq * d, rs->v_off = (hq + hkv) * d;
  } else {
    const int64_t qs[4] = {batch, sq, hq, d}, ks[4] = {batch, sk, hkv, d};
    const int64_t qv[3] = {tq, hq, d}, kv[3] = {tk, hkv, d};
    s.q = varlen ? kt_tensor(env, env->dtype, 3, qv) : kt_tensor(env, env->dtype, 4, qs);
    s.k = varlen ? kt_tensor(env, env->dtype, 3, kv) : kt_tensor(env, env->dtype, 4, ks);
    s.v = varlen ? kt_tensor(env, env->dtype, 3, kv) : kt_tensor(env, env->dtype, 4, ks);
    s.qv = kt_random(env, s.q, -range, range);
    s.kv = kt_random(env, s.k, -1.0, 1.0);
    s.vv = kt_random(env, s.v, -1.0, 1.0);
    rs->q_row = hq * d, rs->k_row = rs->v_row = hkv * d;
  }
  const int64_t os[4] = {batch, sq, hq, d}, ov[3] = {tq, hq, d};
  s.out = varlen ? kt_tensor(env, env->dtype, 3, ov) : kt_tensor(env, env->dtype, 4, os);
  s.out_n = kiln_tensor_numel(s.out);
  s.p.scale = c->scale;
  s.p.causal = c->causal;
  rs->scale = c->scale != 0.0f ? c->scale : 1.0 / sqrt((double)d);
  if (!varlen)
    make_mask(env, c, &s, sq, sk);
  const int64_t vn = kiln_tensor_numel(s.v);
  for (int64_t e = 0; e < vn; e++)
    s.vmax = fabs(s.vv[e]) > s.vmax ? fabs(s.vv[e]) : s.vmax;
  return s;
}

/* What an f32 computation loses (2^-24 per rounding, random-walk sums over
 * D products and lk terms, and the logits' size in the exponent), plus the
 * final rounding; the composite also rounds S and P to the dtype, which
 * costs the logit size in units of the dtype. Relative to max |v|. */
static double tolerance(kiln_dtype dtype, const attn_setup *s, double big, int composite) {
  const double u = kx_unit(dtype), u32 = 0x1p-24;
  int64_t keys = 1;
  for (int64_t b = 0; b < s->rs.batch; b++)
    keys = s->rs.lk[b] > keys ? s->rs.lk[b] : keys;
  double f32 = (32.0 + 8.0 * sqrt((double)s->rs.d) + 8.0 * sqrt((double)keys) + 8.0 * big) * u32;
  return (composite ? 4.0 + 4.0 * big : 2.0) * u + f32;
}

/* Every element within tol * max|v| of the reference; unwritten (NaN
 * poisoned) elements fail. */
static void check(kt_env *env, const char *what, const double *out, const double *ref,
                  int64_t n, double scale_of, double tol) {
  double worst = 0.0;
  int64_t at = -1;
  for (int64_t e = 0; e < n; e++) {
    if (!isfinite(out[e])) {
      KT_FAIL(env, "%s[%lld] is %g, reference %g", what, (long long)e, out[e], ref[e]);
      return;
    }
    double err = fabs(out[e] - ref[e]) / (scale_of > 0 ? scale_of : 1.0);
    if (err > worst)
      worst = err, at = e;
  }
  if (kt_verbose())
    print_message("  %s: worst error %.3g of tolerance %.3g\n", what, worst, tol);
  if (worst > tol)
    KT_FAIL(env, "%s[%lld] is %.9g but the reference is %.9g: error %.3g (relative to max|v|) "
            "above the tolerance %.3g", what, (long long)at, out[at], ref[at], worst, tol);
}

static kiln_status call(kt_env *env, const attn_case *c, const attn_setup *s, kiln_tensor *out) {
  if (c->packed)
    return kiln_attention_packed(env->ctx, s->q, out, c->p_null ? NULL : &s->p);
  return kiln_attention(env->ctx, s->q, s->k, s->v, out, c->p_null ? NULL : &s->p);
}

/* Runs c fused (composite 0) or composite (1); returns the output read back. */
static double *run(kt_env *env, const attn_case *c, const attn_setup *s, int composite,
                   double *ref, double big) {
  kx_use_fused(env, 1);
  kt_poison(env, s->out);
  if (composite)
    kx_use_fused(env, 0);
  kiln_status st = call(env, c, s, s->out);
  kx_use_fused(env, 1);
  KT_OK(env, st);
  double *got = kt_read(env, s->out);
  check(env, composite ? "out (composite)" : "out", got, ref, s->out_n, s->vmax,
        tolerance(env->dtype, s, big, composite));
  kt_expect_same(env, c->packed ? "input qkv" : "input q", s->q, s->qv);
  if (!c->packed) {
    kt_expect_same(env, "input k", s->k, s->kv);
    kt_expect_same(env, "input v", s->v, s->vv);
  }
  return got;
}

static void test_case(kt_env *env) {
  const attn_case *c = env->param;
  attn_setup s = setup(env, c);
  double *ref = kt_alloc((size_t)(s.out_n ? s.out_n : 1) * sizeof *ref);
  const double big = ref_attention(&s.rs, s.qv, s.kv, s.vv, ref);
  if (s.out_n == 0) { /* empty: OK and nothing to look at */
    KT_OK(env, call(env, c, &s, s.out));
    return;
  }
  double *fused = run(env, c, &s, 0, ref, big);
  /* the composite: the oracle, held to its own looser bound, and the two
   * paths against each other */
  double *comp = run(env, c, &s, 1, ref, big);
  check(env, "fused against composite", fused, comp, s.out_n, s.vmax,
        tolerance(env->dtype, &s, big, 1) + tolerance(env->dtype, &s, big, 0));
}

/* The packed op against the unpacked one on the same values. */
static void test_packed_vs_unpacked(kt_env *env) {
  const attn_case *c = env->param;
  attn_setup s = setup(env, c);
  const int64_t hq = c->hq, hkv = c->hkv, d = c->d, heads = hq + 2 * hkv;
  const int64_t rows = kiln_tensor_numel(s.q) / (heads * d);
  const int nd = kiln_tensor_ndim(s.q);
  int64_t qs[4], ks[4];
  for (int i = 0; i < nd; i++)
    qs[i] = ks[i] = kiln_tensor_dim(s.q, i);
  qs[nd - 2] = hq, ks[nd - 2] = hkv;
  kiln_tensor *q = kt_tensor(env, env->dtype, nd, qs), *k = kt_tensor(env, env->dtype, nd, ks),
              *v = kt_tensor(env, env->dtype, nd, ks), *out = kt_tensor(env, env->dtype, nd, qs);
  double *qv = kt_alloc((size_t)(rows * hq * d + 1) * sizeof *qv);
  double *kv = kt_alloc((size_t)(rows * hkv * d + 1) * sizeof *kv);
  double *vv = kt_alloc((size_t)(rows * hkv * d + 1) * sizeof *vv);
  for (int64_t t = 0; t < rows; t++) {
    memcpy(qv + t * hq * d, s.qv + t * heads * d, (size_t)(hq * d) * sizeof *qv);
    memcpy(kv + t * hkv * d, s.qv + t * heads * d + hq * d, (size_t)(hkv * d) * sizeof *kv);
    memcpy(vv + t * hkv * d, s.qv + t * heads * d + (hq + hkv) * d, (size_t)(hkv * d) * sizeof *vv);
  }
  kt_write(env, q, qv);
  kt_write(env, k, kv);
  kt_write(env, v, vv);
  kx_use_fused(env, 1);
  kt_poison(env, s.out);
  kt_poison(env, out);
  KT_OK(env, kiln_attention_packed(env->ctx, s.q, s.out, &s.p));
  KT_OK(env, kiln_attention(env->ctx, q, k, v, out, &s.p));
  double *ref = kt_alloc((size_t)s.out_n * sizeof *ref);
  const double big = ref_attention(&s.rs, s.qv, s.kv, s.vv, ref);
  const double tol = tolerance(env->dtype, &s, big, 0);
  double *packed = kt_read(env, s.out);
  check(env, "packed", packed, ref, s.out_n, s.vmax, tol);
  check(env, "unpacked against packed", kt_read(env, out), packed, s.out_n, s.vmax, 2 * tol);
}

/* Captured graphs: varlen; padded with the shape first seen inside the
 * capture (a route with per-shape plans, cuDNN's, must not build one
 * there); padded with the shape run once before the capture (the cached
 * plan's work captured). */
typedef struct graph_case {
  attn_case c;
  int warm; /* one call, checked, before the capture */
} graph_case;
static const graph_case graph_cases[] = {
    {{"graph", L_VARLEN, 4, 33, 33, 4, 2, 32, 1, M_NONE, 0, 0, 0, 0, 0}, 0},
    {{"graph_padded", L_PADDED, 2, 65, 65, 4, 2, 64, 1, M_NONE, 0, 0, 0, 0, 0}, 0},
    {{"graph_padded_warm", L_PADDED, 2, 67, 67, 4, 2, 64, 0, M_NONE, 0, 0, 0, 0, 0}, 1},
};

/* A captured graph replays the fused op on whatever the inputs hold then. */
static void test_graph(kt_env *env) {
  const graph_case *gc = env->param;
  const attn_case c = gc->c;
  attn_setup s = setup(env, &c);
  kx_use_fused(env, 1);
  if (gc->warm) {
    kt_poison(env, s.out);
    KT_OK(env, kiln_attention(env->ctx, s.q, s.k, s.v, s.out, &s.p));
    double *ref = kt_alloc((size_t)s.out_n * sizeof *ref);
    const double big = ref_attention(&s.rs, s.qv, s.kv, s.vv, ref);
    check(env, "out (before the capture)", kt_read(env, s.out), ref, s.out_n, s.vmax,
          tolerance(env->dtype, &s, big, 0));
  }
  KT_OK(env, kiln_graph_begin(env->ctx));
  kiln_status st = kiln_attention(env->ctx, s.q, s.k, s.v, s.out, &s.p);
  kiln_graph *g = NULL;
  KT_OK(env, kiln_graph_end(env->ctx, &g));
  kt_track_graph(g);
  KT_OK(env, st);
  for (int round = 0; round < 2; round++) {
    s.qv = kt_random(env, s.q, -1.0, 1.0);
    s.vv = kt_random(env, s.v, -1.0, 1.0);
    kt_poison(env, s.out);
    KT_OK(env, kiln_graph_run(env->ctx, g));
    double *ref = kt_alloc((size_t)s.out_n * sizeof *ref);
    const double big = ref_attention(&s.rs, s.qv, s.kv, s.vv, ref);
    check(env, "out (graph replay)", kt_read(env, s.out), ref, s.out_n, s.vmax,
          tolerance(env->dtype, &s, big, 0));
  }
}

/* What the CPU promises about its bits: a tile of output rows is computed
 * by one thread in a fixed order, so a call gives the same bits run to run
 * and whatever the thread count. The instruction-set builds (baseline; AVX2
 * and AVX-512, both with FMA, picked at run time) round differently, so
 * they promise accuracy, not bits: the baseline (a context made with
 * KILN_CPU_ROWS=base) agrees with float64 and with this machine's build
 * within the tolerance. */
static void test_cpu_bits_and_builds(kt_env *env) {
  if (env->device != KILN_DEVICE_CPU)
    return; /* a CPU property */
  static const attn_case cases_bits[] = {
      {"bits_mha", L_PADDED, 2, 77, 131, 8, 8, 64, 1, M_NONE, 0, 0, 0, 0, 0},
      {"bits_gqa_d128", L_PADDED, 1, 70, 70, 8, 2, 128, 0, M_B11SK, 0, 0, 0, 0, 0},
      {"bits_decode_d19", L_PADDED, 2, 1, 90, 4, 1, 19, 0, M_NONE, 1, 0, 0, 0, 0},
  };
  /* 1 thread last again: run to run as well as across counts */
  static const int thread_counts[] = {1, 2, 3, 1};
  for (size_t i = 0; i < sizeof cases_bits / sizeof cases_bits[0]; i++) {
    const attn_case *c = &cases_bits[i];
    attn_setup s = setup(env, c);
    double *ref = kt_alloc((size_t)s.out_n * sizeof *ref);
    const double big = ref_attention(&s.rs, s.qv, s.kv, s.vv, ref);
    const double tol = tolerance(env->dtype, &s, big, 0);
    const size_t nbytes = kiln_tensor_nbytes(s.out);
    unsigned char *want = kt_alloc(nbytes), *got = kt_alloc(nbytes);
    for (size_t ti = 0; ti < sizeof thread_counts / sizeof thread_counts[0]; ti++) {
      KT_OK(env, kiln_context_set_threads(env->ctx, thread_counts[ti]));
      kt_poison(env, s.out);
      KT_OK(env, kiln_attention(env->ctx, s.q, s.k, s.v, s.out, &s.p));
      KT_OK(env, kiln_tensor_read(s.out, ti == 0 ? want : got, nbytes));
      if (ti > 0 && memcmp(want, got, nbytes) != 0)
        KT_FAIL(env, "%s: the output with %d threads (call %zu) differs in its bits from the "
                "first call's, with 1 thread", c->name, thread_counts[ti], ti + 1);
    }
    KT_OK(env, kiln_context_set_threads(env->ctx, 0));
    double *wide = kt_read(env, s.out);
    check(env, "out (this machine's build)", wide, ref, s.out_n, s.vmax, tol);
    const char *was = getenv("KILN_CPU_ROWS");
    char old[64] = "";
    if (was)
      snprintf(old, sizeof old, "%s", was);
    setenv("KILN_CPU_ROWS", "base", 1);
    kiln_context *base = kt_context(env);
    if (was)
      setenv("KILN_CPU_ROWS", old, 1);
    else
      unsetenv("KILN_CPU_ROWS");
    /* the same values in the baseline context's tensors */
    kiln_tensor *t[4];
    const kiln_tensor *src[4] = {s.q, s.k, s.v, s.out};
    for (int r = 0; r < 4; r++) {
      int64_t shape[KILN_MAX_DIMS];
      for (int a = 0; a < kiln_tensor_ndim(src[r]); a++)
        shape[a] = kiln_tensor_dim(src[r], a);
      t[r] = kt_tensor_on(env, base, env->dtype, kiln_tensor_ndim(src[r]), shape);
      if (r < 3)
        KT_OK(env, kiln_tensor_write(t[r], kiln_tensor_data(src[r]), kiln_tensor_nbytes(src[r])));
    }
    kiln_attention_params p = s.p;
    kiln_tensor *m = NULL, *sl = NULL;
    if (p.mask) {
      int64_t shape[KILN_MAX_DIMS];
      for (int a = 0; a < kiln_tensor_ndim(p.mask); a++)
        shape[a] = kiln_tensor_dim(p.mask, a);
      m = kt_tensor_on(env, base, env->dtype, kiln_tensor_ndim(p.mask), shape);
      KT_OK(env, kiln_tensor_write(m, kiln_tensor_data(p.mask), kiln_tensor_nbytes(p.mask)));
      p.mask = m;
    }
    if (p.seqlens_k) {
      const int64_t shape[1] = {kiln_tensor_dim(p.seqlens_k, 0)};
      sl = kt_tensor_on(env, base, KILN_I32, 1, shape);
      KT_OK(env, kiln_tensor_write(sl, kiln_tensor_data(p.seqlens_k),
                                   kiln_tensor_nbytes(p.seqlens_k)));
      p.seqlens_k = sl;
    }
    kt_poison(env, t[3]);
    KT_OK(env, kiln_attention(base, t[0], t[1], t[2], t[3], &p));
    double *baseline = kt_read(env, t[3]);
    check(env, "out (the baseline build)", baseline, ref, s.out_n, s.vmax, tol);
    /* each within tol of float64, so within 2 tol of each other */
    check(env, "the baseline build against this machine's", baseline, wide, s.out_n, s.vmax,
          2 * tol);
  }
}

int main(void) {
  const size_t n = sizeof cases / sizeof cases[0];
  for (size_t di = 0; di < sizeof dtypes / sizeof dtypes[0]; di++) {
    const char *dt = kiln_dtype_name(dtypes[di]);
    for (size_t i = 0; i < n; i++)
      kt_add(test_case, &cases[i], dtypes[di], "attention_%s_%s", dt, cases[i].name);
    for (size_t i = 0; i < n; i++)
      if (cases[i].packed)
        kt_add(test_packed_vs_unpacked, &cases[i], dtypes[di], "attention_%s_%s_vs_unpacked",
               dt, cases[i].name);
    for (size_t i = 0; i < sizeof graph_cases / sizeof graph_cases[0]; i++)
      kt_add(test_graph, &graph_cases[i], dtypes[di], "attention_%s_%s", dt, graph_cases[i].c.name);
    kt_add(test_cpu_bits_and_builds, NULL, dtypes[di], "attention_%s_cpu_bits_and_builds", dt);
  }
  attention_register_errors();
  return kt_run("attention");
}
