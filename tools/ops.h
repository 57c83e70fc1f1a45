/* The ops `kiln bench` knows, as one table: each op's shape, parameters,
 * tensors (roles) and how to call it. cases.c parses against it, workload.c
 * builds and runs from it; bench/torch_cases.py holds the same table. */
#ifndef KILN_TOOL_OPS_H
#define KILN_TOOL_OPS_H

#include <kiln.h>

typedef enum bench_op {
  BENCH_MATMUL, BENCH_SOFTMAX, BENCH_RMS_NORM, BENCH_LORA_LINEAR, BENCH_ADD_RMS_NORM,
  BENCH_LAYER_NORM, BENCH_GELU, BENCH_SILU, BENCH_SWIGLU, BENCH_ROPE, BENCH_EMBEDDING,
  BENCH_ATTENTION, BENCH_ATTENTION_VARLEN, BENCH_ATTENTION_DECODE, BENCH_ADD_LAYER_NORM,
  BENCH_MEAN_POOL,
  BENCH_OP_COUNT
} bench_op;

/* A case's parameters, by key: see param_specs in ops.c. */
typedef enum param_id {
  P_CAUSAL, P_SCALE, P_TB, P_EPS, P_RANK, P_TANH, P_BASE,
  P_SK, P_HKV, P_MINLEN, /* attention: keys, key/value heads, shortest varlen sequence */
  PARAM_COUNT
} param_id;
#define PARAM_BIT(p) (1u << (p))

typedef enum param_kind {
  KIND_FLAG,     /* 0 or 1 */
  KIND_POSITIVE, /* > 0 */
  KIND_COUNT     /* a whole number >= 1 */
} param_kind;

typedef struct param_spec {
  const char *key;
  param_kind kind;
  float fallback; /* when the case does not give it */
} param_spec;

typedef enum fill_kind {
  FILL_DATA, /* uniform in [-2, 2): activations, weights */
  FILL_GAIN, /* uniform in [0.5, 1.5): a norm's weight, never near 0 */
  FILL_IDS,  /* i32 uniform in [0, shape[0]): token ids (embedding) */
  FILL_CU    /* i32 [B + 1]: the varlen offsets of case_seq_len (attention_varlen) */
} fill_kind;

/* A role's dims, one character each: '0'..'3' the case's shape[i], 'L' its
 * last dim, 'r' the rank parameter, '*' the whole case shape; for attention
 * (shape B,S,H,D) 'k' the key count Sk, 'h' the key/value heads, 'T' the
 * query tokens of all sequences, '+' B + 1, 'P' the (query, key) pairs
 * attended per head, summed over the sequences (halved or so when causal). */
typedef struct role_spec {
  const char *name;
  const char *dims;
  fill_kind fill;
  const char *dims_tb; /* dims when the case has tb=1 (NULL: the same) */
  const char *counted; /* dims counted as bytes moved (NULL: dims); embedding
                          reads only the rows it gathers */
} role_spec;

enum { OP_MAX_ROLES = 6, OP_MAX_FLOP_TERMS = 3 }; /* add_layer_norm has 6 */

struct bench_case;
typedef kiln_status (*op_run_fn)(kiln_context *ctx, const struct bench_case *c,
                                 kiln_tensor *const *t);

typedef struct op_spec {
  const char *name;
  int min_dims, max_dims;
  const char *shape_help; /* for error messages */
  unsigned params;        /* PARAM_BIT of each key it takes */
  unsigned required;      /* ... and of each it must be given */
  role_spec roles[OP_MAX_ROLES];
  /* flops = 2 * sum of the products of these dims ('role dims' letters);
   * none: a bandwidth op, rated in GB/s */
  const char *flop_terms[OP_MAX_FLOP_TERMS];
  op_run_fn run;
} op_spec;

extern const op_spec op_specs[BENCH_OP_COUNT];
extern const param_spec param_specs[PARAM_COUNT];

#endif
