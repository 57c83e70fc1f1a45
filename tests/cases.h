/*
 * The op cases, as data: shapes and parameters only, no checking. The tests
 * run each row on every backend and dtype; a benchmark can link cases.c and
 * walk the same tables to time exactly what the tests check.
 */
#ifndef KILN_TESTS_CASES_H
#define KILN_TESTS_CASES_H

#include <stddef.h>
#include <stdint.h>

/* How a case's inputs are drawn (see the fill functions of each test). */
typedef enum kt_pattern {
  KT_UNIFORM,      /* softmax U(-4, 4); rms_norm U(-2, 2) */
  KT_NEG_INF,      /* softmax: about a quarter of the entries -inf */
  KT_ROWS_NEG_INF, /* softmax: every third row all -inf, some -inf elsewhere */
  KT_HUGE,         /* softmax: each row around +1e4 or -1e4 */
  KT_HUGE_MIXED,   /* softmax: each entry around +1e4 or -1e4 */
  KT_80_100,       /* softmax: U(80, 100), where a naive exp overflows f32 */
  KT_ROW_SCALES,   /* rms_norm: each row scaled by 10^U(-3, 2.5) */
  KT_ZERO_ROWS     /* rms_norm: every fourth row (from the first) all zeros */
} kt_pattern;

/* out [batch..., M, N] = alpha * op(a) @ op(b) + beta * out (+ bias) */
typedef struct kt_matmul_case {
  const char *name;
  int nbatch;       /* 0, 1 or 2 leading batch dims */
  int64_t batch[2];
  int64_t m, n, k;
  int ta, tb;       /* transpose_a, transpose_b */
  int b_batched;    /* b carries the batch dims (else one b for all) */
  float alpha, beta;
  int bias;         /* with a bias [N] */
  int p_null;       /* pass params NULL (only for plain products) */
} kt_matmul_case;

/* The optional additive softmax mask: values U(-2, 2) (an ALiBi-like
 * bias) with -inf where it pads. */
typedef enum kt_mask {
  KT_NO_MASK,
  KT_MASK_ROW,             /* [Sk] for every row; the last Sk/6 columns -inf */
  KT_MASK_BATCH,           /* [B, Sk]; batch b's first 2b columns -inf (left padding) */
  KT_MASK_BATCH_LAST_EMPTY /* [B, Sk]; the last batch all -inf: its rows are zeros */
} kt_mask;

typedef struct kt_softmax_case {
  const char *name;
  int ndim;
  int64_t shape[4];
  float scale;
  int causal;
  int in_place; /* out == x */
  kt_pattern pattern;
  int p_null;   /* pass params NULL (scale 1, no mask) */
  kt_mask mask;
} kt_softmax_case;

typedef struct kt_rms_norm_case {
  const char *name;
  int ndim;
  int64_t shape[4];
  float eps;
  int in_place; /* out == x */
  kt_pattern pattern;
} kt_rms_norm_case;

extern const kt_matmul_case kt_matmul_cases[];
extern const size_t kt_matmul_case_count;
extern const kt_softmax_case kt_softmax_cases[];
extern const size_t kt_softmax_case_count;
extern const kt_rms_norm_case kt_rms_norm_cases[];
extern const size_t kt_rms_norm_case_count;

/* KILN_TEST_QUICK: the largest cases, shrunk so a run under valgrind stays
 * short. Sizes stay odd; row lengths (the awkward ones) are kept. */
kt_matmul_case kt_matmul_case_quick(kt_matmul_case c);
/* Shrinks the leading dims of shape, keeping the last `keep` ones. */
void kt_shape_quick(int ndim, int64_t *shape, int keep);

#endif /* KILN_TESTS_CASES_H */
