/*
 * Float64 references of the ops, computed on the host from exactly the
 * values the tensors hold. Written straight from the definitions in kiln.h,
 * with no attempt at speed, so they are easy to check by eye.
 */
#ifndef KILN_TESTS_REFERENCE_H
#define KILN_TESTS_REFERENCE_H

#include <stdbool.h>
#include <stdint.h>

/* out[bt] = alpha * op(a[bt]) @ op(b[bt or 0]) + beta * c[bt] + bias, for
 * bt < batch. a is [M, K] per batch ([K, M] when ta), b [K, N] ([N, K] when
 * tb), out and c [M, N]. c is read only when beta != 0; bias may be NULL. */
typedef struct ref_matmul_shape {
  int64_t batch, m, n, k;
  bool ta, tb, b_batched;
} ref_matmul_shape;
void ref_matmul(const ref_matmul_shape *s, const double *a, const double *b, const double *c,
                const double *bias, double alpha, double beta, double *out);

/* Softmax over rows of cols elements of scale * x + mask. sq > 0: causal,
 * the rows form [sq, cols] matrices and column j of row i is masked when
 * j > i + (cols - sq). mask (NULL: none) is additive: row r uses mask row
 * r / group. Entries that come out -inf are masked too; a row with nothing
 * left is all zeros. */
typedef struct ref_softmax_shape {
  int64_t rows, cols;
  int64_t sq;            /* > 0: causal */
  const double *mask;    /* NULL, or [rows / group, cols] */
  int64_t group;         /* rows sharing one mask row */
} ref_softmax_shape;
void ref_softmax(const ref_softmax_shape *s, const double *x, double scale, double *out);

/* out = x / sqrt(mean(x^2) + eps) * w, per row of cols elements. */
void ref_rms_norm(const double *x, const double *w, int64_t rows, int64_t cols, double eps,
                  double *out);

/* out = (x - mean) / sqrt(var + eps) * w + b, per row of cols elements
 * (biased variance); w and b may each be NULL (1 and 0). */
void ref_layer_norm(const double *x, const double *w, const double *b, int64_t rows,
                    int64_t cols, double eps, double *out);

#endif /* KILN_TESTS_REFERENCE_H */
