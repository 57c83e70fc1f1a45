/* kiln_custom_op: the user's function becomes one op like the others, so
 * it runs in stream order and a graph captures it. */
#include "check.h"

#include <stdio.h>

static const char *const FN = "kiln_custom_op";

kiln_status kiln_custom_op(kiln_context *ctx, kiln_custom_fn fn, kiln_tensor *const *tensors,
                           int ntensors, void *user) {
  KILN_TRY(kiln_check_ctx(FN, ctx));
  if (!fn)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: fn is NULL", FN);
  if (ntensors < 0 || ntensors > KILN_CUSTOM_MAX_TENSORS)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: ntensors is %d; it must be 0 to %d", FN,
                     ntensors, KILN_CUSTOM_MAX_TENSORS);
  if (ntensors > 0 && !tensors)
    return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: tensors is NULL but ntensors is %d", FN,
                     ntensors);
  kiln_op op = {.kind = KILN_OP_CUSTOM};
  op.u.custom = (kiln_custom_op_args){.fn = fn, .user = user, .ntensors = ntensors};
  for (int i = 0; i < ntensors; i++) {
    char name[32];
    snprintf(name, sizeof name, "tensors[%d]", i);
    KILN_TRY(kiln_check_tensor(FN, name, tensors[i], ctx));
    op.u.custom.tensors[i] = tensors[i];
  }
  KILN_TRY(kiln_check_supported(FN, ctx, &op));
  return kiln_dispatch(ctx, &op);
}
