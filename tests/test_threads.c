/* How many threads a context's CPU work uses (kiln_context_set_threads,
 * issue #9 item 5): the count reaches OpenMP and OpenBLAS inside the op,
 * the caller's own OpenMP setting is back after it, the automatic count
 * divides the machine among live contexts, and describe shows it. What is
 * checked is that the setting is applied, never how fast anything runs. */
#include "harness.h"

#include <omp.h>
#include <stdio.h>
#include <string.h>

/* OpenBLAS's own query; the test links OpenBLAS for it. */
int openblas_get_num_threads(void);

typedef struct seen {
  int omp, blas, calls;
} seen;

/* A custom function runs where kiln's ops run, with the same settings. */
static kiln_status look(void *stream, kiln_tensor *const *tensors, int ntensors, void *user) {
  (void)stream;
  (void)tensors;
  (void)ntensors;
  seen *s = user;
  s->omp = omp_get_max_threads();
  s->blas = openblas_get_num_threads();
  s->calls++;
  return KILN_OK;
}

static seen inside(kt_env *env, kiln_context *ctx) {
  seen s = {0, 0, 0};
  KT_OK(env, kiln_custom_op(ctx, look, NULL, 0, &s));
  if (s.calls != 1)
    KT_FAIL(env, "the custom function ran %d times", s.calls);
  return s;
}

static void expect_describe(kt_env *env, kiln_context *ctx, int n, const char *how) {
  char want[64];
  snprintf(want, sizeof want, "OpenMP %d thread%s (%s)", n, n == 1 ? "" : "s", how);
  if (!strstr(kiln_context_describe(ctx), want))
    KT_FAIL(env, "kiln_context_describe is \"%s\"; expected it to say \"%s\"",
            kiln_context_describe(ctx), want);
}

static void test_set(kt_env *env) {
  kiln_context *ctx = kt_context_of(env, KILN_DEVICE_CPU);
  const int mine = omp_get_max_threads();
  const int counts[] = {1, 3, 2, 1};
  for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
    KT_OK(env, kiln_context_set_threads(ctx, counts[i]));
    const seen s = inside(env, ctx);
    if (s.omp != counts[i] || s.blas != counts[i])
      KT_FAIL(env, "set to %d: the op saw OpenMP %d and OpenBLAS %d", counts[i], s.omp, s.blas);
    if (omp_get_max_threads() != mine)
      KT_FAIL(env, "after the op this thread's OpenMP count is %d, was %d",
              omp_get_max_threads(), mine);
    expect_describe(env, ctx, counts[i], "set for this context");
  }
  /* A real op (BLAS and OpenMP inside) leaves the caller's count alone too. */
  const int64_t shape[2] = {64, 64};
  kiln_tensor *a = kt_tensor_on(env, ctx, KILN_F32, 2, shape);
  kiln_tensor *o = kt_tensor_on(env, ctx, KILN_F32, 2, shape);
  kt_random(env, a, -1, 1);
  KT_OK(env, kiln_matmul(ctx, a, a, o, NULL));
  if (omp_get_max_threads() != mine)
    KT_FAIL(env, "after kiln_matmul this thread's OpenMP count is %d", omp_get_max_threads());
}

/* 0 is automatic: the machine's count (KILN_NUM_THREADS or OpenMP's)
 * divided by the live CPU contexts, at least 1; it follows contexts as
 * they come and go. */
static void test_automatic(kt_env *env) {
  kiln_context *ctx = kt_context_of(env, KILN_DEVICE_CPU);
  KT_OK(env, kiln_context_set_threads(ctx, 0));
  const int before = inside(env, ctx).omp;
  kiln_context *more[4];
  for (int i = 0; i < 4; i++)
    more[i] = kt_context_of(env, KILN_DEVICE_CPU);
  const seen s = inside(env, ctx);
  /* At least 5 CPU contexts are alive now (ctx and the four). */
  const int most = omp_get_max_threads() / 5 > 1 ? omp_get_max_threads() / 5 : 1;
  if (s.omp < 1 || s.omp > most || s.blas != s.omp)
    KT_FAIL(env, "with 5+ contexts alive the op saw OpenMP %d, OpenBLAS %d; expected 1..%d",
            s.omp, s.blas, most);
  if (s.omp > before)
    KT_FAIL(env, "more contexts gave more threads (%d, was %d)", s.omp, before);
  expect_describe(env, more[3], s.omp, "automatic");
  (void)more;
}

static void test_errors(kt_env *env) {
  kiln_context *ctx = kt_context_of(env, KILN_DEVICE_CPU);
  const int bad[] = {-1, 4097, -2147483647 - 1};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    kt_expect_error(env, kiln_context_set_threads(ctx, bad[i]), KILN_ERR_INVALID_ARGUMENT,
                    "kiln_context_set_threads", "threads", NULL);
  kt_expect_error(env, kiln_context_set_threads(NULL, 1), KILN_ERR_INVALID_ARGUMENT,
                  "kiln_context_set_threads", "ctx", NULL);
  /* A GPU context accepts it and has nothing to set. */
  if (env->device == KILN_DEVICE_CUDA)
    KT_OK(env, kiln_context_set_threads(env->ctx, 2));
}

int main(void) {
  kt_add(test_set, NULL, KILN_F32, "threads_set_per_context");
  kt_add(test_automatic, NULL, KILN_F32, "threads_automatic");
  kt_add(test_errors, NULL, KILN_F32, "threads_errors");
  return kt_run("threads");
}
