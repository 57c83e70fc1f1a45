/*
 * The CPU's four norm ops as one loop over rows (cpu.h, kiln_cpu_norm): the
 * parameters as f32 once, then per row the residual add of the fused ops,
 * then the plain op's row kernel on the row as stored (h, still in cache).
 */
#include "cpu.h"

/* h = x + residual, rounded to dtype; h may be x or residual (each element
 * read before it is written). */
static void add_row(kiln_dtype dtype, const void *x, const void *residual, void *h, int64_t cols) {
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

kiln_status kiln_cpu_norm(cpu_state *s, const cpu_norm *n) {
  const int64_t rows = n->rows, cols = n->cols;
  if (rows == 0 || cols == 0)
    return KILN_OK;
  /* The weight (RMSNorm), or the weight and bias (LayerNorm). */
  const kiln_tensor *params[2] = {n->weight, n->bias};
  const float fills[2] = {1.0f, 0.0f};
  const float *wb[2] = {NULL, NULL};
  kiln_status st =
      kiln_cpu_params_f32(s, n->dtype, params, fills, n->layer ? 2 : 1, (size_t)cols, wb, n->fn);
  if (st != KILN_OK)
    return st;
  const cpu_row_kernels *k = s->rows;
#pragma omp parallel for schedule(static) if (rows * cols > CPU_PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const size_t offset = cpu_row_offset(n->dtype, r, cols);
    const void *src = (const char *)n->x->data + offset;
    void *out = (char *)n->out->data + offset;
    if (n->residual) {
      void *h = (char *)n->h->data + offset;
      add_row(n->dtype, src, (const char *)n->residual->data + offset, h, cols);
      src = h;
    }
    if (n->layer)
      kiln_cpu_layer_norm_row(n->dtype, src, out, cols, n->eps, wb[0], wb[1]);
    else
      k->rms_norm_row(n->dtype, src, out, cols, n->eps, wb[0]);
  }
  return KILN_OK;
}
