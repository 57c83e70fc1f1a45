/* kiln_softmax against a float64 reference: every case of kt_softmax_cases
 * in every dtype on every backend. The failing calls are in
 * test_softmax_errors.c. */
#include "cases.h"
#include "harness.h"
#include "reference.h"
#include "tolerance.h"

#include <math.h>
#include <string.h>

void softmax_register_errors(void);

static const kiln_dtype dtypes[] = {KILN_F32, KILN_F16, KILN_BF16};

/* One input value of a pattern; see kt_pattern. */
static double draw(kt_env *env, kt_pattern pattern, int64_t row) {
  double sign = kt_rand(env) & 1 ? 1.0 : -1.0;
  switch (pattern) {
  case KT_NEG_INF: return kt_uniform(env, 0, 1) < 0.25 ? -INFINITY : kt_uniform(env, -4, 4);
  case KT_ROWS_NEG_INF:
    return row % 3 == 1 || kt_uniform(env, 0, 1) < 0.1 ? -INFINITY : kt_uniform(env, -4, 4);
  case KT_HUGE: return (row % 2 ? -1e4 : 1e4) + kt_uniform(env, -16, 16);
  case KT_HUGE_MIXED: return sign * 1e4 + kt_uniform(env, -16, 16);
  case KT_80_100: return kt_uniform(env, 80, 100);
  default: return kt_uniform(env, -4, 4);
  }
}

static double *fill(kt_env *env, kiln_tensor *x, kt_pattern pattern, int64_t cols) {
  int64_t n = kiln_tensor_numel(x);
  double *v = kt_alloc((size_t)n * sizeof *v);
  for (int64_t i = 0; i < n; i++)
    v[i] = draw(env, pattern, i / cols);
  kt_write(env, x, v);
  return v;
}

/* The mask's values: see kt_mask. b is the mask row (the batch). */
static double *fill_mask(kt_env *env, kiln_tensor *mask, kt_mask kind, int64_t cols) {
  int64_t n = kiln_tensor_numel(mask), batches = n / cols;
  double *v = kt_alloc((size_t)n * sizeof *v);
  for (int64_t i = 0; i < n; i++) {
    int64_t b = i / cols, j = i % cols;
    bool pad = kind == KT_MASK_ROW ? j >= cols - cols / 6
               : kind == KT_MASK_BATCH ? j < 2 * b
                                       : b == batches - 1;
    v[i] = pad ? -INFINITY : kt_uniform(env, -2.0, 2.0);
  }
  kt_write(env, mask, v);
  return v;
}

static kiln_tensor *make_mask(kt_env *env, const kt_softmax_case *c, const int64_t *shape) {
  if (c->mask == KT_NO_MASK)
    return NULL;
  const int64_t cols = shape[c->ndim - 1];
  const int64_t batch_shape[2] = {shape[0], cols};
  return c->mask == KT_MASK_ROW ? kt_tensor(env, env->dtype, 1, &cols)
                                : kt_tensor(env, env->dtype, 2, batch_shape);
}

/* Per row, since the huge-logit allowance depends on the row's values. */
static double *row_tolerances(kt_env *env, const ref_softmax_shape *s, const double *x,
                              double scale) {
  double *tol = kt_alloc((size_t)s->rows * sizeof *tol);
  for (int64_t r = 0; r < s->rows; r++) {
    double big = 0.0;
    for (int64_t j = 0; j < s->cols; j++) {
      double v = scale * x[r * s->cols + j];
      if (s->mask)
        v += s->mask[(r / s->group) * s->cols + j];
      if (isfinite(v) && fabs(v) > big)
        big = fabs(v);
    }
    tol[r] = kt_softmax_tol(env->dtype, s->cols, big);
  }
  return tol;
}

static void run_case(kt_env *env, const kt_softmax_case *c) {
  int64_t shape[KILN_MAX_DIMS];
  memcpy(shape, c->shape, sizeof shape);
  if (kt_quick())
    kt_shape_quick(c->ndim, shape, c->causal ? 2 : 1);
  const int64_t cols = shape[c->ndim - 1];

  kiln_tensor *x = kt_tensor(env, env->dtype, c->ndim, shape);
  kiln_tensor *out = c->in_place ? x : kt_tensor(env, env->dtype, c->ndim, shape);
  kiln_tensor *mask = make_mask(env, c, shape);
  double *xv = fill(env, x, c->pattern, cols);
  double *mv = mask ? fill_mask(env, mask, c->mask, cols) : NULL;
  if (!c->in_place)
    kt_poison(env, out);

  kiln_softmax_params p = {.scale = c->scale, .causal = c->causal, .mask = mask};
  kiln_status st = kiln_softmax(env->ctx, x, out, c->p_null ? NULL : &p);
  if (mask)
    kt_skip_if_unsupported(env, st); /* a documented answer to a valid request */
  KT_OK(env, st);

  const int64_t n = kiln_tensor_numel(x), rows = cols ? n / cols : 0;
  const int64_t mask_rows = mask && kiln_tensor_ndim(mask) == 2 ? shape[0] : 1;
  const ref_softmax_shape rs = {rows, cols, c->causal ? shape[c->ndim - 2] : 0, mv,
                                mask_rows ? rows / mask_rows : 1};
  double *ref = kt_alloc((size_t)n * sizeof *ref);
  ref_softmax(&rs, xv, c->scale, ref);
  kt_check_close(env, "out", kt_read(env, out), ref, n, cols,
                 row_tolerances(env, &rs, xv, c->scale), 0.0);
  if (!c->in_place)
    kt_expect_same(env, "input x", x, xv);
}

static void test_case(kt_env *env) { run_case(env, env->param); }

/* Kernel configurations are cached per shape: going back to a shape after
 * another must still be right, with new data. */
static void test_config_cache(kt_env *env) {
  static const kt_softmax_case seq[] = {
      {"a", 2, {3, 17}, 1.0f, 0, 0, KT_UNIFORM, 0, KT_NO_MASK},
      {"b", 2, {2, 4099}, 0.5f, 0, 0, KT_UNIFORM, 0, KT_NO_MASK},
      {"c", 3, {2, 5, 17}, 1.0f, 1, 0, KT_UNIFORM, 0, KT_NO_MASK},
      {"a_again", 2, {3, 17}, 1.0f, 0, 0, KT_UNIFORM, 0, KT_NO_MASK},
  };
  for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++)
    run_case(env, &seq[i]);
}

int main(void) {
  for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
    const char *dt = kiln_dtype_name(dtypes[d]);
    for (size_t i = 0; i < kt_softmax_case_count; i++)
      kt_add(test_case, &kt_softmax_cases[i], dtypes[d], "softmax_%s_%s", dt,
             kt_softmax_cases[i].name);
    kt_add(test_config_cache, NULL, dtypes[d], "softmax_%s_config_cache", dt);
  }
  softmax_register_errors();
  return kt_run("softmax");
}
