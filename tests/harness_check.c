/* The checks: numerical closeness to the float64 reference, and the
 * contract of a failing call (status, message, untouched output). */
#include "harness.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Below this a reference row counts as all zeros, and then any nonzero
 * output is an error (a fully masked softmax row must be exactly 0). */
#define TINY 1e-30

/* Every element whose reference is finite must come out finite: the first
 * thing to look at, since NaN poison that was never overwritten, or an exp
 * that overflowed, would otherwise only show as a huge error. */
static void check_finite(const kt_env *env, const char *what, const double *out,
                         const double *ref, int64_t n, int64_t row_len) {
  for (int64_t i = 0; i < n; i++) {
    bool bad = isfinite(ref[i]) ? !isfinite(out[i]) : !(out[i] == ref[i]);
    if (bad)
      KT_FAIL(env, "%s: element %lld (row %lld, column %lld) is %g where the reference is %.9g",
              what, (long long)i, (long long)(i / row_len), (long long)(i % row_len), out[i],
              ref[i]);
  }
}

typedef struct row_error {
  double err, scale; /* max |out - ref| and max(max |ref|, TINY) over the row */
  int64_t worst;     /* index of the largest |out - ref| */
} row_error;

static row_error measure_row(const double *out, const double *ref, int64_t start, int64_t len) {
  row_error r = {0.0, TINY, start};
  for (int64_t i = start; i < start + len; i++) {
    if (!isfinite(ref[i]))
      continue; /* equal, by check_finite */
    double e = fabs(out[i] - ref[i]);
    if (e > r.err) {
      r.err = e;
      r.worst = i;
    }
    if (fabs(ref[i]) > r.scale)
      r.scale = fabs(ref[i]);
  }
  return r;
}

void kt_check_close(const kt_env *env, const char *what, const double *out, const double *ref,
                    int64_t n, int64_t row_len, const double *row_tol, double tol) {
  if (n == 0 || row_len <= 0)
    return;
  check_finite(env, what, out, ref, n, row_len);
  int64_t bad_rows = 0, worst_row = -1;
  double worst_ratio = 0.0;
  row_error worst = {0};
  for (int64_t row = 0; row * row_len < n; row++) {
    row_error r = measure_row(out, ref, row * row_len, row_len);
    double t = row_tol ? row_tol[row] : tol;
    double ratio = r.err / r.scale / t;
    if (ratio > 1.0)
      bad_rows++;
    if (ratio > worst_ratio) {
      worst_ratio = ratio;
      worst_row = row;
      worst = r;
    }
  }
  double t = worst_row >= 0 && row_tol ? row_tol[worst_row] : tol;
  if (kt_verbose())
    print_message("    %s: worst row error %.3g = %.3f of its tolerance\n", what,
                  worst_row >= 0 ? worst.err / worst.scale : 0.0, worst_ratio);
  if (bad_rows == 0)
    return;
  KT_FAIL(env,
          "%s: %lld of %lld rows exceed the tolerance; worst row %lld: max|out-ref|/max|ref| = "
          "%.3g > %.3g (at column %lld: out %.9g, ref %.9g; row max|ref| %.6g)",
          what, (long long)bad_rows, (long long)((n + row_len - 1) / row_len),
          (long long)worst_row, worst.err / worst.scale, t, (long long)(worst.worst % row_len),
          out[worst.worst], ref[worst.worst], worst.scale);
}

void kt_expect_same(kt_env *env, const char *what, const kiln_tensor *t, const double *vals) {
  double *now = kt_read(env, t);
  for (int64_t i = 0; i < kiln_tensor_numel(t); i++)
    if (memcmp(&now[i], &vals[i], sizeof *vals) != 0)
      KT_FAIL(env, "%s changed: element %lld is %.9g, was %.9g", what, (long long)i, now[i],
              vals[i]);
}

const char *kt_shape_str(int ndim, const int64_t *shape) {
  size_t cap = 24 * (size_t)(ndim > 0 ? ndim : 1) + 4;
  char *s = kt_alloc(cap);
  size_t len = (size_t)snprintf(s, cap, "[");
  for (int i = 0; i < ndim; i++)
    len += (size_t)snprintf(s + len, cap - len, "%s%lld", i ? ", " : "", (long long)shape[i]);
  snprintf(s + len, cap - len, "]");
  return s;
}

const char *kt_tensor_shape_str(const kiln_tensor *t) {
  int64_t shape[KILN_MAX_DIMS];
  int ndim = kiln_tensor_ndim(t);
  for (int i = 0; i < ndim; i++)
    shape[i] = kiln_tensor_dim(t, i);
  return kt_shape_str(ndim, shape);
}

static bool is_ident(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* word occurs in text with no identifier character on either side, so the
 * argument "a" is not found inside "kiln_matmul" or "shape". */
static bool has_word(const char *text, const char *word) {
  size_t len = strlen(word);
  for (const char *p = strstr(text, word); p; p = strstr(p + 1, word)) {
    bool left = p == text || !is_ident(p[-1]);
    bool right = !is_ident(p[len]);
    if (left && right)
      return true;
  }
  return false;
}

void kt_expect_error(const kt_env *env, kiln_status got, kiln_status want, const char *fn,
                     const char *arg, const char *const *needles) {
  const char *msg = kiln_last_error();
  if (got != want)
    KT_FAIL(env, "%s returned %s, expected %s (last error: \"%s\")", fn,
            kiln_status_string(got), kiln_status_string(want), msg);
  if (!strstr(msg, fn))
    KT_FAIL(env, "%s failed as expected, but the last error \"%s\" does not name %s", fn, msg,
            fn);
  if (arg && !has_word(msg, arg))
    KT_FAIL(env, "%s failed as expected, but the last error \"%s\" does not name the argument %s",
            fn, msg, arg);
  for (size_t i = 0; needles && needles[i]; i++)
    if (!strstr(msg, needles[i]))
      KT_FAIL(env, "%s failed as expected, but the last error \"%s\" does not contain \"%s\"",
              fn, msg, needles[i]);
}

kt_snapshot kt_fill_pattern(kt_env *env, kiln_tensor *t) {
  kt_snapshot snap = {t, NULL, kiln_tensor_nbytes(t)};
  snap.bytes = kt_alloc(snap.nbytes);
  /* Varies with the seed, so no fixed value can match it by accident. */
  unsigned char base = (unsigned char)kt_rand(env);
  for (size_t i = 0; i < snap.nbytes; i++)
    snap.bytes[i] = (unsigned char)(base + 131u * i + 7u);
  KT_OK(env, kiln_tensor_write(t, snap.bytes, snap.nbytes));
  return snap;
}

void kt_expect_unchanged(const kt_env *env, const kt_snapshot *snap, const char *what) {
  unsigned char *now = kt_alloc(snap->nbytes);
  KT_OK(env, kiln_tensor_read(snap->t, now, snap->nbytes));
  for (size_t i = 0; i < snap->nbytes; i++)
    if (now[i] != snap->bytes[i])
      KT_FAIL(env, "%s was changed by a failing call: byte %zu is 0x%02x, was 0x%02x", what, i,
              now[i], snap->bytes[i]);
}
