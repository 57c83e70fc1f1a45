/* Tensors: create, the accessors, the shapes and dtypes create refuses, and
 * write/read (exact round trip, wrong byte counts, NULLs). Run on every
 * backend: device memory is the backend's. */
#include "harness.h"

#include <string.h>

void core_register_tensor(void);

#define HUGE_DIM (INT64_C(1) << 62)

typedef struct shape_case {
  const char *name;
  int ndim;
  int64_t shape[KILN_MAX_DIMS + 1];
} shape_case;

/* clang-format off */
static const shape_case good_shapes[] = {
  {"1d_1", 1, {1}},
  {"2d_3x5", 2, {3, 5}},
  {"3d_17x1x3", 3, {17, 1, 3}},
  {"max_dims", KILN_MAX_DIMS, {2, 3, 4, 5}},
  {"empty_0x5", 2, {0, 5}},
  {"empty_7x0x3", 3, {7, 0, 3}},
  /* The total is 0 bytes, so nothing overflows, however large the rest. */
  {"empty_huge_then_0", 2, {INT64_MAX, 0}},
};

typedef struct bad_shape_case {
  const char *name;
  int dtype; /* an int, to hold values outside the enum */
  int ndim;
  int64_t shape[KILN_MAX_DIMS + 1];
  kiln_status want;
  const char *needle; /* the message must contain it */
} bad_shape_case;

static const bad_shape_case bad_shapes[] = {
  {"negative_dim", KILN_F32, 2, {3, -2}, KILN_ERR_SHAPE, "-2"},
  {"negative_first_dim", KILN_F16, 1, {-1}, KILN_ERR_SHAPE, "-1"},
  {"negative_after_zero", KILN_F32, 2, {0, -5}, KILN_ERR_SHAPE, "-5"},
  {"unknown_dtype", KILN_I32 + 1, 1, {4}, KILN_ERR_DTYPE, "dtype"},
  {"unknown_dtype_7", 7, 1, {4}, KILN_ERR_DTYPE, "dtype"},
  {"negative_dtype", -1, 1, {4}, KILN_ERR_DTYPE, "dtype"},
  {"ndim_0", KILN_F32, 0, {4}, KILN_ERR_SHAPE, "ndim"},
  {"ndim_negative", KILN_F32, -1, {4}, KILN_ERR_SHAPE, "ndim"},
  {"ndim_over_max", KILN_F32, KILN_MAX_DIMS + 1, {1, 1, 1, 1, 1}, KILN_ERR_SHAPE, "ndim"},
  /* Totals that overflow 64 bits, in elements or only once in bytes. */
  {"overflow_elements_2x2^63", KILN_F32, 2, {HUGE_DIM, 4}, KILN_ERR_SHAPE, NULL},
  {"overflow_2^32_squared", KILN_BF16, 2, {INT64_C(1) << 32, INT64_C(1) << 32}, KILN_ERR_SHAPE, NULL},
  {"overflow_4d_2^16_each", KILN_F16, 4, {65536, 65536, 65536, 65536}, KILN_ERR_SHAPE, NULL},
  {"overflow_int64_max", KILN_F32, 1, {INT64_MAX}, KILN_ERR_SHAPE, NULL},
  {"overflow_only_in_bytes", KILN_F32, 1, {HUGE_DIM + 1}, KILN_ERR_SHAPE, NULL},
  {"overflow_wraps_to_small", KILN_F32, 3, {INT64_C(1) << 31, INT64_C(1) << 31, 8}, KILN_ERR_SHAPE, NULL},
};
/* clang-format on */

static void test_create_accessors(kt_env *env) {
  const shape_case *c = env->param;
  kiln_tensor *t = kt_tensor(env, env->dtype, c->ndim, c->shape);
  int64_t numel = 1;
  for (int i = 0; i < c->ndim; i++) {
    numel *= c->shape[i];
    if (kiln_tensor_dim(t, i) != c->shape[i] || kiln_tensor_dim(t, i - c->ndim) != c->shape[i])
      KT_FAIL(env, "dim %d (and %d) should be %lld, got %lld and %lld", i, i - c->ndim,
              (long long)c->shape[i], (long long)kiln_tensor_dim(t, i),
              (long long)kiln_tensor_dim(t, i - c->ndim));
  }
  assert_int_equal(kiln_tensor_ndim(t), c->ndim);
  assert_int_equal(kiln_tensor_dim(t, c->ndim), 0);      /* out of range: 0 */
  assert_int_equal(kiln_tensor_dim(t, -c->ndim - 1), 0); /* out of range: 0 */
  assert_int_equal(kiln_tensor_dtype(t), env->dtype);
  assert_int_equal(kiln_tensor_numel(t), numel);
  assert_int_equal(kiln_tensor_nbytes(t), (size_t)numel * kiln_dtype_size(env->dtype));
  assert_ptr_equal(kiln_tensor_context(t), env->ctx);
}

static void test_create_refused(kt_env *env) {
  const bad_shape_case *c = env->param;
  kiln_tensor *t = (kiln_tensor *)&t; /* not NULL: a failed create must clear it */
  kiln_status s = kiln_tensor_create(env->ctx, (kiln_dtype)c->dtype, c->ndim, c->shape, &t);
  kiln_tensor *left = t;
  if (s == KILN_OK) {
    kiln_tensor_destroy(t); /* no leak even when the library is wrong */
    t = NULL;
  }
  const char *needles[] = {c->needle, NULL};
  kt_expect_error(env, s, c->want, "kiln_tensor_create", NULL, needles);
  if (left)
    KT_FAIL(env, "a failed kiln_tensor_create left *out = %p, not NULL", (void *)left);
}

/* NULL arguments; *out is cleared wherever there is one. */
static void test_create_nulls(kt_env *env) {
  const int64_t shape[2] = {2, 3};
  kiln_tensor *t = (kiln_tensor *)&t;
  kt_expect_error(env, kiln_tensor_create(NULL, KILN_F32, 2, shape, &t),
                  KILN_ERR_INVALID_ARGUMENT, "kiln_tensor_create", "ctx", NULL);
  assert_null(t);
  t = (kiln_tensor *)&t;
  kt_expect_error(env, kiln_tensor_create(env->ctx, KILN_F32, 2, NULL, &t),
                  KILN_ERR_INVALID_ARGUMENT, "kiln_tensor_create", "shape", NULL);
  assert_null(t);
  kt_expect_error(env, kiln_tensor_create(env->ctx, KILN_F32, 2, shape, NULL),
                  KILN_ERR_INVALID_ARGUMENT, "kiln_tensor_create", "out", NULL);
  kiln_tensor_destroy(NULL); /* fine */
}

/* Raw bytes, NaN payloads and all, come back exactly as written, and a
 * second write replaces the first completely. */
static void test_write_read_exact(kt_env *env) {
  const int64_t shape[3] = {3, 17, 5};
  kiln_tensor *t = kt_tensor(env, env->dtype, 3, shape);
  size_t nbytes = kiln_tensor_nbytes(t);
  unsigned char *src = kt_alloc(nbytes), *dst = kt_alloc(nbytes);
  for (int round = 0; round < 2; round++) {
    for (size_t i = 0; i < nbytes; i++)
      src[i] = (unsigned char)kt_rand(env);
    KT_OK(env, kiln_tensor_write(t, src, nbytes));
    KT_OK(env, kiln_tensor_read(t, dst, nbytes));
    if (memcmp(src, dst, nbytes) != 0)
      KT_FAIL(env, "round %d: read did not return the bytes written", round);
  }
}

/* src may be reused as soon as write returns: overwrite it right away and
 * the tensor must still hold the old contents. */
static void test_write_copies_src(kt_env *env) {
  const int64_t n = 4099;
  kiln_tensor *t = kt_tensor(env, env->dtype, 1, &n);
  size_t nbytes = kiln_tensor_nbytes(t);
  unsigned char *src = kt_alloc(nbytes);
  for (size_t i = 0; i < nbytes; i++)
    src[i] = (unsigned char)kt_rand(env);
  KT_OK(env, kiln_tensor_write(t, src, nbytes));
  unsigned char *kept = kt_alloc(nbytes);
  memcpy(kept, src, nbytes);
  memset(src, 0xff, nbytes);
  unsigned char *dst = kt_alloc(nbytes);
  KT_OK(env, kiln_tensor_read(t, dst, nbytes));
  if (memcmp(kept, dst, nbytes) != 0)
    KT_FAIL(env, "the tensor changed when src was reused after kiln_tensor_write returned");
}

/* nbytes must equal kiln_tensor_nbytes: a failing write leaves the tensor
 * alone, a failing read leaves dst alone. */
static void test_wrong_byte_counts(kt_env *env) {
  const int64_t shape[2] = {7, 3};
  kiln_tensor *t = kt_tensor(env, env->dtype, 2, shape);
  kt_snapshot snap = kt_fill_pattern(env, t);
  size_t nbytes = snap.nbytes;
  const size_t wrong[] = {nbytes - 1, nbytes + 1, nbytes / 2, 2 * nbytes, 0};
  unsigned char *buf = kt_alloc(2 * nbytes), *guard = kt_alloc(2 * nbytes);
  const char *needles[] = {"[7, 3]", NULL};
  for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
    memset(buf, 0xa5, 2 * nbytes);
    memcpy(guard, buf, 2 * nbytes);
    kt_expect_error(env, kiln_tensor_write(t, buf, wrong[i]), KILN_ERR_INVALID_ARGUMENT,
                    "kiln_tensor_write", "nbytes", needles);
    kt_expect_unchanged(env, &snap, "the tensor after a refused write");
    kt_expect_error(env, kiln_tensor_read(t, buf, wrong[i]), KILN_ERR_INVALID_ARGUMENT,
                    "kiln_tensor_read", "nbytes", needles);
    if (memcmp(buf, guard, 2 * nbytes) != 0)
      KT_FAIL(env, "a refused kiln_tensor_read of %zu bytes wrote to dst", wrong[i]);
  }
}

static void test_transfer_nulls(kt_env *env) {
  const int64_t n = 5;
  kiln_tensor *t = kt_tensor(env, env->dtype, 1, &n);
  kt_snapshot snap = kt_fill_pattern(env, t);
  unsigned char buf[5 * 4];
  kt_expect_error(env, kiln_tensor_write(NULL, buf, snap.nbytes), KILN_ERR_INVALID_ARGUMENT,
                  "kiln_tensor_write", "t", NULL);
  kt_expect_error(env, kiln_tensor_write(t, NULL, snap.nbytes), KILN_ERR_INVALID_ARGUMENT,
                  "kiln_tensor_write", "src", NULL);
  kt_expect_error(env, kiln_tensor_read(NULL, buf, snap.nbytes), KILN_ERR_INVALID_ARGUMENT,
                  "kiln_tensor_read", "t", NULL);
  kt_expect_error(env, kiln_tensor_read(t, NULL, snap.nbytes), KILN_ERR_INVALID_ARGUMENT,
                  "kiln_tensor_read", "dst", NULL);
  kt_expect_unchanged(env, &snap, "the tensor");
}

/* An empty tensor has 0 bytes: moving 0 bytes is a valid transfer. */
static void test_empty_transfer(kt_env *env) {
  const int64_t shape[2] = {0, 9};
  kiln_tensor *t = kt_tensor(env, env->dtype, 2, shape);
  unsigned char byte = 0x5a;
  assert_int_equal(kiln_tensor_nbytes(t), 0);
  KT_OK(env, kiln_tensor_write(t, &byte, 0));
  KT_OK(env, kiln_tensor_read(t, &byte, 0));
  assert_int_equal(byte, 0x5a);
}

void core_register_tensor(void) {
  static const kiln_dtype dtypes[] = {KILN_F32, KILN_F16, KILN_BF16, KILN_I32};
  for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
    const char *dt = kiln_dtype_name(dtypes[d]);
    for (size_t i = 0; i < sizeof good_shapes / sizeof good_shapes[0]; i++)
      kt_add(test_create_accessors, &good_shapes[i], dtypes[d], "tensor_%s_%s", dt,
             good_shapes[i].name);
    kt_add(test_write_read_exact, NULL, dtypes[d], "tensor_%s_write_read_exact", dt);
    kt_add(test_write_copies_src, NULL, dtypes[d], "tensor_%s_write_copies_src", dt);
    kt_add(test_wrong_byte_counts, NULL, dtypes[d], "tensor_%s_wrong_byte_counts", dt);
    kt_add(test_empty_transfer, NULL, dtypes[d], "tensor_%s_empty_transfer", dt);
  }
  for (size_t i = 0; i < sizeof bad_shapes / sizeof bad_shapes[0]; i++)
    kt_add(test_create_refused, &bad_shapes[i], KILN_F32, "tensor_create_refuses_%s",
           bad_shapes[i].name);
  kt_add(test_create_nulls, NULL, KILN_F32, "tensor_create_nulls");
  kt_add(test_transfer_nulls, NULL, KILN_F32, "tensor_transfer_nulls");
}
