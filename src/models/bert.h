/*
 * A BERT-family encoder (BertModel: word + position + token-type
 * embeddings, post-norm layers) on kiln ops, for sentence embeddings: the
 * forward pass ends in mean pooling over each sequence's tokens and L2
 * normalization. The compute goes through include/kiln.h only.
 *
 * Internal to kiln; the public face is kiln_embedder in kiln.h.
 */
#ifndef KILN_MODELS_BERT_H
#define KILN_MODELS_BERT_H

#include "kiln.h"

#include <stdbool.h>
#include <stdint.h>

/* What config.json says (HF transformers' BertConfig names). */
typedef struct kiln_bert_config {
  int64_t hidden;       /* hidden_size */
  int64_t layers;       /* num_hidden_layers */
  int64_t heads;        /* num_attention_heads */
  int64_t intermediate; /* intermediate_size */
  int64_t vocab;        /* vocab_size */
  int64_t max_positions;/* max_position_embeddings */
  int64_t type_vocab;   /* type_vocab_size */
  float eps;            /* layer_norm_eps */
  bool gelu_tanh;       /* hidden_act gelu_new / gelu_pytorch_tanh; plain gelu is erf */
} kiln_bert_config;

/* Reads and checks model_dir/config.json. fn names the public caller in
 * messages. */
kiln_status kiln_bert_config_load(const char *model_dir, const char *fn, kiln_bert_config *cfg);

/* Re-reports the current failure under the public function's name:
 * "fn: [what: ]<the inner message>". Returns s. */
kiln_status kiln_bert_refail(kiln_status s, const char *fn, const char *what_fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

typedef struct kiln_bert kiln_bert;

/* Loads config.json and model.safetensors from model_dir, every weight
 * checked against the config and converted once to dtype on ctx's device.
 * QKV weights are concatenated into one [3H, H] matrix (and bias). */
kiln_status kiln_bert_load(kiln_context *ctx, const char *model_dir, kiln_dtype dtype,
                           const char *fn, kiln_bert **out);
void kiln_bert_destroy(kiln_bert *m);
const kiln_bert_config *kiln_bert_config_of(const kiln_bert *m);

/* The most tokens and sequences one kiln_bert_forward takes. */
int64_t kiln_bert_max_tokens(const kiln_bert *m);
int64_t kiln_bert_max_batch(const kiln_bert *m);

/* One batch: n sequences, sequence b the token ids
 * ids[cu[b] .. cu[b+1]-1] (cu[0] = 0, each length 1..max_positions, the
 * total cu[n] <= kiln_bert_max_tokens, n <= kiln_bert_max_batch).
 * Writes n rows of hidden floats: the L2-normalized mean of the last
 * hidden states over each sequence. Ids are checked by the caller. */
kiln_status kiln_bert_forward(kiln_bert *m, const int32_t *ids, const int32_t *cu, int64_t n,
                              float *out);

#endif /* KILN_MODELS_BERT_H */
