/*
 * f16/bf16 matmul: sgemm on f32 tiles widened from the 16-bit operands, so
 * products accumulate in f32 and every output is rounded once, at the end.
 * Scratch is the context's, grown once to the tile sizes a shape needs.
 * Up to CPU_GEMV_MAX_ROWS rows against a transposed b skip the tiles: dot
 * products read b where it lies (kiln_cpu_gemv_nt), widening it in registers.
 */
#include "cpu.h"

#include <cblas.h>
#include <string.h>

/* An output tile of TILE_M x TILE_N accumulates over k in steps of TILE_K.
 * Each A tile is widened once per column tile and each B tile once per row
 * tile: about m*n*k * (1/TILE_M + 1/TILE_N) conversions against 2*m*n*k
 * flops, while the scratch stays under TILE_M*TILE_K + TILE_K*TILE_N +
 * TILE_M*TILE_N floats (2 MiB). */
enum { TILE_M = 512, TILE_N = 512, TILE_K = 256 };

/* One batch's matrix as stored. */
typedef struct operand {
  const uint16_t *data;
  int64_t ld;  /* elements per stored row */
  bool trans;  /* stored transposed: the op uses its transpose */
} operand;

typedef struct scratch {
  float *a, *b, *acc;
} scratch;

static int64_t min64(int64_t x, int64_t y) { return x < y ? x : y; }

/* Widens rows [r0, r0 + nr) x columns [c0, c0 + nc) of op(x) into dst in
 * x's stored orientation (sgemm applies the transpose); returns the tile's
 * leading dimension. */
static int load_tile(kiln_dtype dtype, const operand *x, int64_t r0, int64_t nr, int64_t c0,
                     int64_t nc, float *dst) {
  if (x->trans) {
    int64_t t = r0;
    r0 = c0, c0 = t;
    t = nr;
    nr = nc, nc = t;
  }
  for (int64_t r = 0; r < nr; r++)
    cpu_widen(dtype, x->data + (r0 + r) * x->ld + c0, dst + r * nc, (size_t)nc);
  return (int)nc;
}

/* acc = alpha * op(a)[i0.., :] @ op(b)[:, j0..], an mt x nt tile. */
static void product_tile(const kiln_matmul_op *op, const operand *a, const operand *b,
                         int64_t i0, int64_t mt, int64_t j0, int64_t nt, const scratch *t) {
  if (op->k == 0)
    memset(t->acc, 0, (size_t)(mt * nt) * sizeof(float));
  for (int64_t p0 = 0; p0 < op->k; p0 += TILE_K) {
    int64_t kt = min64(TILE_K, op->k - p0);
    int lda = load_tile(op->dtype, a, i0, mt, p0, kt, t->a);
    int ldb = load_tile(op->dtype, b, p0, kt, j0, nt, t->b);
    cblas_sgemm(CblasRowMajor, a->trans ? CblasTrans : CblasNoTrans,
                b->trans ? CblasTrans : CblasNoTrans, (int)mt, (int)nt, (int)kt, op->alpha, t->a,
                lda, t->b, ldb, p0 == 0 ? 0.0f : 1.0f, t->acc, (int)nt);
  }
}

/* out tile = round(act(acc + beta * out + bias)): the activation on the f32
 * value, so a fused one rounds once. out is read only when beta != 0 (NaN
 * in it must not leak through). */
static void store_tile(const cpu_state *s, const kiln_matmul_op *op, const float *acc,
                       int64_t lda, int64_t mt, int64_t nt, const float *bias, uint16_t *out,
                       int64_t ldo) {
  float row[TILE_N];
  for (int64_t i = 0; i < mt; i++) {
    const float *a = acc + i * lda;
    uint16_t *o = out + i * ldo;
    if (op->beta != 0.0f) {
      cpu_widen(op->dtype, o, row, (size_t)nt);
      for (int64_t j = 0; j < nt; j++)
        row[j] = a[j] + op->beta * row[j] + bias[j];
    } else {
      for (int64_t j = 0; j < nt; j++)
        row[j] = a[j] + bias[j];
    }
    kiln_cpu_activate(s, op->activation, row, 1, nt, nt);
    cpu_narrow(op->dtype, row, o, (size_t)nt);
  }
}

/* The bias for columns [j0, j0 + nt), zeros when there is none. */
static void load_bias(const kiln_matmul_op *op, int64_t j0, int64_t nt, float *dst) {
  if (op->bias)
    cpu_widen(op->dtype, (const uint16_t *)op->bias->data + j0, dst, (size_t)nt);
  else
    memset(dst, 0, (size_t)nt * sizeof(float));
}

/* One GEMM of rows x n over every tile of out. */
static void gemm_tiles(const cpu_state *s, const kiln_matmul_op *op, const operand *a, const operand *b,
                       int64_t rows, uint16_t *out, const scratch *t) {
  float bias[TILE_N];
  for (int64_t j0 = 0; j0 < op->n; j0 += TILE_N) {
    int64_t nt = min64(TILE_N, op->n - j0);
    load_bias(op, j0, nt, bias);
    for (int64_t i0 = 0; i0 < rows; i0 += TILE_M) {
      int64_t mt = min64(TILE_M, rows - i0);
      product_tile(op, a, b, i0, mt, j0, nt, t);
      store_tile(s, op, t->acc, nt, mt, nt, bias, out + i0 * op->n + j0, op->n);
    }
  }
}

/* The same GEMM for rows <= CPU_GEMV_MAX_ROWS, a as stored and b
 * transposed: a widened whole into t->a, acc [rows, n] whole in t->acc. */
static void gemv_rows(const cpu_state *s, const kiln_matmul_op *op, const operand *a,
                      const operand *b, int64_t rows, uint16_t *out, const scratch *t) {
  float bias[TILE_N];
  for (int64_t r = 0; r < rows; r++)
    cpu_widen(op->dtype, a->data + r * a->ld, t->a + r * op->k, (size_t)op->k);
  memset(t->acc, 0, (size_t)(rows * op->n) * sizeof(float));
  kiln_cpu_gemv_nt(s, op->dtype, rows, op->n, op->k, op->alpha, t->a, op->k, b->data, b->ld, t->acc,
              op->n);
  for (int64_t j0 = 0; j0 < op->n; j0 += TILE_N) {
    int64_t nt = min64(TILE_N, op->n - j0);
    load_bias(op, j0, nt, bias);
    store_tile(s, op, t->acc + j0, op->n, rows, nt, bias, out + j0, op->n);
  }
}

kiln_status kiln_cpu_matmul_tiled(cpu_state *s, const kiln_matmul_op *op) {
  const int64_t m = op->m, n = op->n, k = op->k;
  /* src/ops/ has folded what batches it could into m (kiln_matmul_op). */
  const int64_t batches = op->batch, rows = m;
  const bool few = rows <= CPU_GEMV_MAX_ROWS && !op->transpose_a && op->transpose_b;
  const int64_t mt = min64(rows, TILE_M), nt = few ? n : min64(n, TILE_N);
  const int64_t kt = few ? k : min64(k, TILE_K), bt = few ? 0 : kt * nt;
  float *base = kiln_cpu_scratch(s, (size_t)(mt * kt + bt + mt * nt), "kiln_matmul");
  if (!base)
    return KILN_ERR_OUT_OF_MEMORY;
  const scratch t = {base, base + mt * kt, base + mt * kt + bt};
  const uint16_t *a_data = op->a->data, *b_data = op->b->data;
  uint16_t *out = op->out->data;
  for (int64_t i = 0; i < batches; i++) {
    const operand a = {a_data + i * op->stride_a, op->transpose_a ? m : k, op->transpose_a};
    const operand b = {b_data + i * op->stride_b, op->transpose_b ? k : n, op->transpose_b};
    if (few)
      gemv_rows(s, op, &a, &b, rows, out + i * op->stride_c, &t);
    else
      gemm_tiles(s, op, &a, &b, rows, out + i * op->stride_c, &t);
  }
  return KILN_OK;
}
