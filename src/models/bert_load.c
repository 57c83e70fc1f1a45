/* Loading a BERT: config.json, then every weight of model.safetensors
 * checked against it and converted once to the run dtype. */
#include "bert_model.h"
#include "safetensors.h"

#include "kiln.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Work-buffer sizes: tokens and sequences per forward. The GPU wants big
 * batches (128 x 128 tokens in one); the CPU gains little past a few
 * thousand tokens and keeps its activations in cache better below. */
#define GPU_MAX_TOKENS 16384
#define CPU_MAX_TOKENS 4096
#define MAX_BATCH 256

typedef struct loader {
  kiln_bert *m;
  kiln_safetensors *st;
  const char *fn;
  float *host; /* f32 staging, big enough for the largest weight */
  void *host16;
  size_t host_elems;
} loader;

static const char *shape_text(const int64_t *shape, int ndim, char *buf, size_t len) {
  size_t at = (size_t)snprintf(buf, len, "[");
  for (int i = 0; i < ndim && at < len; i++)
    at += (size_t)snprintf(buf + at, len - at, i ? ", %lld" : "%lld", (long long)shape[i]);
  if (at < len)
    snprintf(buf + at, len - at, "]");
  return buf;
}

/* The tensor name (or "bert." name) of the expected shape, as f32 in
 * L->host. */
static kiln_status fetch(loader *L, const char *name, int ndim, const int64_t *shape,
                         const kiln_st_tensor **out) {
  const kiln_st_tensor *t = kiln_st_find(L->st, name);
  char prefixed[256];
  snprintf(prefixed, sizeof prefixed, "bert.%s", name);
  if (!t)
    t = kiln_st_find(L->st, prefixed);
  if (!t)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: %s: no tensor '%s' (nor '%s')", L->fn,
                     kiln_st_path(L->st), name, prefixed);
  bool same = t->ndim == ndim;
  for (int i = 0; same && i < ndim; i++)
    same = t->shape[i] == shape[i];
  if (!same) {
    char got[128], want[128];
    return kiln_set_error(KILN_ERR_SHAPE, "%s: %s: tensor '%s' is %s, config.json says %s", L->fn,
                     kiln_st_path(L->st), t->name, shape_text(t->shape, t->ndim, got, sizeof got),
                     shape_text(shape, ndim, want, sizeof want));
  }
  if ((size_t)t->numel > L->host_elems)
    return kiln_set_error(KILN_ERR_SHAPE, "%s: %s: tensor '%s' larger than expected", L->fn,
                     kiln_st_path(L->st), t->name);
  KILN_TRY_MODEL(kiln_st_to_f32(t, L->host, L->fn));
  *out = t;
  return KILN_OK;
}

/* A device tensor of the run dtype holding n f32 values of src. */
static kiln_status upload(loader *L, const float *src, int ndim, const int64_t *shape,
                          kiln_tensor **out) {
  kiln_bert *m = L->m;
  kiln_tensor *t;
  kiln_status s = kiln_tensor_create(m->ctx, m->dtype, ndim, shape, &t);
  if (s != KILN_OK)
    return s;
  const size_t n = (size_t)kiln_tensor_numel(t);
  const void *bytes = src;
  if (m->dtype == KILN_F16) {
    kiln_f32_to_f16(src, L->host16, n);
    bytes = L->host16;
  } else if (m->dtype == KILN_BF16) {
    kiln_f32_to_bf16(src, L->host16, n);
    bytes = L->host16;
  }
  s = kiln_tensor_write(t, bytes, kiln_tensor_nbytes(t));
  if (s != KILN_OK) {
    kiln_tensor_destroy(t);
    return s;
  }
  *out = t;
  return KILN_OK;
}

/* fetch + upload for a weight that goes over as it is. */
static kiln_status load_one(loader *L, const char *name, int ndim, const int64_t *shape,
                            kiln_tensor **out) {
  const kiln_st_tensor *t;
  KILN_TRY_MODEL(fetch(L, name, ndim, shape, &t));
  return upload(L, L->host, ndim, shape, out);
}

static kiln_status load_embeddings(loader *L) {
  kiln_bert *m = L->m;
  const kiln_bert_config *c = &m->cfg;
  const int64_t H = c->hidden;
  const kiln_st_tensor *t;
  KILN_TRY_MODEL(load_one(L, "embeddings.word_embeddings.weight", 2,
                          (int64_t[]){c->vocab, H}, &m->word));
  KILN_TRY_MODEL(load_one(L, "embeddings.LayerNorm.weight", 1, (int64_t[]){H}, &m->emb_ln_w));
  KILN_TRY_MODEL(load_one(L, "embeddings.LayerNorm.bias", 1, (int64_t[]){H}, &m->emb_ln_b));
  /* Every token has type 0 (one text per sequence): its row is added to
   * every position row here, once, in f32. */
  KILN_TRY_MODEL(fetch(L, "embeddings.token_type_embeddings.weight", 2,
                       (int64_t[]){c->type_vocab, H}, &t));
  float *type0 = malloc((size_t)H * sizeof *type0);
  if (!type0)
    return kiln_set_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", L->fn);
  memcpy(type0, L->host, (size_t)H * sizeof *type0);
  kiln_status s = fetch(L, "embeddings.position_embeddings.weight", 2,
                        (int64_t[]){c->max_positions, H}, &t);
  if (s == KILN_OK) {
    for (int64_t p = 0; p < c->max_positions; p++)
      for (int64_t i = 0; i < H; i++)
        L->host[p * H + i] += type0[i];
    s = upload(L, L->host, 2, (int64_t[]){c->max_positions, H}, &m->pos_type);
  }
  free(type0);
  return s;
}

static kiln_status load_layer(loader *L, int64_t li) {
  kiln_bert *m = L->m;
  const int64_t H = m->cfg.hidden, I = m->cfg.intermediate;
  kiln_bert_layer *l = &m->layer[li];
  char name[256];
#define NAME(suffix) (snprintf(name, sizeof name, "encoder.layer.%lld.%s", (long long)li, suffix), name)
  /* Query, key and value into one [3H, H] weight and [3H] bias, so the
   * projection is one matmul whose output is attention's packed qkv. */
  float *w = malloc((size_t)(3 * H * H + 3 * H) * sizeof *w);
  if (!w)
    return kiln_set_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", L->fn);
  float *b = w + 3 * H * H;
  static const char *const part[3] = {"query", "key", "value"};
  kiln_status s = KILN_OK;
  const kiln_st_tensor *t;
  for (int p = 0; p < 3 && s == KILN_OK; p++) {
    char wn[64], bn[64];
    snprintf(wn, sizeof wn, "attention.self.%s.weight", part[p]);
    snprintf(bn, sizeof bn, "attention.self.%s.bias", part[p]);
    s = fetch(L, NAME(wn), 2, (int64_t[]){H, H}, &t);
    if (s == KILN_OK)
      memcpy(w + p * H * H, L->host, (size_t)(H * H) * sizeof *w);
    if (s == KILN_OK)
      s = fetch(L, NAME(bn), 1, (int64_t[]){H}, &t);
    if (s == KILN_OK)
      memcpy(b + p * H, L->host, (size_t)H * sizeof *b);
  }
  if (s == KILN_OK)
    s = upload(L, w, 2, (int64_t[]){3 * H, H}, &l->qkv_w);
  if (s == KILN_OK)
    s = upload(L, b, 1, (int64_t[]){3 * H}, &l->qkv_b);
  free(w);
  if (s != KILN_OK)
    return s;
  KILN_TRY_MODEL(load_one(L, NAME("attention.output.dense.weight"), 2, (int64_t[]){H, H},
                          &l->attn_out_w));
  KILN_TRY_MODEL(load_one(L, NAME("attention.output.dense.bias"), 1, (int64_t[]){H},
                          &l->attn_out_b));
  KILN_TRY_MODEL(load_one(L, NAME("attention.output.LayerNorm.weight"), 1, (int64_t[]){H},
                          &l->ln1_w));
  KILN_TRY_MODEL(load_one(L, NAME("attention.output.LayerNorm.bias"), 1, (int64_t[]){H},
                          &l->ln1_b));
  KILN_TRY_MODEL(load_one(L, NAME("intermediate.dense.weight"), 2, (int64_t[]){I, H},
                          &l->ffn_in_w));
  KILN_TRY_MODEL(load_one(L, NAME("intermediate.dense.bias"), 1, (int64_t[]){I},
                          &l->ffn_in_b));
  KILN_TRY_MODEL(load_one(L, NAME("output.dense.weight"), 2, (int64_t[]){H, I},
                          &l->ffn_out_w));
  KILN_TRY_MODEL(load_one(L, NAME("output.dense.bias"), 1, (int64_t[]){H}, &l->ffn_out_b));
  KILN_TRY_MODEL(load_one(L, NAME("output.LayerNorm.weight"), 1, (int64_t[]){H}, &l->ln2_w));
  KILN_TRY_MODEL(load_one(L, NAME("output.LayerNorm.bias"), 1, (int64_t[]){H}, &l->ln2_b));
#undef NAME
  return KILN_OK;
}

static kiln_status make(kiln_bert *m, kiln_dtype dtype, int ndim, const int64_t *shape,
                        kiln_tensor **out) {
  return kiln_tensor_create(m->ctx, dtype, ndim, shape, out);
}

/* The work buffers for max_tokens tokens in max_batch sequences. */
static kiln_status make_buffers(kiln_bert *m, const char *fn) {
  const int64_t T = m->max_tokens, B = m->max_batch, H = m->cfg.hidden,
                I = m->cfg.intermediate;
  const kiln_dtype dt = m->dtype;
  KILN_TRY_MODEL(make(m, KILN_I32, 1, (int64_t[]){T}, &m->buf_ids));
  KILN_TRY_MODEL(make(m, KILN_I32, 1, (int64_t[]){T}, &m->buf_pos));
  KILN_TRY_MODEL(make(m, KILN_I32, 1, (int64_t[]){B + 1}, &m->buf_cu));
  KILN_TRY_MODEL(make(m, dt, 1, (int64_t[]){T * H}, &m->buf_h));
  KILN_TRY_MODEL(make(m, dt, 1, (int64_t[]){T * H}, &m->buf_tmp));
  KILN_TRY_MODEL(make(m, dt, 1, (int64_t[]){T * 3 * H}, &m->buf_qkv));
  KILN_TRY_MODEL(make(m, dt, 1, (int64_t[]){T * H}, &m->buf_attn));
  KILN_TRY_MODEL(make(m, dt, 1, (int64_t[]){T * I}, &m->buf_ffn));
  KILN_TRY_MODEL(make(m, dt, 1, (int64_t[]){B * H}, &m->buf_pooled));
  const size_t es = kiln_dtype_size(dt);
  m->host_pos = malloc((size_t)T * sizeof *m->host_pos);
  m->host_pooled = malloc((size_t)(B * H) * es);
  m->staged_cu = malloc((size_t)(B + 1) * sizeof *m->staged_cu);
  m->staged_n = -1;
  if (!m->host_pos || !m->host_pooled || !m->staged_cu)
    return kiln_set_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory for the staging buffers", fn);
  return KILN_OK;
}

kiln_status kiln_bert_load(kiln_context *ctx, const char *model_dir, kiln_dtype dtype,
                           const char *fn, kiln_bert **out) {
  *out = NULL;
  kiln_bert *m = calloc(1, sizeof *m);
  if (!m)
    return kiln_set_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
  m->ctx = ctx;
  m->dtype = dtype;
  loader L = {.m = m, .fn = fn};
  kiln_status s = kiln_bert_config_load(model_dir, fn, &m->cfg);
  const kiln_bert_config *c = &m->cfg;
  char path[4096];
  if (s == KILN_OK && snprintf(path, sizeof path, "%s/model.safetensors", model_dir) >=
                          (int)sizeof path)
    s = kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: model_dir is too long", fn);
  if (s == KILN_OK) {
    s = kiln_st_open(path, &L.st);
    if (s != KILN_OK) /* name the public function, keep the reader's detail */
      s = kiln_bert_refail(s, fn, NULL);
  }
  if (s == KILN_OK) {
    /* The largest weight: the word table, the FFN or the position table. */
    int64_t big = c->vocab * c->hidden;
    if (c->intermediate * c->hidden > big)
      big = c->intermediate * c->hidden;
    if (c->max_positions * c->hidden > big)
      big = c->max_positions * c->hidden;
    if (3 * c->hidden * c->hidden > big)
      big = 3 * c->hidden * c->hidden;
    if (c->type_vocab * c->hidden > big)
      big = c->type_vocab * c->hidden;
    L.host_elems = (size_t)big;
    L.host = malloc(L.host_elems * sizeof(float));
    L.host16 = malloc(L.host_elems * sizeof(uint16_t));
    m->layer = calloc((size_t)c->layers, sizeof *m->layer);
    if (!L.host || !L.host16 || !m->layer)
      s = kiln_set_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory for %lld weights", fn,
                    (long long)big);
  }
  if (s == KILN_OK)
    s = load_embeddings(&L);
  for (int64_t li = 0; s == KILN_OK && li < c->layers; li++)
    s = load_layer(&L, li);
  free(L.host);
  free(L.host16);
  kiln_st_close(L.st);
  if (s == KILN_OK) {
    const bool gpu = kiln_context_device(ctx) == KILN_DEVICE_CUDA;
    m->use_graphs = gpu;
    m->max_tokens = gpu ? GPU_MAX_TOKENS : CPU_MAX_TOKENS;
    /* A batch holds at least one sequence of the longest length. */
    if (m->max_tokens < c->max_positions)
      m->max_tokens = c->max_positions;
    m->max_batch = MAX_BATCH;
    s = make_buffers(m, fn);
  }
  if (s != KILN_OK) {
    kiln_bert_destroy(m);
    return s;
  }
  *out = m;
  return KILN_OK;
}

void kiln_bert_shape_drop(kiln_bert_shape *sh) {
  kiln_graph_destroy(sh->graph);
  for (int i = 0; i < KILN_BERT_VIEWS; i++)
    kiln_tensor_destroy(sh->u.all[i]);
  memset(sh, 0, sizeof *sh);
}

void kiln_bert_destroy(kiln_bert *m) {
  if (!m)
    return;
  for (int i = 0; i < KILN_BERT_SHAPE_CACHE; i++)
    kiln_bert_shape_drop(&m->shapes[i]);
  kiln_tensor *own[] = {m->word,    m->pos_type, m->emb_ln_w, m->emb_ln_b, m->buf_ids,
                        m->buf_pos, m->buf_cu,   m->buf_h,    m->buf_tmp,  m->buf_qkv,
                        m->buf_attn, m->buf_ffn, m->buf_pooled};
  for (size_t i = 0; i < sizeof own / sizeof *own; i++)
    kiln_tensor_destroy(own[i]);
  for (int64_t li = 0; m->layer && li < m->cfg.layers; li++) {
    kiln_bert_layer *l = &m->layer[li];
    kiln_tensor *lt[] = {l->qkv_w,    l->qkv_b,    l->attn_out_w, l->attn_out_b,
                         l->ln1_w,    l->ln1_b,    l->ffn_in_w,   l->ffn_in_b,
                         l->ffn_out_w, l->ffn_out_b, l->ln2_w,     l->ln2_b};
    for (size_t i = 0; i < sizeof lt / sizeof *lt; i++)
      kiln_tensor_destroy(lt[i]);
  }
  free(m->layer);
  free(m->host_pos);
  free(m->host_pooled);
  free(m->staged_cu);
  free(m);
}

const kiln_bert_config *kiln_bert_config_of(const kiln_bert *m) { return &m->cfg; }
int64_t kiln_bert_max_tokens(const kiln_bert *m) { return m->max_tokens; }
int64_t kiln_bert_max_batch(const kiln_bert *m) { return m->max_batch; }
