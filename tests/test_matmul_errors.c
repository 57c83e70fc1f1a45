/* kiln_matmul's failing calls, one table row each: the status, a message
 * naming kiln_matmul, the argument and the shapes, and nothing changed. */
#include "bad_call.h"

#include <math.h>

enum { A, B, OUT, BIAS };
#define R(role) KT_ROLE(role)
#define T1(x) {1, {x}}
#define T2(x, y) {2, {x, y}}
#define T3(x, y, z) {3, {x, y, z}}
#define T4(w, x, y, z) {4, {w, x, y, z}}
/* A valid product, out [4, 5] = a [4, 6] @ b [6, 5], for cases whose one
 * defect is elsewhere. */
#define OK_SHAPES T2(4, 6), T2(6, 5), T2(4, 5)

typedef struct mm_bad {
  const char *name;
  kt_bad_setup s;
  int ta, tb;
  float alpha, beta; /* 0 is as valid as any finite value */
  kiln_activation act;
  kiln_status want;
  const char *arg;  /* the argument the message must name */
  unsigned shapes;  /* roles whose shapes the message must show */
} mm_bad;

static const char *const names[KT_ROLES] = {"a", "b", "out", "bias"};

/* clang-format off */
static const mm_bad cases[] = {
  /* shapes that do not fit */
  {"inner_mismatch", {.spec = {T2(64, 32), T2(16, 8), T2(64, 8)}}, .want = KILN_ERR_SHAPE, .arg = "b", .shapes = R(A) | R(B)},
  {"inner_mismatch_tb", {.spec = {T2(5, 7), T2(3, 6), T2(5, 3)}}, .tb = 1, .want = KILN_ERR_SHAPE, .arg = "b", .shapes = R(A) | R(B)},
  {"inner_mismatch_ta", {.spec = {T2(7, 5), T2(6, 3), T2(5, 3)}}, .ta = 1, .want = KILN_ERR_SHAPE, .arg = "b", .shapes = R(A) | R(B)},
  {"inner_mismatch_batched", {.spec = {T3(2, 4, 6), T3(2, 7, 5), T3(2, 4, 5)}}, .want = KILN_ERR_SHAPE, .arg = "b", .shapes = R(A) | R(B)},
  {"out_rows", {.spec = {T2(4, 6), T2(6, 5), T2(3, 5)}}, .want = KILN_ERR_SHAPE, .arg = "out", .shapes = R(OUT)},
  {"out_cols", {.spec = {T2(4, 6), T2(6, 5), T2(4, 6)}}, .want = KILN_ERR_SHAPE, .arg = "out", .shapes = R(OUT)},
  {"out_transposed_with_tb", {.spec = {T2(4, 6), T2(5, 6), T2(5, 4)}}, .tb = 1, .want = KILN_ERR_SHAPE, .arg = "out", .shapes = R(OUT)},
  {"out_missing_batch", {.spec = {T3(2, 4, 6), T2(6, 5), T2(4, 5)}}, .want = KILN_ERR_SHAPE, .arg = "out", .shapes = R(OUT)},
  {"out_batch_differs", {.spec = {T3(2, 4, 6), T2(6, 5), T3(3, 4, 5)}}, .want = KILN_ERR_SHAPE, .arg = "out", .shapes = R(OUT)},
  {"out_extra_batch", {.spec = {T2(4, 6), T2(6, 5), T3(1, 4, 5)}}, .want = KILN_ERR_SHAPE, .arg = "out", .shapes = R(OUT)},
  {"b_batch_differs", {.spec = {T3(2, 4, 6), T3(3, 6, 5), T3(2, 4, 5)}}, .want = KILN_ERR_SHAPE, .arg = "b", .shapes = R(A) | R(B)},
  {"b_batch_order_differs", {.spec = {T4(2, 3, 4, 6), T4(3, 2, 6, 5), T4(2, 3, 4, 5)}}, .want = KILN_ERR_SHAPE, .arg = "b", .shapes = R(A) | R(B)},
  {"b_batched_but_a_not", {.spec = {T2(4, 6), T3(2, 6, 5), T3(2, 4, 5)}}, .want = KILN_ERR_SHAPE, .arg = "b", .shapes = R(B)},
  {"b_partial_batch", {.spec = {T4(2, 3, 4, 6), T3(3, 6, 5), T4(2, 3, 4, 5)}}, .want = KILN_ERR_SHAPE, .arg = "b", .shapes = R(B)},
  {"a_1d", {.spec = {T1(6), T2(6, 5), T2(1, 5)}}, .want = KILN_ERR_SHAPE, .arg = "a", .shapes = R(A)},
  {"b_1d", {.spec = {T2(4, 6), T1(6), T2(4, 1)}}, .want = KILN_ERR_SHAPE, .arg = "b", .shapes = R(B)},
  {"bias_length", {.spec = {OK_SHAPES, T1(6)}}, .want = KILN_ERR_SHAPE, .arg = "bias", .shapes = R(BIAS)},
  {"bias_2d", {.spec = {OK_SHAPES, T2(1, 5)}}, .want = KILN_ERR_SHAPE, .arg = "bias", .shapes = R(BIAS)},
  /* dtypes */
  {"dtype_a", {.spec = {OK_SHAPES}, .odd_dtype = R(A)}, .want = KILN_ERR_DTYPE, .arg = "a"},
  {"dtype_b", {.spec = {OK_SHAPES}, .odd_dtype = R(B)}, .want = KILN_ERR_DTYPE, .arg = "b"},
  {"dtype_out", {.spec = {OK_SHAPES}, .odd_dtype = R(OUT)}, .want = KILN_ERR_DTYPE, .arg = "out"},
  {"dtype_bias", {.spec = {OK_SHAPES, T1(5)}, .odd_dtype = R(BIAS)}, .want = KILN_ERR_DTYPE, .arg = "bias"},
  {"i32", {.spec = {OK_SHAPES}, .odd_dtype = R(A) | R(B) | R(OUT), .odd_i32 = 1}, .want = KILN_ERR_DTYPE, .arg = "a"},
  /* NULLs */
  {"null_ctx", {.spec = {OK_SHAPES}, .null = KT_CTX}, .want = KILN_ERR_INVALID_ARGUMENT, .arg = "ctx"},
  {"null_a", {.spec = {OK_SHAPES}, .null = R(A)}, .want = KILN_ERR_INVALID_ARGUMENT, .arg = "a"},
  {"null_b", {.spec = {OK_SHAPES}, .null = R(B)}, .want = KILN_ERR_INVALID_ARGUMENT, .arg = "b"},
  {"null_out", {.spec = {OK_SHAPES}, .null = R(OUT)}, .want = KILN_ERR_INVALID_ARGUMENT, .arg = "out"},
  /* tensors of another context */
  {"foreign_a", {.spec = {OK_SHAPES}, .foreign = R(A)}, .want = KILN_ERR_DEVICE, .arg = "a"},
  {"foreign_b", {.spec = {OK_SHAPES}, .foreign = R(B)}, .want = KILN_ERR_DEVICE, .arg = "b"},
  {"foreign_out", {.spec = {OK_SHAPES}, .foreign = R(OUT)}, .want = KILN_ERR_DEVICE, .arg = "out"},
  {"foreign_bias", {.spec = {OK_SHAPES, T1(5)}, .foreign = R(BIAS)}, .want = KILN_ERR_DEVICE, .arg = "bias"},
  {"cpu_context_b", {.spec = {OK_SHAPES}, .foreign = R(B), .foreign_cpu = 1}, .want = KILN_ERR_DEVICE, .arg = "b"},
  /* out aliasing an input (square shapes, so only the aliasing is wrong) */
  {"out_is_a", {.spec = {T2(5, 5), T2(5, 5)}, .out_is = A + 1}, .want = KILN_ERR_INVALID_ARGUMENT, .arg = "out"},
  {"out_is_b", {.spec = {T2(5, 5), T2(5, 5)}, .out_is = B + 1}, .want = KILN_ERR_INVALID_ARGUMENT, .arg = "out"},
  {"out_is_b_batched", {.spec = {T3(2, 5, 5), T3(2, 5, 5)}, .out_is = B + 1}, .beta = 1.0f, .want = KILN_ERR_INVALID_ARGUMENT, .arg = "out"},
  /* scalars and flags */
  {"alpha_nan", {.spec = {OK_SHAPES}}, .alpha = NAN, .want = KILN_ERR_INVALID_ARGUMENT, .arg = "alpha"},
  {"alpha_inf", {.spec = {OK_SHAPES}}, .alpha = INFINITY, .want = KILN_ERR_INVALID_ARGUMENT, .arg = "alpha"},
  {"beta_nan", {.spec = {OK_SHAPES}}, .alpha = 1.0f, .beta = NAN, .want = KILN_ERR_INVALID_ARGUMENT, .arg = "beta"},
  {"beta_minus_inf", {.spec = {OK_SHAPES}}, .alpha = 1.0f, .beta = -INFINITY, .want = KILN_ERR_INVALID_ARGUMENT, .arg = "beta"},
  /* "bad flag" in kiln.h's status list: a transpose is 0 or 1 */
  {"transpose_a_2", {.spec = {OK_SHAPES}}, .ta = 2, .want = KILN_ERR_INVALID_ARGUMENT, .arg = "transpose_a"},
  {"transpose_b_minus_1", {.spec = {OK_SHAPES}}, .tb = -1, .want = KILN_ERR_INVALID_ARGUMENT, .arg = "transpose_b"},
  {"activation_3", {.spec = {OK_SHAPES, T1(5)}}, .act = (kiln_activation)3, .want = KILN_ERR_INVALID_ARGUMENT, .arg = "activation"},
  {"activation_minus_1", {.spec = {OK_SHAPES}}, .act = (kiln_activation)-1, .want = KILN_ERR_INVALID_ARGUMENT, .arg = "activation"},
  /* with an activation, the product's own checks still come first */
  {"inner_mismatch_gelu", {.spec = {T2(64, 32), T2(16, 8), T2(64, 8)}}, .act = KILN_ACTIVATION_GELU, .want = KILN_ERR_SHAPE, .arg = "b", .shapes = R(A) | R(B)},
  {"out_is_a_gelu", {.spec = {T2(5, 5), T2(5, 5)}, .out_is = A + 1}, .act = KILN_ACTIVATION_GELU_TANH, .want = KILN_ERR_INVALID_ARGUMENT, .arg = "out"},
};
/* clang-format on */

static void test_bad_call(kt_env *env) {
  const mm_bad *c = env->param;
  kt_operands ops = kt_bad_operands(env, &c->s, OUT);
  kiln_matmul_params p = {.transpose_a = c->ta,
                          .transpose_b = c->tb,
                          .alpha = c->alpha,
                          .beta = c->beta,
                          .bias = ops.t[BIAS],
                          .activation = c->act};
  kiln_status s = kiln_matmul(ops.ctx, ops.t[A], ops.t[B], ops.t[OUT], &p);
  kt_bad_check(env, &c->s, &ops, s, c->want, "kiln_matmul", c->arg, c->shapes, names);
}

void matmul_register_errors(void);
void matmul_register_errors(void) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    kt_add(test_bad_call, &cases[i], KILN_F32, "matmul_error_%s", cases[i].name);
}
