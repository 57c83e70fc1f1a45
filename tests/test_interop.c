/* Interop: raw data pointers, the stream, wrapping memory kiln does not
 * own, and custom ops (run in order, captured into graphs, their failures
 * reported), plus a fused op and a custom op in one captured graph. */
#include "harness_ops.h"

#include <stdint.h>
#include <string.h>

static void test_data_and_stream(kt_env *env) {
  const int64_t shape[1] = {17};
  kiln_tensor *t = kt_tensor(env, KILN_F32, 1, shape);
  if (!kiln_tensor_data(t) || kiln_tensor_data(NULL))
    KT_FAIL(env, "kiln_tensor_data: %p for a tensor, %p for NULL", kiln_tensor_data(t),
            kiln_tensor_data(NULL));
  void *stream = kiln_context_stream(env->ctx);
  if ((env->device == KILN_DEVICE_CPU) != (stream == NULL) || kiln_context_stream(NULL))
    KT_FAIL(env, "kiln_context_stream is %p on the %s backend", stream, env->backend);
}

/* A wrapper over another tensor's memory (host or device alike) sees its
 * data without a copy, and destroying it leaves the memory alone. */
static void test_wrap(kt_env *env) {
  const int64_t shape[2] = {3, 17}, flat[1] = {51};
  kiln_tensor *t = kt_tensor(env, env->dtype, 2, shape);
  double *v = kt_random(env, t, -1.0, 1.0);
  kiln_tensor *w = NULL;
  KT_OK(env, kiln_tensor_wrap(env->ctx, env->dtype, 1, flat, kiln_tensor_data(t), &w));
  if (kiln_tensor_data(w) != kiln_tensor_data(t))
    KT_FAIL(env, "the wrapper's data is not the memory it wraps");
  KT_OK(env, kiln_scale(env->ctx, w, 2.0f, w));
  kiln_tensor_destroy(w);
  double *now = kt_read(env, t);
  for (int i = 0; i < 51; i++)
    if (now[i] != 2.0 * v[i])
      KT_FAIL(env, "element %d is %g after scaling through the wrapper, want %g", i, now[i],
              2.0 * v[i]);
}

static void test_wrap_errors(kt_env *env) {
  const int64_t shape[1] = {4}, neg[1] = {-1}, empty[1] = {0};
  kiln_tensor *t = kt_tensor(env, KILN_F32, 1, shape), *w = (kiln_tensor *)&w;
  char *base = kiln_tensor_data(t);
  kt_expect_error(env, kiln_tensor_wrap(env->ctx, KILN_F16, 1, shape, base + 1, &w),
                  KILN_ERR_INVALID_ARGUMENT, "kiln_tensor_wrap", "data", NULL);
  if (w)
    KT_FAIL(env, "*out is not NULL after a failing kiln_tensor_wrap");
  kt_expect_error(env, kiln_tensor_wrap(env->ctx, KILN_I32, 1, shape, base + 2, &w),
                  KILN_ERR_INVALID_ARGUMENT, "kiln_tensor_wrap", "data", NULL);
  kt_expect_error(env, kiln_tensor_wrap(env->ctx, KILN_F32, 1, shape, NULL, &w),
                  KILN_ERR_INVALID_ARGUMENT, "kiln_tensor_wrap", "data", NULL);
  kt_expect_error(env, kiln_tensor_wrap(env->ctx, KILN_F32, 1, neg, base, &w), KILN_ERR_SHAPE,
                  "kiln_tensor_wrap", NULL, NULL);
  kt_expect_error(env, kiln_tensor_wrap(NULL, KILN_F32, 1, shape, base, &w),
                  KILN_ERR_INVALID_ARGUMENT, "kiln_tensor_wrap", "ctx", NULL);
  kt_expect_error(env, kiln_tensor_wrap(env->ctx, (kiln_dtype)9, 1, shape, base, &w),
                  KILN_ERR_DTYPE, "kiln_tensor_wrap", NULL, NULL);
  KT_OK(env, kiln_tensor_wrap(env->ctx, KILN_F32, 1, empty, NULL, &w)); /* empty: NULL is fine */
  kiln_tensor_destroy(w);
}

/* ------------------------------------------------------------ custom ops */

typedef struct custom_log {
  int calls;
  void *stream;
  int ntensors;
  kiln_status answer;
} custom_log;

static kiln_status record_call(void *stream, kiln_tensor *const *tensors, int n, void *user) {
  (void)tensors;
  custom_log *log = user;
  log->calls++;
  log->stream = stream;
  log->ntensors = n;
  return log->answer;
}

/* On the CPU (stream NULL): t0 = t0 * 2 + 1 through the host pointer. */
static kiln_status double_plus_one(void *stream, kiln_tensor *const *tensors, int n, void *user) {
  (void)user;
  if (stream || n != 1 || kiln_tensor_dtype(tensors[0]) != KILN_F32)
    return KILN_ERR_UNSUPPORTED;
  float *p = kiln_tensor_data(tensors[0]);
  for (int64_t i = 0; i < kiln_tensor_numel(tensors[0]); i++)
    p[i] = 2.0f * p[i] + 1.0f;
  return KILN_OK;
}

static void test_custom_call(kt_env *env) {
  const int64_t shape[1] = {3};
  kiln_tensor *t[2] = {kt_tensor(env, KILN_F32, 1, shape), kt_tensor(env, KILN_F16, 1, shape)};
  custom_log log = {0};
  KT_OK(env, kiln_custom_op(env->ctx, record_call, t, 2, &log));
  KT_OK(env, kiln_sync(env->ctx));
  if (log.calls != 1 || log.ntensors != 2 || log.stream != kiln_context_stream(env->ctx))
    KT_FAIL(env, "custom fn: %d calls, %d tensors, stream %p (want 1, 2, %p)", log.calls,
            log.ntensors, log.stream, kiln_context_stream(env->ctx));
  log.answer = KILN_ERR_SHAPE;
  const char *const needles[] = {"KILN_ERR_SHAPE", NULL};
  kt_expect_error(env, kiln_custom_op(env->ctx, record_call, NULL, 0, &log), KILN_ERR_SHAPE,
                  "kiln_custom_op", NULL, needles);
}

static void test_custom_errors(kt_env *env) {
  const int64_t shape[1] = {3};
  kiln_tensor *mine = kt_tensor(env, KILN_F32, 1, shape);
  kiln_tensor *other = kt_tensor_on(env, kt_context(env), KILN_F32, 1, shape);
  kiln_tensor *ts[9] = {mine, mine, mine, mine, mine, mine, mine, mine, mine};
  kiln_tensor *with_null[2] = {mine, NULL}, *with_other[2] = {mine, other};
  custom_log log = {0};
  const char *fn = "kiln_custom_op";
  kt_expect_error(env, kiln_custom_op(NULL, record_call, ts, 1, &log), KILN_ERR_INVALID_ARGUMENT, fn, "ctx", NULL);
  kt_expect_error(env, kiln_custom_op(env->ctx, NULL, ts, 1, &log), KILN_ERR_INVALID_ARGUMENT, fn, "fn", NULL);
  kt_expect_error(env, kiln_custom_op(env->ctx, record_call, ts, 9, &log), KILN_ERR_INVALID_ARGUMENT, fn, "ntensors", NULL);
  kt_expect_error(env, kiln_custom_op(env->ctx, record_call, ts, -1, &log), KILN_ERR_INVALID_ARGUMENT, fn, "ntensors", NULL);
  kt_expect_error(env, kiln_custom_op(env->ctx, record_call, NULL, 2, &log), KILN_ERR_INVALID_ARGUMENT, fn, "tensors", NULL);
  const char *const n1[] = {"tensors[1]", NULL};
  kt_expect_error(env, kiln_custom_op(env->ctx, record_call, with_null, 2, &log), KILN_ERR_INVALID_ARGUMENT, fn, NULL, n1);
  kt_expect_error(env, kiln_custom_op(env->ctx, record_call, with_other, 2, &log), KILN_ERR_DEVICE, fn, NULL, n1);
  if (log.calls)
    KT_FAIL(env, "fn was called %d times by failing calls", log.calls);
}

/* A captured graph on the CPU: a fused LoRA, then a custom op on its
 * output; replays read the inputs' current contents and run both. Also
 * with the composite (its scratch and three matmuls recorded). */
static void test_graph_fused_and_custom(kt_env *env) {
  if (env->device != KILN_DEVICE_CPU)
    skip(); /* double_plus_one works on host memory */
  const int64_t xs[2] = {2, 5}, ws[2] = {3, 5}, as[2] = {2, 5}, bs[2] = {3, 2}, os[2] = {2, 3};
  kiln_tensor *x = kt_tensor(env, KILN_F32, 2, xs), *w = kt_tensor(env, KILN_F32, 2, ws);
  kiln_tensor *a = kt_tensor(env, KILN_F32, 2, as), *b = kt_tensor(env, KILN_F32, 2, bs);
  kiln_tensor *out = kt_tensor(env, KILN_F32, 2, os);
  kt_random(env, w, -1, 1);
  kt_random(env, a, -1, 1);
  kt_random(env, b, -1, 1);
  for (int fused = 1; fused >= 0; fused--) {
    kx_use_fused(env, fused);
    KT_OK(env, kiln_graph_begin(env->ctx));
    KT_OK(env, kiln_lora_linear(env->ctx, x, w, NULL, a, b, 0.5f, out));
    KT_OK(env, kiln_custom_op(env->ctx, double_plus_one, &out, 1, NULL));
    kiln_graph *g = NULL;
    KT_OK(env, kiln_graph_end(env->ctx, &g));
    kt_track_graph(g);
    kx_use_fused(env, 1);
    for (int replay = 0; replay < 2; replay++) {
      kt_random(env, x, -1, 1);
      kiln_tensor *want = kt_tensor(env, KILN_F32, 2, os);
      KT_OK(env, kiln_lora_linear(env->ctx, x, w, NULL, a, b, 0.5f, want));
      KT_OK(env, kiln_graph_run(env->ctx, g));
      double *got = kt_read(env, out), *ref = kt_read(env, want);
      for (int i = 0; i < 6; i++)
        ref[i] = 2.0 * ref[i] + 1.0;
      kt_check_close(env, fused ? "fused replay" : "composite replay", got, ref, 6, 3, NULL,
                     1e-6);
    }
  }
}

int main(void) {
  static const kiln_dtype dtypes[] = {KILN_F32, KILN_F16, KILN_BF16};
  kt_add(test_data_and_stream, NULL, KILN_F32, "interop_data_and_stream");
  for (size_t d = 0; d < 3; d++)
    kt_add(test_wrap, NULL, dtypes[d], "interop_wrap_%s", kiln_dtype_name(dtypes[d]));
  kt_add(test_wrap_errors, NULL, KILN_F32, "interop_wrap_errors");
  kt_add(test_custom_call, NULL, KILN_F32, "custom_op_call");
  kt_add(test_custom_errors, NULL, KILN_F32, "custom_op_errors");
  kt_add(test_graph_fused_and_custom, NULL, KILN_F32, "graph_lora_then_custom_op");
  return kt_run("interop");
}
