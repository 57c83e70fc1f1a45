/*
 * Mean pooling (and L2 normalization) of each sequence's rows. The lengths
 * are checked before anything is written. Then two steps: the means, one
 * task per (sequence, block of CPU_BLOCK columns), summed down the
 * sequence's rows in double (a column sum cannot overflow or lose the
 * small rows of a long sequence) into f32 scratch; then per sequence the
 * L2 norm of its mean in double, and out = mean * (1 / norm) rounded once.
 */
#include "cpu.h"
#include "pool_lengths.h"

#include <math.h>

/* Sequence b's column block [j0, j0 + n) of means into m. */
static void block_means(const kiln_mean_pool_op *op, const int32_t *len, int64_t b, int64_t j0,
                        size_t n, float *m) {
  int64_t start, count;
  kiln_mean_pool_sequence(op, len, b, &start, &count);
  double acc[CPU_BLOCK] = {0};
  float buf[CPU_BLOCK];
  for (int64_t r = start; r < start + count; r++) {
    const void *row = (const char *)op->x->data + cpu_row_offset(op->dtype, r, op->cols);
    const float *v = cpu_load(op->dtype, row, j0, n, buf);
    for (size_t j = 0; j < n; j++)
      acc[j] += v[j];
  }
  /* count 0: zeros, not 0/0 */
  const double inv = count ? 1.0 / (double)count : 0.0;
  for (size_t j = 0; j < n; j++)
    m[j] = (float)(acc[j] * inv);
}

/* out row b = m * (1 / |m|) (normalize) or m, rounded once. A zero mean
 * stays zero; a mean holding +-inf has norm inf: NaN at the infinities,
 * zeros elsewhere; a NaN makes every element NaN. */
static void store_row(const kiln_mean_pool_op *op, int64_t b, const float *m) {
  float scale = 1.0f;
  if (op->normalize) {
    double sq = 0.0;
    for (int64_t j = 0; j < op->cols; j++)
      sq += (double)m[j] * m[j];
    const double norm = sqrt(sq);
    scale = norm > 0.0 ? (float)(1.0 / norm) : isnan(norm) ? NAN : 0.0f;
  }
  void *out = (char *)op->out->data + cpu_row_offset(op->dtype, b, op->cols);
  float buf[CPU_BLOCK];
  for (int64_t j0 = 0; j0 < op->cols; j0 += CPU_BLOCK) {
    const size_t n = cpu_block_length(op->cols, j0);
    float *d = cpu_target(op->dtype, out, j0, buf);
    for (size_t j = 0; j < n; j++)
      d[j] = m[j0 + j] * scale;
    cpu_commit(op->dtype, out, j0, d, n);
  }
}

static kiln_status mean_pool(void *state, const kiln_mean_pool_op *op) {
  const int32_t *len = op->lengths ? op->lengths->data : NULL;
  kiln_status st = kiln_mean_pool_check_lengths(op, len);
  if (st != KILN_OK)
    return st;
  const int64_t blocks = (op->cols + CPU_BLOCK - 1) / CPU_BLOCK, tasks = op->batch * blocks;
  float *means = kiln_cpu_scratch(state, (size_t)(op->batch * op->cols), "kiln_mean_pool");
  if (!means)
    return KILN_ERR_OUT_OF_MEMORY;
#pragma omp parallel if (op->total * op->cols > CPU_PARALLEL_MIN)
  {
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; t++) {
      const int64_t b = t / blocks, j0 = (t % blocks) * CPU_BLOCK;
      block_means(op, len, b, j0, cpu_block_length(op->cols, j0), means + b * op->cols + j0);
    }
#pragma omp for schedule(static)
    for (int64_t b = 0; b < op->batch; b++)
      store_row(op, b, means + b * op->cols);
  }
  return KILN_OK;
}

KILN_CPU_OP(mean_pool, mean_pool, NULL);
