/*
 * Helpers for the transformer-set tests (test_lora, test_norms,
 * test_elementwise, test_rope, test_embedding, test_interop): i32 tensors,
 * the fused/composite switch, a tolerance unit, and failing-call operands
 * for ops with more operands than bad_call.h's four roles.
 */
#ifndef KILN_TESTS_HARNESS_OPS_H
#define KILN_TESTS_HARNESS_OPS_H

#include "bad_call.h"
#include "harness.h"

/* The unit roundoff of a float dtype (2^-24, 2^-11, 2^-8). */
double kx_unit(kiln_dtype dtype);

/* An i32 tensor holding vals[0..numel). */
kiln_tensor *kx_ids(kt_env *env, int ndim, const int64_t *shape, const int32_t *vals);

/* Turns the shared context's fused kernels on (1) or off (0). Every test
 * of a fused op calls it with 1 first, so a test that failed while they
 * were off cannot leave the next one running composites. */
void kx_use_fused(kt_env *env, int enable);

/* Failing calls with up to KX_ROLES operands, the bad_call.h way: each
 * operand made from its spec (ndim 0: absent, passed as NULL), filled with
 * a byte pattern, then checked untouched after the call. */
#define KX_ROLES 8
#define KX_CTX (1u << KX_ROLES) /* in .null: pass ctx as NULL */
typedef struct kx_setup {
  kt_spec spec[KX_ROLES];
  unsigned odd_dtype; /* roles made in another float dtype */
  int odd_i32;        /* ... in i32 instead */
  unsigned foreign;   /* roles made on a second context */
  unsigned null;      /* roles (and KX_CTX) passed as NULL */
  int out_is;         /* > 0: the out role is the tensor of role out_is - 1 */
  unsigned i32_roles; /* roles whose normal dtype is i32 (embedding ids) */
} kx_setup;

typedef struct kx_operands {
  kiln_context *ctx;
  kiln_tensor *t[KX_ROLES];
  kt_snapshot snap[KX_ROLES];
  kiln_dtype odd;
} kx_operands;

kx_operands kx_bad_operands(kt_env *env, const kx_setup *s, int out_role);
/* Status want, a message naming fn and arg (and the odd dtype), every
 * operand unchanged. */
void kx_bad_check(kt_env *env, const kx_setup *s, const kx_operands *ops, kiln_status got,
                  kiln_status want, const char *fn, const char *arg);

#endif /* KILN_TESTS_HARNESS_OPS_H */
