/*
 * kiln_lora_linear on the GPU, fused: one launch of the thin kernel
 * (cuda_gemm_thin.cu) wherever that kernel would win the base product
 * x w^T on its own. Elsewhere the base GEMM is cuBLASLt's, it dominates,
 * and two more launches cost little: src/ops/ runs the composite there,
 * told so by kiln_cuda_lora_supports, the ops table's supports for it.
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

/* Every block of the fused kernel reads all of a, so it pays only while
 * the launches it saves cost more than that traffic: H100, 2026-11-25,
 * x (1, d), r = 8, d = 512-2048: 4.0-6.6 us back to back against 11.5-11.9
 * for the composite, 2.2-6.3 against 4.2-7.6 in a graph; but
 * 1 x 4096 x 4096, r = 16: 40.7 against 33.3 (f32), 15.1 against 14.6
 * (bf16). */
static const int64_t FUSED_MAX_W = (int64_t)1 << 23; /* elements of w */

static bool kiln_cuda_lora_supports(void *state, const kiln_op *whole) {
  const kiln_cuda *st = (const kiln_cuda *)state;
  const kiln_lora_op *op = &whole->u.lora;
  const kiln_cuda_lora_gemm l = lora_of(op);
  const bool tensor_cores = op->dtype != KILN_F32 || st->tf32;
  return op->n * op->in < FUSED_MAX_W &&
         kiln_cuda_thin_wins(tensor_cores, op->rows, op->n * op->in) &&
         kiln_cuda_lora_thin_fits(&l);
}

static kiln_status kiln_cuda_lora(void *state, const kiln_lora_op *op) {
  kiln_cuda *st = (kiln_cuda *)state;
  const char *fn = "kiln_lora_linear";
  KILN_CUDA_TRY(kiln_cuda_enter(st, fn));
  const kiln_cuda_lora_gemm l = lora_of(op);
  return kiln_cuda_check(kiln_cuda_lora_thin(&l, st->stream), fn, "launching the fused LoRA kernel");
}

KILN_CUDA_OP(lora, kiln_cuda_lora, kiln_cuda_lora_supports);
