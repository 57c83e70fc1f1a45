/* Tensors: dense row-major storage on a context's device. */
#include "internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

const char *kiln_shape_str(const kiln_tensor *t, char buf[KILN_SHAPE_STR_LEN]) {
  int len = snprintf(buf, KILN_SHAPE_STR_LEN, "[");
  for (int i = 0; i < t->ndim; i++)
    len += snprintf(buf + len, (size_t)(KILN_SHAPE_STR_LEN - len), "%s%lld", i ? ", " : "",
                    (long long)t->shape[i]);
  snprintf(buf + len, (size_t)(KILN_SHAPE_STR_LEN - len), "]");
  return buf;
}

/* Checks the requested shape and computes its element count, refusing any
 * byte total that would not fit in a signed offset (so no later index
 * arithmetic can overflow either). */
static kiln_status check_shape(const char *fn, kiln_dtype dtype, int ndim,
                               const int64_t *shape, int64_t *numel) {
  if (kiln_dtype_size(dtype) == 0)
    return kiln_fail(KILN_ERR_DTYPE, "%s: dtype %d is not a kiln_dtype", fn, (int)dtype);
  if (ndim < 1 || ndim > KILN_MAX_DIMS)
    return kiln_fail(KILN_ERR_SHAPE, "%s: ndim is %d; it must be 1 to %d", fn, ndim,
                     KILN_MAX_DIMS);
  if (!shape)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: shape is NULL", fn);
  for (int i = 0; i < ndim; i++)
    if (shape[i] < 0)
      return kiln_fail(KILN_ERR_SHAPE, "%s: dimension %d is %lld; dimensions must be >= 0",
                       fn, i, (long long)shape[i]);
  const int64_t limit = PTRDIFF_MAX / (int64_t)kiln_dtype_size(dtype);
  int64_t n = 0;
  if (!kiln_dims_product(shape, ndim, &n) || n > limit) {
    char s[KILN_SHAPE_STR_LEN];
    kiln_tensor view = {.ndim = ndim};
    for (int i = 0; i < ndim; i++)
      view.shape[i] = shape[i];
    return kiln_fail(KILN_ERR_SHAPE, "%s: a %s tensor of shape %s is larger than memory can "
                     "address", fn, kiln_dtype_name(dtype), kiln_shape_str(&view, s));
  }
  *numel = n;
  return KILN_OK;
}

kiln_status kiln_tensor_new(kiln_context *ctx, kiln_dtype dtype, int ndim, const int64_t *shape,
                            int64_t numel, void *data, bool owns, kiln_tensor **out) {
  kiln_tensor *t = calloc(1, sizeof *t);
  if (!t)
    return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "kiln_tensor_create: out of host memory");
  t->ctx = ctx;
  t->dtype = dtype;
  t->ndim = ndim;
  for (int i = 0; i < ndim; i++)
    t->shape[i] = shape[i];
  t->numel = numel;
  t->nbytes = (size_t)numel * kiln_dtype_size(dtype);
  t->data = data;
  t->owns_data = owns;
  t->refs = 1;
  if (owns) {
    kiln_status s = ctx->backend->alloc(ctx->state, t->nbytes, &t->data);
    if (s != KILN_OK) {
      free(t);
      return s;
    }
  }
  *out = t;
  return KILN_OK;
}

kiln_status kiln_tensor_check_new(const char *fn, kiln_context *ctx, kiln_dtype dtype, int ndim,
                                  const int64_t *shape, kiln_tensor **out, int64_t *numel) {
  if (!out)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
  *out = NULL;
  if (!ctx)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", fn);
  if (ctx->capturing)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT,
                     "%s: ctx is capturing a graph; create tensors before kiln_graph_begin", fn);
  return check_shape(fn, dtype, ndim, shape, numel);
}

kiln_status kiln_tensor_create(kiln_context *ctx, kiln_dtype dtype, int ndim,
                               const int64_t *shape, kiln_tensor **out) {
  int64_t numel = 0;
  kiln_status s = kiln_tensor_check_new("kiln_tensor_create", ctx, dtype, ndim, shape, out, &numel);
  if (s != KILN_OK)
    return s;
  return kiln_tensor_new(ctx, dtype, ndim, shape, numel, NULL, true, out);
}

kiln_status kiln_tensor_wrap(kiln_context *ctx, kiln_dtype dtype, int ndim, const int64_t *shape,
                             void *data, kiln_tensor **out) {
  const char *fn = "kiln_tensor_wrap";
  int64_t numel = 0;
  kiln_status s = kiln_tensor_check_new(fn, ctx, dtype, ndim, shape, out, &numel);
  if (s != KILN_OK)
    return s;
  if (!data && numel > 0)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: data is NULL for a tensor of %lld elements",
                     fn, (long long)numel);
  size_t align = kiln_dtype_size(dtype);
  if ((uintptr_t)data % align != 0)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT,
                     "%s: data %p is not aligned to %zu bytes, the size of a %s element", fn,
                     data, align, kiln_dtype_name(dtype));
  return kiln_tensor_new(ctx, dtype, ndim, shape, numel, data, false, out);
}

void kiln_tensor_release(kiln_tensor *t) {
  /* Acquire-release: whoever drops the last reference sees every write the
   * other holders made before dropping theirs. */
  if (__atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) > 0)
    return;
  if (t->owns_data)
    t->ctx->backend->free(t->ctx->state, t->data);
  if (t->dl_managed)
    kiln_dlpack_release_import(t);
  free(t);
}

/* The caller's handle goes; a DLPack export still held keeps the memory
 * until its deleter runs. */
void kiln_tensor_destroy(kiln_tensor *t) {
  if (t)
    kiln_tensor_release(t);
}

void *kiln_tensor_data(const kiln_tensor *t) { return t ? t->data : NULL; }

int kiln_tensor_ndim(const kiln_tensor *t) { return t ? t->ndim : 0; }

int64_t kiln_tensor_dim(const kiln_tensor *t, int axis) {
  if (!t)
    return 0;
  if (axis < 0)
    axis += t->ndim;
  return axis >= 0 && axis < t->ndim ? t->shape[axis] : 0;
}

kiln_dtype kiln_tensor_dtype(const kiln_tensor *t) { return t ? t->dtype : KILN_F32; }
int64_t kiln_tensor_numel(const kiln_tensor *t) { return t ? t->numel : 0; }
size_t kiln_tensor_nbytes(const kiln_tensor *t) { return t ? t->nbytes : 0; }
kiln_context *kiln_tensor_context(const kiln_tensor *t) { return t ? t->ctx : NULL; }

/* Shared checks of write and read: the same arguments, the same rules. */
static kiln_status check_transfer(const char *fn, const kiln_tensor *t, const void *host,
                                  const char *host_name, size_t nbytes) {
  if (!t)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: t is NULL", fn);
  if (!host && nbytes)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, host_name);
  char shape[KILN_SHAPE_STR_LEN];
  if (nbytes != t->nbytes)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT,
                     "%s: nbytes is %zu but t is %s %s, %zu bytes", fn, nbytes,
                     kiln_dtype_name(t->dtype), kiln_shape_str(t, shape), t->nbytes);
  if (t->ctx->capturing)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT,
                     "%s: t's context is capturing a graph; end the capture first", fn);
  return KILN_OK;
}

kiln_status kiln_tensor_write(kiln_tensor *t, const void *src, size_t nbytes) {
  kiln_status s = check_transfer("kiln_tensor_write", t, src, "src", nbytes);
  if (s == KILN_OK && t->readonly)
    s = kiln_fail(KILN_ERR_INVALID_ARGUMENT,
                  "kiln_tensor_write: t is read-only (imported with DLPack's read-only flag)");
  if (s != KILN_OK || nbytes == 0)
    return s;
  return t->ctx->backend->upload(t->ctx->state, t->data, src, nbytes);
}

kiln_status kiln_tensor_read(const kiln_tensor *t, void *dst, size_t nbytes) {
  kiln_status s = check_transfer("kiln_tensor_read", t, dst, "dst", nbytes);
  if (s == KILN_OK && nbytes)
    s = t->ctx->backend->download(t->ctx->state, dst, t->data, nbytes);
  /* As on the GPU, a replay's failure comes with the data (copied). */
  return s != KILN_OK ? s : kiln_deferred_take(t->ctx, "kiln_tensor_read");
}
