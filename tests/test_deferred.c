/* Deferred errors (src/core/backend.h): the record every backend keeps, and
 * the CPU backend's report at kiln_sync and kiln_tensor_read. The CUDA
 * side runs through the embedding kernel's bad ids (test_embedding) and
 * attention's bad lengths (test_attention_errors). This
 * test reaches inside the library, so it links the static library alone,
 * without the harness (which links the shared one). */
#include "cpu.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

/* A pseudo-random id outside [0, vocab), and random positions, so the
 * numbers in the message cannot come from anywhere but the record. */
static int64_t rnd(int64_t lo, int64_t hi) { return lo + (int64_t)(rand() % (int)(hi - lo + 1)); }

static void expect_message(kiln_status s, int64_t index, int64_t id, int64_t vocab) {
  assert_int_equal(s, KILN_ERR_INVALID_ARGUMENT);
  char want[160];
  snprintf(want, sizeof want, "kiln_embedding: ids[%lld] is %lld, outside the table's %lld rows",
           (long long)index, (long long)id, (long long)vocab);
  if (strstr(kiln_last_error(), want) == NULL)
    fail_msg("kiln_last_error() is \"%s\"; it should contain \"%s\"", kiln_last_error(), want);
}

/* Nothing pending: OK. The lowest index of one code wins whatever the
 * order of raising, and a report clears the record. */
static void test_record(void **unused) {
  (void)unused;
  kiln_defer d = {KILN_DEFER_NONE, 0, 0, 0};
  assert_int_equal(kiln_defer_report(&d), KILN_OK);
  const int64_t vocab = rnd(1, 100000), low = rnd(0, 1000), high = low + rnd(1, 1000);
  const int64_t id_low = vocab + rnd(0, 50), id_high = -rnd(1, 50);
  kiln_defer_raise(&d, KILN_DEFER_EMBEDDING_ID, high, id_high, vocab);
  kiln_defer_raise(&d, KILN_DEFER_EMBEDDING_ID, low, id_low, vocab);
  kiln_defer_raise(&d, KILN_DEFER_EMBEDDING_ID, high + 1, id_high, vocab);
  expect_message(kiln_defer_report(&d), low, id_low, vocab);
  assert_int_equal(kiln_defer_report(&d), KILN_OK);
}

static kiln_defer *cpu_record(kiln_context *ctx) {
  return &((cpu_state *)ctx->state)->defer;
}

/* kiln_sync reports once; kiln_tensor_read copies, then reports once. */
static void test_cpu_context(void **unused) {
  (void)unused;
  kiln_context *ctx = NULL;
  assert_int_equal(kiln_context_create(KILN_DEVICE_CPU, 0, &ctx), KILN_OK);
  assert_int_equal(kiln_sync(ctx), KILN_OK);
  const int64_t vocab = rnd(1, 100000), index = rnd(0, 4098), id = vocab + rnd(0, 9);
  kiln_defer_raise(cpu_record(ctx), KILN_DEFER_EMBEDDING_ID, index, id, vocab);
  expect_message(kiln_sync(ctx), index, id, vocab);
  assert_int_equal(kiln_sync(ctx), KILN_OK);

  const int64_t n = rnd(1, 4099);
  float *src = malloc((size_t)n * sizeof *src), *dst = malloc((size_t)n * sizeof *dst);
  assert_non_null(src);
  assert_non_null(dst);
  for (int64_t i = 0; i < n; i++)
    src[i] = (float)rand() / (float)RAND_MAX;
  kiln_tensor *t = NULL;
  assert_int_equal(kiln_tensor_create(ctx, KILN_F32, 1, &n, &t), KILN_OK);
  assert_int_equal(kiln_tensor_write(t, src, (size_t)n * sizeof *src), KILN_OK);
  kiln_defer_raise(cpu_record(ctx), KILN_DEFER_EMBEDDING_ID, index, id, vocab);
  memset(dst, 0xff, (size_t)n * sizeof *dst);
  expect_message(kiln_tensor_read(t, dst, (size_t)n * sizeof *dst), index, id, vocab);
  assert_memory_equal(dst, src, (size_t)n * sizeof *src);
  assert_int_equal(kiln_tensor_read(t, dst, (size_t)n * sizeof *dst), KILN_OK);
  assert_int_equal(kiln_sync(ctx), KILN_OK);
  kiln_tensor_destroy(t);
  kiln_context_destroy(ctx);
  free(src);
  free(dst);
}

/* Attention's codes, raised by its CUDA kernels (the GPU run of
 * test_attention_errors reaches them through bad cu_seqlens): each
 * message names the entry and carries the three numbers. */
static void test_attention_messages(void **unused) {
  (void)unused;
  static const struct {
    kiln_defer_code code;
    const char *want; /* index, value, limit as %lld, in order */
  } rows[] = {
      {KILN_DEFER_ATTENTION_CU_Q_FIRST, "cu_seqlens_q[%lld] is %lld; it must be 0"},
      {KILN_DEFER_ATTENTION_CU_Q_ORDER,
       "cu_seqlens_q[%lld] is %lld but the entry before it is %lld; offsets must not decrease"},
      {KILN_DEFER_ATTENTION_CU_Q_LONG,
       "cu_seqlens_q[%lld] minus the entry before it is %lld, more than max_seqlen_q = %lld"},
      {KILN_DEFER_ATTENTION_CU_Q_LAST, "cu_seqlens_q[%lld] is %lld but the tensors hold %lld "
                                       "token rows"},
      {KILN_DEFER_ATTENTION_CU_K_FIRST, "cu_seqlens_k[%lld] is %lld; it must be 0"},
      {KILN_DEFER_ATTENTION_CU_K_ORDER,
       "cu_seqlens_k[%lld] is %lld but the entry before it is %lld; offsets must not decrease"},
      {KILN_DEFER_ATTENTION_CU_K_LONG,
       "cu_seqlens_k[%lld] minus the entry before it is %lld, more than max_seqlen_k = %lld"},
      {KILN_DEFER_ATTENTION_CU_K_LAST, "cu_seqlens_k[%lld] is %lld but the tensors hold %lld "
                                       "token rows"},
      {KILN_DEFER_ATTENTION_CU_Q_LONG_K,
       "cu_seqlens_q[%lld] minus the entry before it is %lld, more than max_seqlen_k = %lld"},
      {KILN_DEFER_ATTENTION_SEQLENS_K,
       "seqlens_k[%lld] is %lld; it must be in [0, %lld], the sequence's key count"},
  };
  for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
    const long long index = rnd(0, 4099), value = rnd(-50, 100000), limit = rnd(0, 100000);
    kiln_defer d = {KILN_DEFER_NONE, 0, 0, 0};
    kiln_defer_raise(&d, rows[r].code, index, value, limit);
    assert_int_equal(kiln_defer_report(&d), KILN_ERR_INVALID_ARGUMENT);
    char want[200];
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#endif
    snprintf(want, sizeof want, rows[r].want, index, value, limit);
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
    const char *msg = kiln_last_error();
    if (strncmp(msg, "kiln_attention: ", 16) != 0 || !strstr(msg, want) ||
        !strstr(msg, "out is not written"))
      fail_msg("code %d: kiln_last_error() is \"%s\"; it should contain \"%s\"",
               (int)rows[r].code, msg, want);
    assert_int_equal(kiln_defer_report(&d), KILN_OK);
  }
}

int main(void) {
  const char *seed = getenv("KILN_TEST_SEED");
  const unsigned s = seed ? (unsigned)strtoul(seed, NULL, 10) : (unsigned)time(NULL);
  printf("test_deferred: KILN_TEST_SEED=%u\n", s);
  srand(s);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_record),
      cmocka_unit_test(test_cpu_context),
      cmocka_unit_test(test_attention_messages),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
