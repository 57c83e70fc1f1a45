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

/* scale * x + mask of one entry; -inf when the causal mask hides it. */
static double logit(const ref_softmax_shape *s, const double *x, double scale, int64_t r,
                    int64_t j) {
  if (s->sq > 0 && j > r % s->sq + (s->cols - s->sq))
    return -INFINITY;
  double v = scale * x[r * s->cols + j];
  if (s->mask)
    v += s->mask[(r / s->group) * s->cols + j];
  return v;
}

void ref_softmax(const ref_softmax_shape *s, const double *x, double scale, double *out) {
  for (int64_t r = 0; r < s->rows; r++) {
    double *o = out + r * s->cols;
    double max = -INFINITY;
    for (int64_t j = 0; j < s->cols; j++)
      max = fmax(max, logit(s, x, scale, r, j));
    double sum = 0.0;
    for (int64_t j = 0; j < s->cols; j++) {
      double v = logit(s, x, scale, r, j);
      o[j] = v == -INFINITY ? 0.0 : exp(v - max);
      sum += o[j];
    }
    for (int64_t j = 0; j < s->cols; j++)
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

void ref_layer_norm(const double *x, const double *w, const double *b, int64_t rows,
                    int64_t cols, double eps, double *out) {
  for (int64_t r = 0; r < rows; r++) {
    const double *v = x + r * cols;
    double mean = 0.0, var = 0.0;
    for (int64_t j = 0; j < cols; j++)
      mean += v[j] / (double)cols;
    for (int64_t j = 0; j < cols; j++)
      var += (v[j] - mean) * (v[j] - mean) / (double)cols;
    for (int64_t j = 0; j < cols; j++)
      out[r * cols + j] = (v[j] - mean) / sqrt(var + eps) * (w ? w[j] : 1.0) + (b ? b[j] : 0.0);
  }
}
