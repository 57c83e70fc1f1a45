/* The op table: one entry per op `kiln bench` runs. Adding an op is one
 * entry here, one run function, and the same entry in bench/torch_cases.py. */
#include "cases.h"

const param_spec param_specs[PARAM_COUNT] = {
    [P_CAUSAL] = {"causal", KIND_FLAG, 0},     /* softmax */
    [P_SCALE] = {"scale", KIND_POSITIVE, 1},   /* softmax; lora_linear (lora_alpha / r) */
    [P_TB] = {"tb", KIND_FLAG, 0},             /* matmul: b given as [N, K] */
    [P_EPS] = {"eps", KIND_POSITIVE, 1e-5f},   /* the norms; PyTorch's usual eps */
    [P_RANK] = {"rank", KIND_COUNT, 0},        /* lora_linear */
    [P_TANH] = {"tanh", KIND_FLAG, 0},         /* gelu: the tanh approximation */
    [P_BASE] = {"base", KIND_POSITIVE, 10000}, /* rope */
    [P_SK] = {"sk", KIND_COUNT, 0},            /* attention: 0 (not given) = S */
    [P_HKV] = {"hkv", KIND_COUNT, 0},          /* attention: 0 (not given) = H */
    [P_MINLEN] = {"minlen", KIND_COUNT, 1},    /* attention_varlen */
};

static kiln_status run_matmul(kiln_context *ctx, const bench_case *c, kiln_tensor *const *t) {
  kiln_matmul_params p = {.transpose_b = (int)c->param[P_TB], .alpha = 1.0f};
  return kiln_matmul(ctx, t[0], t[1], t[2], &p);
}

static kiln_status run_softmax(kiln_context *ctx, const bench_case *c, kiln_tensor *const *t) {
  kiln_softmax_params p = {.scale = c->param[P_SCALE], .causal = (int)c->param[P_CAUSAL]};
  return kiln_softmax(ctx, t[0], t[1], &p);
}

static kiln_status run_rms_norm(kiln_context *ctx, const bench_case *c, kiln_tensor *const *t) {
  return kiln_rms_norm(ctx, t[0], t[1], c->param[P_EPS], t[2]);
}

static kiln_status run_lora(kiln_context *ctx, const bench_case *c, kiln_tensor *const *t) {
  return kiln_lora_linear(ctx, t[0], t[1], NULL, t[2], t[3], c->param[P_SCALE], t[4]);
}

static kiln_status run_add_rms_norm(kiln_context *ctx, const bench_case *c,
                                    kiln_tensor *const *t) {
  return kiln_add_rms_norm(ctx, t[0], t[1], t[2], c->param[P_EPS], t[3], t[4]);
}

static kiln_status run_layer_norm(kiln_context *ctx, const bench_case *c, kiln_tensor *const *t) {
  return kiln_layer_norm(ctx, t[0], t[1], t[2], c->param[P_EPS], t[3]);
}

static kiln_status run_add_layer_norm(kiln_context *ctx, const bench_case *c,
                                      kiln_tensor *const *t) {
  return kiln_add_layer_norm(ctx, t[0], t[1], t[2], t[3], c->param[P_EPS], t[4], t[5]);
}

/* x [B, S, H], every sequence all S rows (no lengths), normalized: a
 * sentence embedding's pooling. */
static kiln_status run_mean_pool(kiln_context *ctx, const bench_case *c, kiln_tensor *const *t) {
  (void)c;
  return kiln_mean_pool(ctx, t[0], NULL, 1, t[1]);
}

static kiln_status run_gelu(kiln_context *ctx, const bench_case *c, kiln_tensor *const *t) {
  return kiln_gelu(ctx, t[0], t[1], (int)c->param[P_TANH]);
}

static kiln_status run_silu(kiln_context *ctx, const bench_case *c, kiln_tensor *const *t) {
  (void)c;
  return kiln_silu(ctx, t[0], t[1]);
}

static kiln_status run_swiglu(kiln_context *ctx, const bench_case *c, kiln_tensor *const *t) {
  (void)c;
  return kiln_swiglu(ctx, t[0], t[1], t[2]);
}

static kiln_status run_rope(kiln_context *ctx, const bench_case *c, kiln_tensor *const *t) {
  kiln_rope_params p = {.base = c->param[P_BASE], .seq_axis = -2};
  return kiln_rope(ctx, t[0], t[1], &p);
}

static kiln_status run_embedding(kiln_context *ctx, const bench_case *c, kiln_tensor *const *t) {
  (void)c;
  return kiln_embedding(ctx, t[0], t[1], t[2]);
}

/* q [B, S, H, D], k and v [B, Sk, Hkv, D] (kiln.h's padded layout); the
 * scale is the default 1/sqrt(D). */
static kiln_status run_attention(kiln_context *ctx, const bench_case *c, kiln_tensor *const *t) {
  kiln_attention_params p = {.causal = (int)c->param[P_CAUSAL]};
  return kiln_attention(ctx, t[0], t[1], t[2], t[3], &p);
}

/* q, k, v, out [T, H(kv), D] over B self-attention sequences of
 * case_seq_len tokens; t[4] their offsets. */
static kiln_status run_attention_varlen(kiln_context *ctx, const bench_case *c,
                                        kiln_tensor *const *t) {
  kiln_attention_params p = {.causal = (int)c->param[P_CAUSAL], .cu_seqlens_q = t[4],
                             .max_seqlen_q = c->shape[1], .max_seqlen_k = c->shape[1]};
  return kiln_attention(ctx, t[0], t[1], t[2], t[3], &p);
}

#define X {"x", "*", FILL_DATA, NULL, NULL}
#define OUT {"out", "*", FILL_DATA, NULL, NULL}
#define GAIN(name) {name, "L", FILL_GAIN, NULL, NULL}
#define ANY_DIMS 1, KILN_MAX_DIMS, "the tensor's dims (last = row length)"

const op_spec op_specs[BENCH_OP_COUNT] = {
    [BENCH_MATMUL] = {"matmul", 3, 3, "M,N,K (out [M,N] = a [M,K] @ b [K,N])", PARAM_BIT(P_TB), 0,
                      {{"a", "02", FILL_DATA, NULL, NULL},
                       {"b", "21", FILL_DATA, "12", NULL},
                       {"out", "01", FILL_DATA, NULL, NULL}},
                      {"012"}, run_matmul},
    [BENCH_SOFTMAX] = {"softmax", ANY_DIMS, PARAM_BIT(P_CAUSAL) | PARAM_BIT(P_SCALE), 0,
                       {X, OUT}, {NULL}, run_softmax},
    [BENCH_RMS_NORM] = {"rms_norm", ANY_DIMS, PARAM_BIT(P_EPS), 0, {X, GAIN("weight"), OUT},
                        {NULL}, run_rms_norm},
    [BENCH_LORA_LINEAR] = {"lora_linear", 3, 3, "rows,in,out (x [rows,in], w [out,in])",
                           PARAM_BIT(P_RANK) | PARAM_BIT(P_SCALE), PARAM_BIT(P_RANK),
                           {{"x", "01", FILL_DATA, NULL, NULL},
                            {"w", "21", FILL_DATA, NULL, NULL},
                            {"a", "r1", FILL_DATA, NULL, NULL},
                            {"b", "2r", FILL_DATA, NULL, NULL},
                            {"out", "02", FILL_DATA, NULL, NULL}},
                           {"012", "01r", "0r2"}, run_lora},
    [BENCH_ADD_RMS_NORM] = {"add_rms_norm", ANY_DIMS, PARAM_BIT(P_EPS), 0,
                            {X, {"residual", "*", FILL_DATA, NULL, NULL}, GAIN("weight"),
                             {"h_out", "*", FILL_DATA, NULL, NULL}, OUT},
                            {NULL}, run_add_rms_norm},
    [BENCH_LAYER_NORM] = {"layer_norm", ANY_DIMS, PARAM_BIT(P_EPS), 0,
                          {X, GAIN("weight"), {"bias", "L", FILL_DATA, NULL, NULL}, OUT}, {NULL},
                          run_layer_norm},
    [BENCH_ADD_LAYER_NORM] = {"add_layer_norm", ANY_DIMS, PARAM_BIT(P_EPS), 0,
                              {X, {"residual", "*", FILL_DATA, NULL, NULL}, GAIN("weight"),
                               {"bias", "L", FILL_DATA, NULL, NULL},
                               {"h_out", "*", FILL_DATA, NULL, NULL}, OUT},
                              {NULL}, run_add_layer_norm},
    [BENCH_MEAN_POOL] = {"mean_pool", 3, 3, "B,S,H (x [B,S,H], out [B,H]; mean + L2)", 0, 0,
                         {{"x", "012", FILL_DATA, NULL, NULL},
                          {"out", "02", FILL_DATA, NULL, NULL}},
                         {NULL}, run_mean_pool},
    [BENCH_GELU] = {"gelu", ANY_DIMS, PARAM_BIT(P_TANH), 0, {X, OUT}, {NULL}, run_gelu},
    [BENCH_SILU] = {"silu", ANY_DIMS, 0, 0, {X, OUT}, {NULL}, run_silu},
    [BENCH_SWIGLU] = {"swiglu", ANY_DIMS, 0, 0,
                      {{"gate", "*", FILL_DATA, NULL, NULL}, {"up", "*", FILL_DATA, NULL, NULL},
                       OUT},
                      {NULL}, run_swiglu},
    [BENCH_ROPE] = {"rope", 2, KILN_MAX_DIMS, "[..., S, D] (B,H,S,D: sequence axis -2)",
                    PARAM_BIT(P_BASE), 0, {X, OUT}, {NULL}, run_rope},
    [BENCH_EMBEDDING] = {"embedding", 3, 3, "V,D,n (table [V,D], n ids)", 0, 0,
                         {{"table", "01", FILL_DATA, NULL, "21"}, /* only the n rows read */
                          {"ids", "2", FILL_IDS, NULL, NULL},
                          {"out", "21", FILL_DATA, NULL, NULL}},
                         {NULL}, run_embedding},
    [BENCH_ATTENTION] = {"attention", 4, 4, "B,S,H,D (q [B,S,H,D]; sk=, hkv= for k and v)",
                         PARAM_BIT(P_CAUSAL) | PARAM_BIT(P_SK) | PARAM_BIT(P_HKV), 0,
                         {{"q", "0123", FILL_DATA, NULL, NULL},
                          {"k", "0kh3", FILL_DATA, NULL, NULL},
                          {"v", "0kh3", FILL_DATA, NULL, NULL},
                          {"out", "0123", FILL_DATA, NULL, NULL}},
                         {"P23", "P23"}, run_attention},
    [BENCH_ATTENTION_VARLEN] = {"attention_varlen", 4, 4,
                                "B,S,H,D (B sequences of minlen..S tokens, q [T,H,D])",
                                PARAM_BIT(P_CAUSAL) | PARAM_BIT(P_HKV) | PARAM_BIT(P_MINLEN), 0,
                                {{"q", "T23", FILL_DATA, NULL, NULL},
                                 {"k", "Th3", FILL_DATA, NULL, NULL},
                                 {"v", "Th3", FILL_DATA, NULL, NULL},
                                 {"out", "T23", FILL_DATA, NULL, NULL},
                                 {"cu_seqlens", "+", FILL_CU, NULL, NULL}},
                                {"P23", "P23"}, run_attention_varlen},
    /* decode: rated by the bytes moved (the KV cache read), not flops */
    [BENCH_ATTENTION_DECODE] = {"attention_decode", 4, 4,
                                "B,S,H,D (q [B,S,H,D], S small; sk=, hkv= for the cache)",
                                PARAM_BIT(P_CAUSAL) | PARAM_BIT(P_SK) | PARAM_BIT(P_HKV), 0,
                                {{"q", "0123", FILL_DATA, NULL, NULL},
                                 {"k", "0kh3", FILL_DATA, NULL, NULL},
                                 {"v", "0kh3", FILL_DATA, NULL, NULL},
                                 {"out", "0123", FILL_DATA, NULL, NULL}},
                                {NULL}, run_attention},
};
