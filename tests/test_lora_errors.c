/* kiln_lora_linear's failing calls, one table row each. */
#include "harness_ops.h"

#include <math.h>

enum { X, W, BIAS, A, B, OUT };
#define R(role) KT_ROLE(role)
#define T1(a) {1, {a}}
#define T2(a, b) {2, {a, b}}
/* x [4, 17], w [9, 17], bias [9], a [3, 17], b [9, 3], out [4, 9] */
#define OK T2(4, 17), T2(9, 17), T1(9), T2(3, 17), T2(9, 3), T2(4, 9)

typedef struct lora_bad {
  const char *name;
  kx_setup s;
  float scale;
  kiln_status want;
  const char *arg;
} lora_bad;

/* clang-format off */
static const lora_bad cases[] = {
  {"w_in", {.spec = {T2(4, 17), T2(9, 16), T1(9), T2(3, 17), T2(9, 3), T2(4, 9)}}, 1, KILN_ERR_SHAPE, "w"},
  {"w_1d", {.spec = {T2(4, 17), T1(17), T1(9), T2(3, 17), T2(9, 3), T2(4, 9)}}, 1, KILN_ERR_SHAPE, "w"},
  {"a_in", {.spec = {T2(4, 17), T2(9, 17), T1(9), T2(3, 16), T2(9, 3), T2(4, 9)}}, 1, KILN_ERR_SHAPE, "a"},
  {"a_rank_0", {.spec = {T2(4, 17), T2(9, 17), T1(9), T2(0, 17), T2(9, 0), T2(4, 9)}}, 1, KILN_ERR_SHAPE, "a"},
  {"a_transposed", {.spec = {T2(4, 17), T2(9, 17), T1(9), T2(17, 3), T2(9, 3), T2(4, 9)}}, 1, KILN_ERR_SHAPE, "a"},
  {"b_rank", {.spec = {T2(4, 17), T2(9, 17), T1(9), T2(3, 17), T2(9, 4), T2(4, 9)}}, 1, KILN_ERR_SHAPE, "b"},
  {"b_transposed", {.spec = {T2(4, 17), T2(9, 17), T1(9), T2(3, 17), T2(3, 9), T2(4, 9)}}, 1, KILN_ERR_SHAPE, "b"},
  {"bias_length", {.spec = {T2(4, 17), T2(9, 17), T1(8), T2(3, 17), T2(9, 3), T2(4, 9)}}, 1, KILN_ERR_SHAPE, "bias"},
  {"out_cols", {.spec = {T2(4, 17), T2(9, 17), T1(9), T2(3, 17), T2(9, 3), T2(4, 8)}}, 1, KILN_ERR_SHAPE, "out"},
  {"out_rows", {.spec = {T2(4, 17), T2(9, 17), T1(9), T2(3, 17), T2(9, 3), T2(5, 9)}}, 1, KILN_ERR_SHAPE, "out"},
  {"dtype_w", {.spec = {OK}, .odd_dtype = R(W)}, 1, KILN_ERR_DTYPE, "w"},
  {"dtype_bias", {.spec = {OK}, .odd_dtype = R(BIAS)}, 1, KILN_ERR_DTYPE, "bias"},
  {"dtype_a", {.spec = {OK}, .odd_dtype = R(A)}, 1, KILN_ERR_DTYPE, "a"},
  {"dtype_b", {.spec = {OK}, .odd_dtype = R(B)}, 1, KILN_ERR_DTYPE, "b"},
  {"dtype_out", {.spec = {OK}, .odd_dtype = R(OUT)}, 1, KILN_ERR_DTYPE, "out"},
  {"i32_x", {.spec = {OK}, .odd_dtype = R(X), .odd_i32 = 1}, 1, KILN_ERR_DTYPE, "x"},
  {"null_ctx", {.spec = {OK}, .null = KX_CTX}, 1, KILN_ERR_INVALID_ARGUMENT, "ctx"},
  {"null_x", {.spec = {OK}, .null = R(X)}, 1, KILN_ERR_INVALID_ARGUMENT, "x"},
  {"null_w", {.spec = {OK}, .null = R(W)}, 1, KILN_ERR_INVALID_ARGUMENT, "w"},
  {"null_a", {.spec = {OK}, .null = R(A)}, 1, KILN_ERR_INVALID_ARGUMENT, "a"},
  {"null_b", {.spec = {OK}, .null = R(B)}, 1, KILN_ERR_INVALID_ARGUMENT, "b"},
  {"null_out", {.spec = {OK}, .null = R(OUT)}, 1, KILN_ERR_INVALID_ARGUMENT, "out"},
  {"foreign_x", {.spec = {OK}, .foreign = R(X)}, 1, KILN_ERR_DEVICE, "x"},
  {"foreign_bias", {.spec = {OK}, .foreign = R(BIAS)}, 1, KILN_ERR_DEVICE, "bias"},
  {"foreign_b", {.spec = {OK}, .foreign = R(B)}, 1, KILN_ERR_DEVICE, "b"},
  {"scale_nan", {.spec = {OK}}, NAN, KILN_ERR_INVALID_ARGUMENT, "scale"},
  {"scale_inf", {.spec = {OK}}, INFINITY, KILN_ERR_INVALID_ARGUMENT, "scale"},
  /* out may alias nothing: x [4, 9] fits out's shape when in = 9 */
  {"out_is_x", {.spec = {T2(4, 9), T2(9, 9), T1(9), T2(3, 9), T2(9, 3), T2(4, 9)}, .out_is = X + 1}, 1, KILN_ERR_INVALID_ARGUMENT, "x"},
  {"out_is_w", {.spec = {T2(9, 9), T2(9, 9), T1(9), T2(3, 9), T2(9, 3), T2(9, 9)}, .out_is = W + 1}, 1, KILN_ERR_INVALID_ARGUMENT, "w"},
};
/* clang-format on */

static void test_bad_call(kt_env *env) {
  const lora_bad *c = env->param;
  kx_operands ops = kx_bad_operands(env, &c->s, OUT);
  kiln_status s = kiln_lora_linear(ops.ctx, ops.t[X], ops.t[W], ops.t[BIAS], ops.t[A], ops.t[B],
                                   c->scale, ops.t[OUT]);
  kx_bad_check(env, &c->s, &ops, s, c->want, "kiln_lora_linear", c->arg);
}

void lora_register_errors(void);
void lora_register_errors(void) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    kt_add(test_bad_call, &cases[i], KILN_F32, "lora_error_%s", cases[i].name);
}
