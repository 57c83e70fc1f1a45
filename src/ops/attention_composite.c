/* Attention as basic ops (the fused switch off, or a backend without the
 * fused op): per sequence b, the rows of its q, k and v heads are gathered
 * into dense blocks of the context's scratch with kiln's embedding op (a row
 * gather on every backend; q, k and v are seen as tables of D-element
 * rows), then per query head S = scale Q K^T (matmul), softmax in place
 * (causal and mask; the mask's [Sq, Sk] block gathered element by element),
 * O = P V (matmul), and finally O scattered into out's rows by one more
 * gather. Keys a sequence does not attend to (seqlens_k) are simply not
 * gathered, so S is [lq, lk] and softmax's causal alignment is the op's.
 *
 * The gathers' row indices are built on the host and uploaded, and the
 * length tensors are read back first: that is why this path cannot be
 * captured in a graph. It is the test oracle and the fallback, never fast:
 * its 16-bit S and P are rounded to the dtype, as in PyTorch's math path. */
#include "attention.h"
#include "attention_lengths.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

/* Scratch regions start on this boundary (any vector load is aligned). */
#define REGION_ALIGN 256

typedef struct composite {
  kiln_context *ctx;
  const kiln_attention_op *op;
  const char *fn;
  size_t esize;
  char *ids, *qd, *kd, *vd, *s, *m, *od; /* regions of the scratch (device memory) */
  int32_t *host_ids;                      /* the next indices to upload */
} composite;

static kiln_tensor view(const composite *c, kiln_dtype dtype, void *data, int64_t rows,
                        int64_t cols) {
  kiln_tensor t = {.ctx = c->ctx, .dtype = dtype, .ndim = 2, .shape = {rows, cols},
                   .numel = rows * cols, .data = data};
  t.nbytes = (size_t)t.numel * kiln_dtype_size(dtype);
  return t;
}

/* dst [n, d] = rows host_ids[0..n) of `from` seen as a table of d-element
 * rows. */
static kiln_status gather(composite *c, const kiln_tensor *from, int64_t d, int64_t n,
                          void *dst) {
  const kiln_backend *be = c->ctx->backend;
  KILN_TRY(be->upload(c->ctx->state, c->ids, c->host_ids, (size_t)n * sizeof(int32_t)));
  kiln_tensor table = view(c, c->op->dtype, from->data, from->numel / d, d);
  kiln_tensor ids = view(c, KILN_I32, c->ids, n, 1);
  ids.ndim = 1;
  kiln_tensor out = view(c, c->op->dtype, dst, n, d);
  kiln_op op = {.kind = KILN_OP_EMBEDDING};
  op.u.embedding = (kiln_embedding_op){.table = &table, .ids = &ids, .out = &out,
                                       .dtype = c->op->dtype, .n_ids = n,
                                       .vocab = table.shape[0], .d = d};
  return kiln_dispatch(c->ctx, &op);
}

/* out [m, n] = alpha a [m, k] @ b (b [k, n], or [n, k] when tb). */
static kiln_status matmul(composite *c, void *a, void *b, void *out, int64_t m, int64_t n,
                          int64_t k, bool tb, float alpha) {
  kiln_tensor ta = view(c, c->op->dtype, a, m, k);
  kiln_tensor tbv = tb ? view(c, c->op->dtype, b, n, k) : view(c, c->op->dtype, b, k, n);
  kiln_tensor to = view(c, c->op->dtype, out, m, n);
  kiln_op op = {.kind = KILN_OP_MATMUL};
  op.u.matmul = (kiln_matmul_op){.a = &ta, .b = &tbv, .out = &to, .dtype = c->op->dtype,
                                 .batch = 1, .m = m, .n = n, .k = k, .transpose_b = tb,
                                 .alpha = alpha};
  kiln_matmul_fold(&op.u.matmul, false);
  return kiln_dispatch(c->ctx, &op);
}

/* One query head h of sequence b (lq >= 1 queries, lk >= 1 keys), with Q,
 * K and V gathered: S = scale Q K^T, softmax, O_h = P V. scale goes into
 * the matmul, so softmax runs with scale 1 (it wants scale > 0; the op's
 * may be negative). */
static kiln_status head(composite *c, int64_t b, int64_t h, const kiln_attention_seq *seq) {
  const kiln_attention_op *op = c->op;
  const int64_t d = op->d, lq = seq->lq, lk = seq->lk, g = h / (op->hq / op->hkv);
  const size_t es = c->esize;
  KILN_TRY(matmul(c, c->qd + (size_t)(h * lq * d) * es, c->kd + (size_t)(g * lk * d) * es, c->s,
                  lq, lk, d, true, op->scale));
  kiln_tensor mask = view(c, op->dtype, c->m, lq, lk);
  if (op->mask) {
    for (int64_t i = 0; i < lq; i++)
      for (int64_t j = 0; j < lk; j++)
        c->host_ids[i * lk + j] = (int32_t)(b * op->mask_b + h * op->mask_h + i * op->mask_q + j);
    KILN_TRY(gather(c, op->mask, 1, lq * lk, c->m));
  }
  kiln_tensor s = view(c, op->dtype, c->s, lq, lk);
  kiln_op sm = {.kind = KILN_OP_SOFTMAX};
  sm.u.softmax = (kiln_softmax_op){.x = &s, .out = &s, .dtype = op->dtype, .rows = lq,
                                   .cols = lk, .sq = op->causal ? lq : 0, .causal = op->causal,
                                   .scale = 1.0f, .mask = op->mask ? &mask : NULL,
                                   .mask_group = 1};
  KILN_TRY(kiln_dispatch(c->ctx, &sm));
  return matmul(c, c->s, c->vd + (size_t)(g * lk * d) * es, c->od + (size_t)(h * lq * d) * es,
                lq, d, lk, false, 1.0f);
}

/* Rows of `from` for `heads` heads of `len` tokens from token row `start`,
 * head-major: (head_off + (start + t) * row) / d + head. */
static kiln_status gather_heads(composite *c, const kiln_tensor *from, int64_t off, int64_t row,
                                int64_t start, int64_t len, int64_t heads, void *dst) {
  const int64_t d = c->op->d;
  for (int64_t hh = 0; hh < heads; hh++)
    for (int64_t t = 0; t < len; t++)
      c->host_ids[hh * len + t] = (int32_t)((off + (start + t) * row) / d + hh);
  return gather(c, from, d, heads * len, dst);
}

static kiln_status sequence(composite *c, int64_t b, const kiln_attention_seq *seq) {
  const kiln_attention_op *op = c->op;
  const int64_t d = op->d, hq = op->hq, lq = seq->lq;
  char *out_rows = (char *)op->out->data + (size_t)(seq->q_start * hq * d) * c->esize;
  if (lq == 0)
    return KILN_OK;
  if (seq->lk == 0) { /* every key masked: zeros (all bits 0 in every dtype) */
    size_t bytes = (size_t)(lq * hq * d) * c->esize;
    void *zeros = calloc(1, bytes);
    if (!zeros)
      return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "%s: out of host memory", c->fn);
    kiln_status s = c->ctx->backend->upload(c->ctx->state, out_rows, zeros, bytes);
    free(zeros);
    return s;
  }
  KILN_TRY(gather_heads(c, op->q, op->q_off, op->q_row, seq->q_start, lq, hq, c->qd));
  KILN_TRY(gather_heads(c, op->k, op->k_off, op->k_row, seq->k_start, seq->lk, op->hkv, c->kd));
  KILN_TRY(gather_heads(c, op->v, op->v_off, op->v_row, seq->k_start, seq->lk, op->hkv, c->vd));
  for (int64_t h = 0; h < hq; h++)
    KILN_TRY(head(c, b, h, seq));
  /* out row (i, h) of the sequence is O row (h, i). */
  for (int64_t i = 0; i < lq; i++)
    for (int64_t h = 0; h < hq; h++)
      c->host_ids[i * hq + h] = (int32_t)(h * lq + i);
  kiln_tensor od = view(c, op->dtype, c->od, hq * lq, d);
  return gather(c, &od, d, lq * hq, out_rows);
}

/* a * b into *r, false on overflow. */
static bool mul(size_t a, size_t b, size_t *r) { return !__builtin_mul_overflow(a, b, r); }

/* Carves the scratch into regions sized for the longest sequence. */
static kiln_status plan(composite *c, int64_t max_lq, int64_t max_lk, size_t *ids_count,
                        kiln_tensor **scratch) {
  const kiln_attention_op *op = c->op;
  size_t q_rows = 0, kv_rows = 0, s_elems = 0, q_elems = 0, kv_elems = 0;
  bool ok = mul((size_t)op->hq, (size_t)max_lq, &q_rows) &&
            mul((size_t)op->hkv, (size_t)max_lk, &kv_rows) &&
            mul((size_t)max_lq, (size_t)max_lk, &s_elems) &&
            mul(q_rows, (size_t)op->d, &q_elems) && mul(kv_rows, (size_t)op->d, &kv_elems);
  size_t ids = q_rows > kv_rows ? q_rows : kv_rows;
  if (op->mask && s_elems > ids)
    ids = s_elems;
  const size_t elems[] = {q_elems, kv_elems, kv_elems, s_elems, op->mask ? s_elems : 0, q_elems};
  size_t total = 0, part;
  ok = ok && ids <= (size_t)INT32_MAX && mul(ids, sizeof(int32_t), &total);
  size_t offsets[6];
  for (int i = 0; ok && i < 6; i++) {
    total = (total + REGION_ALIGN - 1) / REGION_ALIGN * REGION_ALIGN;
    offsets[i] = total;
    ok = mul(elems[i], c->esize, &part) && !__builtin_add_overflow(total, part, &total);
  }
  if (!ok)
    return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "%s: the composite path needs more scratch than "
                     "can be addressed for sequences of %lld queries and %lld keys", c->fn,
                     (long long)max_lq, (long long)max_lk);
  KILN_TRY(kiln_context_scratch(c->ctx, total, c->fn, scratch));
  char *base = (*scratch)->data;
  c->ids = base;
  char **regions[] = {&c->qd, &c->kd, &c->vd, &c->s, &c->m, &c->od};
  for (int i = 0; i < 6; i++)
    *regions[i] = base + offsets[i];
  *ids_count = ids;
  return KILN_OK;
}

/* Host copies of the op's length tensors (freed by the caller). */
static kiln_status read_lengths(composite *c, int32_t **buf, kiln_attention_lengths *len) {
  const kiln_attention_op *op = c->op;
  const kiln_tensor *parts[3] = {op->cu_seqlens_q, op->cu_seqlens_k, op->seqlens_k};
  if (parts[1] == parts[0])
    parts[1] = NULL;
  size_t count = 0;
  for (int i = 0; i < 3; i++)
    count += parts[i] ? (size_t)parts[i]->numel : 0;
  *buf = malloc((count ? count : 1) * sizeof(int32_t));
  if (!*buf)
    return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "%s: out of host memory", c->fn);
  const int32_t *host[3] = {NULL, NULL, NULL};
  size_t at = 0;
  for (int i = 0; i < 3; i++) {
    if (!parts[i])
      continue;
    host[i] = *buf + at;
    KILN_TRY(c->ctx->backend->download(c->ctx->state, *buf + at, parts[i]->data,
                                       parts[i]->nbytes));
    at += (size_t)parts[i]->numel;
  }
  *len = (kiln_attention_lengths){.cu_q = host[0], .cu_k = host[1] ? host[1] : host[0],
                                  .seqlens_k = host[2]};
  return kiln_attention_check_lengths(op, len);
}

static kiln_status run(composite *c, const kiln_attention_lengths *len) {
  const kiln_attention_op *op = c->op;
  int64_t max_lq = 0, max_lk = 0;
  for (int64_t b = 0; b < op->batch; b++) {
    kiln_attention_seq seq = kiln_attention_sequence(op, len, b);
    max_lq = seq.lq > max_lq ? seq.lq : max_lq;
    max_lk = seq.lk > max_lk ? seq.lk : max_lk;
  }
  size_t ids = 0;
  kiln_tensor *scratch = NULL;
  KILN_TRY(plan(c, max_lq, max_lk, &ids, &scratch));
  c->host_ids = malloc((ids ? ids : 1) * sizeof(int32_t));
  if (!c->host_ids)
    return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "%s: out of host memory", c->fn);
  kiln_status s = KILN_OK;
  for (int64_t b = 0; s == KILN_OK && b < op->batch; b++) {
    kiln_attention_seq seq = kiln_attention_sequence(op, len, b);
    s = sequence(c, b, &seq);
  }
  free(c->host_ids);
  return s;
}

kiln_status kiln_attention_composite(kiln_context *ctx, const kiln_attention_op *op,
                                     const char *fn) {
  if (ctx->capturing)
    return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: the composite path (matmul, softmax, matmul) "
                     "reads the lengths and builds its gathers on the host, so it cannot be "
                     "captured in a graph; capture the fused op (kiln_context_use_fused(ctx, 1))",
                     fn);
  KILN_TRY(kiln_check_backend_has(fn, ctx, kiln_backend_has(ctx, KILN_OP_EMBEDDING) &&
                                               kiln_backend_has(ctx, KILN_OP_MATMUL) &&
                                               kiln_backend_has(ctx, KILN_OP_SOFTMAX)));
  /* The gathers index rows with i32 ids (the embedding op's). */
  const kiln_tensor *tables[] = {op->q, op->k, op->v, op->out, op->mask};
  for (int i = 0; i < 5; i++)
    if (tables[i] && tables[i]->numel / (tables[i] == op->mask ? 1 : op->d) > INT32_MAX)
      return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: the composite path indexes rows with i32 and "
                       "cannot address a tensor of %lld elements; use the fused op", fn,
                       (long long)tables[i]->numel);
  composite c = {.ctx = ctx, .op = op, .fn = fn, .esize = kiln_dtype_size(op->dtype)};
  int32_t *buf = NULL;
  kiln_attention_lengths len;
  kiln_status s = read_lengths(&c, &buf, &len);
  if (s == KILN_OK)
    s = run(&c, &len);
  free(buf);
  return s;
}
