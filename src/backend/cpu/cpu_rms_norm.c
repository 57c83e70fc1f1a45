/*
 * RMSNorm over the last axis, one row per loop iteration: the sum of
 * squares, then the scaled row, each pass CPU_BLOCK elements at a time so
 * 16-bit rows of any length widen into a stack buffer.
 */
#include "cpu.h"

#include <math.h>

static float block_sum_squares(const float *v, size_t n) {
  float lanes[CPU_LANES] = {0};
  size_t j = 0;
  for (; j + CPU_LANES <= n; j += CPU_LANES)
    for (int l = 0; l < CPU_LANES; l++)
      lanes[l] += v[j + l] * v[j + l];
  float sum = 0.0f;
  for (; j < n; j++)
    sum += v[j] * v[j];
  for (int l = 0; l < CPU_LANES; l++)
    sum += lanes[l];
  return sum;
}

/* Blocks sum in f32 lanes, the row total in double, so long rows lose no
 * accuracy to the running sum. */
static double row_sum_squares(kiln_dtype dtype, const void *x, int64_t cols, float *buf) {
  double total = 0.0;
  for (int64_t j0 = 0; j0 < cols; j0 += CPU_BLOCK) {
    size_t n = cpu_block_length(cols, j0);
    total += block_sum_squares(cpu_load(dtype, x, j0, n, buf), n);
  }
  return total;
}

/* out = x * inv_rms * weight. x and out may be the same row: each element
 * is read before it is written. */
static void write_row(kiln_dtype dtype, const void *x, void *out, int64_t cols, float inv_rms,
                      const float *weight, float *buf) {
  for (int64_t j0 = 0; j0 < cols; j0 += CPU_BLOCK) {
    size_t n = cpu_block_length(cols, j0);
    const float *v = cpu_load(dtype, x, j0, n, buf);
    const float *w = weight + j0;
    float *d = cpu_target(dtype, out, j0, buf);
    for (size_t j = 0; j < n; j++)
      d[j] = v[j] * inv_rms * w[j];
    cpu_commit(dtype, out, j0, d, n);
  }
}

void cpu_rms_norm_row(kiln_dtype dtype, const void *x, void *out, int64_t cols, float eps,
                      const float *weight) {
  float buf[CPU_BLOCK];
  double mean_square = row_sum_squares(dtype, x, cols, buf) / (double)cols;
  float inv_rms = (float)(1.0 / sqrt(mean_square + eps));
  write_row(dtype, x, out, cols, inv_rms, weight, buf);
}

kiln_status cpu_rms_norm(void *state, const kiln_rms_norm_op *op) {
  const int64_t rows = op->rows;
  if (rows == 0 || op->cols == 0)
    return KILN_OK;
  const float one = 1.0f, *weight = NULL;
  kiln_status s = cpu_params_f32(state, op->dtype, &op->weight, &one, 1, (size_t)op->cols,
                                 &weight, "kiln_rms_norm");
  if (s != KILN_OK)
    return s;
#pragma omp parallel for schedule(static) if (rows * op->cols > CPU_PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const size_t offset = cpu_row_offset(op->dtype, r, op->cols);
    cpu_rms_norm_row(op->dtype, (const char *)op->x->data + offset,
                     (char *)op->out->data + offset, op->cols, op->eps, weight);
  }
  return KILN_OK;
}
