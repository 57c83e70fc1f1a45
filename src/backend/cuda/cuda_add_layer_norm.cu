/*
 * kiln_add_layer_norm on the GPU: h = x + residual, rounded to the dtype and
 * stored, then out = layer_norm(h as stored) with kiln_layer_norm's own row
 * arithmetic (cuda_layer_norm.cuh), so the fused op and the composite
 * (kiln_add, kiln_layer_norm) agree to the bit. One kernel reads x and
 * residual once and writes h and out: rows that fit stay in registers
 * (the table of cuda_rows.cuh, as layer_norm); longer rows stream through
 * one block, the later passes reading back h as this thread wrote it.
 */
#include "cuda_backend.h"
#include "cuda_layer_norm.cuh"

static kiln_status kiln_cuda_add_layer_norm(void *state, const kiln_add_layer_norm_op *op) {
  return run_rows<layer_norm_kernels<true>>(
      (kiln_cuda *)state, "kiln_add_layer_norm", "launching the add_layer_norm kernel", op->dtype,
      norm_args_of(op->dtype, op->x, op->residual, op->weight, op->bias, op->h, op->out, op->rows,
                   op->cols, op->eps));
}

KILN_CUDA_OP(add_layer_norm, kiln_cuda_add_layer_norm, NULL);
