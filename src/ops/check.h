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
/* As kiln_check_tensor, for a tensor the op writes: also not read-only (a
 * tensor imported with DLPack's read-only flag). */
kiln_status kiln_check_output(const char *fn, const char *name, const kiln_tensor *t,
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
/* Whether ctx's backend runs op itself: it has a kernel for op's kind and
 * that kernel's supports (if any) takes this op. The one place the
 * fused-or-composite choice is asked. */
bool kiln_backend_runs(const kiln_context *ctx, const kiln_op *op);
/* Whether ctx's backend has a kernel for kind at all (a composite built of
 * several kinds asks before its first step). */
bool kiln_backend_has(const kiln_context *ctx, kiln_op_kind kind);
/* present, or KILN_ERR_UNSUPPORTED naming fn and the backend. */
kiln_status kiln_check_backend_has(const char *fn, const kiln_context *ctx, bool present);
/* kiln_backend_runs, or KILN_ERR_UNSUPPORTED naming fn and the backend. */
kiln_status kiln_check_supported(const char *fn, const kiln_context *ctx, const kiln_op *op);
/* Fills in op's batch folding and strides from its batch, m, n, k and
 * whether b has a's batch dims (see kiln_matmul_op): the one place the
 * folding rule lives, for kiln_matmul and the composites built of it. */
void kiln_matmul_fold(kiln_matmul_op *op, bool b_batched);
kiln_status kiln_check_flag(const char *fn, const char *name, int value);
/* value is finite, and > 0 when positive is set. */
kiln_status kiln_check_float(const char *fn, const char *name, float value, bool positive);

/* *out = the product of t's dims [first, first + count) (kiln_dims_product);
 * KILN_ERR_SHAPE naming fn and t when it overflows int64_t. A non-empty
 * tensor's dims always multiply without overflow, so ops return early for
 * empty tensors first and then this cannot fail; it is checked anyway. */
kiln_status kiln_check_dims_product(const char *fn, const char *name, const kiln_tensor *t,
                                    int first, int count, int64_t *out);

#endif /* KILN_OPS_CHECK_H */
