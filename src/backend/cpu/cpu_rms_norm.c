/*
 * RMSNorm over the last axis, one row per loop iteration; the row itself is
 * cpu_rows.h's rms_norm_row, in the variant cpu_create chose.
 */
#include "cpu.h"

static kiln_status rms_norm(void *state, const kiln_rms_norm_op *op) {
  const int64_t rows = op->rows;
  if (rows == 0 || op->cols == 0)
    return KILN_OK;
  const cpu_row_kernels *k = ((cpu_state *)state)->rows;
  const float one = 1.0f, *weight = NULL;
  kiln_status s = kiln_cpu_params_f32(state, op->dtype, &op->weight, &one, 1, (size_t)op->cols,
                                 &weight, "kiln_rms_norm");
  if (s != KILN_OK)
    return s;
#pragma omp parallel for schedule(static) if (rows * op->cols > CPU_PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const size_t offset = cpu_row_offset(op->dtype, r, op->cols);
    k->rms_norm_row(op->dtype, (const char *)op->x->data + offset,
                    (char *)op->out->data + offset, op->cols, op->eps, weight);
  }
  return KILN_OK;
}

KILN_CPU_OP(rms_norm, rms_norm, NULL);
