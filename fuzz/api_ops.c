/* The op generators of the API fuzz harness (api.h): one row per public op. Each
 * reads its context, operands (any tensor slot, or NULL) and parameters
 * from the program, and calls the op through fz_checked. To fuzz a new op,
 * add a generator and its row. */
#include "api.h"

#include <string.h>

/* An op's arguments as read; the call below makes the kiln call. */
typedef struct op_args {
  kiln_context *ctx;
  kiln_tensor *t[8];
  float f[3];
  int i[4];
  int64_t l[2];
  int flag[2];
  bool null_params;
} op_args;

static void read_args(fz_state *f, op_args *a, int tensors) {
  memset(a, 0, sizeof *a);
  a->ctx = fz_ctx(f);
  for (int i = 0; i < tensors; i++)
    a->t[i] = fz_tensor(f);
  for (int i = 0; i < 3; i++)
    a->f[i] = fz_float(f);
  for (int i = 0; i < 4; i++)
    a->i[i] = fz_int(f);
  for (int i = 0; i < 2; i++)
    a->l[i] = fz_i64(f);
  for (int i = 0; i < 2; i++)
    a->flag[i] = fz_flag(f);
  a->null_params = fz_u8(f) % 8 == 0;
}

#define GENERATOR(name, tensors, ...)                                                        \
  static kiln_status call_##name(fz_state *f, void *args, void **out) {                        \
    (void)f;                                                                                   \
    (void)out;                                                                                 \
    op_args *a = args;                                                                         \
    __VA_ARGS__                                                                                \
  }                                                                                            \
  static void run_##name(fz_state *f) {                                                        \
    op_args a;                                                                                 \
    read_args(f, &a, tensors);                                                                 \
    (void)fz_checked(f, "kiln_" #name, call_##name, &a, NULL);                                 \
  }

GENERATOR(matmul, 4, {
  /* the activation from -1 to 3: the three values and a bad one each side */
  kiln_matmul_params p = {.transpose_a = a->flag[0], .transpose_b = a->flag[1], .alpha = a->f[0],
                          .beta = a->f[1], .bias = a->t[3],
                          .activation = (kiln_activation)(a->i[0] % 5 - 1)};
  return kiln_matmul(a->ctx, a->t[0], a->t[1], a->t[2], a->null_params ? NULL : &p);
})

GENERATOR(softmax, 3, {
  kiln_softmax_params p = {a->f[0], a->flag[0], a->t[2]};
  return kiln_softmax(a->ctx, a->t[0], a->t[1], a->null_params ? NULL : &p);
})

GENERATOR(rms_norm, 3, { return kiln_rms_norm(a->ctx, a->t[0], a->t[1], a->f[0], a->t[2]); })

GENERATOR(lora_linear, 6, {
  return kiln_lora_linear(a->ctx, a->t[0], a->t[1], a->t[2], a->t[3], a->t[4], a->f[0],
                          a->t[5]);
})

GENERATOR(add_rms_norm, 5, {
  return kiln_add_rms_norm(a->ctx, a->t[0], a->t[1], a->t[2], a->f[0], a->t[3], a->t[4]);
})

GENERATOR(layer_norm, 4, {
  return kiln_layer_norm(a->ctx, a->t[0], a->t[1], a->t[2], a->f[0], a->t[3]);
})

GENERATOR(gelu, 2, { return kiln_gelu(a->ctx, a->t[0], a->t[1], a->flag[0]); })
GENERATOR(silu, 2, { return kiln_silu(a->ctx, a->t[0], a->t[1]); })
GENERATOR(scale, 2, { return kiln_scale(a->ctx, a->t[0], a->f[0], a->t[1]); })
GENERATOR(swiglu, 3, { return kiln_swiglu(a->ctx, a->t[0], a->t[1], a->t[2]); })
GENERATOR(add, 3, { return kiln_add(a->ctx, a->t[0], a->t[1], a->t[2]); })
GENERATOR(mul, 3, { return kiln_mul(a->ctx, a->t[0], a->t[1], a->t[2]); })

GENERATOR(rope, 2, {
  kiln_rope_params p = {a->f[0], a->l[0], a->flag[0], a->i[1], a->i[2] % 5 - 3};
  return kiln_rope(a->ctx, a->t[0], a->t[1], a->null_params ? NULL : &p);
})

GENERATOR(embedding, 3, { return kiln_embedding(a->ctx, a->t[0], a->t[1], a->t[2]); })

/* Attention in both layouts: t[4..7] are the mask, seqlens_k and the two
 * cu_seqlens (each used or not by a bit of i[3]). */
static kiln_attention_params attention_params(const op_args *a) {
  const int use = a->i[3];
  kiln_attention_params p = {0};
  p.scale = a->f[0] == 1.0f ? 0.0f : a->f[0];
  p.causal = a->flag[0];
  p.mask = use & 1 ? a->t[4] : NULL;
  p.seqlens_k = use & 2 ? a->t[5] : NULL;
  p.cu_seqlens_q = use & 4 ? a->t[6] : NULL;
  p.cu_seqlens_k = use & 8 ? a->t[7] : NULL;
  p.max_seqlen_q = a->l[0];
  p.max_seqlen_k = a->l[1];
  return p;
}

GENERATOR(attention, 8, {
  kiln_attention_params p = attention_params(a);
  return kiln_attention(a->ctx, a->t[0], a->t[1], a->t[2], a->t[3],
                        a->null_params ? NULL : &p);
})

GENERATOR(attention_packed, 8, {
  kiln_attention_params p = attention_params(a);
  return kiln_attention_packed(a->ctx, a->t[0], a->t[3], a->null_params ? NULL : &p);
})

/* A custom function that, on the CPU, writes its first tensor and succeeds,
 * or fails without writing anything (what it writes before failing would
 * be the caller's doing, not kiln's). */
static kiln_status custom_fn(void *stream, kiln_tensor *const *tensors, int ntensors,
                             void *user) {
  int *calls = user;
  ++*calls;
  if (*calls % 3 == 0)
    return KILN_ERR_BACKEND;
  if (!stream && ntensors > 0 && tensors[0] && kiln_tensor_nbytes(tensors[0]) > 0)
    memset(kiln_tensor_data(tensors[0]), 0x3c, kiln_tensor_nbytes(tensors[0]));
  return KILN_OK;
}

static kiln_status call_custom(fz_state *f, void *args, void **out) {
  (void)out;
  op_args *a = args;
  int n = a->i[0];
  return kiln_custom_op(a->ctx, a->i[1] == 0 ? NULL : custom_fn, n == 2 ? NULL : a->t, n,
                        &f->custom_calls);
}

static void run_custom(fz_state *f) {
  op_args a;
  read_args(f, &a, 8);
  (void)fz_checked(f, "kiln_custom_op", call_custom, &a, NULL);
}

#define M2(a, b) {2, {a, b}, false}
#define V1(a) {1, {a}, false}
#define I1(a) {1, {a}, true}
#define ATT(a, b) {4, {7, a, b, 5}, false}
const fz_op kiln_fz_ops[] = {
    {"matmul", run_matmul, {M2(0, 1), M2(1, 2), M2(0, 2), V1(2)}},
    {"softmax", run_softmax, {M2(0, 1), M2(0, 1), V1(1)}},
    {"rms_norm", run_rms_norm, {M2(0, 1), V1(1), M2(0, 1)}},
    {"lora_linear", run_lora_linear, {M2(0, 1), M2(2, 1), V1(2), M2(3, 1), M2(2, 3), M2(0, 2)}},
    {"add_rms_norm", run_add_rms_norm, {M2(0, 1), M2(0, 1), V1(1), M2(0, 1), M2(0, 1)}},
    {"layer_norm", run_layer_norm, {M2(0, 1), V1(1), V1(1), M2(0, 1)}},
    {"gelu", run_gelu, {M2(0, 1), M2(0, 1)}},
    {"silu", run_silu, {M2(0, 1), M2(0, 1)}},
    {"scale", run_scale, {M2(0, 1), M2(0, 1)}},
    {"swiglu", run_swiglu, {M2(0, 1), M2(0, 1), M2(0, 1)}},
    {"add", run_add, {M2(0, 1), V1(1), M2(0, 1)}},
    {"mul", run_mul, {M2(0, 1), M2(0, 1), M2(0, 1)}},
    {"rope", run_rope, {{4, {7, 0, 3, 4}, false}, {4, {7, 0, 3, 4}, false}}},
    {"embedding", run_embedding, {M2(0, 1), I1(2), M2(2, 1)}},
    {"attention", run_attention,
     {ATT(0, 3), ATT(1, 7), ATT(1, 7), ATT(0, 3), M2(0, 1), I1(7), {0, {0}, false}, {0, {0}, false}}},
    {"attention_packed", run_attention_packed,
     {ATT(0, 6), {0, {0}, false}, {0, {0}, false}, ATT(0, 3)}},
    {"custom_op", run_custom, {M2(0, 1), M2(1, 2)}},
};
const int kiln_fz_op_count = (int)(sizeof kiln_fz_ops / sizeof kiln_fz_ops[0]);
