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
typedef struct kiln_matmul_op {
  const kiln_tensor *a, *b, *bias; /* bias may be NULL */
  kiln_tensor *out;
  kiln_dtype dtype;
  int64_t batch;   /* product of out's leading dims; 1 for 2-D */
  int64_t m, n, k; /* out is [batch, m, n] */
  bool b_batched;  /* b has a's batch dims (else one b for every batch) */
  bool transpose_a, transpose_b;
  float alpha, beta;
} kiln_matmul_op;

typedef struct kiln_softmax_op {
  const kiln_tensor *x;
  kiln_tensor *out; /* may be x */
  kiln_dtype dtype;
  int64_t rows, cols; /* x is [rows, cols] once leading dims are flattened */
  int64_t sq;         /* causal: rows of each [Sq, Sk] matrix; else 0 */
  bool causal;
  float scale;
} kiln_softmax_op;

typedef struct kiln_rms_norm_op {
  const kiln_tensor *x, *weight;
  kiln_tensor *out; /* may be x */
  kiln_dtype dtype;
  int64_t rows, cols;
  float eps;
} kiln_rms_norm_op;

typedef enum kiln_op_kind { KILN_OP_MATMUL, KILN_OP_SOFTMAX, KILN_OP_RMS_NORM } kiln_op_kind;

typedef struct kiln_op {
  kiln_op_kind kind;
  union {
    kiln_matmul_op matmul;
    kiln_softmax_op softmax;
    kiln_rms_norm_op rms_norm;
  } u;
} kiln_op;

typedef struct kiln_backend_graph kiln_backend_graph;

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
  kiln_status (*sync)(void *state);
  kiln_status (*set_tf32)(void *state, bool allow);

  /* Device memory. free must accept NULL; it may defer the release until
   * pending work is done. */
  kiln_status (*alloc)(void *state, size_t nbytes, void **ptr);
  void (*free)(void *state, void *ptr);
  kiln_status (*upload)(void *state, void *dst, const void *src, size_t nbytes);
  /* Waits for pending work before copying. */
  kiln_status (*download)(void *state, void *dst, const void *src, size_t nbytes);

  kiln_status (*matmul)(void *state, const kiln_matmul_op *op);
  kiln_status (*softmax)(void *state, const kiln_softmax_op *op);
  kiln_status (*rms_norm)(void *state, const kiln_rms_norm_op *op);

  /* Native graph capture (CUDA graphs). NULL on backends where the core
   * records the op list itself and replays it (the CPU). */
  kiln_status (*graph_begin)(void *state);
  kiln_status (*graph_end)(void *state, kiln_backend_graph **graph);
  kiln_status (*graph_run)(void *state, kiln_backend_graph *graph);
  void (*graph_destroy)(void *state, kiln_backend_graph *graph);
} kiln_backend;

/* The backends this build has; NULL where one was not built. */
const kiln_backend *kiln_backend_cpu(void);
const kiln_backend *kiln_backend_cuda(void);

#endif /* KILN_CORE_BACKEND_H */
