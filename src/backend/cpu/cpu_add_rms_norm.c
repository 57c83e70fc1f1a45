/*
 * Residual add fused with RMSNorm, one row per loop iteration: h = x +
 * residual is rounded into h_out, then the row of h_out, still in cache, is
 * normalized by the same row kernel kiln_rms_norm uses, so the fused and
 * the composite results agree to the bit.
 */
#include "cpu.h"

/* h = x + residual; h may be x or residual (each element read before it is
 * written). Also kiln_add_layer_norm's (cpu.h). */
void kiln_cpu_add_row(kiln_dtype dtype, const void *x, const void *residual, void *h,
                      int64_t cols) {
  float xb[CPU_BLOCK], rb[CPU_BLOCK];
  for (int64_t j0 = 0; j0 < cols; j0 += CPU_BLOCK) {
    size_t n = cpu_block_length(cols, j0);
    const float *v = cpu_load(dtype, x, j0, n, xb);
    const float *r = cpu_load(dtype, residual, j0, n, rb);
    float *d = cpu_target(dtype, h, j0, xb);
    for (size_t j = 0; j < n; j++)
      d[j] = v[j] + r[j];
    cpu_commit(dtype, h, j0, d, n);
  }
}

static kiln_status add_rms_norm(void *state, const kiln_add_rms_norm_op *op) {
  const int64_t rows = op->rows, cols = op->cols;
  const cpu_row_kernels *k = ((cpu_state *)state)->rows;
  const float one = 1.0f, *weight = NULL;
  kiln_status s = kiln_cpu_params_f32(state, op->dtype, &op->weight, &one, 1, (size_t)cols, &weight,
                                 "kiln_add_rms_norm");
  if (s != KILN_OK)
    return s;
#pragma omp parallel for schedule(static) if (rows * cols > CPU_PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const size_t offset = cpu_row_offset(op->dtype, r, cols);
    void *h = (char *)op->h->data + offset;
    kiln_cpu_add_row(op->dtype, (const char *)op->x->data + offset,
            (const char *)op->residual->data + offset, h, cols);
    k->rms_norm_row(op->dtype, h, (char *)op->out->data + offset, cols, op->eps, weight);
  }
  return KILN_OK;
}

KILN_CPU_OP(add_rms_norm, add_rms_norm, NULL);
