/* See harness_ops.h. */
#include "harness_ops.h"

double kx_unit(kiln_dtype dtype) {
  return dtype == KILN_F32 ? 0x1p-24 : dtype == KILN_F16 ? 0x1p-11 : 0x1p-8;
}

kiln_tensor *kx_ids(kt_env *env, int ndim, const int64_t *shape, const int32_t *vals) {
  kiln_tensor *t = kt_tensor(env, KILN_I32, ndim, shape);
  KT_OK(env, kiln_tensor_write(t, vals, kiln_tensor_nbytes(t)));
  return t;
}

void kx_use_fused(kt_env *env, int enable) { KT_OK(env, kiln_context_use_fused(env->ctx, enable)); }

kx_operands kx_bad_operands(kt_env *env, const kx_setup *s, int out_role) {
  kx_operands ops = {.ctx = env->ctx};
  ops.odd = s->odd_i32 ? KILN_I32 : env->dtype == KILN_F32 ? KILN_F16 : KILN_F32;
  kiln_context *other = s->foreign ? kt_context(env) : NULL;
  for (int r = 0; r < KX_ROLES; r++) {
    if (s->spec[r].ndim == 0)
      continue;
    kiln_context *ctx = s->foreign & KT_ROLE(r) ? other : env->ctx;
    kiln_dtype dt = s->i32_roles & KT_ROLE(r) ? KILN_I32 : env->dtype;
    if (s->odd_dtype & KT_ROLE(r))
      dt = s->i32_roles & KT_ROLE(r) ? KILN_F32 : ops.odd;
    ops.t[r] = kt_tensor_on(env, ctx, dt, s->spec[r].ndim, s->spec[r].shape);
    ops.snap[r] = kt_fill_pattern(env, ops.t[r]);
  }
  if (s->out_is > 0) {
    ops.t[out_role] = ops.t[s->out_is - 1];
    ops.snap[out_role].t = NULL;
  }
  for (int r = 0; r < KX_ROLES; r++)
    if (s->null & KT_ROLE(r))
      ops.t[r] = NULL;
  if (s->null & KX_CTX)
    ops.ctx = NULL;
  return ops;
}

void kx_bad_check(kt_env *env, const kx_setup *s, const kx_operands *ops, kiln_status got,
                  kiln_status want, const char *fn, const char *arg) {
  const char *needles[2] = {NULL, NULL};
  if (s->odd_dtype && !(s->odd_dtype & s->i32_roles))
    needles[0] = kiln_dtype_name(ops->odd);
  kt_expect_error(env, got, want, fn, arg, needles);
  for (int r = 0; r < KX_ROLES; r++)
    if (ops->snap[r].t)
      kt_expect_unchanged(env, &ops->snap[r], "an operand");
}
