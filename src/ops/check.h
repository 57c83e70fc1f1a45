/* Argument checks shared by every op family. Each returns KILN_OK or the
 * failing status, with kiln_last_error() naming fn and the argument. */
#ifndef KILN_OPS_CHECK_H
#define KILN_OPS_CHECK_H

#include "internal.h"

/* Return the status of a check that failed. */
#define KILN_TRY(expr)                                                                   \
  do {                                                                                   \
    kiln_status kiln_try_status_ = (expr);                                               \
    if (kiln_try_status_ != KILN_OK)                                                     \
      return kiln_try_status_;                                                           \
  } while (0)

kiln_status kiln_check_ctx(const char *fn, const kiln_context *ctx);
/* t is non-NULL and belongs to ctx. */
kiln_status kiln_check_tensor(const char *fn, const char *name, const kiln_tensor *t,
                              const kiln_context *ctx);
/* t has the dtype of ref. */
kiln_status kiln_check_dtype(const char *fn, const char *name, const kiln_tensor *t,
                             const char *ref_name, const kiln_tensor *ref);
/* t has exactly ref's shape. */
kiln_status kiln_check_same_shape(const char *fn, const char *name, const kiln_tensor *t,
                                  const char *ref_name, const kiln_tensor *ref);
/* out's memory does not overlap t's (t may be NULL). */
kiln_status kiln_check_no_overlap(const char *fn, const char *out_name, const kiln_tensor *out,
                                  const char *name, const kiln_tensor *t);
/* out is t (in place) or does not overlap it. */
kiln_status kiln_check_in_place_or_apart(const char *fn, const char *out_name,
                                         const kiln_tensor *out, const char *name,
                                         const kiln_tensor *t);
/* t holds floats (f32, f16 or bf16): every op but embedding's ids. */
kiln_status kiln_check_float_dtype(const char *fn, const char *name, const kiln_tensor *t);
/* v is [len], len being the last dim of ref (a weight or bias over rows). */
kiln_status kiln_check_vector(const char *fn, const char *name, const kiln_tensor *v,
                              const char *ref_name, const kiln_tensor *ref);
/* present is the backend's function for this op; without one the op is
 * KILN_ERR_UNSUPPORTED on ctx's backend. */
kiln_status kiln_check_backend_has(const char *fn, const kiln_context *ctx, bool present);
kiln_status kiln_check_flag(const char *fn, const char *name, int value);
/* value is finite, and > 0 when positive is set. */
kiln_status kiln_check_float(const char *fn, const char *name, float value, bool positive);

#endif /* KILN_OPS_CHECK_H */
