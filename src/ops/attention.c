/* kiln_attention and kiln_attention_packed: every argument checked here,
 * once for all backends, the op record filled completely (layout as row
 * strides and head offsets, see kiln_attention_op), then the backend's
 * fused kernel or the composite of attention_composite.c. */
#include "attention.h"
#include "check.h"

#include <math.h>

/* Largest head dim any kernel takes (kiln.h's contract). */
#define MAX_HEAD_DIM 256

/* The tensors of one call, with the names its messages use. */
typedef struct attn_args {
  const char *fn;
  bool packed;
  const kiln_tensor *q, *k, *v; /* packed: all three are qkv */
  const kiln_tensor *out;
  const kiln_attention_params *p;
} attn_args;

static bool same_shape(const kiln_tensor *a, const kiln_tensor *b) {
  bool same = a->ndim == b->ndim;
  for (int i = 0; same && i < a->ndim; i++)
    same = a->shape[i] == b->shape[i];
  return same;
}

static kiln_status shape_fail(const attn_args *a, const char *name, const kiln_tensor *t,
                              const char *want) {
  char s[KILN_SHAPE_STR_LEN], so[KILN_SHAPE_STR_LEN];
  return kiln_fail(KILN_ERR_SHAPE, "%s: %s is %s but out is %s; %s", a->fn, name,
                   kiln_shape_str(t, s), kiln_shape_str(a->out, so), want);
}

static kiln_status check_i32(const attn_args *a, const char *name, const kiln_tensor *t,
                             int64_t len, const char *what) {
  char s[KILN_SHAPE_STR_LEN];
  if (t->dtype != KILN_I32)
    return kiln_fail(KILN_ERR_DTYPE, "%s: %s is %s %s; it must be i32", a->fn, name,
                     kiln_dtype_name(t->dtype), kiln_shape_str(t, s));
  if (t->ndim != 1 || t->shape[0] != len)
    return kiln_fail(KILN_ERR_SHAPE, "%s: %s is %s; it must be [%lld] (%s)", a->fn, name,
                     kiln_shape_str(t, s), (long long)len, what);
  return KILN_OK;
}

/* Presence, context and dtype of every tensor, and the scalar options. */
static kiln_status check_tensors(kiln_context *ctx, const attn_args *a) {
  const kiln_attention_params *p = a->p;
  KILN_TRY(kiln_check_ctx(a->fn, ctx));
  if (a->packed) {
    KILN_TRY(kiln_check_tensor(a->fn, "qkv", a->q, ctx));
  } else {
    KILN_TRY(kiln_check_tensor(a->fn, "q", a->q, ctx));
    KILN_TRY(kiln_check_tensor(a->fn, "k", a->k, ctx));
    KILN_TRY(kiln_check_tensor(a->fn, "v", a->v, ctx));
  }
  KILN_TRY(kiln_check_output(a->fn, "out", a->out, ctx));
  if (p->mask)
    KILN_TRY(kiln_check_tensor(a->fn, "mask", p->mask, ctx));
  if (p->seqlens_k)
    KILN_TRY(kiln_check_tensor(a->fn, "seqlens_k", p->seqlens_k, ctx));
  if (p->cu_seqlens_q)
    KILN_TRY(kiln_check_tensor(a->fn, "cu_seqlens_q", p->cu_seqlens_q, ctx));
  if (p->cu_seqlens_k)
    KILN_TRY(kiln_check_tensor(a->fn, "cu_seqlens_k", p->cu_seqlens_k, ctx));
  KILN_TRY(kiln_check_flag(a->fn, "causal", p->causal));
  KILN_TRY(kiln_check_float(a->fn, "scale", p->scale, false));
  const char *qn = a->packed ? "qkv" : "q";
  KILN_TRY(kiln_check_float_dtype(a->fn, qn, a->q));
  if (!a->packed) {
    KILN_TRY(kiln_check_dtype(a->fn, "k", a->k, "q", a->q));
    KILN_TRY(kiln_check_dtype(a->fn, "v", a->v, "q", a->q));
  }
  KILN_TRY(kiln_check_dtype(a->fn, "out", a->out, qn, a->q));
  if (p->mask)
    KILN_TRY(kiln_check_dtype(a->fn, "mask", p->mask, qn, a->q));
  if (p->cu_seqlens_k && !p->cu_seqlens_q)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: cu_seqlens_k is given but cu_seqlens_q "
                     "is NULL; the varlen layout needs cu_seqlens_q (cu_seqlens_k alone means "
                     "nothing)", a->fn);
  return KILN_OK;
}

/* out: [B, Sq, Hq, D] (padded) or [T, Hq, D] (varlen); Hq and D from it. */
static kiln_status check_out(const attn_args *a, bool varlen, kiln_attention_op *op) {
  const kiln_tensor *out = a->out;
  char so[KILN_SHAPE_STR_LEN];
  const int want = varlen ? 3 : 4;
  if (out->ndim != want)
    return kiln_fail(KILN_ERR_SHAPE, "%s: out is %s; the %s layout needs %s", a->fn,
                     kiln_shape_str(out, so), varlen ? "varlen" : "padded",
                     varlen ? "[T, Hq, D] (3 dims)" : "[B, Sq, Hq, D] (4 dims)");
  op->d = out->shape[want - 1];
  op->hq = out->shape[want - 2];
  if (op->d < 1 || op->d > MAX_HEAD_DIM)
    return kiln_fail(KILN_ERR_SHAPE, "%s: out is %s; the head dim D = %lld must be in 1..%d",
                     a->fn, kiln_shape_str(out, so), (long long)op->d, MAX_HEAD_DIM);
  int64_t row = 0; /* Hq * D, the row stride: an empty out's Hq may be huge */
  KILN_TRY(kiln_check_dims_product(a->fn, "out", out, want - 2, 2, &row));
  op->total_q = out->shape[0];
  if (!varlen) /* [B, Sq] of an empty out may multiply past INT64_MAX */
    KILN_TRY(kiln_check_dims_product(a->fn, "out", out, 0, 2, &op->total_q));
  return KILN_OK;
}

/* Hq a multiple of Hkv >= 1; names the tensors the heads came from. */
static kiln_status check_heads(const attn_args *a, const kiln_attention_op *op,
                               const char *name, const kiln_tensor *t) {
  if (op->hkv >= 1 && op->hq % op->hkv == 0)
    return KILN_OK;
  char s[KILN_SHAPE_STR_LEN], so[KILN_SHAPE_STR_LEN];
  return kiln_fail(KILN_ERR_SHAPE, "%s: %s is %s and out is %s: %lld query heads and %lld "
                   "key/value heads; Hkv must be >= 1 and divide Hq", a->fn, name,
                   kiln_shape_str(t, s), kiln_shape_str(a->out, so), (long long)op->hq,
                   (long long)op->hkv);
}

/* q, k, v against out: fills hkv, sk, total_k, the offsets and row strides. */
static kiln_status check_qkv(const attn_args *a, bool varlen, kiln_attention_op *op) {
  const kiln_tensor *q = a->q, *k = a->k, *v = a->v, *out = a->out;
  const int lead = varlen ? 1 : 2; /* token dims before the head dim */
  const int64_t d = op->d;
  if (a->packed) {
    bool fits = q->ndim == out->ndim && q->shape[lead + 1] == d;
    for (int i = 0; fits && i < lead; i++)
      fits = q->shape[i] == out->shape[i];
    if (!fits)
      return shape_fail(a, "qkv", q, varlen ? "qkv must be [T, Hq + 2*Hkv, D] with out's T and D"
                                            : "qkv must be [B, S, Hq + 2*Hkv, D] with out's "
                                              "B, S and D");
    const int64_t extra = q->shape[lead] - op->hq;
    op->hkv = extra > 0 && extra % 2 == 0 ? extra / 2 : 0;
    KILN_TRY(check_heads(a, op, "qkv", q));
    int64_t row = 0; /* an empty qkv's heads times D may overflow */
    KILN_TRY(kiln_check_dims_product(a->fn, "qkv", q, lead, 2, &row));
    op->q_row = op->k_row = op->v_row = row;
    op->q_off = 0;
    op->k_off = op->hq * d;
    op->v_off = (op->hq + op->hkv) * d;
    op->sk = varlen ? 0 : q->shape[1];
    op->total_k = op->total_q;
    return KILN_OK;
  }
  if (!same_shape(q, out))
    return shape_fail(a, "q", q, "q and out must be the same shape");
  char sk[KILN_SHAPE_STR_LEN], sq[KILN_SHAPE_STR_LEN];
  bool fits = k->ndim == q->ndim && k->shape[lead + 1] == d && (varlen || k->shape[0] == q->shape[0]);
  if (!fits)
    return kiln_fail(KILN_ERR_SHAPE, "%s: q is %s but k is %s; k must be %s", a->fn,
                     kiln_shape_str(q, sq), kiln_shape_str(k, sk),
                     varlen ? "[Tk, Hkv, D] with q's D" : "[B, Sk, Hkv, D] with q's B and D");
  op->hkv = k->shape[lead];
  KILN_TRY(check_heads(a, op, "k", k));
  if (!same_shape(v, k)) {
    char s[KILN_SHAPE_STR_LEN];
    return kiln_fail(KILN_ERR_SHAPE, "%s: k is %s but v is %s; they must be the same shape",
                     a->fn, kiln_shape_str(k, sk), kiln_shape_str(v, s));
  }
  int64_t k_row = 0;
  KILN_TRY(kiln_check_dims_product(a->fn, "k", k, lead, 2, &k_row));
  op->q_off = op->k_off = op->v_off = 0;
  op->q_row = op->hq * d;
  op->k_row = op->v_row = op->hkv * d;
  op->sk = varlen ? 0 : k->shape[1];
  op->total_k = k->shape[0];
  if (!varlen)
    KILN_TRY(kiln_check_dims_product(a->fn, "k", k, 0, 2, &op->total_k));
  return KILN_OK;
}

/* [Sq, Sk], [B, 1, Sq, Sk], [B, Hq, Sq, Sk] or [B, 1, 1, Sk]: the strides
 * of element (b, h, i, j), 0 on broadcast dims. */
static kiln_status check_mask(const attn_args *a, kiln_attention_op *op) {
  const kiln_tensor *m = a->p->mask;
  const int64_t b = op->batch, h = op->hq, sq = op->sq, sk = op->sk;
  const int64_t *s = m->shape;
  /* The strides below multiply mask dims, which an empty mask may hold
   * past INT64_MAX; those of a mask that is not empty fit. */
  int64_t all = 0;
  KILN_TRY(kiln_check_dims_product(a->fn, "mask", m, 1, m->ndim - 1, &all));
  op->mask_q = sk;
  op->mask_b = op->mask_h = 0;
  if (m->ndim == 2 && s[0] == sq && s[1] == sk)
    return KILN_OK;
  if (m->ndim == 4 && s[0] == b && s[3] == sk) {
    if (s[1] == 1 && s[2] == sq) {
      op->mask_b = sq * sk;
      return KILN_OK;
    }
    if (s[1] == h && s[2] == sq) {
      op->mask_b = h * sq * sk;
      op->mask_h = sq * sk;
      return KILN_OK;
    }
    if (s[1] == 1 && s[2] == 1) {
      op->mask_b = sk;
      op->mask_q = 0;
      return KILN_OK;
    }
  }
  char sm[KILN_SHAPE_STR_LEN], so[KILN_SHAPE_STR_LEN];
  return kiln_fail(KILN_ERR_SHAPE, "%s: mask is %s but out is %s (B = %lld, Hq = %lld, Sq = "
                   "%lld) and Sk = %lld; mask must be [%lld, %lld], [%lld, 1, %lld, %lld], "
                   "[%lld, %lld, %lld, %lld] or [%lld, 1, 1, %lld]", a->fn,
                   kiln_shape_str(m, sm), kiln_shape_str(a->out, so), (long long)b,
                   (long long)h, (long long)sq, (long long)sk, (long long)sq, (long long)sk,
                   (long long)b, (long long)sq, (long long)sk, (long long)b, (long long)h,
                   (long long)sq, (long long)sk, (long long)b, (long long)sk);
}

/* The layout's lengths: B, Sq, Sk (max_seqlen in varlen), the length
 * tensors' shapes, the mask. */
static kiln_status check_layout(const attn_args *a, bool varlen, kiln_attention_op *op) {
  const kiln_attention_params *p = a->p;
  if (varlen) {
    const kiln_tensor *cu = p->cu_seqlens_q;
    char s[KILN_SHAPE_STR_LEN];
    if (cu->ndim != 1 || cu->shape[0] < 1)
      return kiln_fail(KILN_ERR_SHAPE, "%s: cu_seqlens_q is %s; it must be [B + 1] with B >= 0",
                       a->fn, kiln_shape_str(cu, s));
    op->batch = cu->shape[0] - 1;
    KILN_TRY(check_i32(a, "cu_seqlens_q", cu, op->batch + 1, "B + 1 offsets"));
    if (p->cu_seqlens_k)
      KILN_TRY(check_i32(a, "cu_seqlens_k", p->cu_seqlens_k, op->batch + 1,
                         "as long as cu_seqlens_q"));
    else if (op->total_k != op->total_q)
      return kiln_fail(KILN_ERR_SHAPE, "%s: q has %lld token rows but k has %lld; without "
                       "cu_seqlens_k the keys use cu_seqlens_q, so the counts must match",
                       a->fn, (long long)op->total_q, (long long)op->total_k);
    if (p->max_seqlen_q < 1 || p->max_seqlen_k < 1)
      return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: max_seqlen_q is %lld and max_seqlen_k "
                       "is %lld; the varlen layout needs both > 0 (upper bounds on the "
                       "sequences' lengths)", a->fn, (long long)p->max_seqlen_q,
                       (long long)p->max_seqlen_k);
    if (p->mask) {
      char sm[KILN_SHAPE_STR_LEN];
      return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: mask is %s but the layout is varlen "
                       "(cu_seqlens_q given); the additive mask is taken in the padded layout "
                       "only", a->fn, kiln_shape_str(p->mask, sm));
    }
    op->sq = p->max_seqlen_q;
    op->sk = p->max_seqlen_k;
  } else {
    if (p->max_seqlen_q != 0 || p->max_seqlen_k != 0)
      return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: max_seqlen_q is %lld and max_seqlen_k "
                       "is %lld without cu_seqlens_q; they belong to the varlen layout and "
                       "must be 0 in the padded one", a->fn, (long long)p->max_seqlen_q,
                       (long long)p->max_seqlen_k);
    op->batch = a->out->shape[0];
    op->sq = a->out->shape[1];
    if (p->mask)
      KILN_TRY(check_mask(a, op));
  }
  if (p->seqlens_k)
    KILN_TRY(check_i32(a, "seqlens_k", p->seqlens_k, op->batch, "one key count per sequence"));
  return KILN_OK;
}

/* out is written while every other tensor is read. */
static kiln_status check_aliasing(const attn_args *a) {
  const kiln_attention_params *p = a->p;
  const kiln_tensor *inputs[] = {a->q, a->k, a->v, p->mask, p->seqlens_k, p->cu_seqlens_q,
                                 p->cu_seqlens_k};
  const char *names[] = {a->packed ? "qkv" : "q", "k", "v", "mask", "seqlens_k",
                         "cu_seqlens_q", "cu_seqlens_k"};
  for (int i = 0; i < 7; i++)
    KILN_TRY(kiln_check_no_overlap(a->fn, "out", a->out, names[i], inputs[i]));
  return KILN_OK;
}

static kiln_status attention(kiln_context *ctx, attn_args *a) {
  const kiln_attention_params plain = {0};
  if (!a->p)
    a->p = &plain;
  const kiln_attention_params *p = a->p;
  KILN_TRY(check_tensors(ctx, a));
  const bool varlen = p->cu_seqlens_q != NULL;
  kiln_op op = {.kind = KILN_OP_ATTENTION};
  kiln_attention_op *at = &op.u.attention;
  KILN_TRY(check_out(a, varlen, at));
  KILN_TRY(check_qkv(a, varlen, at));
  KILN_TRY(check_layout(a, varlen, at));
  KILN_TRY(check_aliasing(a));
  if (a->out->numel == 0)
    return KILN_OK;
  at->q = a->q;
  at->k = a->k;
  at->v = a->v;
  at->out = (kiln_tensor *)a->out;
  at->dtype = a->q->dtype;
  at->scale = p->scale != 0.0f ? p->scale : (float)(1.0 / sqrt((double)at->d));
  at->causal = p->causal;
  at->mask = p->mask;
  at->seqlens_k = p->seqlens_k;
  at->cu_seqlens_q = p->cu_seqlens_q;
  at->cu_seqlens_k = varlen ? (p->cu_seqlens_k ? p->cu_seqlens_k : p->cu_seqlens_q) : NULL;
  if (!ctx->prefer_composite && kiln_backend_runs(ctx, &op))
    return kiln_dispatch(ctx, &op);
  return kiln_attention_composite(ctx, at, a->fn);
}

kiln_status kiln_attention(kiln_context *ctx, const kiln_tensor *q, const kiln_tensor *k,
                           const kiln_tensor *v, kiln_tensor *out,
                           const kiln_attention_params *params) {
  attn_args a = {"kiln_attention", false, q, k, v, out, params};
  return attention(ctx, &a);
}

kiln_status kiln_attention_packed(kiln_context *ctx, const kiln_tensor *qkv, kiln_tensor *out,
                                  const kiln_attention_params *params) {
  attn_args a = {"kiln_attention_packed", true, qkv, qkv, qkv, out, params};
  return attention(ctx, &a);
}
