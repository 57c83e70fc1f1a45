/* The BERT forward pass on kiln ops, varlen (no padding anywhere), with
 * each batch shape captured once as a graph on the GPU and replayed. */
#include "bert_model.h"

#include "kiln.h"

#include <stdlib.h>
#include <string.h>

static kiln_status view(kiln_bert *m, const kiln_tensor *buf, int ndim, const int64_t *shape,
                        kiln_tensor **out) {
  return kiln_tensor_wrap(m->ctx, kiln_tensor_dtype(buf), ndim, shape, kiln_tensor_data(buf),
                          out);
}

static kiln_status make_views(kiln_bert *m, kiln_bert_shape *sh) {
  const int64_t T = sh->tokens, B = sh->batch, H = m->cfg.hidden, nh = m->cfg.heads,
                d = H / nh, I = m->cfg.intermediate;
  KILN_TRY_MODEL(view(m, m->buf_ids, 1, (int64_t[]){T}, &sh->u.v.ids));
  KILN_TRY_MODEL(view(m, m->buf_pos, 1, (int64_t[]){T}, &sh->u.v.pos));
  KILN_TRY_MODEL(view(m, m->buf_cu, 1, (int64_t[]){B + 1}, &sh->u.v.cu));
  KILN_TRY_MODEL(view(m, m->buf_h, 2, (int64_t[]){T, H}, &sh->u.v.h));
  KILN_TRY_MODEL(view(m, m->buf_tmp, 2, (int64_t[]){T, H}, &sh->u.v.tmp));
  KILN_TRY_MODEL(view(m, m->buf_qkv, 2, (int64_t[]){T, 3 * H}, &sh->u.v.qkv));
  KILN_TRY_MODEL(view(m, m->buf_qkv, 3, (int64_t[]){T, 3 * nh, d}, &sh->u.v.qkv_heads));
  KILN_TRY_MODEL(view(m, m->buf_attn, 2, (int64_t[]){T, H}, &sh->u.v.attn));
  KILN_TRY_MODEL(view(m, m->buf_attn, 3, (int64_t[]){T, nh, d}, &sh->u.v.attn_heads));
  KILN_TRY_MODEL(view(m, m->buf_ffn, 2, (int64_t[]){T, I}, &sh->u.v.ffn));
  KILN_TRY_MODEL(view(m, m->buf_pooled, 2, (int64_t[]){B, H}, &sh->u.v.pooled));
  return KILN_OK;
}

/* out = act(x w^T + bias): a Linear layer and its activation. */
static kiln_status linear_act(kiln_context *ctx, const kiln_tensor *x, const kiln_tensor *w,
                              const kiln_tensor *bias, kiln_activation act, kiln_tensor *out) {
  const kiln_matmul_params p = {.transpose_b = 1, .alpha = 1.0f, .beta = 0.0f, .bias = bias,
                                .activation = act};
  return kiln_matmul(ctx, x, w, out, &p);
}

static kiln_status linear(kiln_context *ctx, const kiln_tensor *x, const kiln_tensor *w,
                          const kiln_tensor *bias, kiln_tensor *out) {
  return linear_act(ctx, x, w, bias, KILN_ACTIVATION_NONE, out);
}

/* The whole forward for one shape, enqueued (or recorded) on the context.
 * Post-norm: each residual add and the LayerNorm after it are one
 * kiln_add_layer_norm, whose sum (h_out) goes into the dead operand and
 * whose output into the other work buffer, so the hidden state alternates
 * between h (a layer's input) and attn (after its attention block). */
static kiln_status run_ops(kiln_bert *m, const kiln_bert_shape *sh) {
  kiln_context *ctx = m->ctx;
  const float eps = m->cfg.eps;
  kiln_tensor *h = sh->u.v.h, *tmp = sh->u.v.tmp, *mid = sh->u.v.attn;
  KILN_TRY_MODEL(kiln_embedding(ctx, m->word, sh->u.v.ids, mid));
  KILN_TRY_MODEL(kiln_embedding(ctx, m->pos_type, sh->u.v.pos, tmp));
  KILN_TRY_MODEL(kiln_add_layer_norm(ctx, mid, tmp, m->emb_ln_w, m->emb_ln_b, eps, tmp, h));
  const kiln_attention_params ap = {
      .scale = 0.0f, /* 1/sqrt(head size) */
      .cu_seqlens_q = sh->u.v.cu,
      .max_seqlen_q = sh->max_len,
      .max_seqlen_k = sh->max_len,
  };
  for (int64_t li = 0; li < m->cfg.layers; li++) {
    const kiln_bert_layer *l = &m->layer[li];
    KILN_TRY_MODEL(linear(ctx, h, l->qkv_w, l->qkv_b, sh->u.v.qkv));
    KILN_TRY_MODEL(kiln_attention_packed(ctx, sh->u.v.qkv_heads, sh->u.v.attn_heads, &ap));
    KILN_TRY_MODEL(linear(ctx, sh->u.v.attn, l->attn_out_w, l->attn_out_b, tmp));
    /* attn (the heads' output) is dead once projected: LN1's output goes there */
    KILN_TRY_MODEL(kiln_add_layer_norm(ctx, tmp, h, l->ln1_w, l->ln1_b, eps, tmp, mid));
    /* the intermediate Linear with its GELU (fused where the backend fuses it) */
    KILN_TRY_MODEL(linear_act(ctx, mid, l->ffn_in_w, l->ffn_in_b,
                              m->cfg.gelu_tanh ? KILN_ACTIVATION_GELU_TANH : KILN_ACTIVATION_GELU,
                              sh->u.v.ffn));
    KILN_TRY_MODEL(linear(ctx, sh->u.v.ffn, l->ffn_out_w, l->ffn_out_b, tmp));
    KILN_TRY_MODEL(kiln_add_layer_norm(ctx, tmp, mid, l->ln2_w, l->ln2_b, eps, tmp, h));
  }
  /* Mean pooling over each sequence's tokens, then x / |x|, in one kernel
   * (varlen: no padding, no [B, T] matrix to upload). */
  return kiln_mean_pool(ctx, h, sh->u.v.cu, 1, sh->u.v.pooled);
}

/* The cached shape (T, B, max_len), or a fresh slot for it (evicting the
 * least recently used). */
static kiln_status get_shape(kiln_bert *m, int64_t T, int64_t B, int64_t max_len,
                             kiln_bert_shape **out) {
  kiln_bert_shape *victim = &m->shapes[0];
  for (int i = 0; i < KILN_BERT_SHAPE_CACHE; i++) {
    kiln_bert_shape *sh = &m->shapes[i];
    if (sh->tokens == T && sh->batch == B && sh->max_len == max_len && sh->u.v.ids) {
      sh->last_use = ++m->clock;
      *out = sh;
      return KILN_OK;
    }
    if (sh->last_use < victim->last_use)
      victim = sh;
  }
  kiln_bert_shape_drop(victim);
  victim->tokens = T;
  victim->batch = B;
  victim->max_len = max_len;
  kiln_status s = make_views(m, victim);
  if (s != KILN_OK) {
    kiln_bert_shape_drop(victim);
    return s;
  }
  victim->last_use = ++m->clock;
  *out = victim;
  return KILN_OK;
}

/* Positions, restarting at 0 in each sequence. */
static void stage_positions(kiln_bert *m, const int32_t *cu, int64_t B) {
  for (int64_t b = 0; b < B; b++)
    for (int32_t i = 0; i < cu[b + 1] - cu[b]; i++)
      m->host_pos[cu[b] + i] = i;
}

static kiln_status capture(kiln_bert *m, kiln_bert_shape *sh) {
  KILN_TRY_MODEL(kiln_graph_begin(m->ctx));
  const kiln_status s = run_ops(m, sh);
  kiln_graph *g = NULL;
  const kiln_status e = kiln_graph_end(m->ctx, &g);
  if (s != KILN_OK || e != KILN_OK) {
    kiln_graph_destroy(g);
    return s != KILN_OK ? s : e;
  }
  sh->graph = g;
  return KILN_OK;
}

kiln_status kiln_bert_forward(kiln_bert *m, const int32_t *ids, const int32_t *cu, int64_t n,
                              float *out) {
  const int64_t T = cu[n], H = m->cfg.hidden;
  int64_t max_len = 0;
  for (int64_t b = 0; b < n; b++)
    if (cu[b + 1] - cu[b] > max_len)
      max_len = cu[b + 1] - cu[b];
  kiln_bert_shape *sh;
  KILN_TRY_MODEL(get_shape(m, T, n, max_len, &sh));
  const size_t es = kiln_dtype_size(m->dtype), cu_bytes = (size_t)(n + 1) * sizeof *cu;
  KILN_TRY_MODEL(kiln_tensor_write(sh->u.v.ids, ids, (size_t)T * sizeof *ids));
  /* Positions and cu_seqlens depend on the lengths alone, and every
   * shape's views start at the buffers' base: a batch with the lengths of
   * the previous one (every batch of a fixed-length workload) reuses them. */
  if (m->staged_n != n || memcmp(m->staged_cu, cu, cu_bytes) != 0) {
    m->staged_n = -1;
    stage_positions(m, cu, n);
    KILN_TRY_MODEL(kiln_tensor_write(sh->u.v.pos, m->host_pos, (size_t)T * sizeof *ids));
    KILN_TRY_MODEL(kiln_tensor_write(sh->u.v.cu, cu, cu_bytes));
    memcpy(m->staged_cu, cu, cu_bytes);
    m->staged_n = n;
  }
  /* A shape seen once may never come back: run it directly. From its
   * second batch on, capture it and replay. */
  sh->uses++;
  /* A backend may run an op as a composite that cannot be captured (one
   * that reads lengths on the host): then run every batch directly. */
  if (m->use_graphs && !sh->graph && sh->uses >= 2 && capture(m, sh) != KILN_OK)
    m->use_graphs = false;
  if (sh->graph)
    KILN_TRY_MODEL(kiln_graph_run(m->ctx, sh->graph));
  else
    KILN_TRY_MODEL(run_ops(m, sh));
  KILN_TRY_MODEL(kiln_tensor_read(sh->u.v.pooled, m->host_pooled, (size_t)(n * H) * es));
  const size_t count = (size_t)(n * H);
  if (m->dtype == KILN_F32)
    memcpy(out, m->host_pooled, count * sizeof *out);
  else if (m->dtype == KILN_F16)
    kiln_f16_to_f32(m->host_pooled, out, count);
  else
    kiln_bf16_to_f32(m->host_pooled, out, count);
  return KILN_OK;
}
