/* The float64 references; see reference.h. */
#include "reference.h"

#include <math.h>

static double a_at(const ref_matmul_shape *s, const double *a, int64_t i, int64_t k) {
  return s->ta ? a[k * s->m + i] : a[i * s->k + k];
}

static double b_at(const ref_matmul_shape *s, const double *b, int64_t k, int64_t j) {
  return s->tb ? b[j * s->k + k] : b[k * s->n + j];
}

void ref_matmul(const ref_matmul_shape *s, const double *a, const double *b, const double *c,
                const double *bias, double alpha, double beta, double *out) {
  const int64_t mn = s->m * s->n;
  for (int64_t bt = 0; bt < s->batch; bt++) {
    const double *ab = a + bt * s->m * s->k;
    const double *bb = s->b_batched ? b + bt * s->k * s->n : b;
    for (int64_t i = 0; i < s->m; i++) {
      for (int64_t j = 0; j < s->n; j++) {
        double sum = 0.0;
        for (int64_t k = 0; k < s->k; k++)
          sum += a_at(s, ab, i, k) * b_at(s, bb, k, j);
        double v = alpha * sum;
        if (beta != 0.0) /* beta == 0 must ignore c, even NaN in it */
          v += beta * c[bt * mn + i * s->n + j];
        if (bias)
          v += bias[j];
        out[bt * mn + i * s->n + j] = v;
      }
    }
  }
}

static bool masked(double x, int64_t i, int64_t j, int64_t sq, int64_t cols) {
  return x == -INFINITY || (sq > 0 && j > i % sq + (cols - sq));
}

void ref_softmax(const double *x, int64_t rows, int64_t cols, int64_t sq, double scale,
                 double *out) {
  for (int64_t r = 0; r < rows; r++) {
    const double *xr = x + r * cols;
    double *o = out + r * cols;
    double max = -INFINITY;
    for (int64_t j = 0; j < cols; j++)
      if (!masked(xr[j], r, j, sq, cols) && scale * xr[j] > max)
        max = scale * xr[j];
    double sum = 0.0;
    for (int64_t j = 0; j < cols; j++) {
      o[j] = masked(xr[j], r, j, sq, cols) ? 0.0 : exp(scale * xr[j] - max);
      sum += o[j];
    }
    for (int64_t j = 0; j < cols; j++)
      o[j] = sum > 0.0 ? o[j] / sum : 0.0; /* nothing unmasked: zeros */
  }
}

void ref_rms_norm(const double *x, const double *w, int64_t rows, int64_t cols, double eps,
                  double *out) {
  for (int64_t r = 0; r < rows; r++) {
    const double *xr = x + r * cols;
    double ss = 0.0;
    for (int64_t j = 0; j < cols; j++)
      ss += xr[j] * xr[j];
    double inv = 1.0 / sqrt(ss / (double)cols + eps);
    for (int64_t j = 0; j < cols; j++)
      out[r * cols + j] = xr[j] * inv * w[j];
  }
}
