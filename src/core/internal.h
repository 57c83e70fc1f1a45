/*
 * The core's own types and helpers, shared by src/core, src/ops and the
 * backends. Nothing here is public.
 */
#ifndef KILN_CORE_INTERNAL_H
#define KILN_CORE_INTERNAL_H

#include "backend.h"
#include "kiln.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KILN_SCRATCH_SLOTS 40

struct kiln_context {
  const kiln_backend *backend;
  void *state; /* the backend's per-context object */
  kiln_device device;
  int index;
  struct kiln_op_list *capture; /* CPU-style recording in progress, else NULL */
  bool capturing;
  bool prefer_composite; /* kiln_context_use_fused(ctx, 0) */
  /* Intermediates of composite ops (kiln_lora_linear's x a^T), in the
   * backend's memory. The last one is current; older, smaller ones are kept
   * until the context goes, since a graph captured earlier may still use
   * them. Each is at least twice its predecessor, so the list stays short. */
  kiln_tensor *scratch[KILN_SCRATCH_SLOTS];
  int scratch_count;
  /* The first failure inside a graph replay, not yet reported (deferred.c). */
  kiln_status deferred;
  char deferred_text[256];
  /* 1 for the caller's handle plus 1 per live DLPack export of one of its
   * tensors, changed atomically (a consumer may drop an export on another
   * thread): kiln_context_destroy frees the context only when the last
   * export is gone (dlpack.c). */
  int refs;
};

/* How kernels that compute in f32 read and write a dtype. */
typedef enum kiln_widen {
  KILN_WIDEN_NONE, /* f32 itself: used where it lies */
  KILN_WIDEN_HALF, /* IEEE binary16 (float_bits.h) */
  KILN_WIDEN_BF16, /* the upper half of an f32 (float_bits.h) */
  KILN_WIDEN_NEVER /* an integer dtype: read as integers, never as floats */
} kiln_widen;

/* One row of the dtype table (dtype.c): everything that branches on a
 * dtype asks this, so a new dtype is one row there (and the compiler
 * refuses a kiln_dtype without its row). */
typedef struct kiln_dtype_info {
  const char *name; /* "f32" */
  size_t size;      /* bytes per element */
  bool is_float;    /* the ops' float dtypes; else ids and other integers */
  kiln_widen widen;
} kiln_dtype_info;

/* Indexed by kiln_dtype; only for a dtype already known valid (a tensor's). */
extern const kiln_dtype_info kiln_dtypes[KILN_DTYPE_COUNT];

struct kiln_tensor {
  kiln_context *ctx;
  kiln_dtype dtype;
  int ndim;
  int64_t shape[KILN_MAX_DIMS];
  int64_t numel;
  size_t nbytes;
  void *data;     /* device memory of ctx's backend */
  bool owns_data; /* false for kiln_tensor_wrap: the caller frees data */
  bool readonly;  /* imported with DLPack's read-only flag: never an op's output */
  /* 1 for the caller's handle plus 1 per live DLPack export, changed
   * atomically: the memory is freed when the last of them goes. */
  int refs;
  /* The DLPack tensor this one was imported from (a DLManagedTensor or,
   * when dl_versioned, a DLManagedTensorVersioned), handed back to its
   * producer's deleter when the tensor goes. */
  void *dl_managed;
  bool dl_versioned;
};

/* Record a failure for kiln_last_error() and return its status: the public
 * kiln_set_error, under the short name the library's own code uses. */
#define kiln_fail kiln_set_error

/* "[64, 32]" into buf; returns buf. Fits any shape in 96 bytes. */
#define KILN_SHAPE_STR_LEN 96
const char *kiln_shape_str(const kiln_tensor *t, char buf[KILN_SHAPE_STR_LEN]);

/* Run one validated op on ctx now, or record it when ctx is capturing
 * without a native graph. The single point where ops reach a backend. */
kiln_status kiln_dispatch(kiln_context *ctx, const kiln_op *op);

/* At least nbytes of the context's scratch memory, as a tensor whose data
 * alone is meaningful (ops that use it carry their own dtype and sizes).
 * Grows only; never allocates once a size has been seen. Fails, naming fn,
 * when it would have to grow inside a native (CUDA) graph capture. */
kiln_status kiln_context_scratch(kiln_context *ctx, size_t nbytes, const char *fn,
                                 kiln_tensor **out);

/* A tensor struct over data (allocated by the backend when owns). */
kiln_status kiln_tensor_new(kiln_context *ctx, kiln_dtype dtype, int ndim, const int64_t *shape,
                            int64_t numel, void *data, bool owns, kiln_tensor **out);

/* *out = dims[0] * ... * dims[n - 1] (1 for n = 0; 0 when any dim is 0,
 * without multiplying the rest). false, *out untouched, when a dim is
 * negative or the product overflows int64_t. Every product of dimensions
 * in the library goes through this. */
bool kiln_dims_product(const int64_t *dims, int n, int64_t *out);
/* The checks kiln_tensor_create, _wrap and the DLPack import share: out
 * non-NULL (and set to NULL), ctx non-NULL and not capturing, a valid dtype
 * and shape; *numel receives the element count. */
kiln_status kiln_tensor_check_new(const char *fn, kiln_context *ctx, kiln_dtype dtype, int ndim,
                                  const int64_t *shape, kiln_tensor **out, int64_t *numel);

/* Drop one reference to t / ctx (the caller's handle or a DLPack export's);
 * the last one frees it. */
void kiln_tensor_release(kiln_tensor *t);
void kiln_context_release(kiln_context *ctx);
/* Hands an imported tensor's DLPack memory back to its producer (dlpack.c). */
void kiln_dlpack_release_import(kiln_tensor *t);

/* RoPE's inverse frequency of pair i, base^(-2i / rotary_dims), computed in
 * double and rounded once, so every backend gets the same f32 value. */
static inline float kiln_rope_inv_freq(float base, int64_t i, int64_t rotary_dims) {
  return (float)(1.0 / pow((double)base, (double)(2 * i) / (double)rotary_dims));
}

/* Keep status (and kiln_last_error()'s text) as ctx's deferred failure
 * unless one is pending already. */
void kiln_deferred_raise(kiln_context *ctx, kiln_status status);
/* The pending deferred failure, reported now under fn's name and cleared;
 * KILN_OK when there is none. kiln_sync and kiln_tensor_read call it. */
kiln_status kiln_deferred_take(kiln_context *ctx, const char *fn);

/* Drop a capture left open (the context is being destroyed). */
void kiln_capture_abandon(kiln_context *ctx);

#endif /* KILN_CORE_INTERNAL_H */
