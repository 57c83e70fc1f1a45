/* Numbers at the edges (issue #9 item 5), on every backend: what kiln.h
 * decides for infinite, NaN and huge inputs of the row ops and the
 * activations. Each row length takes a different kernel path somewhere
 * (warp per row, block per row, the widest registers, streamed). */
#include "harness.h"
#include "reference.h"
#include "tolerance.h"

#include <float.h>
#include <math.h>
#include <string.h>

static const kiln_dtype dtypes[] = {KILN_F32, KILN_F16, KILN_BF16};
static const int64_t lengths[] = {1, 3, 17, 1000, 4099, 40009};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------ helpers */

/* Host words of t's dtype: values go in through the library's converters,
 * NaN bit patterns (either sign) as raw words. */
typedef struct words {
  kiln_dtype dtype;
  size_t n;
  unsigned char *raw;
} words;

static words words_new(kiln_dtype dtype, size_t n) {
  words w = {dtype, n, kt_alloc(n * kiln_dtype_size(dtype) + 1)};
  return w;
}

static void put(words *w, size_t i, float f) {
  if (w->dtype == KILN_F32) {
    memcpy(w->raw + 4 * i, &f, 4);
    return;
  }
  uint16_t h;
  if (w->dtype == KILN_F16)
    kiln_f32_to_f16(&f, &h, 1);
  else
    kiln_f32_to_bf16(&f, &h, 1);
  memcpy(w->raw + 2 * i, &h, 2);
}

/* A quiet NaN with the sign bit set or clear. */
static void put_nan(words *w, size_t i, bool negative) {
  if (w->dtype == KILN_F32) {
    uint32_t b = negative ? 0xffc00000u : 0x7fc00000u;
    memcpy(w->raw + 4 * i, &b, 4);
  } else {
    uint16_t b = w->dtype == KILN_F16 ? 0x7e00u : 0x7fc0u;
    b |= negative ? 0x8000u : 0;
    memcpy(w->raw + 2 * i, &b, 2);
  }
}

/* What element i holds, decoded by the harness (not the library). */
static double value_of(const words *w, size_t i) {
  if (w->dtype == KILN_F32) {
    float f;
    memcpy(&f, w->raw + 4 * i, 4);
    return f;
  }
  uint16_t h;
  memcpy(&h, w->raw + 2 * i, 2);
  return w->dtype == KILN_F16 ? kt_f16_value(h) : kt_bf16_value(h);
}

static kiln_tensor *tensor_of(kt_env *env, const words *w, int ndim, const int64_t *shape) {
  kiln_tensor *t = kt_tensor(env, w->dtype, ndim, shape);
  KT_OK(env, kiln_tensor_write(t, w->raw, kiln_tensor_nbytes(t)));
  return t;
}

static double *values_of(const words *w) {
  double *v = kt_alloc(w->n * sizeof *v);
  for (size_t i = 0; i < w->n; i++)
    v[i] = value_of(w, i);
  return v;
}

/* A tensor of w's values halved (a residual as huge as w itself). */
static kiln_tensor *halved(kt_env *env, const words *w, int ndim, const int64_t *shape) {
  words half = words_new(w->dtype, w->n);
  for (size_t i = 0; i < w->n; i++)
    put(&half, i, (float)(value_of(w, i) / 2));
  return tensor_of(env, &half, ndim, shape);
}

/* A fresh tensor of env's dtype, poisoned. */
static kiln_tensor *poisoned(kt_env *env, int ndim, const int64_t *shape) {
  kiln_tensor *t = kt_tensor(env, env->dtype, ndim, shape);
  kt_poison(env, t);
  return t;
}

/* The largest finite value of the dtype, as a float. */
static float dtype_max(kiln_dtype dtype) {
  return dtype == KILN_F16 ? 65504.0f : dtype == KILN_BF16 ? 0x1.fep127f : FLT_MAX;
}

/* Expects out[i] to be exactly want[i] (NaN: any NaN; zeros: the sign too). */
static void expect_exact(const kt_env *env, const char *what, const double *out,
                         const double *want, size_t n) {
  for (size_t i = 0; i < n; i++) {
    bool ok = isnan(want[i]) ? isnan(out[i])
                             : out[i] == want[i] && signbit(out[i]) == signbit(want[i]);
    if (!ok)
      KT_FAIL(env, "%s[%zu] is %g, expected %g", what, i, out[i], want[i]);
  }
}

/* ------------------------------------------------------------ softmax */

/* A row holding +inf: its +inf entries share 1, everything else is 0.
 * param: 0 plain, 1 with an all-zero mask, 2 in place. */
static void test_softmax_plus_inf(kt_env *env) {
  const int variant = *(const int *)env->param;
  for (size_t l = 0; l < COUNT(lengths); l++) {
    const int64_t cols = lengths[l], rows = 3, n = rows * cols;
    const int64_t shape[2] = {rows, cols};
    words w = words_new(env->dtype, (size_t)n);
    double *want = kt_alloc((size_t)n * sizeof *want);
    for (int64_t r = 0; r < rows; r++) {
      /* row 0: one +inf; row 1: up to three; row 2: all of them */
      int64_t infs = 0;
      for (int64_t j = 0; j < cols; j++) {
        bool inf = r == 2 || (r == 0 ? j == cols / 2 : j % (cols / 3 + 1) == 1 || cols == 1);
        put(&w, (size_t)(r * cols + j), inf ? INFINITY : (float)kt_uniform(env, -8, 8));
        infs += inf;
      }
      for (int64_t j = 0; j < cols; j++)
        want[r * cols + j] =
            value_of(&w, (size_t)(r * cols + j)) == INFINITY ? 1.0 / (double)infs : 0.0;
    }
    kiln_tensor *x = tensor_of(env, &w, 2, shape);
    kiln_tensor *out = variant == 2 ? x : kt_tensor(env, env->dtype, 2, shape);
    if (variant != 2)
      kt_poison(env, out);
    kiln_tensor *mask = NULL;
    if (variant == 1) {
      words m = words_new(env->dtype, (size_t)cols);
      for (int64_t j = 0; j < cols; j++)
        put(&m, (size_t)j, 0.0f);
      mask = tensor_of(env, &m, 1, &cols);
    }
    kiln_softmax_params p = {.scale = 0.5f, .mask = mask};
    KT_OK(env, kiln_softmax(env->ctx, x, out, &p));
    double *got = kt_read(env, out);
    /* 1/3 rounds to the dtype; everything else here is exact. */
    for (int64_t i = 0; i < n; i++) {
      const double u = env->dtype == KILN_F32 ? 0x1p-24 : env->dtype == KILN_F16 ? 0x1p-11 : 0x1p-8;
      const double tol = want[i] == 0.0 ? 0.0 : 4.0 * u;
      if (!(fabs(got[i] - want[i]) <= tol * want[i]))
        KT_FAIL(env, "cols %lld: out[%lld] is %g, expected %g", (long long)cols, (long long)i,
                got[i], want[i]);
    }
  }
}

/* scale near FLT_MAX: [.., 2, ..] among entries in [-1, 1] is one-hot at
 * the 2 with and without a mask (with one, scale * 2 overflows to +inf). */
static void test_softmax_huge_scale(kt_env *env) {
  const int masked = *(const int *)env->param;
  for (size_t l = 0; l < COUNT(lengths); l++) {
    const int64_t cols = lengths[l], rows = 2, n = rows * cols;
    const int64_t shape[2] = {rows, cols};
    words w = words_new(env->dtype, (size_t)n);
    double *want = kt_alloc((size_t)n * sizeof *want);
    for (int64_t r = 0; r < rows; r++) {
      const int64_t hot = (int64_t)(kt_rand(env) % (uint64_t)cols);
      for (int64_t j = 0; j < cols; j++) {
        put(&w, (size_t)(r * cols + j), j == hot ? 2.0f : (float)kt_uniform(env, -1, 1));
        want[r * cols + j] = j == hot ? 1.0 : 0.0;
      }
    }
    kiln_tensor *x = tensor_of(env, &w, 2, shape), *out = kt_tensor(env, env->dtype, 2, shape);
    kt_poison(env, out);
    kiln_tensor *mask = NULL;
    if (masked) {
      words m = words_new(env->dtype, (size_t)cols);
      for (int64_t j = 0; j < cols; j++)
        put(&m, (size_t)j, 0.0f);
      mask = tensor_of(env, &m, 1, &cols);
    }
    kiln_softmax_params p = {.scale = 3e38f, .mask = mask};
    KT_OK(env, kiln_softmax(env->ctx, x, out, &p));
    expect_exact(env, "out", kt_read(env, out), want, (size_t)n);
  }
}

/* A NaN logit, whatever its sign bit, makes the whole row NaN (the causal
 * mask's hidden columns too); a NaN the causal mask hides counts for
 * nothing, and rows without a visible NaN are ordinary softmax rows. */
static void test_softmax_nan(kt_env *env) {
  for (size_t l = 0; l < COUNT(lengths); l++) {
    const int64_t cols = lengths[l], rows = 5, n = rows * cols;
    const int64_t shape[2] = {rows, cols};
    words w = words_new(env->dtype, (size_t)n);
    for (int64_t r = 0; r < rows; r++)
      for (int64_t j = 0; j < cols; j++) {
        const size_t i = (size_t)(r * cols + j);
        if (r == 0 || r == 1) /* all NaN, negative then positive */
          put_nan(&w, i, r == 0);
        else if ((r == 2 || r == 3) && j == cols / 2) /* one NaN */
          put_nan(&w, i, r == 2);
        else
          put(&w, i, (float)kt_uniform(env, -4, 4));
      }
    double *xv = values_of(&w);
    for (int causal = 0; causal <= 1; causal++) {
      kiln_tensor *x = tensor_of(env, &w, 2, shape), *out = kt_tensor(env, env->dtype, 2, shape);
      kt_poison(env, out);
      kiln_softmax_params p = {.scale = 1.0f, .causal = causal};
      KT_OK(env, kiln_softmax(env->ctx, x, out, &p));
      double *got = kt_read(env, out), *ref = kt_alloc((size_t)cols * sizeof *ref);
      for (int64_t r = 0; r < rows; r++) {
        const double *v = xv + r * cols, *o = got + r * cols;
        const int64_t last = causal ? r + (cols - rows) : cols - 1; /* bottom-right aligned */
        bool nan = false;
        double mx = -INFINITY, sum = 0.0;
        for (int64_t j = 0; j <= last && j < cols; j++) {
          nan |= isnan(v[j]);
          mx = fmax(mx, v[j]);
        }
        for (int64_t j = 0; j < cols; j++) {
          ref[j] = j <= last && mx > -INFINITY ? exp(v[j] - mx) : 0.0;
          sum += ref[j];
        }
        for (int64_t j = 0; j < cols; j++) {
          ref[j] = sum > 0 ? ref[j] / sum : 0.0;
          if (nan && !isnan(o[j]))
            KT_FAIL(env, "cols %lld causal %d: row %lld col %lld is %g, expected NaN",
                    (long long)cols, causal, (long long)r, (long long)j, o[j]);
        }
        if (!nan)
          kt_check_close(env, "a row without a visible NaN", o, ref, cols, cols, NULL,
                         kt_softmax_tol(env->dtype, cols, 4.0));
      }
    }
  }
}

/* ---------------------------------------------------------- the norms */

/* Rows of entries around 1e20 (f32, bf16; f16 around its largest), whose
 * squares overflow f32: rms_norm and add_rms_norm give x / rms, as for
 * any other row, against the float64 reference; layer_norm of
 * [1e20, -1e20, ...] gives about +-1. */
static double magnitude_of(kiln_dtype dtype, int which) {
  if (dtype == KILN_F16)
    return which ? 2e4 : 3e4; /* h = 1.5 x and 1.1 x stay finite */
  return which ? 1e30 : 1e20;
}

static void test_rms_norm_huge(kt_env *env) {
  for (int which = 0; which < 2; which++)
    for (size_t l = 0; l < COUNT(lengths); l++) {
      const int64_t cols = lengths[l], rows = 2, n = rows * cols;
      const int64_t shape[2] = {rows, cols};
      const double big = magnitude_of(env->dtype, which);
      words w = words_new(env->dtype, (size_t)n), g = words_new(env->dtype, (size_t)cols);
      for (int64_t i = 0; i < n; i++)
        put(&w, (size_t)i, (float)(kt_uniform(env, 0.5, 1.0) * big * (kt_rand(env) & 1 ? 1 : -1)));
      for (int64_t j = 0; j < cols; j++)
        put(&g, (size_t)j, (float)kt_uniform(env, 0.5, 1.5));
      kiln_tensor *x = tensor_of(env, &w, 2, shape), *weight = tensor_of(env, &g, 1, &cols);
      kiln_tensor *out = kt_tensor(env, env->dtype, 2, shape);
      kt_poison(env, out);
      KT_OK(env, kiln_rms_norm(env->ctx, x, weight, 1e-6f, out));
      double *ref = kt_alloc((size_t)n * sizeof *ref);
      ref_rms_norm(values_of(&w), values_of(&g), rows, cols, 1e-6, ref);
      kt_check_close(env, "rms_norm", kt_read(env, out), ref, n, cols, NULL,
                     kt_rms_norm_tol(env->dtype, cols));

      /* add_rms_norm: h = x + x/2 is as huge; out = rms_norm(h). */
      for (int fused = 1; fused >= 0; fused--) {
        KT_OK(env, kiln_context_use_fused(env->ctx, fused));
        kiln_tensor *res = halved(env, &w, 2, shape);
        kiln_tensor *h = poisoned(env, 2, shape), *o2 = poisoned(env, 2, shape);
        kiln_status st = kiln_add_rms_norm(env->ctx, x, res, weight, 1e-6f, h, o2);
        KT_OK(env, kiln_context_use_fused(env->ctx, 1));
        KT_OK(env, st);
        double *hv = kt_read(env, h);
        ref_rms_norm(hv, values_of(&g), rows, cols, 1e-6, ref);
        kt_check_close(env, "add_rms_norm out", kt_read(env, o2), ref, n, cols, NULL,
                       kt_rms_norm_tol(env->dtype, cols));
      }
    }
}

/* layer_norm of [1e20, -1e20, 1e20, ...] (times 1 + small noise). */
static void test_layer_norm_huge(kt_env *env) {
  for (int which = 0; which < 2; which++)
    for (size_t l = 1; l < COUNT(lengths); l++) { /* one column normalizes to 0 */
      const int64_t cols = lengths[l], rows = 2, n = rows * cols;
      const int64_t shape[2] = {rows, cols};
      const double big = magnitude_of(env->dtype, which);
      words w = words_new(env->dtype, (size_t)n);
      for (int64_t i = 0; i < n; i++)
        put(&w, (size_t)i, (float)(big * (i % 2 ? -1 : 1) * kt_uniform(env, 0.9, 1.1)));
      double *xv = values_of(&w);
      kiln_tensor *x = tensor_of(env, &w, 2, shape), *out = kt_tensor(env, env->dtype, 2, shape);
      kt_poison(env, out);
      KT_OK(env, kiln_layer_norm(env->ctx, x, NULL, NULL, 1e-5f, out));
      double *ref = kt_alloc((size_t)n * sizeof *ref);
      ref_layer_norm(xv, NULL, NULL, rows, cols, 1e-5, ref);
      kt_check_close(env, "layer_norm", kt_read(env, out), ref, n, cols, NULL,
                     4.0 * kt_rms_norm_tol(env->dtype, cols));

      /* add_layer_norm, both ways: residual x/2 makes h = 1.5 x, as huge
       * and still alternating; out against layer_norm of h as stored. */
      for (int fused = 1; fused >= 0; fused--) {
        kiln_tensor *res = halved(env, &w, 2, shape);
        kiln_tensor *h = poisoned(env, 2, shape), *o2 = poisoned(env, 2, shape);
        KT_OK(env, kiln_context_use_fused(env->ctx, fused));
        kiln_status st = kiln_add_layer_norm(env->ctx, x, res, NULL, NULL, 1e-5f, h, o2);
        KT_OK(env, kiln_context_use_fused(env->ctx, 1));
        KT_OK(env, st);
        ref_layer_norm(kt_read(env, h), NULL, NULL, rows, cols, 1e-5, ref);
        kt_check_close(env, fused ? "add_layer_norm out (fused)" : "add_layer_norm out (composite)",
                       kt_read(env, o2), ref, n, cols, NULL, 4.0 * kt_rms_norm_tol(env->dtype, cols));
      }
    }
}

/* add_layer_norm of rows whose sum h holds +inf, -inf or NaN (from x or
 * from the residual), both ways: h holds them as the sum gives them, and
 * every element of such a row of out is NaN (kiln_layer_norm's rule); the
 * other row is finite. */
static void test_add_layer_norm_nonfinite(kt_env *env) {
  for (size_t l = 0; l < COUNT(lengths) - 1; l++)
    for (int kind = 0; kind < 3; kind++) {
      const int64_t cols = lengths[l], rows = 2, n = rows * cols;
      const int64_t shape[2] = {rows, cols};
      words w = words_new(env->dtype, (size_t)n), rw = words_new(env->dtype, (size_t)n);
      for (int64_t i = 0; i < n; i++) {
        put(&w, (size_t)i, (float)kt_uniform(env, -2, 2));
        put(&rw, (size_t)i, (float)kt_uniform(env, -2, 2));
      }
      const size_t at = (size_t)(cols + (int64_t)(kt_rand(env) % (uint64_t)cols)); /* row 1 */
      if (kind == 0)
        put(&w, at, INFINITY);
      else if (kind == 1)
        put(&rw, at, -INFINITY);
      else
        put_nan(&rw, at, kt_rand(env) & 1);
      kiln_tensor *x = tensor_of(env, &w, 2, shape), *res = tensor_of(env, &rw, 2, shape);
      for (int fused = 1; fused >= 0; fused--) {
        kiln_tensor *h = kt_tensor(env, env->dtype, 2, shape);
        kiln_tensor *out = kt_tensor(env, env->dtype, 2, shape);
        kt_poison(env, h);
        kt_poison(env, out);
        KT_OK(env, kiln_context_use_fused(env->ctx, fused));
        kiln_status st = kiln_add_layer_norm(env->ctx, x, res, NULL, NULL, 1e-5f, h, out);
        KT_OK(env, kiln_context_use_fused(env->ctx, 1));
        KT_OK(env, st);
        const double *hv = kt_read(env, h), *ov = kt_read(env, out);
        const double want_h = kind == 0 ? INFINITY : kind == 1 ? -INFINITY : NAN;
        if (!(isnan(want_h) ? isnan(hv[at]) : hv[at] == want_h))
          KT_FAIL(env, "%s, cols %lld: h[%zu] is %g, not %g", fused ? "fused" : "composite",
                  (long long)cols, at, hv[at], want_h);
        for (int64_t j = 0; j < cols; j++) {
          if (!isfinite(ov[j]))
            KT_FAIL(env, "%s, cols %lld: the finite row's out[%lld] is %g",
                    fused ? "fused" : "composite", (long long)cols, (long long)j, ov[j]);
          if (!isnan(ov[cols + j]))
            KT_FAIL(env, "%s, cols %lld, kind %d: the non-finite row's out[%lld] is %g, not NaN",
                    fused ? "fused" : "composite", (long long)cols, kind, (long long)j,
                    ov[cols + j]);
        }
      }
    }
}

/* A row holding +-inf: rms_norm gives NaN at the infinities and zeros (of
 * x's sign) elsewhere; a NaN row stays NaN. */
static void test_rms_norm_inf(kt_env *env) {
  for (size_t l = 0; l < COUNT(lengths); l++) {
    const int64_t cols = lengths[l], rows = 2, n = rows * cols;
    const int64_t shape[2] = {rows, cols};
    words w = words_new(env->dtype, (size_t)n), g = words_new(env->dtype, (size_t)cols);
    double *want = kt_alloc((size_t)n * sizeof *want);
    for (int64_t j = 0; j < cols; j++)
      put(&g, (size_t)j, 1.0f);
    for (int64_t j = 0; j < cols; j++) {
      const bool inf = j == cols / 2;
      put(&w, (size_t)j, inf ? -INFINITY : (float)kt_uniform(env, -4, 4));
      const double v = value_of(&w, (size_t)j);
      want[j] = inf ? NAN : v < 0 || (v == 0 && signbit(v)) ? -0.0 : 0.0;
      if (j == 0)
        put_nan(&w, (size_t)cols, true);
      else
        put(&w, (size_t)(cols + j), 1.0f);
      want[cols + j] = NAN;
    }
    want[cols] = NAN;
    kiln_tensor *x = tensor_of(env, &w, 2, shape), *weight = tensor_of(env, &g, 1, &cols);
    kiln_tensor *out = kt_tensor(env, env->dtype, 2, shape);
    kt_poison(env, out);
    KT_OK(env, kiln_rms_norm(env->ctx, x, weight, 1e-6f, out));
    expect_exact(env, "out", kt_read(env, out), want, (size_t)n);
  }
}

/* -------------------------------------------------------- activations */

/* The activations at the infinities: gelu (both), silu: -inf -> -0,
 * +inf -> +inf; swiglu(gate, up) = silu(gate) * up; NaN stays NaN. */
static void test_activations_inf(kt_env *env) {
  enum { N = 7 };
  const int64_t n = N;
  words w = words_new(env->dtype, N), up = words_new(env->dtype, N);
  put(&w, 0, -INFINITY);
  put(&w, 1, INFINITY);
  put_nan(&w, 2, true);
  put_nan(&w, 3, false);
  put(&w, 4, -dtype_max(env->dtype));
  put(&w, 5, dtype_max(env->dtype));
  put(&w, 6, -1e4f);
  for (int i = 0; i < N; i++)
    put(&up, (size_t)i, i % 2 ? -3.0f : 2.0f);
  const double maxv = dtype_max(env->dtype);
  /* x * sigmoid-like factor of an infinite or huge x: -0 below, x above */
  const double act[N] = {-0.0, INFINITY, NAN, NAN, -0.0, maxv, -0.0};
  kiln_tensor *x = tensor_of(env, &w, 1, &n), *u = tensor_of(env, &up, 1, &n);
  for (int op = 0; op < 4; op++) {
    kiln_tensor *out = kt_tensor(env, env->dtype, 1, &n);
    kt_poison(env, out);
    double want[N];
    memcpy(want, act, sizeof want);
    if (op == 0)
      KT_OK(env, kiln_gelu(env->ctx, x, out, 0));
    else if (op == 1)
      KT_OK(env, kiln_gelu(env->ctx, x, out, 1));
    else if (op == 2)
      KT_OK(env, kiln_silu(env->ctx, x, out));
    else {
      KT_OK(env, kiln_swiglu(env->ctx, x, u, out));
      for (int i = 0; i < N; i++)
        want[i] = act[i] * value_of(&up, (size_t)i);
      want[5] = -INFINITY; /* the dtype's largest times -3 overflows */
    }
    static const char *names[] = {"gelu", "gelu_tanh", "silu", "swiglu"};
    expect_exact(env, names[op], kt_read(env, out), want, N);
  }
}

static const int variants[] = {0, 1, 2};

int main(void) {
  for (size_t d = 0; d < COUNT(dtypes); d++) {
    const char *dt = kiln_dtype_name(dtypes[d]);
    kt_add(test_softmax_plus_inf, &variants[0], dtypes[d], "edges_%s_softmax_plus_inf", dt);
    kt_add(test_softmax_plus_inf, &variants[1], dtypes[d], "edges_%s_softmax_plus_inf_masked", dt);
    kt_add(test_softmax_plus_inf, &variants[2], dtypes[d], "edges_%s_softmax_plus_inf_in_place", dt);
    kt_add(test_softmax_huge_scale, &variants[0], dtypes[d], "edges_%s_softmax_huge_scale", dt);
    kt_add(test_softmax_huge_scale, &variants[1], dtypes[d], "edges_%s_softmax_huge_scale_masked",
           dt);
    kt_add(test_softmax_nan, NULL, dtypes[d], "edges_%s_softmax_nan_rows", dt);
    kt_add(test_rms_norm_huge, NULL, dtypes[d], "edges_%s_rms_norm_huge_rows", dt);
    kt_add(test_layer_norm_huge, NULL, dtypes[d], "edges_%s_layer_norm_huge_rows", dt);
    kt_add(test_add_layer_norm_nonfinite, NULL, dtypes[d], "edges_%s_add_layer_norm_nonfinite_rows",
           dt);
    kt_add(test_rms_norm_inf, NULL, dtypes[d], "edges_%s_rms_norm_inf_rows", dt);
    kt_add(test_activations_inf, NULL, dtypes[d], "edges_%s_activations_inf", dt);
  }
  return kt_run("edges");
}
