/* "Different contexts may be used from different threads at once": a few
 * threads, each with its own context, run the three ops over and over on
 * their own data and check every result. Shared mutable state in a backend
 * (a plan cache, scratch, a stream) shows up as wrong numbers or, under
 * valgrind and the sanitizers, as a race. cmocka's assertions are not
 * thread-safe, so workers only record what went wrong. */
#include "harness.h"
#include "reference.h"
#include "tolerance.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

void core_register_threads(void);

enum { THREADS = 3, ROUNDS = 4 };

typedef struct worker {
  kiln_device device;
  kt_env rng; /* only its generator is used: the harness's other helpers are not thread-safe */
  char error[512];
} worker;

/* A float tensor of ctx holding fresh U(-1, 1) values; vals gets them. */
static kiln_tensor *upload(worker *w, kiln_context *ctx, int ndim, const int64_t *shape,
                           double *vals, float *buf) {
  kiln_tensor *t = NULL;
  if (kiln_tensor_create(ctx, KILN_F32, ndim, shape, &t) != KILN_OK)
    return NULL;
  for (int64_t i = 0; i < kiln_tensor_numel(t); i++)
    vals[i] = buf[i] = (float)kt_uniform(&w->rng, -1.0, 1.0);
  if (kiln_tensor_write(t, buf, kiln_tensor_nbytes(t)) != KILN_OK) {
    kiln_tensor_destroy(t);
    return NULL;
  }
  return t;
}

/* max|out - ref| / max|ref| over n elements. */
static double rel_error(const float *out, const double *ref, int64_t n) {
  double err = 0.0, scale = 1e-30;
  for (int64_t i = 0; i < n; i++) {
    double e = isfinite(out[i]) ? fabs(out[i] - ref[i]) : INFINITY;
    err = e > err ? e : err;
    scale = fabs(ref[i]) > scale ? fabs(ref[i]) : scale;
  }
  return err / scale;
}

/* y = softmax(x @ w) then rms_norm(y, g): one round, checked stage by stage
 * against the reference of what each stage was actually given. */
static const char *one_round(worker *w, kiln_context *ctx) {
  enum { M = 13, K = 65, N = 257 };
  static const int64_t xs[2] = {M, K}, ws[2] = {K, N}, ys[2] = {M, N}, gs[1] = {N};
  double xv[M * K], wv[K * N], gv[N], ref[M * N];
  float buf[K * N], y[M * N], s[M * N], r[M * N];
  kiln_tensor *x = upload(w, ctx, 2, xs, xv, buf), *wt = upload(w, ctx, 2, ws, wv, buf);
  kiln_tensor *g = upload(w, ctx, 1, gs, gv, buf), *yt = NULL, *st = NULL, *rt = NULL;
  const char *what = "making tensors";
  const kiln_softmax_params sp = {.scale = 0.5f};
  if (!x || !wt || !g || kiln_tensor_create(ctx, KILN_F32, 2, ys, &yt) != KILN_OK ||
      kiln_tensor_create(ctx, KILN_F32, 2, ys, &st) != KILN_OK ||
      kiln_tensor_create(ctx, KILN_F32, 2, ys, &rt) != KILN_OK)
    goto done;
  what = "running the ops";
  if (kiln_matmul(ctx, x, wt, yt, NULL) != KILN_OK || kiln_softmax(ctx, yt, st, &sp) != KILN_OK ||
      kiln_rms_norm(ctx, st, g, 1e-5f, rt) != KILN_OK ||
      kiln_tensor_read(yt, y, sizeof y) != KILN_OK ||
      kiln_tensor_read(st, s, sizeof s) != KILN_OK || kiln_tensor_read(rt, r, sizeof r) != KILN_OK)
    goto done;
  what = "matmul result";
  const ref_matmul_shape mm = {1, M, N, K, false, false, false};
  ref_matmul(&mm, xv, wv, NULL, NULL, 1.0, 0.0, ref);
  if (rel_error(y, ref, M * N) > kt_matmul_tol(KILN_F32, K))
    goto done;
  what = "softmax result";
  double yd[M * N], sd[M * N];
  for (int i = 0; i < M * N; i++)
    yd[i] = y[i], sd[i] = s[i];
  const ref_softmax_shape ss = {M, N, 0, NULL, M};
  ref_softmax(&ss, yd, 0.5, ref);
  if (rel_error(s, ref, M * N) > kt_softmax_tol(KILN_F32, N, 16.0))
    goto done;
  what = "rms_norm result";
  ref_rms_norm(sd, gv, M, N, 1e-5, ref);
  if (rel_error(r, ref, M * N) > kt_rms_norm_tol(KILN_F32, N))
    goto done;
  what = NULL;
done:
  kiln_tensor_destroy(x);
  kiln_tensor_destroy(wt);
  kiln_tensor_destroy(g);
  kiln_tensor_destroy(yt);
  kiln_tensor_destroy(st);
  kiln_tensor_destroy(rt);
  return what;
}

static void *work(void *arg) {
  worker *w = arg;
  kiln_context *ctx = NULL;
  if (kiln_context_create(w->device, 0, &ctx) != KILN_OK) {
    snprintf(w->error, sizeof w->error, "kiln_context_create: %s", kiln_last_error());
    return NULL;
  }
  for (int round = 0; round < ROUNDS && !w->error[0]; round++) {
    const char *what = one_round(w, ctx);
    if (what)
      snprintf(w->error, sizeof w->error, "round %d, %s: last error \"%s\"", round, what,
               kiln_last_error());
  }
  kiln_context_destroy(ctx);
  return NULL;
}

static void test_contexts_on_threads(kt_env *env) {
  worker *w = kt_alloc(THREADS * sizeof *w);
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++) {
    w[i].device = env->device;
    w[i].rng.rng = kt_rand(env) | 1;
    assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
  }
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(pthread_join(th[i], NULL), 0);
  for (int i = 0; i < THREADS; i++)
    if (w[i].error[0])
      KT_FAIL(env, "thread %d: %s", i, w[i].error);
}

void core_register_threads(void) {
  kt_add(test_contexts_on_threads, NULL, KILN_F32, "contexts_on_threads");
}
