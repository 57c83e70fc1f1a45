/* What src/ops/attention.c needs of attention_composite.c. */
#ifndef KILN_OPS_ATTENTION_H
#define KILN_OPS_ATTENTION_H

#include "internal.h"

/* The op as matmul, softmax and matmul per sequence and query head, through
 * kiln_dispatch, with gathers (kiln's embedding op) into and out of the
 * context's scratch; op is checked and non-empty. fn names the caller in
 * messages. Not capturable: it reads the length tensors on the host. */
kiln_status kiln_attention_composite(kiln_context *ctx, const kiln_attention_op *op,
                                     const char *fn);

#endif /* KILN_OPS_ATTENTION_H */
