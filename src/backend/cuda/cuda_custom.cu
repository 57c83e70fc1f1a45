/* kiln_custom_op on the GPU: the user's function, given our stream. */
#include "cuda_backend.h"

static kiln_status kiln_cuda_custom(void *state, const kiln_custom_op_args *op) {
  kiln_cuda *st = (kiln_cuda *)state;
  KILN_CUDA_TRY(kiln_cuda_enter(st, "kiln_custom_op"));
  /* The function enqueues on our stream, so its work is ordered with ours
   * and, while capturing, lands in the graph. */
  const kiln_status s = op->fn(st->stream, op->tensors, op->ntensors, op->user);
  if (s == KILN_OK)
    return s;
  return kiln_fail(s, "kiln_custom_op: the custom function returned %s", kiln_status_string(s));
}

KILN_CUDA_OP(custom, kiln_cuda_custom, NULL);
