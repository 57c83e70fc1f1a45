/* kiln_embedder: tokenizer + BERT, texts in, vectors out. Texts are
 * tokenized a chunk at a time, sorted by length, cut into batches of a
 * token budget, and each batch's vectors written to its texts' rows. */
#include "bert.h"

#include "kiln.h"

#include <stdlib.h>
#include <string.h>

/* Texts tokenized and sorted together: bounds the id buffer to
 * CHUNK * max_length ids whatever n is. */
#define CHUNK 8192

struct kiln_embedder {
  kiln_context *ctx;
  kiln_tokenizer *tok;
  kiln_bert *bert;
  int64_t max_length; /* tokens per text, [CLS] and [SEP] included */
  int64_t last_tokens;
  int32_t *ids;       /* CHUNK * max_length */
  int32_t *lengths;   /* CHUNK */
  int64_t *order;     /* CHUNK */
  int32_t *batch_ids; /* max_tokens */
  int32_t *cu;        /* max_batch + 1 */
  float *batch_out;   /* max_batch * dim */
};

kiln_status kiln_embedder_load(kiln_context *ctx, const char *model_dir, kiln_dtype dtype,
                               kiln_embedder **out) {
  static const char *const fn = "kiln_embedder_load";
  if (!out)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
  *out = NULL;
  if (!ctx)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", fn);
  if (!model_dir)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: model_dir is NULL", fn);
  if (dtype != KILN_F32 && dtype != KILN_F16 && dtype != KILN_BF16)
    return kiln_set_error(KILN_ERR_DTYPE, "%s: dtype %s; the model runs in f32, f16 or bf16", fn,
                     kiln_dtype_name(dtype));
  kiln_embedder *e = calloc(1, sizeof *e);
  if (!e)
    return kiln_set_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
  e->ctx = ctx;
  kiln_status s = kiln_tokenizer_load(model_dir, &e->tok);
  if (s != KILN_OK)
    s = kiln_bert_refail(s, fn, NULL);
  if (s == KILN_OK)
    s = kiln_bert_load(ctx, model_dir, dtype, fn, &e->bert);
  if (s == KILN_OK) {
    const kiln_bert_config *c = kiln_bert_config_of(e->bert);
    const int64_t words = kiln_tokenizer_vocab_size(e->tok);
    if (words > c->vocab)
      s = kiln_set_error(KILN_ERR_SHAPE,
                    "%s: %s: vocab.txt has %lld tokens but the word embeddings have %lld rows "
                    "(vocab_size)",
                    fn, model_dir, (long long)words, (long long)c->vocab);
    e->max_length = kiln_tokenizer_max_length(e->tok);
    if (e->max_length <= 0 || e->max_length > c->max_positions)
      e->max_length = c->max_positions;
  }
  if (s == KILN_OK) {
    const int64_t T = kiln_bert_max_tokens(e->bert), B = kiln_bert_max_batch(e->bert),
                  H = kiln_bert_config_of(e->bert)->hidden;
    e->ids = malloc((size_t)(CHUNK * e->max_length) * sizeof *e->ids);
    e->lengths = malloc(CHUNK * sizeof *e->lengths);
    e->order = malloc(CHUNK * sizeof *e->order);
    e->batch_ids = malloc((size_t)T * sizeof *e->batch_ids);
    e->cu = malloc((size_t)(B + 1) * sizeof *e->cu);
    e->batch_out = malloc((size_t)(B * H) * sizeof *e->batch_out);
    if (!e->ids || !e->lengths || !e->order || !e->batch_ids || !e->cu || !e->batch_out)
      s = kiln_set_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory for the batch buffers", fn);
  }
  if (s != KILN_OK) {
    kiln_embedder_destroy(e);
    return s;
  }
  *out = e;
  return KILN_OK;
}

void kiln_embedder_destroy(kiln_embedder *e) {
  if (!e)
    return;
  kiln_bert_destroy(e->bert);
  kiln_tokenizer_destroy(e->tok);
  free(e->ids);
  free(e->lengths);
  free(e->order);
  free(e->batch_ids);
  free(e->cu);
  free(e->batch_out);
  free(e);
}

int64_t kiln_embedder_dim(const kiln_embedder *e) {
  return e ? kiln_bert_config_of(e->bert)->hidden : 0;
}

const kiln_tokenizer *kiln_embedder_tokenizer(const kiln_embedder *e) { return e ? e->tok : NULL; }

int64_t kiln_embedder_max_length(const kiln_embedder *e) { return e ? e->max_length : 0; }

int64_t kiln_embedder_last_tokens(const kiln_embedder *e) { return e ? e->last_tokens : 0; }

/* Sort keys: length, then index, so equal lengths keep input order.
 * qsort's comparator takes no context, so the lengths it sorts by are
 * this thread's (embedders on other threads sort their own). */
static _Thread_local const int32_t *sort_lengths;
static int by_length(const void *pa, const void *pb) {
  const int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
  if (sort_lengths[a] != sort_lengths[b])
    return sort_lengths[a] < sort_lengths[b] ? -1 : 1;
  return a < b ? -1 : a > b;
}

/* Runs count texts whose ids are seq i's ids at ids + i * stride (stride 0:
 * packed back to back, starts from the running sum of lengths), writing
 * row i of out (dim floats) for each. */
static kiln_status run_sorted(kiln_embedder *e, const int32_t *ids, const int32_t *lengths,
                              int64_t count, int64_t stride, float *out, int64_t *tokens) {
  const int64_t T = kiln_bert_max_tokens(e->bert), B = kiln_bert_max_batch(e->bert),
                H = kiln_bert_config_of(e->bert)->hidden;
  /* Packed input: where each text starts. */
  int64_t *start = NULL;
  if (stride == 0) {
    start = malloc((size_t)count * sizeof *start);
    if (!start)
      return kiln_set_error(KILN_ERR_OUT_OF_MEMORY, "kiln_embedder_encode: out of memory");
    int64_t at = 0;
    for (int64_t i = 0; i < count; i++) {
      start[i] = at;
      at += lengths[i];
    }
  }
  for (int64_t i = 0; i < count; i++)
    e->order[i] = i;
  sort_lengths = lengths;
  qsort(e->order, (size_t)count, sizeof *e->order, by_length);
  kiln_status s = KILN_OK;
  for (int64_t first = 0; first < count && s == KILN_OK;) {
    int64_t nb = 0, nt = 0;
    e->cu[0] = 0;
    while (first + nb < count && nb < B && nt + lengths[e->order[first + nb]] <= T) {
      const int64_t i = e->order[first + nb];
      const int32_t *src = ids + (stride ? i * stride : start[i]);
      memcpy(e->batch_ids + nt, src, (size_t)lengths[i] * sizeof *src);
      nt += lengths[i];
      e->cu[++nb] = (int32_t)nt;
    }
    s = kiln_bert_forward(e->bert, e->batch_ids, e->cu, nb, e->batch_out);
    for (int64_t j = 0; j < nb && s == KILN_OK; j++)
      memcpy(out + e->order[first + j] * H, e->batch_out + j * H, (size_t)H * sizeof *out);
    *tokens += nt;
    first += nb;
  }
  free(start);
  return s;
}

kiln_status kiln_embedder_encode(kiln_embedder *e, const char *const *texts, const size_t *lens,
                                 int64_t n, float *out) {
  static const char *const fn = "kiln_embedder_encode";
  if (!e)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: e is NULL", fn);
  if (!texts)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: texts is NULL", fn);
  if (!out)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
  if (n < 1)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: n is %lld; at least one text is needed", fn,
                     (long long)n);
  for (int64_t i = 0; i < n; i++)
    if (!texts[i] && !(lens && lens[i] == 0))
      return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: texts[%lld] is NULL", fn, (long long)i);
  const int64_t H = kiln_embedder_dim(e);
  /* Results go to a scratch copy first, so a failure leaves out untouched. */
  float *result = malloc((size_t)(n * H) * sizeof *result);
  if (!result)
    return kiln_set_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory for %lld vectors", fn,
                     (long long)n);
  int64_t tokens = 0;
  kiln_status s = KILN_OK;
  for (int64_t base = 0; base < n && s == KILN_OK; base += CHUNK) {
    const int64_t count = n - base < CHUNK ? n - base : CHUNK;
    for (int64_t i = 0; i < count && s == KILN_OK; i++) {
      const char *t = texts[base + i];
      const size_t len = lens ? lens[base + i] : strlen(t);
      int64_t got = 0;
      s = kiln_tokenizer_encode(e->tok, t ? t : "", len, e->max_length, e->ids + i * e->max_length,
                                e->max_length, &got);
      if (s != KILN_OK)
        s = kiln_bert_refail(s, fn, "texts[%lld]", (long long)(base + i));
      e->lengths[i] = (int32_t)got;
    }
    if (s == KILN_OK)
      s = run_sorted(e, e->ids, e->lengths, count, e->max_length, result + base * H, &tokens);
  }
  if (s == KILN_OK) {
    memcpy(out, result, (size_t)(n * H) * sizeof *out);
    e->last_tokens = tokens;
  }
  free(result);
  return s;
}

kiln_status kiln_embedder_encode_ids(kiln_embedder *e, const int32_t *ids,
                                     const int64_t *lengths, int64_t n, float *out) {
  static const char *const fn = "kiln_embedder_encode_ids";
  if (!e)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: e is NULL", fn);
  if (!ids || !lengths || !out)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn,
                     !ids ? "ids" : !lengths ? "lengths" : "out");
  if (n < 1)
    return kiln_set_error(KILN_ERR_INVALID_ARGUMENT, "%s: n is %lld; at least one text is needed", fn,
                     (long long)n);
  const int64_t vocab = kiln_bert_config_of(e->bert)->vocab, H = kiln_embedder_dim(e);
  int64_t at = 0;
  for (int64_t i = 0; i < n; i++) {
    if (lengths[i] < 1 || lengths[i] > e->max_length)
      return kiln_set_error(KILN_ERR_INVALID_ARGUMENT,
                       "%s: lengths[%lld] is %lld; each text has 1 to %lld tokens", fn,
                       (long long)i, (long long)lengths[i], (long long)e->max_length);
    for (int64_t j = 0; j < lengths[i]; j++)
      if (ids[at + j] < 0 || ids[at + j] >= vocab)
        return kiln_set_error(KILN_ERR_INVALID_ARGUMENT,
                         "%s: text %lld: ids[%lld] is %d, outside the vocabulary's %lld rows", fn,
                         (long long)i, (long long)(at + j), ids[at + j], (long long)vocab);
    at += lengths[i];
  }
  float *result = malloc((size_t)(n * H) * sizeof *result);
  int32_t *len32 = malloc((size_t)n * sizeof *len32);
  kiln_status s = KILN_OK;
  if (!result || !len32)
    s = kiln_set_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory for %lld vectors", fn, (long long)n);
  int64_t tokens = 0;
  for (int64_t base = 0, off = 0; base < n && s == KILN_OK; base += CHUNK) {
    const int64_t count = n - base < CHUNK ? n - base : CHUNK;
    int64_t span = 0;
    for (int64_t i = 0; i < count; i++) {
      len32[base + i] = (int32_t)lengths[base + i];
      span += lengths[base + i];
    }
    s = run_sorted(e, ids + off, len32 + base, count, 0, result + base * H, &tokens);
    off += span;
  }
  if (s == KILN_OK) {
    memcpy(out, result, (size_t)(n * H) * sizeof *out);
    e->last_tokens = tokens;
  }
  free(len32);
  free(result);
  return s;
}
