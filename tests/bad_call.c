/* Failing-call machinery shared by the op tests; see bad_call.h. */
#include "bad_call.h"

kt_operands kt_bad_operands(kt_env *env, const kt_bad_setup *s, int out_role) {
  kt_operands ops = {.ctx = env->ctx};
  ops.odd = s->odd_i32 ? KILN_I32 : env->dtype == KILN_F32 ? KILN_F16 : KILN_F32;
  kiln_context *other = NULL;
  if (s->foreign)
    other = s->foreign_cpu ? kt_context_of(env, KILN_DEVICE_CPU) : kt_context(env);
  for (int r = 0; r < KT_ROLES; r++) {
    if (s->spec[r].ndim == 0)
      continue;
    kiln_context *ctx = s->foreign & KT_ROLE(r) ? other : env->ctx;
    kiln_dtype dt = s->odd_dtype & KT_ROLE(r) ? ops.odd : env->dtype;
    ops.t[r] = kt_tensor_on(env, ctx, dt, s->spec[r].ndim, s->spec[r].shape);
    ops.snap[r] = kt_fill_pattern(env, ops.t[r]);
  }
  if (s->out_is > 0) {
    ops.t[out_role] = ops.t[s->out_is - 1];
    ops.snap[out_role].t = NULL; /* the same tensor: checked once */
  }
  for (int r = 0; r < KT_ROLES; r++)
    if (s->null & KT_ROLE(r))
      ops.t[r] = NULL;
  if (s->null & KT_CTX)
    ops.ctx = NULL;
  return ops;
}

void kt_bad_check(kt_env *env, const kt_bad_setup *s, const kt_operands *ops, kiln_status got,
                  kiln_status want, const char *fn, const char *arg, unsigned shapes,
                  const char *const names[KT_ROLES]) {
  const char *needles[KT_ROLES + 2] = {NULL};
  int n = 0;
  for (int r = 0; r < KT_ROLES; r++)
    if (shapes & KT_ROLE(r))
      needles[n++] = kt_shape_str(s->spec[r].ndim, s->spec[r].shape);
  if (s->odd_dtype)
    needles[n++] = kiln_dtype_name(ops->odd);
  kt_expect_error(env, got, want, fn, arg, needles);
  /* The snapshots, not ops->t: a NULL-argument case still owns the tensor
   * it left out, and that one must be untouched too. */
  for (int r = 0; r < KT_ROLES; r++)
    if (ops->snap[r].t)
      kt_expect_unchanged(env, &ops->snap[r], names[r]);
}
