/*
 * kiln_lora_linear on the GPU, fused: one launch of the thin kernel for
 * decode-sized x (cuda_gemm_thin.cu). Other shapes are bound by the base
 * GEMM, where two more launches cost little; src/ops/ runs them as the
 * composite, told so by kiln_cuda_lora_fits.
 */
#include "cuda_backend.h"
#include "cuda_gemm.h"

static kiln_cuda_lora_gemm lora_of(const kiln_lora_op *op) {
  kiln_cuda_lora_gemm l;
  l.dtype = op->dtype;
  l.rows = op->rows;
  l.in = op->in;
  l.n = op->n;
  l.rank = op->rank;
  l.x = op->x->data;
  l.w = op->w->data;
  l.bias = op->bias ? op->bias->data : NULL;
  l.a = op->a->data;
  l.b = op->b->data;
  l.out = op->out->data;
  l.scale = op->scale;
  return l;
}

bool kiln_cuda_lora_fits(void *state, const kiln_lora_op *op) {
  (void)state;
  const kiln_cuda_lora_gemm l = lora_of(op);
  return kiln_cuda_lora_thin_fits(&l);
}

kiln_status kiln_cuda_lora(void *state, const kiln_lora_op *op) {
  kiln_cuda *st = (kiln_cuda *)state;
  const char *fn = "kiln_lora_linear";
  KILN_CUDA_TRY(kiln_cuda_enter(st, fn));
  const kiln_cuda_lora_gemm l = lora_of(op);
  return kiln_cuda_check(kiln_cuda_lora_thin(&l, st->stream), fn, "launching the fused LoRA kernel");
}
