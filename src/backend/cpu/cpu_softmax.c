/*
 * Softmax over the last axis, one row per loop iteration; the row itself is
 * cpu_rows.h's softmax_row, in the variant cpu_create chose.
 */
#include "cpu.h"

#include <omp.h>

/* Per-thread logits rows start on a cache line: no two threads share one. */
#define ROW_ALIGN_FLOATS 16

static kiln_status softmax(void *state, const kiln_softmax_op *op) {
  cpu_state *s = state;
  const int64_t rows = op->rows, cols = op->cols;
  if (rows == 0 || cols == 0)
    return KILN_OK;
  const bool parallel = rows * cols > CPU_PARALLEL_MIN && rows > 1;
  const int threads = parallel ? omp_get_max_threads() : 1;
  /* 16-bit and masked rows become f32 logits in a row of scratch per
   * thread, so each exponential is computed once. */
  float *scratch = NULL;
  const size_t stride = ((size_t)cols + ROW_ALIGN_FLOATS - 1) / ROW_ALIGN_FLOATS * ROW_ALIGN_FLOATS;
  if (op->mask || !cpu_in_place(op->dtype)) {
    if (stride > SIZE_MAX / (size_t)threads)
      return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "kiln_softmax: rows of %lld floats per thread",
                       (long long)cols);
    scratch = kiln_cpu_scratch(s, stride * (size_t)threads, "kiln_softmax");
    if (!scratch)
      return KILN_ERR_OUT_OF_MEMORY;
  }
  const cpu_row_kernels *k = s->rows;
#pragma omp parallel num_threads(threads) if (parallel)
  {
    float *z = scratch ? scratch + (size_t)omp_get_thread_num() * stride : NULL;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; r++)
      k->softmax_row(op, r, z);
  }
  return KILN_OK;
}

KILN_CPU_OP(softmax, softmax, NULL);
