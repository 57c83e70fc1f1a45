/* kiln_rms_norm against a float64 reference: every case of
 * kt_rms_norm_cases in every dtype on every backend. The failing calls are
 * in test_rms_norm_errors.c. */
#include "cases.h"
#include "harness.h"
#include "reference.h"
#include "tolerance.h"

#include <math.h>
#include <string.h>

void rms_norm_register_errors(void);

static const kiln_dtype dtypes[] = {KILN_F32, KILN_F16, KILN_BF16};

/* Rows of very different sizes: tiny ones, where eps dominates the mean
 * square, and ones around 600, whose squares overflow f16 if a kernel does
 * not accumulate in f32. */
static double *fill(kt_env *env, kiln_tensor *x, kt_pattern pattern, int64_t cols) {
  int64_t n = kiln_tensor_numel(x);
  double *v = kt_alloc((size_t)n * sizeof *v);
  double row_scale = 1.0;
  for (int64_t i = 0; i < n; i++) {
    int64_t row = i / cols;
    if (i % cols == 0)
      row_scale = pattern == KT_ROW_SCALES ? pow(10.0, kt_uniform(env, -3.0, 2.5)) : 1.0;
    bool zero = pattern == KT_ZERO_ROWS && row % 4 == 0;
    v[i] = zero ? 0.0 : row_scale * kt_uniform(env, -2.0, 2.0);
  }
  kt_write(env, x, v);
  return v;
}

static void test_case(kt_env *env) {
  const kt_rms_norm_case *c = env->param;
  int64_t shape[KILN_MAX_DIMS];
  memcpy(shape, c->shape, sizeof shape);
  if (kt_quick())
    kt_shape_quick(c->ndim, shape, 1);
  int64_t h = shape[c->ndim - 1];

  kiln_tensor *x = kt_tensor(env, env->dtype, c->ndim, shape);
  kiln_tensor *w = kt_tensor(env, env->dtype, 1, &h);
  kiln_tensor *out = c->in_place ? x : kt_tensor(env, env->dtype, c->ndim, shape);
  double *xv = fill(env, x, c->pattern, h);
  double *wv = kt_random(env, w, -1.5, 1.5);
  if (!c->in_place)
    kt_poison(env, out);

  KT_OK(env, kiln_rms_norm(env->ctx, x, w, c->eps, out));

  int64_t n = kiln_tensor_numel(x);
  double *ref = kt_alloc((size_t)n * sizeof *ref);
  ref_rms_norm(xv, wv, h ? n / h : 0, h, c->eps, ref);
  /* Per row; a zero row's reference is zero, which the check demands exactly. */
  kt_check_close(env, "out", kt_read(env, out), ref, n, h, NULL, kt_rms_norm_tol(env->dtype, h));
  kt_expect_same(env, "input weight", w, wv);
  if (!c->in_place)
    kt_expect_same(env, "input x", x, xv);
}

int main(void) {
  for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++)
    for (size_t i = 0; i < kt_rms_norm_case_count; i++)
      kt_add(test_case, &kt_rms_norm_cases[i], dtypes[d], "rms_norm_%s_%s",
             kiln_dtype_name(dtypes[d]), kt_rms_norm_cases[i].name);
  rms_norm_register_errors();
  return kt_run("rms_norm");
}
