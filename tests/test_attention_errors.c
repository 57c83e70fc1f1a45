/* kiln_attention's and kiln_attention_packed's failing calls: one table row
 * per rule of kiln.h (shapes, dtypes, mask shapes, the length tensors,
 * aliasing, the scalar options), each checked for its status, a message
 * naming the function, the argument and the shapes, and every operand left
 * as it was; then the contents of the length tensors, and the composite
 * refusing a graph capture. */
#include "harness_ops.h"

#include <math.h>
#include <string.h>

#define R(role) KT_ROLE(role)
#define T1(a) {1, {a}}
#define T2(a, b) {2, {a, b}}
#define T3(a, b, c) {3, {a, b, c}}
#define T4(a, b, c, d) {4, {a, b, c, d}}

enum { Q, K, V, OUT, MASK, SL, CUQ, CUK };
#define LENGTHS (R(SL) | R(CUQ) | R(CUK))
/* B 2, Sq 5, Sk 7, Hq 4, Hkv 2, D 8 */
#define PAD T4(2, 5, 4, 8), T4(2, 7, 2, 8), T4(2, 7, 2, 8), T4(2, 5, 4, 8)
/* Tq 9, Tk 11 over B 2 */
#define VAR T3(9, 4, 8), T3(11, 2, 8), T3(11, 2, 8), T3(9, 4, 8)

typedef struct attn_bad {
  const char *name;
  kx_setup s;
  int packed; /* role Q is qkv; K and V absent */
  float scale;
  int causal;
  int64_t max_q, max_k;
  kiln_status want;
  const char *arg;
  unsigned shapes; /* roles whose shapes the message must quote */
} attn_bad;

/* clang-format off */
static const attn_bad cases[] = {
  /* shapes */
  {"out_3d_padded", {.spec = {T4(2, 5, 4, 8), T4(2, 7, 2, 8), T4(2, 7, 2, 8), T3(10, 4, 8)}}, 0, 0, 0, 0, 0, KILN_ERR_SHAPE, "out", R(OUT)},
  {"d_zero", {.spec = {T4(2, 5, 4, 0), T4(2, 7, 2, 0), T4(2, 7, 2, 0), T4(2, 5, 4, 0)}}, 0, 0, 0, 0, 0, KILN_ERR_SHAPE, "out", R(OUT)},
  {"d_257", {.spec = {T4(1, 2, 1, 257), T4(1, 2, 1, 257), T4(1, 2, 1, 257), T4(1, 2, 1, 257)}}, 0, 0, 0, 0, 0, KILN_ERR_SHAPE, "out", R(OUT)},
  {"q_not_out", {.spec = {T4(2, 5, 4, 9), T4(2, 7, 2, 8), T4(2, 7, 2, 8), T4(2, 5, 4, 8)}}, 0, 0, 0, 0, 0, KILN_ERR_SHAPE, "q", R(Q) | R(OUT)},
  {"k_head_dim", {.spec = {T4(2, 5, 4, 8), T4(2, 7, 2, 9), T4(2, 7, 2, 9), T4(2, 5, 4, 8)}}, 0, 0, 0, 0, 0, KILN_ERR_SHAPE, "k", R(Q) | R(K)},
  {"k_batch", {.spec = {T4(2, 5, 4, 8), T4(3, 7, 2, 8), T4(3, 7, 2, 8), T4(2, 5, 4, 8)}}, 0, 0, 0, 0, 0, KILN_ERR_SHAPE, "k", R(Q) | R(K)},
  {"k_3d", {.spec = {T4(2, 5, 4, 8), T3(14, 2, 8), T3(14, 2, 8), T4(2, 5, 4, 8)}}, 0, 0, 0, 0, 0, KILN_ERR_SHAPE, "k", R(Q) | R(K)},
  {"heads_not_divisible", {.spec = {T4(2, 5, 4, 8), T4(2, 7, 3, 8), T4(2, 7, 3, 8), T4(2, 5, 4, 8)}}, 0, 0, 0, 0, 0, KILN_ERR_SHAPE, "k", R(K) | R(OUT)},
  {"v_not_k", {.spec = {T4(2, 5, 4, 8), T4(2, 7, 2, 8), T4(2, 6, 2, 8), T4(2, 5, 4, 8)}}, 0, 0, 0, 0, 0, KILN_ERR_SHAPE, "v", R(K) | R(V)},
  /* dtypes */
  {"dtype_k", {.spec = {PAD}, .odd_dtype = R(K)}, 0, 0, 0, 0, 0, KILN_ERR_DTYPE, "k", 0},
  {"dtype_v", {.spec = {PAD}, .odd_dtype = R(V)}, 0, 0, 0, 0, 0, KILN_ERR_DTYPE, "v", 0},
  {"dtype_out", {.spec = {PAD}, .odd_dtype = R(OUT)}, 0, 0, 0, 0, 0, KILN_ERR_DTYPE, "out", 0},
  {"dtype_mask", {.spec = {PAD, T2(5, 7)}, .odd_dtype = R(MASK)}, 0, 0, 0, 0, 0, KILN_ERR_DTYPE, "mask", 0},
  {"i32_q", {.spec = {PAD}, .odd_dtype = R(Q) | R(K) | R(V) | R(OUT), .odd_i32 = 1}, 0, 0, 0, 0, 0, KILN_ERR_DTYPE, "q", 0},
  {"seqlens_not_i32", {.spec = {PAD, {0}, T1(2)}, .odd_dtype = R(SL), .i32_roles = LENGTHS}, 0, 0, 0, 0, 0, KILN_ERR_DTYPE, "seqlens_k", R(SL)},
  {"cu_q_not_i32", {.spec = {VAR, {0}, {0}, T1(3)}, .odd_dtype = R(CUQ), .i32_roles = LENGTHS}, 0, 0, 0, 5, 7, KILN_ERR_DTYPE, "cu_seqlens_q", R(CUQ)},
  /* NULL, other contexts */
  {"null_ctx", {.spec = {PAD}, .null = KX_CTX}, 0, 0, 0, 0, 0, KILN_ERR_INVALID_ARGUMENT, "ctx", 0},
  {"null_q", {.spec = {PAD}, .null = R(Q)}, 0, 0, 0, 0, 0, KILN_ERR_INVALID_ARGUMENT, "q", 0},
  {"null_k", {.spec = {PAD}, .null = R(K)}, 0, 0, 0, 0, 0, KILN_ERR_INVALID_ARGUMENT, "k", 0},
  {"null_v", {.spec = {PAD}, .null = R(V)}, 0, 0, 0, 0, 0, KILN_ERR_INVALID_ARGUMENT, "v", 0},
  {"null_out", {.spec = {PAD}, .null = R(OUT)}, 0, 0, 0, 0, 0, KILN_ERR_INVALID_ARGUMENT, "out", 0},
  {"foreign_k", {.spec = {PAD}, .foreign = R(K)}, 0, 0, 0, 0, 0, KILN_ERR_DEVICE, "k", 0},
  {"foreign_mask", {.spec = {PAD, T2(5, 7)}, .foreign = R(MASK)}, 0, 0, 0, 0, 0, KILN_ERR_DEVICE, "mask", 0},
  {"foreign_seqlens", {.spec = {PAD, {0}, T1(2)}, .foreign = R(SL), .i32_roles = LENGTHS}, 0, 0, 0, 0, 0, KILN_ERR_DEVICE, "seqlens_k", 0},
  {"foreign_cu_k", {.spec = {VAR, {0}, {0}, T1(3), T1(3)}, .foreign = R(CUK), .i32_roles = LENGTHS}, 0, 0, 0, 5, 7, KILN_ERR_DEVICE, "cu_seqlens_k", 0},
  /* scalars */
  {"scale_nan", {.spec = {PAD}}, 0, NAN, 0, 0, 0, KILN_ERR_INVALID_ARGUMENT, "scale", 0},
  {"scale_inf", {.spec = {PAD}}, 0, INFINITY, 0, 0, 0, KILN_ERR_INVALID_ARGUMENT, "scale", 0},
  {"causal_flag_2", {.spec = {PAD}}, 0, 0, 2, 0, 0, KILN_ERR_INVALID_ARGUMENT, "causal", 0},
  /* the mask: [Sq, Sk], [B, 1, Sq, Sk], [B, Hq, Sq, Sk] or [B, 1, 1, Sk] */
  {"mask_sk_wrong", {.spec = {PAD, T2(5, 6)}}, 0, 0, 0, 0, 0, KILN_ERR_SHAPE, "mask", R(MASK) | R(OUT)},
  {"mask_heads_wrong", {.spec = {PAD, T4(2, 2, 5, 7)}}, 0, 0, 0, 0, 0, KILN_ERR_SHAPE, "mask", R(MASK) | R(OUT)},
  {"mask_batch_wrong", {.spec = {PAD, T4(1, 1, 5, 7)}}, 0, 0, 0, 0, 0, KILN_ERR_SHAPE, "mask", R(MASK)},
  {"mask_3d", {.spec = {PAD, T3(2, 5, 7)}}, 0, 0, 0, 0, 0, KILN_ERR_SHAPE, "mask", R(MASK)},
  {"mask_1d", {.spec = {PAD, T1(7)}}, 0, 0, 0, 0, 0, KILN_ERR_SHAPE, "mask", R(MASK)},
  {"mask_in_varlen", {.spec = {VAR, T2(5, 7), {0}, T1(3), T1(3)}, .i32_roles = LENGTHS}, 0, 0, 0, 5, 7, KILN_ERR_INVALID_ARGUMENT, "mask", R(MASK)},
  /* the length tensors */
  {"seqlens_length", {.spec = {PAD, {0}, T1(3)}, .i32_roles = LENGTHS}, 0, 0, 0, 0, 0, KILN_ERR_SHAPE, "seqlens_k", R(SL)},
  {"seqlens_2d", {.spec = {PAD, {0}, T2(2, 1)}, .i32_roles = LENGTHS}, 0, 0, 0, 0, 0, KILN_ERR_SHAPE, "seqlens_k", R(SL)},
  {"varlen_seqlens_length", {.spec = {VAR, {0}, T1(3), T1(3), T1(3)}, .i32_roles = LENGTHS}, 0, 0, 0, 5, 7, KILN_ERR_SHAPE, "seqlens_k", R(SL)},
  {"cu_q_2d", {.spec = {VAR, {0}, {0}, T2(1, 3)}, .i32_roles = LENGTHS}, 0, 0, 0, 5, 7, KILN_ERR_SHAPE, "cu_seqlens_q", R(CUQ)},
  {"cu_q_empty", {.spec = {VAR, {0}, {0}, T1(0)}, .i32_roles = LENGTHS}, 0, 0, 0, 5, 7, KILN_ERR_SHAPE, "cu_seqlens_q", R(CUQ)},
  {"cu_k_length", {.spec = {VAR, {0}, {0}, T1(3), T1(4)}, .i32_roles = LENGTHS}, 0, 0, 0, 5, 7, KILN_ERR_SHAPE, "cu_seqlens_k", R(CUK)},
  {"cu_k_without_cu_q", {.spec = {PAD, {0}, {0}, {0}, T1(3)}, .i32_roles = LENGTHS}, 0, 0, 0, 0, 0, KILN_ERR_INVALID_ARGUMENT, "cu_seqlens_k", 0},
  {"varlen_tk_differs_shared_cu", {.spec = {VAR, {0}, {0}, T1(3)}, .i32_roles = LENGTHS}, 0, 0, 0, 5, 7, KILN_ERR_SHAPE, "k", 0},
  {"varlen_q_4d", {.spec = {PAD, {0}, {0}, T1(3)}, .i32_roles = LENGTHS}, 0, 0, 0, 5, 7, KILN_ERR_SHAPE, "out", R(OUT)},
  {"varlen_max_seqlen_zero", {.spec = {VAR, {0}, {0}, T1(3), T1(3)}, .i32_roles = LENGTHS}, 0, 0, 0, 0, 7, KILN_ERR_INVALID_ARGUMENT, "max_seqlen_q", 0},
  {"varlen_max_seqlen_k_negative", {.spec = {VAR, {0}, {0}, T1(3), T1(3)}, .i32_roles = LENGTHS}, 0, 0, 0, 5, -1, KILN_ERR_INVALID_ARGUMENT, "max_seqlen_k", 0},
  {"padded_max_seqlen", {.spec = {PAD}}, 0, 0, 0, 5, 0, KILN_ERR_INVALID_ARGUMENT, "max_seqlen_q", 0},
  /* aliasing: out overlaps nothing it reads */
  {"out_is_q", {.spec = {PAD}, .out_is = Q + 1}, 0, 0, 0, 0, 0, KILN_ERR_INVALID_ARGUMENT, "q", 0},
  {"out_is_k", {.spec = {T4(2, 5, 4, 8), T4(2, 5, 4, 8), T4(2, 5, 4, 8), T4(2, 5, 4, 8)}, .out_is = K + 1}, 0, 0, 0, 0, 0, KILN_ERR_INVALID_ARGUMENT, "k", 0},
  {"out_is_v", {.spec = {T4(2, 5, 4, 8), T4(2, 5, 4, 8), T4(2, 5, 4, 8), T4(2, 5, 4, 8)}, .out_is = V + 1}, 0, 0, 0, 0, 0, KILN_ERR_INVALID_ARGUMENT, "v", 0},
  {"out_is_mask", {.spec = {T4(2, 4, 4, 4), T4(2, 4, 4, 4), T4(2, 4, 4, 4), T4(2, 4, 4, 4), T4(2, 4, 4, 4)}, .out_is = MASK + 1}, 0, 0, 0, 0, 0, KILN_ERR_INVALID_ARGUMENT, "mask", 0},
  /* packed: qkv [B, S, Hq + 2 Hkv, D], Hq from out */
  {"packed_odd_kv_heads", {.spec = {T4(2, 5, 7, 8), {0}, {0}, T4(2, 5, 4, 8)}}, 1, 0, 0, 0, 0, KILN_ERR_SHAPE, "qkv", R(Q) | R(OUT)},
  {"packed_no_kv_heads", {.spec = {T4(2, 5, 4, 8), {0}, {0}, T4(2, 5, 4, 8)}}, 1, 0, 0, 0, 0, KILN_ERR_SHAPE, "qkv", R(Q) | R(OUT)},
  {"packed_heads_not_divisible", {.spec = {T4(2, 5, 10, 8), {0}, {0}, T4(2, 5, 4, 8)}}, 1, 0, 0, 0, 0, KILN_ERR_SHAPE, "qkv", R(Q) | R(OUT)},
  {"packed_seq_differs", {.spec = {T4(2, 6, 8, 8), {0}, {0}, T4(2, 5, 4, 8)}}, 1, 0, 0, 0, 0, KILN_ERR_SHAPE, "qkv", R(Q) | R(OUT)},
  {"packed_null_qkv", {.spec = {T4(2, 5, 8, 8), {0}, {0}, T4(2, 5, 4, 8)}, .null = R(Q)}, 1, 0, 0, 0, 0, KILN_ERR_INVALID_ARGUMENT, "qkv", 0},
  {"packed_dtype_out", {.spec = {T4(2, 5, 8, 8), {0}, {0}, T4(2, 5, 4, 8)}, .odd_dtype = R(OUT)}, 1, 0, 0, 0, 0, KILN_ERR_DTYPE, "out", 0},
  {"packed_out_in_qkv", {.spec = {T4(2, 5, 8, 8), {0}, {0}, T4(2, 5, 8, 8)}, .out_is = Q + 1}, 1, 0, 0, 0, 0, KILN_ERR_SHAPE, "qkv", 0},
};
/* clang-format on */

static const char *fn_of(const attn_bad *c) {
  return c->packed ? "kiln_attention_packed" : "kiln_attention";
}

static void test_bad_call(kt_env *env) {
  const attn_bad *c = env->param;
  kx_operands o = kx_bad_operands(env, &c->s, OUT);
  kiln_attention_params p = {.scale = c->scale, .causal = c->causal, .mask = o.t[MASK],
                             .seqlens_k = o.t[SL], .cu_seqlens_q = o.t[CUQ],
                             .cu_seqlens_k = o.t[CUK], .max_seqlen_q = c->max_q,
                             .max_seqlen_k = c->max_k};
  kiln_status s = c->packed ? kiln_attention_packed(o.ctx, o.t[Q], o.t[OUT], &p)
                            : kiln_attention(o.ctx, o.t[Q], o.t[K], o.t[V], o.t[OUT], &p);
  kx_bad_check(env, &c->s, &o, s, c->want, fn_of(c), c->arg);
  for (int r = 0; r < KX_ROLES; r++)
    if (c->shapes & R(r)) {
      const char *shape = kt_tensor_shape_str(o.t[r]);
      if (!strstr(kiln_last_error(), shape))
        KT_FAIL(env, "the message does not quote the shape %s: \"%s\"", shape, kiln_last_error());
    }
}

/* Bad contents of the length tensors: on the CPU the call fails before
 * writing anything; on the GPU the kernel finds them and the next sync
 * reports them. */
typedef struct attn_bad_lengths {
  const char *name;
  int32_t cu_q[4], cu_k[4]; /* B = 3; cu_k[0] = -99: no cu_seqlens_k */
  int32_t seqlens[3];       /* seqlens[0] = -99: none */
  int64_t max_q, max_k;
  const char *needle;
} attn_bad_lengths;

/* q [Tq = 12, 4, D], k and v [Tk = 12, 2, D], D 8 and 32 (the CUDA
 * tensor-core kernels' smallest head dim: their own length checks run) */
static const attn_bad_lengths length_cases[] = {
    {"cu_q_first_not_0", {1, 4, 8, 12}, {-99}, {-99}, 8, 8, "cu_seqlens_q[0]"},
    {"cu_q_decreasing", {0, 8, 4, 12}, {-99}, {-99}, 8, 8, "cu_seqlens_q[2]"},
    {"cu_q_last_not_total", {0, 4, 8, 11}, {-99}, {-99}, 8, 8, "cu_seqlens_q[3]"},
    {"cu_q_above_max", {0, 2, 10, 12}, {-99}, {-99}, 7, 8, "max_seqlen_q"},
    {"cu_q_shared_above_max_k", {0, 2, 10, 12}, {-99}, {-99}, 8, 7, "max_seqlen_k"},
    {"cu_k_decreasing", {0, 4, 8, 12}, {0, 6, 5, 12}, {-99}, 8, 8, "cu_seqlens_k[2]"},
    {"cu_k_last_not_total", {0, 4, 8, 12}, {0, 6, 7, 13}, {-99}, 8, 8, "cu_seqlens_k[3]"},
    {"seqlens_negative", {0, 4, 8, 12}, {-99}, {4, -1, 2}, 8, 8, "seqlens_k[1]"},
    {"seqlens_above_keys", {0, 4, 8, 12}, {-99}, {4, 2, 5}, 8, 8, "seqlens_k[2]"},
};

static void bad_lengths_at(kt_env *env, const attn_bad_lengths *c, int64_t d) {
  const int64_t qs[3] = {12, 4, d}, ks[3] = {12, 2, d}, cs[1] = {4}, ss[1] = {3};
  kiln_tensor *q = kt_tensor(env, env->dtype, 3, qs), *k = kt_tensor(env, env->dtype, 3, ks),
              *v = kt_tensor(env, env->dtype, 3, ks), *out = kt_tensor(env, env->dtype, 3, qs);
  kt_random(env, q, -1, 1);
  kt_random(env, k, -1, 1);
  kt_random(env, v, -1, 1);
  kiln_attention_params p = {.cu_seqlens_q = kx_ids(env, 1, cs, c->cu_q),
                             .max_seqlen_q = c->max_q, .max_seqlen_k = c->max_k};
  if (c->cu_k[0] != -99)
    p.cu_seqlens_k = kx_ids(env, 1, cs, c->cu_k);
  if (c->seqlens[0] != -99)
    p.seqlens_k = kx_ids(env, 1, ss, c->seqlens);
  for (int composite = 0; composite < 2; composite++) {
    kx_use_fused(env, !composite);
    kt_snapshot snap = kt_fill_pattern(env, out);
    kiln_status s = kiln_attention(env->ctx, q, k, v, out, &p);
    kx_use_fused(env, 1);
    if (env->device == KILN_DEVICE_CUDA && s == KILN_OK)
      s = kiln_sync(env->ctx); /* found by the kernel, reported here */
    else
      kt_expect_unchanged(env, &snap, "out");
    const char *needles[] = {c->needle, NULL};
    kt_expect_error(env, s, KILN_ERR_INVALID_ARGUMENT, "kiln_attention", NULL, needles);
  }
}

static void test_bad_lengths(kt_env *env) {
  bad_lengths_at(env, env->param, 8);
  bad_lengths_at(env, env->param, 32);
}

/* The composite reads lengths on the host: a capture is refused, named. */
static void test_composite_capture(kt_env *env) {
  const int64_t qs[4] = {1, 3, 2, 8};
  kiln_tensor *q = kt_tensor(env, env->dtype, 4, qs), *out = kt_tensor(env, env->dtype, 4, qs);
  kt_random(env, q, -1, 1);
  kx_use_fused(env, 0);
  kiln_status begin = kiln_graph_begin(env->ctx);
  kiln_status s = KILN_OK;
  if (begin == KILN_OK) {
    s = kiln_attention(env->ctx, q, q, q, out, NULL);
    kiln_graph *g = NULL;
    KT_OK(env, kiln_graph_end(env->ctx, &g));
    kt_track_graph(g);
  }
  kx_use_fused(env, 1);
  KT_OK(env, begin);
  const char *needles[] = {"composite", "graph", NULL};
  kt_expect_error(env, s, KILN_ERR_UNSUPPORTED, "kiln_attention", NULL, needles);
}

void attention_register_errors(void);
void attention_register_errors(void) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    kt_add(test_bad_call, &cases[i], KILN_F32, "attention_error_%s", cases[i].name);
  for (size_t i = 0; i < sizeof length_cases / sizeof length_cases[0]; i++)
    kt_add(test_bad_lengths, &length_cases[i], KILN_F32, "attention_error_lengths_%s",
           length_cases[i].name);
  kt_add(test_composite_capture, NULL, KILN_BF16, "attention_error_composite_capture");
}
