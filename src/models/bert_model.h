/* The kiln_bert object, shared by its loader (bert_load.c) and its forward
 * pass (bert_forward.c). */
#ifndef KILN_MODELS_BERT_MODEL_H
#define KILN_MODELS_BERT_MODEL_H

#include "bert.h"

/* Return the status of a failing call. */
#define KILN_TRY_MODEL(call)                                                                      \
  do {                                                                                            \
    const kiln_status try_status_ = (call);                                                       \
    if (try_status_ != KILN_OK)                                                                   \
      return try_status_;                                                                         \
  } while (0)

/* One encoder layer's weights, in the run dtype, PyTorch Linear layout
 * ([out, in], used with transpose_b). */
typedef struct kiln_bert_layer {
  kiln_tensor *qkv_w, *qkv_b;     /* [3H, H], [3H]: query, key, value rows */
  kiln_tensor *attn_out_w, *attn_out_b; /* [H, H], [H] */
  kiln_tensor *ln1_w, *ln1_b;     /* attention.output.LayerNorm */
  kiln_tensor *ffn_in_w, *ffn_in_b;   /* [I, H], [I] */
  kiln_tensor *ffn_out_w, *ffn_out_b; /* [H, I], [H] */
  kiln_tensor *ln2_w, *ln2_b;     /* output.LayerNorm */
} kiln_bert_layer;

/* Views of the work buffers in one batch's exact shape (T tokens, B
 * sequences), and on the GPU the forward captured for it. */
#define KILN_BERT_VIEWS 11
typedef struct kiln_bert_shape {
  int64_t tokens, batch, max_len;
  union {
    struct {
      kiln_tensor *ids, *pos, *cu;     /* i32 [T], [T], [B + 1] */
      kiln_tensor *h, *tmp;            /* [T, H] */
      kiln_tensor *qkv, *qkv_heads;    /* [T, 3H] and the same as [T, 3 nh, d] */
      kiln_tensor *attn, *attn_heads;  /* [T, H] and [T, nh, d] */
      kiln_tensor *ffn;                /* [T, I] */
      kiln_tensor *pooled;             /* [B, H] */
    } v;
    kiln_tensor *all[KILN_BERT_VIEWS];
  } u;
  kiln_graph *graph; /* NULL until the shape is seen twice (GPU only) */
  int uses;
  uint64_t last_use;
} kiln_bert_shape;

#define KILN_BERT_SHAPE_CACHE 32

struct kiln_bert {
  kiln_context *ctx;
  kiln_dtype dtype;
  kiln_bert_config cfg;
  bool use_graphs; /* on the GPU: capture each batch shape, replay it */

  kiln_tensor *word;       /* [V, H] */
  kiln_tensor *pos_type;   /* [P, H]: position rows + token type 0, summed once */
  kiln_tensor *emb_ln_w, *emb_ln_b;
  kiln_bert_layer *layer;

  /* Work buffers for the largest batch; each batch uses views of them. */
  int64_t max_tokens, max_batch;
  kiln_tensor *buf_ids, *buf_pos, *buf_cu, *buf_h, *buf_tmp, *buf_qkv, *buf_attn, *buf_ffn,
      *buf_pooled;

  /* Host staging for one batch. */
  int32_t *host_pos;
  void *host_pooled; /* [B, H] in dtype */

  /* The lengths whose positions and cu_seqlens the
   * buffers now hold (staged_n + 1 entries; staged_n -1: none). */
  int32_t *staged_cu;
  int64_t staged_n;

  kiln_bert_shape shapes[KILN_BERT_SHAPE_CACHE];
  uint64_t clock;
};

/* Frees a cached shape's views and graph and clears the slot. */
void kiln_bert_shape_drop(kiln_bert_shape *sh);

#endif /* KILN_MODELS_BERT_MODEL_H */
