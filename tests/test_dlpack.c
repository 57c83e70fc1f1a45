/* DLPack: kiln tensors exported and imported in both managed forms, the
 * same memory on both sides (pointer identity, writes seen through either),
 * exports that outlive the tensor and the context, foreign producers with
 * byte offsets and stride forms, the read-only flag, and every refusal
 * (device, dtype, ndim, strides, alignment, version) with the producer's
 * memory left to the producer. */
#include "dlpack.h" /* src/core's definitions, written from the specification */
#include "harness_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const kiln_dtype dtypes[] = {KILN_F32, KILN_F16, KILN_BF16, KILN_I32};

static DLDataType dl_dtype(kiln_dtype d) {
  switch (d) {
  case KILN_F16: return (DLDataType){kDLFloat, 16, 1};
  case KILN_BF16: return (DLDataType){kDLBfloat, 16, 1};
  case KILN_I32: return (DLDataType){kDLInt, 32, 1};
  default: return (DLDataType){kDLFloat, 32, 1};
  }
}

static DLDevice dl_device_of(const kt_env *env) {
  return env->device == KILN_DEVICE_CUDA ? (DLDevice){kDLCUDA, 0} : (DLDevice){kDLCPU, 0};
}

/* A tensor of random values in its dtype (i32: small integers). */
static double *fill_random(kt_env *env, kiln_tensor *t) {
  if (kiln_tensor_dtype(t) != KILN_I32)
    return kt_random(env, t, -2.0, 2.0);
  int64_t n = kiln_tensor_numel(t);
  int32_t *ids = kt_alloc((size_t)n * sizeof *ids);
  double *vals = kt_alloc((size_t)n * sizeof *vals);
  for (int64_t i = 0; i < n; i++) {
    ids[i] = (int32_t)(kt_rand(env) % 2001) - 1000;
    vals[i] = ids[i];
  }
  KT_OK(env, kiln_tensor_write(t, ids, (size_t)n * sizeof *ids));
  return vals;
}

static double *read_any(kt_env *env, const kiln_tensor *t) {
  if (kiln_tensor_dtype(t) != KILN_I32)
    return kt_read(env, t);
  int64_t n = kiln_tensor_numel(t);
  int32_t *ids = kt_alloc((size_t)n * sizeof *ids);
  double *vals = kt_alloc((size_t)n * sizeof *vals);
  KT_OK(env, kiln_tensor_read(t, ids, (size_t)n * sizeof *ids));
  for (int64_t i = 0; i < n; i++)
    vals[i] = ids[i];
  return vals;
}

static void expect_values(kt_env *env, const char *what, const double *got, const double *want,
                          int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (got[i] != want[i])
      KT_FAIL(env, "%s: element %lld is %g, want %g", what, (long long)i, got[i], want[i]);
}

/* The fields of an exported DLTensor describe t exactly. */
static void expect_describes(kt_env *env, const DLTensor *dl, const kiln_tensor *t) {
  DLDevice dev = dl_device_of(env);
  DLDataType dt = dl_dtype(kiln_tensor_dtype(t));
  if (dl->data != kiln_tensor_data(t))
    KT_FAIL(env, "exported data %p is not the tensor's memory %p", dl->data, kiln_tensor_data(t));
  if (dl->device.device_type != dev.device_type || dl->device.device_id != dev.device_id)
    KT_FAIL(env, "exported device is (%d, %d), want (%d, %d)", (int)dl->device.device_type,
            (int)dl->device.device_id, (int)dev.device_type, (int)dev.device_id);
  if (dl->dtype.code != dt.code || dl->dtype.bits != dt.bits || dl->dtype.lanes != 1)
    KT_FAIL(env, "exported dtype is (%d, %d, %d), want (%d, %d, 1)", dl->dtype.code,
            dl->dtype.bits, dl->dtype.lanes, dt.code, dt.bits);
  if (dl->ndim != kiln_tensor_ndim(t) || dl->byte_offset != 0 || !dl->shape || !dl->strides)
    KT_FAIL(env, "exported ndim %d, byte_offset %llu, shape %p, strides %p", (int)dl->ndim,
            (unsigned long long)dl->byte_offset, (void *)dl->shape, (void *)dl->strides);
  int64_t stride = 1;
  for (int i = dl->ndim - 1; i >= 0; i--) {
    if (dl->shape[i] != kiln_tensor_dim(t, i) || dl->strides[i] != stride)
      KT_FAIL(env, "exported dim %d: extent %lld stride %lld, want %lld and %lld", i,
              (long long)dl->shape[i], (long long)dl->strides[i],
              (long long)kiln_tensor_dim(t, i), (long long)stride);
    stride *= dl->shape[i];
  }
}

/* Export (both forms), import back: the same memory, the same values, and
 * an op through the import changes what the original holds. */
static void test_round_trip(kt_env *env) {
  const int64_t shape[3] = {3, 1, 17};
  for (int versioned = 0; versioned < 2; versioned++) {
    kiln_tensor *t = kt_tensor(env, env->dtype, 3, shape);
    double *vals = fill_random(env, t);
    kiln_tensor *back = NULL;
    if (versioned) {
      DLManagedTensorVersioned *m = NULL;
      KT_OK(env, kiln_tensor_to_dlpack_versioned(t, &m));
      if (m->version.major != 1 || m->version.minor != 0 || m->flags != 0 || !m->deleter)
        KT_FAIL(env, "versioned export: version %u.%u flags %llu", m->version.major,
                m->version.minor, (unsigned long long)m->flags);
      expect_describes(env, &m->dl_tensor, t);
      KT_OK(env, kiln_tensor_from_dlpack_versioned(env->ctx, m, &back));
    } else {
      DLManagedTensor *m = NULL;
      KT_OK(env, kiln_tensor_to_dlpack(t, &m));
      expect_describes(env, &m->dl_tensor, t);
      KT_OK(env, kiln_tensor_from_dlpack(env->ctx, m, &back));
    }
    if (kiln_tensor_data(back) != kiln_tensor_data(t) || kiln_tensor_dtype(back) != env->dtype ||
        kiln_tensor_ndim(back) != 3 || kiln_tensor_dim(back, 2) != 17 ||
        kiln_tensor_is_readonly(back))
      KT_FAIL(env, "the import is not the exported tensor (%s form)",
              versioned ? "versioned" : "legacy");
    expect_values(env, "read through the import", read_any(env, back), vals, 51);
    if (env->dtype != KILN_I32) {
      KT_OK(env, kiln_scale(env->ctx, back, 2.0f, back));
      for (int i = 0; i < 51; i++)
        vals[i] *= 2.0;
      expect_values(env, "the original after scaling the import", read_any(env, t), vals, 51);
    }
    /* The import owns the export: destroying it runs kiln's deleter, which
     * drops the export's reference; t is still the caller's. */
    kiln_tensor_destroy(back);
    expect_values(env, "the original after the import is gone", read_any(env, t), vals, 51);
  }
}

/* An export outlives its tensor and its context: destroying either drops
 * only the caller's handle, and the deleter frees the rest (valgrind and
 * ASan runs check that nothing leaks or is read after it is freed). */
static void test_export_outlives(kt_env *env) {
  kiln_context *ctx = NULL;
  KT_OK(env, kiln_context_create(env->device, 0, &ctx));
  const int64_t shape[1] = {1000};
  kiln_tensor *t = NULL;
  kiln_status s = kiln_tensor_create(ctx, KILN_F32, 1, shape, &t);
  if (s != KILN_OK) {
    kiln_context_destroy(ctx);
    KT_OK(env, s);
  }
  float *host = kt_alloc(1000 * sizeof *host);
  for (int i = 0; i < 1000; i++)
    host[i] = (float)kt_uniform(env, -1.0, 1.0);
  DLManagedTensorVersioned *m = NULL;
  DLManagedTensor *legacy = NULL;
  s = kiln_tensor_write(t, host, 1000 * sizeof *host);
  if (s == KILN_OK)
    s = kiln_tensor_to_dlpack_versioned(t, &m);
  if (s == KILN_OK)
    s = kiln_tensor_to_dlpack(t, &legacy);
  kiln_tensor_destroy(t);
  kiln_context_destroy(ctx);
  if (s != KILN_OK) {
    if (m)
      m->deleter(m);
    KT_OK(env, s);
  }
  /* Read the memory through the export after both are gone: on the CPU
   * directly, on the GPU by importing it into the test's own context. */
  float *seen = kt_alloc(1000 * sizeof *seen);
  if (env->device == KILN_DEVICE_CPU) {
    memcpy(seen, m->dl_tensor.data, 1000 * sizeof *seen);
  } else {
    kiln_tensor *again = NULL;
    s = kiln_tensor_from_dlpack_versioned(env->ctx, m, &again);
    if (s == KILN_OK) {
      m = NULL; /* the import owns it now */
      s = kiln_tensor_read(again, seen, 1000 * sizeof *seen);
      kiln_tensor_destroy(again);
    }
  }
  legacy->deleter(legacy); /* one of two references: the memory stays */
  if (m)
    m->deleter(m); /* the last: memory and context go */
  KT_OK(env, s);
  if (memcmp(seen, host, 1000 * sizeof *seen) != 0)
    KT_FAIL(env, "the export's memory changed after its tensor and context were destroyed");
}

/* ------------------------------------------------ a foreign producer */

typedef struct producer {
  DLManagedTensorVersioned versioned;
  DLManagedTensor legacy;
  int64_t shape[KILN_MAX_DIMS + 1];
  int64_t strides[KILN_MAX_DIMS + 1];
  int deleted; /* deleter calls */
} producer;

static void count_versioned(DLManagedTensorVersioned *self) {
  ((producer *)self->manager_ctx)->deleted++;
}
static void count_legacy(DLManagedTensor *self) { ((producer *)self->manager_ctx)->deleted++; }

/* Both forms over data (+ byte_offset) with the given shape, compact
 * strides, the test's dtype and device. */
static producer *make_producer(kt_env *env, void *data, uint64_t byte_offset, int ndim,
                               const int64_t *shape) {
  producer *p = kt_alloc(sizeof *p);
  int64_t stride = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    p->shape[i] = shape[i];
    p->strides[i] = stride;
    stride *= shape[i];
  }
  DLTensor dl = {data, dl_device_of(env), ndim, dl_dtype(env->dtype), p->shape, p->strides,
                 byte_offset};
  p->versioned = (DLManagedTensorVersioned){{1, 1}, p, count_versioned, 0, dl};
  p->legacy = (DLManagedTensor){dl, p, count_legacy};
  return p;
}

/* Memory the test owns in the backend's space: a kiln tensor of nbytes
 * whose data pointer plays the producer's memory. */
static char *backing(kt_env *env, size_t elems, kiln_tensor **holder) {
  const int64_t shape[1] = {(int64_t)elems};
  *holder = kt_tensor(env, env->dtype, 1, shape);
  return kiln_tensor_data(*holder);
}

/* An import of memory kiln did not make: byte_offset skips the first
 * elements; strides NULL, compact, or odd on a dimension of extent 1 are
 * all dense. The import reads the right elements, an op writes them in
 * place, and destroying the import calls the producer's deleter once. */
static void test_foreign_import(kt_env *env) {
  const int64_t shape[3] = {2, 1, 33};
  const int64_t skip = 5, n = 66;
  kiln_tensor *holder = NULL;
  char *base = backing(env, (size_t)(n + skip), &holder);
  double *all = fill_random(env, holder);
  size_t esize = kiln_dtype_size(env->dtype);
  for (int form = 0; form < 4; form++) {
    producer *p = make_producer(env, base, (uint64_t)skip * esize, 3, shape);
    if (form == 1)
      p->versioned.dl_tensor.strides = p->legacy.dl_tensor.strides = NULL;
    if (form == 2)
      p->strides[1] = 12345; /* extent 1: any stride */
    kiln_tensor *t = NULL;
    if (form == 3)
      KT_OK(env, kiln_tensor_from_dlpack(env->ctx, &p->legacy, &t));
    else
      KT_OK(env, kiln_tensor_from_dlpack_versioned(env->ctx, &p->versioned, &t));
    if ((char *)kiln_tensor_data(t) != base + skip * (int64_t)esize)
      KT_FAIL(env, "form %d: data %p, want base + byte_offset %p", form, kiln_tensor_data(t),
              (void *)(base + skip * (int64_t)esize));
    expect_values(env, "the import", read_any(env, t), all + skip, n);
    if (env->dtype != KILN_I32 && form == 0) {
      KT_OK(env, kiln_scale(env->ctx, t, -1.0f, t));
      for (int64_t i = 0; i < n; i++)
        all[skip + i] = -all[skip + i];
      expect_values(env, "the producer's memory after an op in place", read_any(env, holder),
                    all, n + skip);
    }
    if (p->deleted)
      KT_FAIL(env, "form %d: the deleter ran before the import was destroyed", form);
    kiln_tensor_destroy(t);
    if (p->deleted != 1)
      KT_FAIL(env, "form %d: the deleter ran %d times, want 1", form, p->deleted);
  }
  /* An empty tensor: data may be NULL, any strides. */
  const int64_t empty[2] = {0, 7};
  producer *p = make_producer(env, NULL, 0, 2, empty);
  p->strides[0] = 99;
  kiln_tensor *t = NULL;
  KT_OK(env, kiln_tensor_from_dlpack_versioned(env->ctx, &p->versioned, &t));
  if (kiln_tensor_numel(t) != 0 || kiln_tensor_dim(t, 1) != 7)
    KT_FAIL(env, "the empty import has %lld elements", (long long)kiln_tensor_numel(t));
  kiln_tensor_destroy(t);
}

/* The read-only flag: the import is an input but never an output, cannot
 * be written, re-exports with the flag, and refuses the legacy form. */
static void test_read_only(kt_env *env) {
  const int64_t shape[2] = {3, 5};
  kiln_tensor *holder = NULL;
  char *base = backing(env, 15, &holder);
  double *vals = kt_random(env, holder, -1.0, 1.0);
  producer *p = make_producer(env, base, 0, 2, shape);
  p->versioned.flags = DLPACK_FLAG_BITMASK_READ_ONLY | DLPACK_FLAG_BITMASK_IS_COPIED;
  kiln_tensor *ro = NULL;
  KT_OK(env, kiln_tensor_from_dlpack_versioned(env->ctx, &p->versioned, &ro));
  if (!kiln_tensor_is_readonly(ro) || kiln_tensor_is_readonly(holder) ||
      kiln_tensor_is_readonly(NULL))
    KT_FAIL(env, "kiln_tensor_is_readonly: %d for the import, %d for its holder",
            kiln_tensor_is_readonly(ro), kiln_tensor_is_readonly(holder));
  kiln_tensor *out = kt_tensor(env, env->dtype, 2, shape);
  KT_OK(env, kiln_scale(env->ctx, ro, 3.0f, out)); /* as an input: fine */
  double *got = kt_read(env, out);
  for (int i = 0; i < 15 && env->dtype == KILN_F32; i++)
    if (got[i] != (double)(3.0f * (float)vals[i]))
      KT_FAIL(env, "3 * x through a read-only input: element %d is %g", i, got[i]);
  kt_expect_error(env, kiln_scale(env->ctx, out, 3.0f, ro), KILN_ERR_INVALID_ARGUMENT,
                  "kiln_scale", "out", (const char *const[]){"read-only", NULL});
  kt_expect_error(env, kiln_silu(env->ctx, ro, ro), KILN_ERR_INVALID_ARGUMENT, "kiln_silu",
                  "out", (const char *const[]){"read-only", NULL});
  size_t nbytes = kiln_tensor_nbytes(ro);
  void *src = kt_alloc(nbytes);
  kt_expect_error(env, kiln_tensor_write(ro, src, nbytes), KILN_ERR_INVALID_ARGUMENT,
                  "kiln_tensor_write", "t", (const char *const[]){"read-only", NULL});
  expect_values(env, "the read-only memory after refused writes", kt_read(env, holder), vals, 15);
  DLManagedTensor *legacy = (DLManagedTensor *)&legacy;
  kt_expect_error(env, kiln_tensor_to_dlpack(ro, &legacy), KILN_ERR_INVALID_ARGUMENT,
                  "kiln_tensor_to_dlpack", "t", (const char *const[]){"read-only", NULL});
  if (legacy)
    KT_FAIL(env, "*out is not NULL after a refused legacy export");
  DLManagedTensorVersioned *m = NULL;
  KT_OK(env, kiln_tensor_to_dlpack_versioned(ro, &m));
  if (m->flags != DLPACK_FLAG_BITMASK_READ_ONLY)
    KT_FAIL(env, "the re-export's flags are %llu, want read-only", (unsigned long long)m->flags);
  kiln_tensor_destroy(ro); /* the re-export still holds it: the producer keeps its memory */
  if (p->deleted)
    KT_FAIL(env, "the producer's deleter ran while a re-export was held");
  m->deleter(m);
  if (p->deleted != 1)
    KT_FAIL(env, "the producer's deleter ran %d times after the re-export went", p->deleted);
}

/* ---------------------------------------------------------- refusals */

/* One refused import: the status, a message naming fn and arg, *out NULL,
 * and the deleter not called (the producer still owns src). */
static void expect_refused(kt_env *env, producer *p, int legacy, kiln_status want,
                           const char *arg, const char *needle) {
  kiln_tensor *t = (kiln_tensor *)&t;
  const char *fn = legacy ? "kiln_tensor_from_dlpack" : "kiln_tensor_from_dlpack_versioned";
  kiln_status got = legacy ? kiln_tensor_from_dlpack(env->ctx, &p->legacy, &t)
                           : kiln_tensor_from_dlpack_versioned(env->ctx, &p->versioned, &t);
  kt_expect_error(env, got, want, fn, arg, (const char *const[]){needle, NULL});
  if (t)
    KT_FAIL(env, "*out is not NULL after a refused import");
  if (p->deleted)
    KT_FAIL(env, "a refused import called the producer's deleter");
}

static void test_refusals(kt_env *env) {
  const int64_t shape[2] = {4, 6}, five[5] = {1, 2, 1, 2, 3};
  kiln_tensor *holder = NULL;
  char *base = backing(env, 64, &holder);
  for (int legacy = 0; legacy < 2; legacy++) {
    producer *p = make_producer(env, base, 0, 2, shape);
#define SET(field, ...) (p->versioned.dl_tensor.field = p->legacy.dl_tensor.field = __VA_ARGS__)
    /* Memory on another device. */
    DLDevice other = env->device == KILN_DEVICE_CPU ? (DLDevice){kDLCUDA, 0}
                                                    : (DLDevice){kDLCPU, 0};
    SET(device, other);
    expect_refused(env, p, legacy, KILN_ERR_DEVICE, "src", NULL);
    SET(device, (DLDevice){kDLMetal, 0});
    expect_refused(env, p, legacy, KILN_ERR_DEVICE, "src", "metal");
    if (env->device == KILN_DEVICE_CUDA) {
      SET(device, (DLDevice){kDLCUDA, 3});
      expect_refused(env, p, legacy, KILN_ERR_DEVICE, "src", "cuda:3");
    }
    SET(device, dl_device_of(env));
    /* dtypes kiln does not take. */
    const DLDataType bad[] = {{kDLFloat, 64, 1}, {kDLUInt, 8, 1}, {kDLInt, 64, 1},
                              {kDLFloat, 32, 4}, {kDLBool, 8, 1}, {kDLComplex, 64, 1},
                              {kDLInt, 16, 1}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      SET(dtype, bad[i]);
      expect_refused(env, p, legacy, KILN_ERR_DTYPE, "src", "dtype");
    }
    SET(dtype, dl_dtype(env->dtype));
    /* ndim 0 (a scalar) and 5. */
    SET(ndim, 0);
    expect_refused(env, p, legacy, KILN_ERR_SHAPE, "src", "ndim 0");
    SET(ndim, 5);
    SET(shape, (int64_t *)five);
    SET(strides, NULL);
    expect_refused(env, p, legacy, KILN_ERR_SHAPE, "src", "ndim 5");
    SET(ndim, 2);
    SET(shape, p->shape);
    SET(strides, p->strides);
    /* A transposed view, and a row pitch wider than the row. */
    p->strides[0] = 1;
    p->strides[1] = 4;
    expect_refused(env, p, legacy, KILN_ERR_UNSUPPORTED, "src", "row-major");
    p->strides[0] = 8;
    p->strides[1] = 1;
    expect_refused(env, p, legacy, KILN_ERR_UNSUPPORTED, "src", "stride 8");
    p->strides[0] = 6;
    /* A negative extent, a NULL shape, NULL data, a misaligned first element. */
    p->shape[0] = -4;
    expect_refused(env, p, legacy, KILN_ERR_SHAPE, NULL, "-4");
    p->shape[0] = 4;
    SET(shape, NULL);
    expect_refused(env, p, legacy, KILN_ERR_INVALID_ARGUMENT, "src", "shape");
    SET(shape, p->shape);
    SET(data, NULL);
    expect_refused(env, p, legacy, KILN_ERR_INVALID_ARGUMENT, "src", "NULL");
    SET(data, base);
    SET(byte_offset, 1);
    expect_refused(env, p, legacy, KILN_ERR_INVALID_ARGUMENT, "src", "byte_offset");
    SET(byte_offset, 0);
#undef SET
    /* NULL arguments. */
    kiln_tensor *t = (kiln_tensor *)&t;
    const char *fn = legacy ? "kiln_tensor_from_dlpack" : "kiln_tensor_from_dlpack_versioned";
    kt_expect_error(env, legacy ? kiln_tensor_from_dlpack(NULL, &p->legacy, &t)
                                : kiln_tensor_from_dlpack_versioned(NULL, &p->versioned, &t),
                    KILN_ERR_INVALID_ARGUMENT, fn, "ctx", NULL);
    kt_expect_error(env, legacy ? kiln_tensor_from_dlpack(env->ctx, NULL, &t)
                                : kiln_tensor_from_dlpack_versioned(env->ctx, NULL, &t),
                    KILN_ERR_INVALID_ARGUMENT, fn, "src", NULL);
    kt_expect_error(env, legacy ? kiln_tensor_from_dlpack(env->ctx, &p->legacy, NULL)
                                : kiln_tensor_from_dlpack_versioned(env->ctx, &p->versioned, NULL),
                    KILN_ERR_INVALID_ARGUMENT, fn, "out", NULL);
    if (t || p->deleted)
      KT_FAIL(env, "a call with a NULL argument set *out or called the deleter");
    /* Everything put back: the same producer imports. */
    KT_OK(env, legacy ? kiln_tensor_from_dlpack(env->ctx, &p->legacy, &t)
                      : kiln_tensor_from_dlpack_versioned(env->ctx, &p->versioned, &t));
    kiln_tensor_destroy(t);
    if (p->deleted != 1)
      KT_FAIL(env, "the deleter ran %d times after the repaired import", p->deleted);
  }
  /* Versions: any 1.x is read; 0.x and 2.x are refused. */
  producer *p = make_producer(env, base, 0, 2, shape);
  const uint32_t majors[] = {0, 2, 99};
  for (int i = 0; i < 3; i++) {
    p->versioned.version = (DLPackVersion){majors[i], 0};
    expect_refused(env, p, 0, KILN_ERR_UNSUPPORTED, "src", "major version 1");
  }
  p->versioned.version = (DLPackVersion){1, 7};
  p->versioned.flags = UINT64_C(1) << 40; /* a flag from the future: ignored */
  kiln_tensor *t = NULL;
  KT_OK(env, kiln_tensor_from_dlpack_versioned(env->ctx, &p->versioned, &t));
  kiln_tensor_destroy(t);
  /* A capturing context creates no tensors. */
  kiln_graph *g = NULL;
  p->deleted = 0;
  KT_OK(env, kiln_graph_begin(env->ctx));
  kiln_status s = kiln_tensor_from_dlpack_versioned(env->ctx, &p->versioned, &t);
  char msg[2][512];
  snprintf(msg[0], sizeof msg[0], "%s", kiln_last_error());
  kiln_status ws = kiln_stream_wait(env->ctx, NULL);
  snprintf(msg[1], sizeof msg[1], "%s", kiln_last_error());
  KT_OK(env, kiln_graph_end(env->ctx, &g));
  kiln_graph_destroy(g);
  if (s != KILN_ERR_INVALID_ARGUMENT || t ||
      !strstr(msg[0], "kiln_tensor_from_dlpack_versioned: ctx is capturing"))
    KT_FAIL(env, "an import while capturing gave %s, \"%s\"", kiln_status_string(s), msg[0]);
  if (ws != KILN_ERR_INVALID_ARGUMENT || !strstr(msg[1], "kiln_stream_wait: ctx is capturing"))
    KT_FAIL(env, "kiln_stream_wait while capturing gave %s, \"%s\"", kiln_status_string(ws),
            msg[1]);
  if (p->deleted)
    KT_FAIL(env, "a refused import while capturing called the deleter");
  /* Exports: NULL arguments. */
  DLManagedTensor *lm = (DLManagedTensor *)&lm;
  DLManagedTensorVersioned *vm = (DLManagedTensorVersioned *)&vm;
  kt_expect_error(env, kiln_tensor_to_dlpack(NULL, &lm), KILN_ERR_INVALID_ARGUMENT,
                  "kiln_tensor_to_dlpack", "t", NULL);
  kt_expect_error(env, kiln_tensor_to_dlpack_versioned(NULL, &vm), KILN_ERR_INVALID_ARGUMENT,
                  "kiln_tensor_to_dlpack_versioned", "t", NULL);
  kt_expect_error(env, kiln_tensor_to_dlpack(holder, NULL), KILN_ERR_INVALID_ARGUMENT,
                  "kiln_tensor_to_dlpack", "out", NULL);
  kt_expect_error(env, kiln_tensor_to_dlpack_versioned(holder, NULL), KILN_ERR_INVALID_ARGUMENT,
                  "kiln_tensor_to_dlpack_versioned", "out", NULL);
  if (lm || vm)
    KT_FAIL(env, "*out is not NULL after a refused export");
}

/* The stream handshake: nothing to do on the CPU; on the GPU the context's
 * own stream, the legacy default stream and a stream of another context
 * all take the wait, and a consumer reading after it sees the op's result. */
static void test_stream_wait(kt_env *env) {
  KT_OK(env, kiln_stream_wait(env->ctx, NULL));
  kt_expect_error(env, kiln_stream_wait(NULL, NULL), KILN_ERR_INVALID_ARGUMENT,
                  "kiln_stream_wait", "ctx", NULL);
  if (env->device != KILN_DEVICE_CUDA)
    return;
  KT_OK(env, kiln_stream_wait(env->ctx, kiln_context_stream(env->ctx)));
  KT_OK(env, kiln_stream_wait(env->ctx, (void *)(uintptr_t)1)); /* cudaStreamLegacy */
  kiln_context *other = kt_context(env);
  const int64_t shape[1] = {4099};
  kiln_tensor *x = kt_tensor(env, KILN_F32, 1, shape);
  double *vals = kt_random(env, x, -1.0, 1.0);
  KT_OK(env, kiln_scale(env->ctx, x, 4.0f, x));
  KT_OK(env, kiln_stream_wait(env->ctx, kiln_context_stream(other)));
  /* The other context reads x through an import, ordered on its stream. */
  DLManagedTensorVersioned *m = NULL;
  KT_OK(env, kiln_tensor_to_dlpack_versioned(x, &m));
  kiln_tensor *seen = NULL;
  KT_OK(env, kiln_tensor_from_dlpack_versioned(other, m, &seen));
  kiln_tensor *copy = kt_tensor_on(env, other, KILN_F32, 1, shape);
  KT_OK(env, kiln_scale(other, seen, 1.0f, copy));
  double *got = kt_read(env, copy);
  kiln_tensor_destroy(seen);
  for (int i = 0; i < 4099; i++)
    if (got[i] != 4.0 * vals[i])
      KT_FAIL(env, "the other stream read element %d as %g, want %g", i, got[i], 4.0 * vals[i]);
}

int main(void) {
  for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
    const char *name = kiln_dtype_name(dtypes[d]);
    kt_add(test_round_trip, NULL, dtypes[d], "dlpack_round_trip_%s", name);
    kt_add(test_foreign_import, NULL, dtypes[d], "dlpack_foreign_import_%s", name);
    kt_add(test_refusals, NULL, dtypes[d], "dlpack_refusals_%s", name);
  }
  kt_add(test_export_outlives, NULL, KILN_F32, "dlpack_export_outlives_tensor_and_context");
  kt_add(test_read_only, NULL, KILN_F32, "dlpack_read_only_f32");
  kt_add(test_read_only, NULL, KILN_BF16, "dlpack_read_only_bf16");
  kt_add(test_stream_wait, NULL, KILN_F32, "dlpack_stream_wait");
  return kt_run("dlpack");
}
