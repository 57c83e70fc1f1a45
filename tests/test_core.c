/* The core: status strings, version, dtypes, device counts, contexts and
 * the thread-local last error. Tensors are in test_core_tensor.c, the
 * converters in test_core_convert.c.
 *
 * `test_core --gpu-present` exits 77 (CTest: Skipped) without a GPU, so the
 * missing GPU shows in CTest's own summary; see CMakeLists.txt. */
#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

void core_register_tensor(void);
void core_register_convert(void);
void core_register_threads(void);

/* clang-format off */
static const struct { kiln_status status; const char *name; } statuses[] = {
  {KILN_OK, "KILN_OK"},
  {KILN_ERR_INVALID_ARGUMENT, "KILN_ERR_INVALID_ARGUMENT"},
  {KILN_ERR_SHAPE, "KILN_ERR_SHAPE"},
  {KILN_ERR_DTYPE, "KILN_ERR_DTYPE"},
  {KILN_ERR_DEVICE, "KILN_ERR_DEVICE"},
  {KILN_ERR_OUT_OF_MEMORY, "KILN_ERR_OUT_OF_MEMORY"},
  {KILN_ERR_UNSUPPORTED, "KILN_ERR_UNSUPPORTED"},
  {KILN_ERR_BACKEND, "KILN_ERR_BACKEND"},
};
/* clang-format on */
#define STATUS_COUNT (sizeof statuses / sizeof statuses[0])

static void test_status_strings(kt_env *env) {
  for (size_t i = 0; i < STATUS_COUNT; i++) {
    const char *s = kiln_status_string(statuses[i].status);
    if (!s || strcmp(s, statuses[i].name) != 0)
      KT_FAIL(env, "kiln_status_string(%d) is \"%s\", want \"%s\"", (int)statuses[i].status,
              s ? s : "(null)", statuses[i].name);
  }
  /* Outside the enum: still a string, never NULL, and not a real name. */
  const int outside[] = {-1, (int)STATUS_COUNT, 1000};
  for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
    const char *s = kiln_status_string((kiln_status)outside[i]);
    if (!s || !*s)
      KT_FAIL(env, "kiln_status_string(%d) is NULL or empty", outside[i]);
    for (size_t j = 0; j < STATUS_COUNT; j++)
      if (strcmp(s, statuses[j].name) == 0)
        KT_FAIL(env, "kiln_status_string(%d) is \"%s\", a real status's name", outside[i], s);
  }
}

static void test_version(kt_env *env) {
  char want[32];
  snprintf(want, sizeof want, "%d.%d.%d", KILN_VERSION_MAJOR, KILN_VERSION_MINOR,
           KILN_VERSION_PATCH);
  const char *v = kiln_version();
  if (!v || strcmp(v, want) != 0)
    KT_FAIL(env, "kiln_version() is \"%s\", the header says %s", v ? v : "(null)", want);
}

static void test_dtypes(kt_env *env) {
  assert_int_equal(kiln_dtype_size(KILN_F32), 4);
  assert_int_equal(kiln_dtype_size(KILN_F16), 2);
  assert_int_equal(kiln_dtype_size(KILN_BF16), 2);
  assert_int_equal(kiln_dtype_size(KILN_I32), 4);
  assert_int_equal(kiln_dtype_size((kiln_dtype)(KILN_I32 + 1)), 0);
  assert_int_equal(kiln_dtype_size((kiln_dtype)-1), 0);
  assert_string_equal(kiln_dtype_name(KILN_F32), "f32");
  assert_string_equal(kiln_dtype_name(KILN_F16), "f16");
  assert_string_equal(kiln_dtype_name(KILN_BF16), "bf16");
  assert_string_equal(kiln_dtype_name(KILN_I32), "i32");
  assert_string_equal(kiln_dtype_name((kiln_dtype)(KILN_I32 + 1)), "?");
  /* The dtype table has a full row for every dtype (a row left out in the
   * middle of the enum would compile; this catches it). */
  for (int d = 0; d < KILN_DTYPE_COUNT; d++) {
    const char *name = kiln_dtype_name((kiln_dtype)d);
    if (!name || !*name || strcmp(name, "?") == 0 || kiln_dtype_size((kiln_dtype)d) == 0)
      KT_FAIL(env, "dtype %d has no row in the dtype table (name %s, size %zu)", d,
              name ? name : "(null)", kiln_dtype_size((kiln_dtype)d));
    for (int e = 0; e < d; e++)
      if (strcmp(name, kiln_dtype_name((kiln_dtype)e)) == 0)
        KT_FAIL(env, "dtypes %d and %d are both named %s", e, d, name);
  }
}

static void test_device_counts(kt_env *env) {
  (void)env;
  assert_int_equal(kiln_device_count(KILN_DEVICE_CPU), 1);
  assert_true(kiln_device_count(KILN_DEVICE_CUDA) >= 0);
  assert_int_equal(kiln_device_count((kiln_device)42), 0);
}

/* A context on each present backend, and its accessors. */
static void test_context_basics(kt_env *env) {
  assert_int_equal(kiln_context_device(env->ctx), env->device);
  const char *d = kiln_context_describe(env->ctx);
  if (!d || !*d)
    KT_FAIL(env, "kiln_context_describe gave an empty description");
  KT_OK(env, kiln_sync(env->ctx));
  kiln_context *second = kt_context(env);
  assert_ptr_not_equal(second, env->ctx);
  assert_int_equal(kiln_context_device(second), env->device);
}

/* AUTO picks GPU 0 when there is one, else the CPU. */
static void test_context_auto(kt_env *env) {
  kiln_context *ctx = NULL;
  KT_OK(env, kiln_context_create(KILN_DEVICE_AUTO, 0, &ctx));
  kiln_device want = kiln_device_count(KILN_DEVICE_CUDA) > 0 ? KILN_DEVICE_CUDA : KILN_DEVICE_CPU;
  kiln_device got = kiln_context_device(ctx);
  kiln_context_destroy(ctx);
  assert_int_equal(got, want);
  kiln_context_destroy(NULL); /* fine */
}

/* Devices this build or machine lacks: KILN_ERR_DEVICE and *out NULL. The
 * CUDA rows ask for index = the GPU count, which never exists (index 0
 * without a GPU). */
static void test_context_refused(kt_env *env) {
  const int gpus = kiln_device_count(KILN_DEVICE_CUDA);
  const struct {
    int device, index;
  } bad[] = {
      {KILN_DEVICE_CPU, 1}, {KILN_DEVICE_CPU, -1},   {KILN_DEVICE_CUDA, gpus},
      {KILN_DEVICE_CUDA, 7 + gpus}, {KILN_DEVICE_CUDA, -1}, {42, 0},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    kiln_context *ctx = (kiln_context *)&ctx;
    kiln_status s = kiln_context_create((kiln_device)bad[i].device, bad[i].index, &ctx);
    kiln_context *left = ctx;
    if (s == KILN_OK)
      kiln_context_destroy(ctx);
    print_message("    device %d index %d -> %s: %s\n", bad[i].device, bad[i].index,
                  kiln_status_string(s), kiln_last_error());
    kt_expect_error(env, s, KILN_ERR_DEVICE, "kiln_context_create", NULL, NULL);
    if (left)
      KT_FAIL(env, "a failed kiln_context_create left *out non-NULL");
  }
  kt_expect_error(env, kiln_context_create(KILN_DEVICE_CPU, 0, NULL), KILN_ERR_INVALID_ARGUMENT,
                  "kiln_context_create", "out", NULL);
}

static void test_null_context(kt_env *env) {
  kt_expect_error(env, kiln_sync(NULL), KILN_ERR_INVALID_ARGUMENT, "kiln_sync", "ctx", NULL);
  kt_expect_error(env, kiln_context_allow_tf32(NULL, 1), KILN_ERR_INVALID_ARGUMENT,
                  "kiln_context_allow_tf32", "ctx", NULL);
}

/* 0 and 1 are the only values of the switch. */
static void test_allow_tf32(kt_env *env) {
  kiln_context *ctx = kt_context(env); /* the shared one stays strict f32 */
  KT_OK(env, kiln_context_allow_tf32(ctx, 1));
  KT_OK(env, kiln_context_allow_tf32(ctx, 0));
  kt_expect_error(env, kiln_context_allow_tf32(ctx, 2), KILN_ERR_INVALID_ARGUMENT,
                  "kiln_context_allow_tf32", "allow", NULL);
}

/* The last error is per thread: "" in a thread that has not failed yet,
 * set by that thread's own failures, and never the other thread's. */
typedef struct thread_report {
  char before[64], after[512];
} thread_report;

static void *fail_in_thread(void *arg) {
  thread_report *r = arg;
  snprintf(r->before, sizeof r->before, "%s", kiln_last_error());
  kiln_tensor *t;
  const int64_t shape[1] = {-3};
  kiln_status s = kiln_tensor_create(NULL, KILN_F32, 1, shape, &t);
  (void)s;
  snprintf(r->after, sizeof r->after, "%s", kiln_last_error());
  return NULL;
}

static void test_last_error_per_thread(kt_env *env) {
  kt_expect_error(env, kiln_sync(NULL), KILN_ERR_INVALID_ARGUMENT, "kiln_sync", "ctx", NULL);
  char mine[512];
  snprintf(mine, sizeof mine, "%s", kiln_last_error());
  thread_report r = {{0}, {0}};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, fail_in_thread, &r), 0);
  assert_int_equal(pthread_join(th, NULL), 0);
  if (r.before[0])
    KT_FAIL(env, "a new thread's last error is \"%s\", not \"\"", r.before);
  if (!strstr(r.after, "kiln_tensor_create"))
    KT_FAIL(env, "the thread's failure left \"%s\" as its last error", r.after);
  if (strcmp(mine, kiln_last_error()) != 0)
    KT_FAIL(env, "another thread's failure changed this thread's last error to \"%s\"",
            kiln_last_error());
}

/* Successful calls leave the last error alone ("until this thread's next
 * failing kiln call"). */
static void test_last_error_kept_by_success(kt_env *env) {
  kt_expect_error(env, kiln_sync(NULL), KILN_ERR_INVALID_ARGUMENT, "kiln_sync", "ctx", NULL);
  char before[512];
  snprintf(before, sizeof before, "%s", kiln_last_error());
  const int64_t n = 3;
  kt_tensor(env, KILN_F32, 1, &n);
  KT_OK(env, kiln_sync(env->ctx));
  assert_string_equal(before, kiln_last_error());
}

static int gpu_present(void) {
  int n = kiln_device_count(KILN_DEVICE_CUDA);
  printf("kiln_device_count(KILN_DEVICE_CUDA) = %d%s\n", n,
         n ? "" : ": no GPU, so every cuda/... test reports SKIPPED");
  return n > 0 ? 0 : 77;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--gpu-present") == 0)
    return gpu_present();
  kt_add_host(test_last_error_per_thread, NULL, "last_error_per_thread");
  kt_add_host(test_status_strings, NULL, "status_strings");
  kt_add_host(test_version, NULL, "version");
  kt_add_host(test_dtypes, NULL, "dtype_size_and_name");
  kt_add_host(test_device_counts, NULL, "device_counts");
  kt_add_host(test_context_auto, NULL, "context_auto");
  kt_add_host(test_context_refused, NULL, "context_refused_devices");
  kt_add_host(test_null_context, NULL, "null_context");
  kt_add(test_context_basics, NULL, KILN_F32, "context_basics");
  kt_add(test_allow_tf32, NULL, KILN_F32, "context_allow_tf32");
  kt_add(test_last_error_kept_by_success, NULL, KILN_F32, "last_error_kept_by_success");
  core_register_tensor();
  core_register_convert();
  core_register_threads();
  return kt_run("core");
}
