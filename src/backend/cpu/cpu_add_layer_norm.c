/*
 * Residual add fused with LayerNorm, one row per loop iteration: h = x +
 * residual is rounded into h_out, then the row of h_out, still in cache, is
 * normalized by the row kernel kiln_layer_norm uses, so the fused and the
 * composite results agree to the bit.
 */
#include "cpu.h"

static kiln_status add_layer_norm(void *state, const kiln_add_layer_norm_op *op) {
  const int64_t rows = op->rows, cols = op->cols;
  const float *wb[2] = {NULL, NULL};
  kiln_status s = kiln_cpu_layer_norm_params(state, op->dtype, op->weight, op->bias, cols, wb,
                                             "kiln_add_layer_norm");
  if (s != KILN_OK)
    return s;
#pragma omp parallel for schedule(static) if (rows * cols > CPU_PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const size_t offset = cpu_row_offset(op->dtype, r, cols);
    void *h = (char *)op->h->data + offset;
    kiln_cpu_add_row(op->dtype, (const char *)op->x->data + offset,
                     (const char *)op->residual->data + offset, h, cols);
    kiln_cpu_layer_norm_row(op->dtype, h, (char *)op->out->data + offset, cols, op->eps, wb[0],
                            wb[1]);
  }
  return KILN_OK;
}

KILN_CPU_OP(add_layer_norm, add_layer_norm, NULL);
