/*
 * The shared half of every failing-call test: making the operands an error
 * case describes (wrong shapes, another dtype, another context, NULL,
 * aliasing), then checking the contract after the call fails: the status,
 * a message naming the function, the argument and the shapes, and every
 * operand left byte for byte as it was.
 *
 * Operands are numbered by role, in the op's argument order (matmul: a, b,
 * out, bias; softmax: x, out; rms_norm: x, weight, out).
 */
#ifndef KILN_TESTS_BAD_CALL_H
#define KILN_TESTS_BAD_CALL_H

#include "harness.h"

#define KT_ROLES 4
#define KT_ROLE(i) (1u << (i))
#define KT_CTX (1u << KT_ROLES) /* in .null: pass ctx as NULL */

typedef struct kt_spec {
  int ndim; /* 0: this operand is absent (an optional one) */
  int64_t shape[KILN_MAX_DIMS];
} kt_spec;

typedef struct kt_bad_setup {
  kt_spec spec[KT_ROLES];
  unsigned odd_dtype; /* roles made with a dtype other than the test's */
  int odd_i32;        /* ... and that dtype is KILN_I32, which these ops never take */
  unsigned foreign;   /* roles made on a second context of the same kind */
  int foreign_cpu;    /* ... on a CPU context instead (another device for GPU tests) */
  unsigned null;      /* roles (and KT_CTX) passed as NULL */
  int out_is;         /* > 0: the out role is the tensor of role out_is - 1 */
} kt_bad_setup;

typedef struct kt_operands {
  kiln_context *ctx; /* NULL when the case asks for it */
  kiln_tensor *t[KT_ROLES];
  kt_snapshot snap[KT_ROLES];
  kiln_dtype odd; /* the dtype odd_dtype roles got */
} kt_operands;

/* Makes the operands (each filled with a byte pattern) for one case. */
kt_operands kt_bad_operands(kt_env *env, const kt_bad_setup *s, int out_role);

/* After the call: status want, a message with fn, arg, the shapes of the
 * roles in `shapes` and (for a dtype case) the odd dtype's name, and every
 * operand unchanged. names: the role names, for failure messages. */
void kt_bad_check(kt_env *env, const kt_bad_setup *s, const kt_operands *ops, kiln_status got,
                  kiln_status want, const char *fn, const char *arg, unsigned shapes,
                  const char *const names[KT_ROLES]);

#endif /* KILN_TESTS_BAD_CALL_H */
