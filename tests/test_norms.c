/* kiln_add_rms_norm and kiln_add_layer_norm (fused and composite, against
 * float64 and each other) and kiln_layer_norm against float64. The failing
 * calls are in test_norms_errors.c. */
#include "harness_ops.h"
#include "reference.h"
#include "tolerance.h"

#include <math.h>
#include <string.h>

void norms_register_errors(void);

static const kiln_dtype dtypes[] = {KILN_F32, KILN_F16, KILN_BF16};

typedef struct norm_case {
  const char *name;
  int ndim;
  int64_t shape[3];
  float eps;
  int in_place; /* add_rms_norm: h_out = residual; layer_norm: out = x */
  int affine;   /* layer_norm: weight and bias given */
  double mean;  /* layer_norm: rows centred here (cancellation test) */
} norm_case;

/* clang-format off */
static const norm_case cases[] = {
  /* name               nd shape            eps    inpl aff mean */
  {"h1",                2, {7, 1},          1e-6f, 0,   1,  0.0},
  {"h3",                2, {5, 3},          1e-5f, 1,   0,  0.0},
  {"h17",               3, {2, 3, 17},      1e-6f, 0,   1,  0.0},
  {"h1000_in_place",    2, {33, 1000},      1e-5f, 1,   1,  0.0},
  {"h4099",             2, {17, 4099},      1e-6f, 0,   1,  0.0},
  {"mean_1000",         2, {9, 257},        1e-5f, 0,   1,  1000.0},
  {"eps_1",             2, {4, 17},         1.0f,  0,   0,  0.0},
};
/* clang-format on */

static double norm_tol(kiln_dtype dtype, int64_t h) { return kt_rms_norm_tol(dtype, h); }

/* kiln_add_rms_norm (layer false) or kiln_add_layer_norm (true) of x and
 * one random residual, twice: fused into hs[0], outs[0], then composite
 * into hs[1], outs[1], each run with its own copy of the residual (h may be
 * the residual itself: in place). Returns the residual's values. */
static double *run_both_ways(kt_env *env, const norm_case *c, kiln_tensor *x, bool layer,
                             kiln_tensor *w, kiln_tensor *b, kiln_tensor *hs[2],
                             kiln_tensor *outs[2]) {
  const size_t n = (size_t)kiln_tensor_numel(x);
  double *rv = NULL;
  for (int k = 0; k < 2; k++) {
    kiln_tensor *res = kt_tensor(env, env->dtype, c->ndim, c->shape);
    if (!rv) {
      rv = kt_random(env, res, -2.0, 2.0);
    } else {
      double *v = kt_alloc(n * sizeof *v);
      memcpy(v, rv, n * sizeof *v);
      kt_write(env, res, v);
    }
    hs[k] = c->in_place ? res : kt_tensor(env, env->dtype, c->ndim, c->shape);
    outs[k] = kt_tensor(env, env->dtype, c->ndim, c->shape);
    if (!c->in_place)
      kt_poison(env, hs[k]);
    kt_poison(env, outs[k]);
    kx_use_fused(env, k == 0);
    KT_OK(env, layer ? kiln_add_layer_norm(env->ctx, x, res, w, b, c->eps, hs[k], outs[k])
                     : kiln_add_rms_norm(env->ctx, x, res, w, c->eps, hs[k], outs[k]));
  }
  kx_use_fused(env, 1);
  return rv;
}

static void test_add_rms_norm(kt_env *env) {
  const norm_case *c = env->param;
  kx_use_fused(env, 1);
  const int64_t h = c->shape[c->ndim - 1];
  kiln_tensor *x = kt_tensor(env, env->dtype, c->ndim, c->shape);
  kiln_tensor *w = kt_tensor(env, env->dtype, 1, &h);
  kiln_tensor *hs[2], *outs[2];
  double *xv = kt_random(env, x, -2.0, 2.0), *wv = kt_random(env, w, -1.5, 1.5);
  double *rv = run_both_ways(env, c, x, false, w, NULL, hs, outs);

  const int64_t n = kiln_tensor_numel(x), rows = n / h;
  double *href = kt_alloc((size_t)n * sizeof *href), *ref = kt_alloc((size_t)n * sizeof *ref);
  for (int64_t i = 0; i < n; i++)
    href[i] = xv[i] + rv[i];
  const double u = kx_unit(env->dtype);
  double *h0 = kt_read(env, hs[0]), *h1 = kt_read(env, hs[1]);
  kt_check_close(env, "fused h", h0, href, n, h, NULL, u + 4 * 0x1p-24);
  kt_check_close(env, "composite h against fused h", h1, h0, n, h, NULL, 0.0);
  /* out is defined from h as stored (rounded), so the reference is too */
  ref_rms_norm(h0, wv, rows, h, c->eps, ref);
  double *o0 = kt_read(env, outs[0]), *o1 = kt_read(env, outs[1]);
  kt_check_close(env, "fused out", o0, ref, n, h, NULL, norm_tol(env->dtype, h));
  kt_check_close(env, "composite out", o1, ref, n, h, NULL, norm_tol(env->dtype, h));
  kt_check_close(env, "composite against fused", o1, o0, n, h, NULL, 2 * norm_tol(env->dtype, h));
  kt_expect_same(env, "input x", x, xv);
  kt_expect_same(env, "input weight", w, wv);
}

static void test_layer_norm(kt_env *env) {
  const norm_case *c = env->param;
  const int64_t h = c->shape[c->ndim - 1];
  kiln_tensor *x = kt_tensor(env, env->dtype, c->ndim, c->shape);
  kiln_tensor *w = c->affine ? kt_tensor(env, env->dtype, 1, &h) : NULL;
  kiln_tensor *b = c->affine ? kt_tensor(env, env->dtype, 1, &h) : NULL;
  kiln_tensor *out = c->in_place ? x : kt_tensor(env, env->dtype, c->ndim, c->shape);
  double *xv = kt_random(env, x, c->mean - 1.0, c->mean + 1.0);
  double *wv = w ? kt_random(env, w, -1.5, 1.5) : NULL, *bv = b ? kt_random(env, b, -1, 1) : NULL;
  if (!c->in_place)
    kt_poison(env, out);
  KT_OK(env, kiln_layer_norm(env->ctx, x, w, b, c->eps, out));
  const int64_t n = kiln_tensor_numel(x);
  double *ref = kt_alloc((size_t)n * sizeof *ref);
  ref_layer_norm(xv, wv, bv, n / h, h, c->eps, ref);
  /* Centring a row around `mean` in f32 costs |mean| / std units of f32
   * roundoff in the deviations (16-bit inputs are exact in f32). */
  double tol = norm_tol(env->dtype, h) + 8.0 * (1.0 + fabs(c->mean)) * 0x1p-24;
  kt_check_close(env, "out", kt_read(env, out), ref, n, h, NULL, tol);
  if (!c->in_place)
    kt_expect_same(env, "input x", x, xv);
}

/* h = x + residual both ways (h_out = residual in place, or apart), then
 * out against LayerNorm of h as stored, and the two ways against each
 * other: h to the bit, out to the same f32 rounding (the GPU's kernels
 * share layer_norm's row arithmetic; tolerance for a differing vector
 * layout when only one path's operands are 16-byte aligned). */
static void test_add_layer_norm(kt_env *env) {
  const norm_case *c = env->param;
  kx_use_fused(env, 1);
  const int64_t h = c->shape[c->ndim - 1];
  kiln_tensor *x = kt_tensor(env, env->dtype, c->ndim, c->shape);
  kiln_tensor *w = c->affine ? kt_tensor(env, env->dtype, 1, &h) : NULL;
  kiln_tensor *b = c->affine ? kt_tensor(env, env->dtype, 1, &h) : NULL;
  kiln_tensor *hs[2], *outs[2];
  double *xv = kt_random(env, x, c->mean - 2.0, c->mean + 2.0);
  double *wv = w ? kt_random(env, w, -1.5, 1.5) : NULL, *bv = b ? kt_random(env, b, -1, 1) : NULL;
  const int64_t n = kiln_tensor_numel(x), rows = n / h;
  double *rv = run_both_ways(env, c, x, true, w, b, hs, outs);

  double *href = kt_alloc((size_t)n * sizeof *href), *ref = kt_alloc((size_t)n * sizeof *ref);
  for (int64_t i = 0; i < n; i++)
    href[i] = xv[i] + rv[i];
  const double u = kx_unit(env->dtype);
  double *h0 = kt_read(env, hs[0]), *h1 = kt_read(env, hs[1]);
  kt_check_close(env, "fused h", h0, href, n, h, NULL, u + 4 * 0x1p-24 * (1.0 + fabs(c->mean)));
  kt_check_close(env, "composite h against fused h", h1, h0, n, h, NULL, 0.0);
  /* out is defined from h as stored (rounded), so the reference is too */
  ref_layer_norm(h0, wv, bv, rows, h, c->eps, ref);
  const double tol = norm_tol(env->dtype, h) + 8.0 * (1.0 + fabs(c->mean)) * 0x1p-24;
  double *o0 = kt_read(env, outs[0]), *o1 = kt_read(env, outs[1]);
  kt_check_close(env, "fused out", o0, ref, n, h, NULL, tol);
  kt_check_close(env, "composite out", o1, ref, n, h, NULL, tol);
  kt_check_close(env, "composite against fused", o1, o0, n, h, NULL, 2 * tol);
  kt_expect_same(env, "input x", x, xv);
  if (w)
    kt_expect_same(env, "input weight", w, wv);
  if (b)
    kt_expect_same(env, "input bias", b, bv);
}

int main(void) {
  for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++)
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      kt_add(test_add_rms_norm, &cases[i], dtypes[d], "add_rms_norm_%s_%s",
             kiln_dtype_name(dtypes[d]), cases[i].name);
      kt_add(test_layer_norm, &cases[i], dtypes[d], "layer_norm_%s_%s",
             kiln_dtype_name(dtypes[d]), cases[i].name);
      kt_add(test_add_layer_norm, &cases[i], dtypes[d], "add_layer_norm_%s_%s",
             kiln_dtype_name(dtypes[d]), cases[i].name);
    }
  norms_register_errors();
  return kt_run("norms");
}
