/*
 * The core's own types and helpers, shared by src/core, src/ops and the
 * backends. Nothing here is public.
 */
#ifndef KILN_CORE_INTERNAL_H
#define KILN_CORE_INTERNAL_H

#include "backend.h"
#include "kiln.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kiln_context {
  const kiln_backend *backend;
  void *state; /* the backend's per-context object */
  kiln_device device;
  int index;
  struct kiln_op_list *capture; /* CPU-style recording in progress, else NULL */
  bool capturing;
};

struct kiln_tensor {
  kiln_context *ctx;
  kiln_dtype dtype;
  int ndim;
  int64_t shape[KILN_MAX_DIMS];
  int64_t numel;
  size_t nbytes;
  void *data; /* device memory of ctx's backend */
};

/* Record a failure for kiln_last_error() and return its status.
 * fmt is printf-style; the text is cut at a fixed length. */
kiln_status kiln_fail(kiln_status status, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* "[64, 32]" into buf; returns buf. Fits any shape in 96 bytes. */
#define KILN_SHAPE_STR_LEN 96
const char *kiln_shape_str(const kiln_tensor *t, char buf[KILN_SHAPE_STR_LEN]);

/* Run one validated op on ctx now, or record it when ctx is capturing
 * without a native graph. The single point where ops reach a backend. */
kiln_status kiln_dispatch(kiln_context *ctx, const kiln_op *op);

/* Drop a capture left open (the context is being destroyed). */
void kiln_capture_abandon(kiln_context *ctx);


#endif /* KILN_CORE_INTERNAL_H */
