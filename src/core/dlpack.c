/* DLPack import and export: kiln tensors over other libraries' memory and
 * theirs over kiln's, never copying. The struct layouts are in dlpack.h. */
#include "dlpack.h"

#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

/* ------------------------------------------------------------- helpers */

static const char *device_type_name(int type) {
  switch (type) {
  case kDLCPU: return "cpu";
  case kDLCUDA: return "cuda";
  case kDLCUDAHost: return "cuda_host";
  case kDLCUDAManaged: return "cuda_managed";
  case kDLOpenCL: return "opencl";
  case kDLVulkan: return "vulkan";
  case kDLMetal: return "metal";
  case kDLROCM: return "rocm";
  case kDLROCMHost: return "rocm_host";
  case kDLOneAPI: return "oneapi";
  default: return "unknown";
  }
}

static bool dtype_from_dl(DLDataType t, kiln_dtype *out) {
  if (t.lanes != 1)
    return false;
  if (t.code == kDLFloat && t.bits == 32)
    *out = KILN_F32;
  else if (t.code == kDLFloat && t.bits == 16)
    *out = KILN_F16;
  else if (t.code == kDLBfloat && t.bits == 16)
    *out = KILN_BF16;
  else if (t.code == kDLInt && t.bits == 32)
    *out = KILN_I32;
  else
    return false;
  return true;
}

static DLDataType dtype_to_dl(kiln_dtype d) {
  DLDataType t = {kDLFloat, 32, 1};
  switch (d) {
  case KILN_F32: break;
  case KILN_F16: t.bits = 16; break;
  case KILN_BF16: t.code = kDLBfloat; t.bits = 16; break;
  case KILN_I32: t.code = kDLInt; break;
  default: break; /* a tensor only ever holds one of the above */
  }
  return t;
}

static const char *dl_code_name(uint8_t code) {
  switch (code) {
  case kDLInt: return "int";
  case kDLUInt: return "uint";
  case kDLFloat: return "float";
  case kDLOpaqueHandle: return "opaque";
  case kDLBfloat: return "bfloat";
  case kDLComplex: return "complex";
  case kDLBool: return "bool";
  default: return "code";
  }
}

/* Whether a DLPack device's memory is what ctx's backend addresses. */
static kiln_status check_device(const char *fn, const kiln_context *ctx, DLDevice dev) {
  bool ok;
  if (ctx->device == KILN_DEVICE_CPU)
    ok = dev.device_type == kDLCPU || dev.device_type == kDLCUDAHost;
  else
    ok = (dev.device_type == kDLCUDA || dev.device_type == kDLCUDAManaged) &&
         dev.device_id == ctx->index;
  if (ok)
    return KILN_OK;
  if (ctx->device == KILN_DEVICE_CPU)
    return kiln_fail(KILN_ERR_DEVICE,
                     "%s: src is on %s:%d (DLPack device type %d) but ctx is the cpu; a cpu "
                     "context takes kDLCPU or kDLCUDAHost memory", fn,
                     device_type_name(dev.device_type), (int)dev.device_id,
                     (int)dev.device_type);
  return kiln_fail(KILN_ERR_DEVICE,
                   "%s: src is on %s:%d (DLPack device type %d) but ctx is cuda:%d; a cuda "
                   "context takes kDLCUDA or kDLCUDAManaged memory of its own device", fn,
                   device_type_name(dev.device_type), (int)dev.device_id,
                   (int)dev.device_type, ctx->index);
}

/* Dense row-major: strides NULL or compact. A dimension of extent 1 may
 * carry any stride (PyTorch writes odd ones there), and an empty tensor any
 * strides, since no element is addressed through them. */
static kiln_status check_strides(const char *fn, const DLTensor *t) {
  if (!t->strides)
    return KILN_OK;
  for (int i = 0; i < t->ndim; i++)
    if (t->shape[i] == 0)
      return KILN_OK;
  int64_t expect = 1;
  for (int i = t->ndim - 1; i >= 0; i--) {
    if (t->shape[i] != 1 && t->strides[i] != expect)
      return kiln_fail(KILN_ERR_UNSUPPORTED,
                       "%s: src has stride %lld on dimension %d where a dense row-major tensor "
                       "has %lld; kiln takes only dense row-major memory (make it contiguous "
                       "first)", fn, (long long)t->strides[i], i, (long long)expect);
    expect *= t->shape[i];
  }
  return KILN_OK;
}

/* Everything about the DLTensor kiln can check, then a tensor over it. */
static kiln_status import(const char *fn, kiln_context *ctx, const DLTensor *dl, bool readonly,
                          void *managed, bool versioned, kiln_tensor **out) {
  kiln_status s = check_device(fn, ctx, dl->device);
  if (s != KILN_OK)
    return s;
  kiln_dtype dtype;
  if (!dtype_from_dl(dl->dtype, &dtype))
    return kiln_fail(KILN_ERR_DTYPE,
                     "%s: src's dtype is %s%d x%d (DLPack code %d); kiln takes float32, float16, "
                     "bfloat16 and int32, one lane", fn, dl_code_name(dl->dtype.code),
                     (int)dl->dtype.bits, (int)dl->dtype.lanes, (int)dl->dtype.code);
  if (dl->ndim < 1 || dl->ndim > KILN_MAX_DIMS)
    return kiln_fail(KILN_ERR_SHAPE, "%s: src has ndim %d; kiln tensors have 1 to %d", fn,
                     (int)dl->ndim, KILN_MAX_DIMS);
  if (!dl->shape)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: src's shape is NULL", fn);
  int64_t numel = 0;
  s = kiln_tensor_check_new(fn, ctx, dtype, dl->ndim, dl->shape, out, &numel);
  if (s != KILN_OK)
    return s;
  s = check_strides(fn, dl);
  if (s != KILN_OK)
    return s;
  if (!dl->data && numel > 0)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: src's data is NULL for %lld elements", fn,
                     (long long)numel);
  char *data = dl->data ? (char *)dl->data + dl->byte_offset : NULL;
  if ((uintptr_t)data % kiln_dtype_size(dtype) != 0)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT,
                     "%s: src's first element (data %p + byte_offset %llu) is not aligned to "
                     "%zu bytes, the size of a %s element", fn, dl->data,
                     (unsigned long long)dl->byte_offset, kiln_dtype_size(dtype),
                     kiln_dtype_name(dtype));
  s = kiln_tensor_new(ctx, dtype, dl->ndim, dl->shape, numel, data, false, out);
  if (s != KILN_OK)
    return s;
  (*out)->readonly = readonly;
  (*out)->dl_managed = managed;
  (*out)->dl_versioned = versioned;
  return KILN_OK;
}

/* The arguments both import functions check before reading src. */
static kiln_status check_import_args(const char *fn, const kiln_context *ctx, const void *src,
                                     kiln_tensor **out) {
  if (!out)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
  *out = NULL;
  if (!ctx)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", fn);
  if (!src)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: src is NULL", fn);
  return KILN_OK;
}

kiln_status kiln_tensor_from_dlpack(kiln_context *ctx, struct DLManagedTensor *src,
                                    kiln_tensor **out) {
  const char *fn = "kiln_tensor_from_dlpack";
  kiln_status s = check_import_args(fn, ctx, src, out);
  if (s != KILN_OK)
    return s;
  return import(fn, ctx, &src->dl_tensor, false, src, false, out);
}

kiln_status kiln_tensor_from_dlpack_versioned(kiln_context *ctx,
                                              struct DLManagedTensorVersioned *src,
                                              kiln_tensor **out) {
  const char *fn = "kiln_tensor_from_dlpack_versioned";
  kiln_status s = check_import_args(fn, ctx, src, out);
  if (s != KILN_OK)
    return s;
  /* The version comes first in the struct so that it can be read before
   * anything whose layout a future major version may change. */
  if (src->version.major != KILN_DLPACK_MAJOR)
    return kiln_fail(KILN_ERR_UNSUPPORTED,
                     "%s: src is DLPack %u.%u; kiln reads major version %d", fn,
                     (unsigned)src->version.major, (unsigned)src->version.minor,
                     KILN_DLPACK_MAJOR);
  bool readonly = (src->flags & DLPACK_FLAG_BITMASK_READ_ONLY) != 0;
  return import(fn, ctx, &src->dl_tensor, readonly, src, true, out);
}

void kiln_dlpack_release_import(kiln_tensor *t) {
  if (t->dl_versioned) {
    DLManagedTensorVersioned *m = t->dl_managed;
    if (m->deleter)
      m->deleter(m);
  } else {
    DLManagedTensor *m = t->dl_managed;
    if (m->deleter)
      m->deleter(m);
  }
  t->dl_managed = NULL;
}

void kiln_dlpack_delete(struct DLManagedTensor *m) {
  if (m && m->deleter)
    m->deleter(m);
}

void kiln_dlpack_delete_versioned(struct DLManagedTensorVersioned *m) {
  if (m && m->deleter)
    m->deleter(m);
}

int kiln_tensor_is_readonly(const kiln_tensor *t) { return t && t->readonly ? 1 : 0; }

/* ------------------------------------------------------------- export */

/* One allocation per export: the managed struct (either form) first, so
 * the deleter finds the rest from its own pointer, then the shape and
 * strides the DLTensor points at, and the tensor it keeps alive. */
typedef struct export_block {
  union {
    DLManagedTensor legacy;
    DLManagedTensorVersioned versioned;
  } m;
  int64_t shape[KILN_MAX_DIMS];
  int64_t strides[KILN_MAX_DIMS];
  kiln_tensor *t;
} export_block;

static void release_block(export_block *b) {
  kiln_context *ctx = b->t->ctx;
  /* The tensor first: freeing its memory needs the context's state. */
  kiln_tensor_release(b->t);
  kiln_context_release(ctx);
  free(b);
}

static void delete_legacy(DLManagedTensor *self) {
  if (self)
    release_block((export_block *)self->manager_ctx);
}

static void delete_versioned(DLManagedTensorVersioned *self) {
  if (self)
    release_block((export_block *)self->manager_ctx);
}

/* A zeroed block for an export of t, after the checks both forms share. */
static kiln_status new_block(const char *fn, const kiln_tensor *t, const void *out,
                             export_block **block) {
  if (!out)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
  if (!t)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: t is NULL", fn);
  *block = calloc(1, sizeof **block);
  if (!*block)
    return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "%s: out of host memory", fn);
  return KILN_OK;
}

/* Fills the DLTensor of a new block and takes the references it holds. */
static void fill(export_block *b, DLTensor *dl, kiln_tensor *t) {
  int64_t stride = 1;
  for (int i = t->ndim - 1; i >= 0; i--) {
    b->shape[i] = t->shape[i];
    b->strides[i] = stride;
    stride *= t->shape[i];
  }
  dl->data = t->data;
  dl->device.device_type = t->ctx->device == KILN_DEVICE_CUDA ? kDLCUDA : kDLCPU;
  dl->device.device_id = t->ctx->device == KILN_DEVICE_CUDA ? t->ctx->index : 0;
  dl->ndim = t->ndim;
  dl->dtype = dtype_to_dl(t->dtype);
  dl->shape = b->shape;
  dl->strides = b->strides;
  dl->byte_offset = 0;
  b->t = t;
  __atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
  __atomic_add_fetch(&t->ctx->refs, 1, __ATOMIC_RELAXED);
}

kiln_status kiln_tensor_to_dlpack(kiln_tensor *t, struct DLManagedTensor **out) {
  const char *fn = "kiln_tensor_to_dlpack";
  if (out)
    *out = NULL;
  if (t && t->readonly && out)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT,
                     "%s: t is read-only, which the legacy DLManagedTensor cannot say; use "
                     "kiln_tensor_to_dlpack_versioned", fn);
  export_block *b = NULL;
  kiln_status s = new_block(fn, t, out, &b);
  if (s != KILN_OK)
    return s;
  fill(b, &b->m.legacy.dl_tensor, t);
  b->m.legacy.manager_ctx = b;
  b->m.legacy.deleter = delete_legacy;
  *out = &b->m.legacy;
  return KILN_OK;
}

kiln_status kiln_tensor_to_dlpack_versioned(kiln_tensor *t,
                                            struct DLManagedTensorVersioned **out) {
  const char *fn = "kiln_tensor_to_dlpack_versioned";
  if (out)
    *out = NULL;
  export_block *b = NULL;
  kiln_status s = new_block(fn, t, out, &b);
  if (s != KILN_OK)
    return s;
  fill(b, &b->m.versioned.dl_tensor, t);
  b->m.versioned.version.major = KILN_DLPACK_MAJOR;
  b->m.versioned.version.minor = KILN_DLPACK_MINOR;
  b->m.versioned.manager_ctx = b;
  b->m.versioned.deleter = delete_versioned;
  b->m.versioned.flags = t->readonly ? DLPACK_FLAG_BITMASK_READ_ONLY : 0;
  *out = &b->m.versioned;
  return KILN_OK;
}

kiln_status kiln_stream_wait(kiln_context *ctx, void *stream) {
  if (!ctx)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "kiln_stream_wait: ctx is NULL");
  if (ctx->capturing)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT,
                     "kiln_stream_wait: ctx is capturing a graph; end the capture first");
  if (!ctx->backend->stream_wait)
    return KILN_OK; /* the CPU: every op has finished when it returns */
  return ctx->backend->stream_wait(ctx->state, stream);
}
