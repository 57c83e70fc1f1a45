/*
 * kiln_layer_norm on the GPU: out = (x - mean) / sqrt(var + eps) * weight
 * + bias over the last axis, f32 math, one rounding. Rows that fit are
 * held in registers (the table of cuda_rows.cuh, as rms_norm), so the
 * two-pass variance costs no second read. Longer rows stream through one
 * block in three passes. The row arithmetic is cuda_layer_norm.cuh's,
 * shared with kiln_add_layer_norm.
 */
#include "cuda_backend.h"
#include "cuda_layer_norm.cuh"

static kiln_status kiln_cuda_layer_norm(void *state, const kiln_layer_norm_op *op) {
  return run_rows<layer_norm_kernels<false>>(
      (kiln_cuda *)state, "kiln_layer_norm", "launching the layer_norm kernel", op->dtype,
      norm_args_of(op->dtype, op->x, NULL, op->weight, op->bias, NULL, op->out, op->rows, op->cols,
                   op->eps));
}

KILN_CUDA_OP(layer_norm, kiln_cuda_layer_norm, NULL);
