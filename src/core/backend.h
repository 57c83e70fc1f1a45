/*
 * The backend interface: one struct of function pointers per device kind.
 *
 * Everything below src/ops/ has already been validated when a backend sees
 * it: shapes fit, dtypes match, tensors belong to the context, outputs do
 * not alias inputs they must not alias. A backend only reports failures of
 * its own (out of memory, a driver or vendor-library error), through
 * kiln_fail(), and never touches an output on failure where it can help it.
 */
#ifndef KILN_CORE_BACKEND_H
#define KILN_CORE_BACKEND_H

#include "kiln.h"

#include <stdbool.h>

/* The operands of one op, after validation, in the form every backend and
 * the CPU graph recorder use. Batch counts and matrix sizes are flattened
 * here once, so backends never re-derive them from shapes. */
/* out[i] = alpha op(a[i]) op(b[i]) + beta out[i] (+ bias) for i < batch,
 * each product [m, n] with inner size k, row-major. a[i] starts stride_a
 * elements after a[i-1], likewise b (stride_b 0: one b serves every batch)
 * and out. Batches that share one b and whose rows of a lie one after
 * another (no transpose_a) are folded into m by src/ops/ (batch 1), so a
 * backend runs the fewest, largest products without deciding so itself. */
typedef struct kiln_matmul_op {
  const kiln_tensor *a, *b, *bias; /* bias [n] may be NULL */
  kiln_tensor *out;
  kiln_dtype dtype;
  int64_t batch;
  int64_t m, n, k;
  int64_t stride_a, stride_b, stride_c; /* elements; read only when batch > 1 */
  bool transpose_a, transpose_b;
  float alpha, beta;
  kiln_activation activation; /* applied last, before the rounding to dtype */
} kiln_matmul_op;

typedef struct kiln_softmax_op {
  const kiln_tensor *x;
  kiln_tensor *out; /* may be x */
  kiln_dtype dtype;
  int64_t rows, cols; /* x is [rows, cols] once leading dims are flattened */
  int64_t sq;         /* causal: rows of each [Sq, Sk] matrix; else 0 */
  bool causal;
  float scale;
  const kiln_tensor *mask; /* optional, [mask_rows, cols] in dtype */
  int64_t mask_group;      /* row r uses mask row r / mask_group (rows for a 1-D mask) */
} kiln_softmax_op;

typedef struct kiln_rms_norm_op {
  const kiln_tensor *x, *weight;
  kiln_tensor *out; /* may be x */
  kiln_dtype dtype;
  int64_t rows, cols;
  float eps;
} kiln_rms_norm_op;

/* out = x w^T (+ bias) + scale (x a^T) b^T; x [rows, in], w [n, in],
 * a [rank, in], b [n, rank], out [rows, n]. */
typedef struct kiln_lora_op {
  const kiln_tensor *x, *w, *bias, *a, *b; /* bias may be NULL */
  kiln_tensor *out;
  kiln_dtype dtype;
  int64_t rows, in, n, rank;
  float scale;
} kiln_lora_op;

/* h = x + residual (rounded to dtype, stored), out = rms_norm(h as stored).
 * h may be x or residual; out overlaps nothing. */
typedef struct kiln_add_rms_norm_op {
  const kiln_tensor *x, *residual, *weight;
  kiln_tensor *h, *out;
  kiln_dtype dtype;
  int64_t rows, cols;
  float eps;
} kiln_add_rms_norm_op;

/* weight and bias may be NULL (1 and 0); out may be x. */
typedef struct kiln_layer_norm_op {
  const kiln_tensor *x, *weight, *bias;
  kiln_tensor *out;
  kiln_dtype dtype;
  int64_t rows, cols;
  float eps;
} kiln_layer_norm_op;

/* h = x + residual (rounded to dtype, stored), out = layer_norm(h as
 * stored). h may be x or residual; out overlaps nothing; weight and bias
 * may be NULL (1 and 0). */
typedef struct kiln_add_layer_norm_op {
  const kiln_tensor *x, *residual, *weight, *bias;
  kiln_tensor *h, *out;
  kiln_dtype dtype;
  int64_t rows, cols;
  float eps;
} kiln_add_layer_norm_op;

/* out[b, :] = mean of sequence b's rows of x (then / its L2 norm when
 * normalize), for b < batch; rows of cols elements. Varlen: lengths is
 * cu_seqlens i32 [batch + 1] over x's total rows. Padded: sequence b
 * starts at row b * seq; lengths is seqlens i32 [batch] or NULL (every
 * sequence seq rows). The lengths' contents are checked by the backend
 * (the CPU before writing, the GPU in the kernel, deferred). */
typedef struct kiln_mean_pool_op {
  const kiln_tensor *x, *lengths; /* lengths may be NULL (padded only) */
  kiln_tensor *out;
  kiln_dtype dtype;
  int64_t batch, cols;
  int64_t total; /* rows of x */
  int64_t seq;   /* padded: S; varlen: 0 */
  bool varlen, normalize;
} kiln_mean_pool_op;

typedef enum kiln_unary_kind {
  KILN_UNARY_GELU_ERF,
  KILN_UNARY_GELU_TANH,
  KILN_UNARY_SILU,
  KILN_UNARY_SCALE /* out = scale * x */
} kiln_unary_kind;

/* The unary op that a matmul's activation is (not NONE). */
static inline kiln_unary_kind kiln_activation_unary(kiln_activation act) {
  return act == KILN_ACTIVATION_GELU_TANH ? KILN_UNARY_GELU_TANH : KILN_UNARY_GELU_ERF;
}

/* out[i] = f(x[i]) for i < n; out may be x. */
typedef struct kiln_unary_op {
  kiln_unary_kind kind;
  const kiln_tensor *x;
  kiln_tensor *out;
  kiln_dtype dtype;
  int64_t n;
  float scale;
} kiln_unary_op;

typedef enum kiln_binary_kind {
  KILN_BINARY_ADD,
  KILN_BINARY_MUL,
  KILN_BINARY_SWIGLU /* silu(a) * b */
} kiln_binary_kind;

/* out[i] = a[i] op b[i % b_n] for i < n (b_n divides n; b_n == n for
 * swiglu). out may be a, or b when b_n == n. */
typedef struct kiln_binary_op {
  kiln_binary_kind kind;
  const kiln_tensor *a, *b;
  kiln_tensor *out;
  kiln_dtype dtype;
  int64_t n, b_n;
} kiln_binary_op;

/* x, out: [outer, seq, inner, d] flattened; row (o, s, i) has position
 * position_offset + s. rotary_dims even, <= d. out may be x. */
typedef struct kiln_rope_op {
  const kiln_tensor *x;
  kiln_tensor *out;
  kiln_dtype dtype;
  int64_t outer, seq, inner, d;
  int64_t rotary_dims;
  int64_t position_offset;
  float base;
  bool interleaved;
} kiln_rope_op;

/* out[i, :] = table[ids[i], :] for i < n_ids; table [vocab, d]. A backend
 * checks every id against vocab (the CPU before writing anything). */
typedef struct kiln_embedding_op {
  const kiln_tensor *table, *ids;
  kiln_tensor *out;
  kiln_dtype dtype; /* the table's */
  int64_t n_ids, vocab, d;
  /* Set in a CPU graph replay: a bad id's row is zeros and the other rows
   * are written, as on the GPU, before the failure is returned. Otherwise
   * a bad id fails the op before anything is written. */
  bool zero_bad_ids;
} kiln_embedding_op;

/* out = softmax(scale q k^T + mask) v for every (sequence b, query head h),
 * query head h reading kv head h / (hq / hkv). One record covers the padded,
 * varlen and packed layouts: token rows are addressed through a row stride
 * and a head-0 offset, both in elements, so packed qkv is q = k = v = qkv
 * with offsets 0, hq*d and (hq+hkv)*d and a row stride of (hq+2*hkv)*d.
 *
 *   query row (b, i), head h: q.data + q_off + (q_start(b) + i) * q_row + h * d
 *   key   row (b, j), head g: k.data + k_off + (k_start(b) + j) * k_row + g * d
 *   out   row (b, i), head h: out.data + (q_start(b) + i) * hq * d + h * d
 *
 * Padded (cu_seqlens_q NULL): q_start(b) = b * sq, k_start(b) = b * sk, every
 * sequence sq queries and sk keys. Varlen: q_start(b) = cu_seqlens_q[b],
 * length cu_seqlens_q[b+1] - q_start(b) (<= sq, which holds max_seqlen_q);
 * likewise k with cu_seqlens_k (the same tensor as cu_seqlens_q when the
 * caller gave none). Per sequence, with lq queries and lk keys (lk the
 * padded sk or the cu_seqlens_k length, then replaced by seqlens_k[b] when
 * seqlens_k is set), key j is masked for query i when j >= lk, when causal
 * and j > i + (lk - lq) (so causal is aligned to the filled length of a KV
 * cache, as FlashAttention's cache_seqlens), and by -inf entries of the
 * additive mask (padded layout only): element (b, h, i, j) of the mask is at
 * mask.data + b * mask_b + h * mask_h + i * mask_q + j (strides 0 on
 * broadcast dims: mask_q is sk, or 0 for a [B, 1, 1, Sk] mask). A query row with every
 * key masked gives zeros. All offsets and strides are in elements of dtype.
 * The int32 contents of seqlens_k and cu_seqlens live in device memory:
 * a backend checks them before writing (CPU) or in the kernel (GPU), and
 * reports bad values through the deferred-error path. Valid contents:
 * cu_seqlens[0] = 0, never decreasing, cu_seqlens_q[batch] = total_q and
 * cu_seqlens_k[batch] = total_k, every length <= sq (resp. sk);
 * 0 <= seqlens_k[b] <= the sequence's key count. */
typedef struct kiln_attention_op {
  const kiln_tensor *q, *k, *v;
  kiln_tensor *out;
  kiln_dtype dtype;
  int64_t batch, hq, hkv, d;
  int64_t sq, sk;        /* padded: the lengths; varlen: max_seqlen_q, max_seqlen_k */
  int64_t total_q, total_k; /* token rows of q (= out) and k (= v) */
  int64_t q_off, k_off, v_off;
  int64_t q_row, k_row, v_row;
  float scale;
  bool causal;
  const kiln_tensor *mask; /* optional, q's dtype */
  int64_t mask_b, mask_h, mask_q;
  const kiln_tensor *seqlens_k;                  /* optional, i32 [batch] */
  const kiln_tensor *cu_seqlens_q, *cu_seqlens_k; /* i32 [batch + 1], both or neither */
} kiln_attention_op;

/* The user's function and a copy of its tensor pointers, so a recorded op
 * does not depend on the caller's array. */
typedef struct kiln_custom_op_args {
  kiln_custom_fn fn;
  void *user;
  int ntensors;
  kiln_tensor *tensors[KILN_CUSTOM_MAX_TENSORS];
} kiln_custom_op_args;

/* The op list: every kind of op, its member of kiln_op's union and its
 * record type, in one place. Adding an op is its record above and one row
 * here; the enum, the union and every backend's ops table follow from it. */
#define KILN_OPS(X)                                                                           \
  X(KILN_OP_MATMUL, matmul, kiln_matmul_op)                                                   \
  X(KILN_OP_SOFTMAX, softmax, kiln_softmax_op)                                                \
  X(KILN_OP_RMS_NORM, rms_norm, kiln_rms_norm_op)                                             \
  X(KILN_OP_LORA, lora, kiln_lora_op)                                                         \
  X(KILN_OP_ADD_RMS_NORM, add_rms_norm, kiln_add_rms_norm_op)                                 \
  X(KILN_OP_LAYER_NORM, layer_norm, kiln_layer_norm_op)                                       \
  X(KILN_OP_UNARY, unary, kiln_unary_op)                                                      \
  X(KILN_OP_BINARY, binary, kiln_binary_op)                                                   \
  X(KILN_OP_ROPE, rope, kiln_rope_op)                                                         \
  X(KILN_OP_EMBEDDING, embedding, kiln_embedding_op)                                          \
  X(KILN_OP_ATTENTION, attention, kiln_attention_op)                                          \
  X(KILN_OP_ADD_LAYER_NORM, add_layer_norm, kiln_add_layer_norm_op)                           \
  X(KILN_OP_MEAN_POOL, mean_pool, kiln_mean_pool_op)                                          \
  X(KILN_OP_CUSTOM, custom, kiln_custom_op_args)

#define KILN_OP_ENUM_(kind, member, type) kind,
typedef enum kiln_op_kind {
  KILN_OPS(KILN_OP_ENUM_)
  KILN_OP_COUNT /* not an op: the number of kinds, the length of every ops table */
} kiln_op_kind;

#define KILN_OP_UNION_(kind, member, type) type member;
typedef struct kiln_op {
  kiln_op_kind kind;
  union {
    KILN_OPS(KILN_OP_UNION_)
  } u;
} kiln_op;

/* ---- Deferred errors: failures only a kernel can see.
 *
 * Some checks need data that lives in device memory (embedding's ids,
 * attention's cu_seqlens), which the host cannot read without waiting for
 * the stream. The kernel makes the check and raises a deferred error; the
 * op itself has returned KILN_OK. The contract, the same on every backend:
 *  - The next kiln_sync or kiln_tensor_read on the context (the backend's
 *    sync and download) reports it: that call returns the code's status,
 *    kiln_last_error() holds its message, and the error is cleared, so it
 *    is reported exactly once. A read still copies its data first.
 *  - A context holds one error at a time: the first code raised since the
 *    last report wins; among raisers of that code, the lowest index (so the
 *    message names the first bad element, whatever the thread order).
 *  - What a raising kernel writes instead is the op's own contract, in
 *    kiln.h (the embedding kernel writes zeros for a bad id's row).
 * An error is a code with three numbers (index, value, limit); the message
 * is formatted on the host from the code's row in src/core/deferred.c, so
 * the wording does not depend on the backend.
 *
 * Raising one: a CPU kernel calls kiln_defer_raise(&state->defer, ...)
 * (cpu_state, cpu.h); a CUDA kernel calls kiln_dev::defer_raise(defer, ...)
 * with the kiln_cuda_defer its host wrapper passes in (kiln_cuda_defer_of,
 * cuda_deferred.cuh), where value is an int32. A new check is one
 * kiln_defer_code here and its row in deferred.c.
 *
 * The core defers failures of its own under the same contract: a CPU graph
 * replay runs every op and keeps the first failing one's status and message
 * on the context (kiln_deferred_raise/take, internal.h). kiln_sync and
 * kiln_tensor_read report the backend's pending error first, the
 * context's at the next call. */
typedef enum kiln_defer_code {
  KILN_DEFER_NONE,
  KILN_DEFER_EMBEDDING_ID, /* index: position in ids; value: the id; limit: vocab */
  /* Attention's length tensors (kiln_attention_op): index is the entry b,
   * value its content, or for _LONG the length cu[b] - cu[b - 1]. */
  KILN_DEFER_ATTENTION_CU_Q_FIRST, /* cu_seqlens_q[0] != 0 */
  KILN_DEFER_ATTENTION_CU_Q_ORDER, /* limit: cu_seqlens_q[b - 1], above value */
  KILN_DEFER_ATTENTION_CU_Q_LONG,  /* limit: max_seqlen_q */
  KILN_DEFER_ATTENTION_CU_Q_LAST,  /* b = batch; limit: total_q */
  KILN_DEFER_ATTENTION_CU_K_FIRST,
  KILN_DEFER_ATTENTION_CU_K_ORDER,
  KILN_DEFER_ATTENTION_CU_K_LONG, /* limit: max_seqlen_k */
  KILN_DEFER_ATTENTION_CU_K_LAST, /* limit: total_k */
  KILN_DEFER_ATTENTION_CU_Q_LONG_K, /* no cu_seqlens_k: a length above max_seqlen_k */
  KILN_DEFER_ATTENTION_SEQLENS_K,   /* limit: the sequence's key count */
  /* kiln_mean_pool's lengths (kiln_mean_pool_op): index is the entry b,
   * value its content. */
  KILN_DEFER_POOL_CU_FIRST, /* cu_seqlens[0] != 0 */
  KILN_DEFER_POOL_CU_ORDER, /* limit: cu_seqlens[b - 1], above value */
  KILN_DEFER_POOL_CU_LAST,  /* b = batch; limit: the token rows */
  KILN_DEFER_POOL_SEQLENS,  /* limit: S */
  KILN_DEFER_CODE_COUNT    /* not a code: the number of them */
} kiln_defer_code;

typedef struct kiln_defer {
  kiln_defer_code code; /* KILN_DEFER_NONE: nothing pending */
  int64_t index, value, limit;
} kiln_defer;

/* Holds (code, index, value, limit) unless another code is pending; for
 * the pending code, keeps the lowest index. */
void kiln_defer_raise(kiln_defer *d, kiln_defer_code code, int64_t index, int64_t value,
                      int64_t limit);
/* KILN_OK when nothing is pending; else kiln_fail() with the code's status
 * and message, and d is cleared. Backends call it from sync and download. */
kiln_status kiln_defer_report(kiln_defer *d);

typedef struct kiln_backend_graph kiln_backend_graph;

/* How one backend runs one kind of op. Both functions see the op exactly as
 * src/ops/ built it, validated and complete.
 *   run:      does it. NULL: this backend has no kernel for the kind.
 *   supports: whether run takes this particular op (its sizes, dtype, the
 *             context's settings); NULL: run takes every op of the kind.
 * src/ops/ asks before dispatching: where the answer is no, it runs a
 * composite of other ops (lora, add_rms_norm) or answers
 * KILN_ERR_UNSUPPORTED naming the function. A backend never falls back
 * to another path on its own, so every routing decision that changes the
 * result's rounding is made in one place. */
typedef struct kiln_op_impl {
  kiln_status (*run)(void *state, const kiln_op *op);
  bool (*supports)(void *state, const kiln_op *op);
} kiln_op_impl;

/* Each kernel file defines its op's entry itself, so adding an op to a
 * backend is that one file. The kernel keeps its typed signature,
 *   static kiln_status softmax(void *state, const kiln_softmax_op *op);
 * and one line after it makes the entry the backend's table points at:
 *   KILN_OP_IMPL(kiln_cpu_op_softmax, softmax, softmax, NULL);
 * (name: kiln_<backend>_op_<member>; then the union member, the kernel, and
 * its supports or NULL). Each backend wraps this in its own macro
 * (KILN_CPU_OP in cpu.h, KILN_CUDA_OP in cuda_backend.h) and builds its
 * table from KILN_OPS, so it needs an entry for every kind: one it has no
 * kernel for is KILN_OP_NONE(name), in its table file. */
#ifdef __cplusplus
#define KILN_OP_LINKAGE extern "C"
#else
#define KILN_OP_LINKAGE
#endif
#define KILN_OP_IMPL(name, member, kernel, supports_fn)                                      \
  static kiln_status name##_run(void *state, const kiln_op *op) {                            \
    return kernel(state, &op->u.member);                                                     \
  }                                                                                          \
  KILN_OP_LINKAGE const kiln_op_impl name = {name##_run, supports_fn}
#define KILN_OP_NONE(name) KILN_OP_LINKAGE const kiln_op_impl name = {NULL, NULL}

/* state: the backend's own per-context object, made by create. */
typedef struct kiln_backend {
  const char *name; /* "cpu", "cuda" */
  kiln_device device;

  /* How many devices of this kind the machine has (0 if none). */
  int (*device_count)(void);
  kiln_status (*create)(int index, void **state);
  void (*destroy)(void *state);
  /* One line for kiln_context_describe; owned by state. */
  const char *(*describe)(void *state);
  /* Waits for every op enqueued so far; reports their asynchronous
   * failures, deferred errors included. */
  kiln_status (*sync)(void *state);
  kiln_status (*set_tf32)(void *state, bool allow);

  /* Device memory. free must accept NULL; it may defer the release until
   * pending work is done. */
  kiln_status (*alloc)(void *state, size_t nbytes, void **ptr);
  void (*free)(void *state, void *ptr);
  kiln_status (*upload)(void *state, void *dst, const void *src, size_t nbytes);
  /* Waits for pending work before copying. */
  kiln_status (*download)(void *state, void *dst, const void *src, size_t nbytes);

  /* Native graph capture (CUDA graphs). NULL on backends where the core
   * records the op list itself and replays it (the CPU). */
  kiln_status (*graph_begin)(void *state);
  kiln_status (*graph_end)(void *state, kiln_backend_graph **graph);
  kiln_status (*graph_run)(void *state, kiln_backend_graph *graph);
  void (*graph_destroy)(void *state, kiln_backend_graph *graph);

  /* The native stream handle (cudaStream_t) or NULL. */
  void *(*stream)(void *state);
  /* DLPack's stream handshake (kiln_stream_wait): later work on stream (a
   * cudaStream_t) waits for what is enqueued on the context now. NULL where
   * ops finish before they return (the CPU). */
  kiln_status (*stream_wait)(void *state, void *stream);

  /* KILN_OP_COUNT entries, indexed by kiln_op_kind, none NULL. */
  const kiln_op_impl *const *ops;
  /* Optional, around every op handed to the backend (graph.c's run_op): the
   * CPU applies the context's thread count there (kiln_context_set_threads)
   * and restores the caller's OpenMP setting after. op_begin returns what
   * op_end needs. set_threads stores a context's count (0: automatic);
   * NULL: the backend has no host threads to set, and the call is a no-op. */
  int (*op_begin)(void *state);
  void (*op_end)(void *state, int saved);
  kiln_status (*set_threads)(void *state, int threads);
} kiln_backend;

/* The backends this build has; NULL where one was not built. Each lives in
 * its own directory under src/backend/ and is listed once, in
 * src/core/registry.c. */
const kiln_backend *kiln_backend_cpu(void);
const kiln_backend *kiln_backend_cuda(void);

/* The registry (src/core/registry.c). The name of a device kind ("cpu",
 * "cuda"), or NULL when device is not one (KILN_DEVICE_AUTO included). */
const char *kiln_device_kind_name(kiln_device device);
/* The backend built for a device kind, or NULL (not built, not a kind). */
const kiln_backend *kiln_backend_for(kiln_device device);
/* The kind KILN_DEVICE_AUTO means on this machine: the first in the
 * registry's order of preference that has a device. */
kiln_device kiln_device_auto(void);

#endif /* KILN_CORE_BACKEND_H */
