/* The checks every op family shares; one wording for one mistake. */
#include "check.h"

#include <math.h>
#include <stdint.h>

kiln_status kiln_check_ctx(const char *fn, const kiln_context *ctx) {
  return ctx ? KILN_OK : kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", fn);
}

kiln_status kiln_check_tensor(const char *fn, const char *name, const kiln_tensor *t,
                              const kiln_context *ctx) {
  if (!t)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, name);
  if (t->ctx != ctx)
    return kiln_fail(KILN_ERR_DEVICE, "%s: %s belongs to another context (%s) than ctx (%s)",
                     fn, name, t->ctx->backend->name, ctx->backend->name);
  return KILN_OK;
}

kiln_status kiln_check_output(const char *fn, const char *name, const kiln_tensor *t,
                              const kiln_context *ctx) {
  kiln_status s = kiln_check_tensor(fn, name, t, ctx);
  if (s == KILN_OK && t->readonly)
    s = kiln_fail(KILN_ERR_INVALID_ARGUMENT,
                  "%s: %s is read-only (imported with DLPack's read-only flag); an op cannot "
                  "write it", fn, name);
  return s;
}

kiln_status kiln_check_dtype(const char *fn, const char *name, const kiln_tensor *t,
                             const char *ref_name, const kiln_tensor *ref) {
  if (t->dtype == ref->dtype)
    return KILN_OK;
  char s1[KILN_SHAPE_STR_LEN], s2[KILN_SHAPE_STR_LEN];
  return kiln_fail(KILN_ERR_DTYPE, "%s: %s is %s %s but %s is %s %s; dtypes must match", fn,
                   name, kiln_dtype_name(t->dtype), kiln_shape_str(t, s1), ref_name,
                   kiln_dtype_name(ref->dtype), kiln_shape_str(ref, s2));
}

kiln_status kiln_check_same_shape(const char *fn, const char *name, const kiln_tensor *t,
                                  const char *ref_name, const kiln_tensor *ref) {
  bool same = t->ndim == ref->ndim;
  for (int i = 0; same && i < t->ndim; i++)
    same = t->shape[i] == ref->shape[i];
  if (same)
    return KILN_OK;
  char s1[KILN_SHAPE_STR_LEN], s2[KILN_SHAPE_STR_LEN];
  return kiln_fail(KILN_ERR_SHAPE, "%s: %s is %s but %s is %s; they must be the same shape",
                   fn, name, kiln_shape_str(t, s1), ref_name, kiln_shape_str(ref, s2));
}

kiln_status kiln_check_no_overlap(const char *fn, const char *out_name, const kiln_tensor *out,
                                  const char *name, const kiln_tensor *t) {
  if (!t || out->nbytes == 0 || t->nbytes == 0)
    return KILN_OK;
  uintptr_t o = (uintptr_t)out->data, p = (uintptr_t)t->data;
  if (o + out->nbytes <= p || p + t->nbytes <= o)
    return KILN_OK;
  return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: %s overlaps %s in memory; %s must not alias %s",
                   fn, out_name, name, out_name, name);
}

kiln_status kiln_check_flag(const char *fn, const char *name, int value) {
  if (value == 0 || value == 1)
    return KILN_OK;
  return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: %s is %d; it must be 0 or 1", fn, name, value);
}

kiln_status kiln_check_float(const char *fn, const char *name, float value, bool positive) {
  if (isfinite(value) && (!positive || value > 0.0f))
    return KILN_OK;
  return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: %s is %g; it must be finite%s", fn, name,
                   (double)value, positive ? " and > 0" : "");
}

kiln_status kiln_check_in_place_or_apart(const char *fn, const char *out_name,
                                         const kiln_tensor *out, const char *name,
                                         const kiln_tensor *t) {
  return out == t ? KILN_OK : kiln_check_no_overlap(fn, out_name, out, name, t);
}

kiln_status kiln_check_float_dtype(const char *fn, const char *name, const kiln_tensor *t) {
  if (kiln_dtypes[t->dtype].is_float)
    return KILN_OK;
  char s[KILN_SHAPE_STR_LEN];
  return kiln_fail(KILN_ERR_DTYPE, "%s: %s is %s %s; this op takes f32, f16 or bf16", fn, name,
                   kiln_dtype_name(t->dtype), kiln_shape_str(t, s));
}

kiln_status kiln_check_vector(const char *fn, const char *name, const kiln_tensor *v,
                              const char *ref_name, const kiln_tensor *ref) {
  int64_t len = ref->shape[ref->ndim - 1];
  if (v->ndim == 1 && v->shape[0] == len)
    return KILN_OK;
  char s1[KILN_SHAPE_STR_LEN], s2[KILN_SHAPE_STR_LEN];
  return kiln_fail(KILN_ERR_SHAPE, "%s: %s is %s but %s is %s; %s must be [%lld]", fn, ref_name,
                   kiln_shape_str(ref, s1), name, kiln_shape_str(v, s2), name, (long long)len);
}

bool kiln_backend_runs(const kiln_context *ctx, const kiln_op *op) {
  const kiln_op_impl *impl = ctx->backend->ops[op->kind];
  return impl->run && (!impl->supports || impl->supports(ctx->state, op));
}

bool kiln_backend_has(const kiln_context *ctx, kiln_op_kind kind) {
  return ctx->backend->ops[kind]->run != NULL;
}

kiln_status kiln_check_backend_has(const char *fn, const kiln_context *ctx, bool present) {
  if (present)
    return KILN_OK;
  return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: the %s backend has no kernel for this op yet", fn,
                   ctx->backend->name);
}

kiln_status kiln_check_supported(const char *fn, const kiln_context *ctx, const kiln_op *op) {
  return kiln_check_backend_has(fn, ctx, kiln_backend_runs(ctx, op));
}

kiln_status kiln_check_dims_product(const char *fn, const char *name, const kiln_tensor *t,
                                    int first, int count, int64_t *out) {
  if (kiln_dims_product(t->shape + first, count, out))
    return KILN_OK;
  char s[KILN_SHAPE_STR_LEN];
  return kiln_fail(KILN_ERR_SHAPE, "%s: %s is %s; its dims %d to %d multiply past INT64_MAX", fn,
                   name, kiln_shape_str(t, s), first, first + count - 1);
}
