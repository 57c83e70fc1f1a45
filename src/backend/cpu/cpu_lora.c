/*
 * Fused LoRA linear: out = x w^T + bias + scale (x a^T) b^T as three sgemm
 * calls that all accumulate into one f32 result, rounded once into out.
 *
 *   t   = scale * x a^T                 [rows, rank], kept in f32 scratch
 *   acc = bias; acc += x w^T; acc += t b^T
 *
 * f32 tensors are used where they lie and acc is out itself. 16-bit x, a, b
 * and bias are widened once per call (they are small next to w); w is
 * widened CHUNK output features at a time into scratch, with acc the
 * matching [rows, CHUNK] f32 tile, so scratch stays small for any w.
 *
 * Up to CPU_GEMV_MAX_ROWS rows take dot products against the stored
 * weights instead (kiln_cpu_gemv_nt): no 16-bit operand but x is widened, and
 * acc covers the whole [rows, n] output.
 */
#include "cpu.h"

#include <cblas.h>
#include <limits.h>

static const char *const FN = "kiln_lora_linear";

/* Output features per w chunk for 16-bit weights: a 4096-wide chunk of w is
 * 4 MiB of f32, enough for sgemm to run at full speed. */
enum { CHUNK = 256 };

/* c [rows, n] (ld ldc) += alpha * a [rows, k] @ b^T, b stored [n, k]. */
static void gemm_nt(int64_t rows, int64_t n, int64_t k, float alpha, const float *a,
                    const float *b, float *c, int64_t ldc) {
  if (k == 0)
    return;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)n, (int)k, alpha, a,
              (int)k, b, (int)k, 1.0f, c, (int)ldc);
}

/* Every row of c [rows, n] (ld ldc) set to bias[0..n). */
static void fill_rows(float *c, int64_t rows, int64_t n, int64_t ldc, const float *bias) {
  for (int64_t r = 0; r < rows; r++)
    memcpy(c + r * ldc, bias, (size_t)n * sizeof *c);
}

/* Scratch layout, in floats; 16-bit operands only where named. */
typedef struct lora_scratch {
  float *t, *bias, *x, *a, *b, *w, *acc;
} lora_scratch;

static kiln_status carve(cpu_state *s, const kiln_lora_op *op, bool few, lora_scratch *sc) {
  const bool wide = !cpu_in_place(op->dtype), tiles = wide && !few;
  const size_t sizes[7] = {
      (size_t)(op->rows * op->rank),
      (size_t)op->n,
      wide ? (size_t)(op->rows * op->in) : 0,
      tiles ? (size_t)(op->rank * op->in) : 0,
      tiles ? (size_t)(op->n * op->rank) : 0,
      tiles ? (size_t)(CHUNK * op->in) : 0,
      wide ? (size_t)(op->rows * (few ? op->n : CHUNK)) : 0,
  };
  size_t total = 0;
  for (int i = 0; i < 7; i++)
    total += sizes[i];
  float *p = kiln_cpu_scratch(s, total, FN);
  if (!p)
    return KILN_ERR_OUT_OF_MEMORY;
  float **slots[7] = {&sc->t, &sc->bias, &sc->x, &sc->a, &sc->b, &sc->w, &sc->acc};
  for (int i = 0; i < 7; i++) {
    *slots[i] = p;
    p += sizes[i];
  }
  return KILN_OK;
}

/* A whole operand as f32: where it lies, or widened into dst. */
static const float *whole_f32(const kiln_lora_op *op, const kiln_tensor *t, float *dst) {
  return cpu_vector_f32(t, op->dtype, (size_t)t->numel, 0.0f, dst);
}

/* Output features [j0, j0 + nj): acc = bias + x w^T + t b^T, rounded into
 * out's columns when acc is a separate f32 tile. */
static void chunk(const kiln_lora_op *op, const lora_scratch *sc, const float *x,
                  const float *b, const float *bias, int64_t j0, int64_t nj) {
  const bool wide = !cpu_in_place(op->dtype);
  const float *w = (const float *)op->w->data + j0 * op->in;
  if (wide) {
    cpu_widen(op->dtype, (const uint16_t *)op->w->data + j0 * op->in, sc->w,
              (size_t)(nj * op->in));
    w = sc->w;
  }
  float *acc = wide ? sc->acc : (float *)op->out->data + j0;
  const int64_t ldc = wide ? nj : op->n;
  fill_rows(acc, op->rows, nj, ldc, bias + j0);
  gemm_nt(op->rows, nj, op->in, 1.0f, x, w, acc, ldc);
  gemm_nt(op->rows, nj, op->rank, 1.0f, sc->t, b + j0 * op->rank, acc, ldc);
  if (wide)
    for (int64_t r = 0; r < op->rows; r++)
      cpu_narrow(op->dtype, acc + r * nj, (uint16_t *)op->out->data + r * op->n + j0,
                 (size_t)nj);
}

/* All of out for a few rows, t already zero: each weight read once where it
 * lies, products accumulated into one f32 acc, rounded once. */
static void few_rows(const cpu_state *s, const kiln_lora_op *op, const lora_scratch *sc,
                     const float *x, const float *bias) {
  const kiln_dtype dt = op->dtype;
  const int64_t rows = op->rows, n = op->n, in = op->in, rank = op->rank;
  float *acc = !cpu_in_place(dt) ? sc->acc : op->out->data;
  kiln_cpu_gemv_nt(s, dt, rows, rank, in, op->scale, x, in, op->a->data, in, sc->t, rank);
  fill_rows(acc, rows, n, n, bias);
  kiln_cpu_gemv_nt(s, dt, rows, n, in, 1.0f, x, in, op->w->data, in, acc, n);
  kiln_cpu_gemv_nt(s, dt, rows, n, rank, 1.0f, sc->t, rank, op->b->data, rank, acc, n);
  if (!cpu_in_place(dt))
    cpu_narrow(dt, acc, op->out->data, (size_t)(rows * n));
}

static kiln_status lora(void *state, const kiln_lora_op *op) {
  if (op->rows > INT_MAX || op->n > INT_MAX || op->in > INT_MAX)
    return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: rows %lld, out %lld, in %lld: the CPU's BLAS "
                     "takes dimensions up to %d", FN, (long long)op->rows, (long long)op->n,
                     (long long)op->in, INT_MAX);
  const bool few = op->rows <= CPU_GEMV_MAX_ROWS;
  lora_scratch sc;
  kiln_status s = carve(state, op, few, &sc);
  if (s != KILN_OK)
    return s;
  const float *x = whole_f32(op, op->x, sc.x);
  const float *bias = cpu_vector_f32(op->bias, op->dtype, (size_t)op->n, 0.0f, sc.bias);
  memset(sc.t, 0, (size_t)(op->rows * op->rank) * sizeof *sc.t);
  if (few) {
    few_rows(state, op, &sc, x, bias);
    return KILN_OK;
  }
  const float *a = whole_f32(op, op->a, sc.a), *b = whole_f32(op, op->b, sc.b);
  gemm_nt(op->rows, op->rank, op->in, op->scale, x, a, sc.t, op->rank);
  const int64_t step = cpu_in_place(op->dtype) ? op->n : CHUNK;
  for (int64_t j0 = 0; j0 < op->n; j0 += step)
    chunk(op, &sc, x, b, bias, j0, op->n - j0 < step ? op->n - j0 : step);
  return KILN_OK;
}

/* The fused path widens a and b whole and keeps t = x a^T in scratch, so
 * its scratch grows with the rank; past this rank the three GEMMs of the
 * composite are as fast, and src/ops/ runs them instead. */
#define FUSED_MAX_RANK 256

static bool lora_supports(void *state, const kiln_op *op) {
  (void)state;
  return op->u.lora.rank <= FUSED_MAX_RANK;
}

KILN_CPU_OP(lora, lora, lora_supports);
