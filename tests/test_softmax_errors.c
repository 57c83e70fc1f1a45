/* kiln_softmax's failing calls, one table row each. */
#include "bad_call.h"

#include <math.h>

enum { X, OUT, MASK };
#define R(role) KT_ROLE(role)
#define T1(a) {1, {a}}
#define T2(a, b) {2, {a, b}}
#define T3(a, b, c) {3, {a, b, c}}
#define OK_SHAPES T2(4, 17), T2(4, 17)

typedef struct sm_bad {
  const char *name;
  kt_bad_setup s;
  float scale; /* must be finite and > 0 to be valid */
  int causal;
  kiln_status want;
  const char *arg;
  unsigned shapes;
} sm_bad;

static const char *const names[KT_ROLES] = {"x", "out", "mask"};

/* clang-format off */
static const sm_bad cases[] = {
  {"out_shape", {.spec = {T2(4, 17), T2(4, 16)}}, 1.0f, 0, KILN_ERR_SHAPE, "out", R(OUT)},
  {"out_same_count_other_shape", {.spec = {T2(4, 17), T1(68)}}, 1.0f, 0, KILN_ERR_SHAPE, "out", R(OUT)},
  {"out_transposed", {.spec = {T2(4, 17), T2(17, 4)}}, 1.0f, 0, KILN_ERR_SHAPE, "out", R(OUT)},
  {"dtype_out", {.spec = {OK_SHAPES}, .odd_dtype = R(OUT)}, 1.0f, 0, KILN_ERR_DTYPE, "out", 0},
  {"dtype_x", {.spec = {OK_SHAPES}, .odd_dtype = R(X)}, 1.0f, 0, KILN_ERR_DTYPE, "x", 0},
  {"null_ctx", {.spec = {OK_SHAPES}, .null = KT_CTX}, 1.0f, 0, KILN_ERR_INVALID_ARGUMENT, "ctx", 0},
  {"null_x", {.spec = {OK_SHAPES}, .null = R(X)}, 1.0f, 0, KILN_ERR_INVALID_ARGUMENT, "x", 0},
  {"null_out", {.spec = {OK_SHAPES}, .null = R(OUT)}, 1.0f, 0, KILN_ERR_INVALID_ARGUMENT, "out", 0},
  {"foreign_x", {.spec = {OK_SHAPES}, .foreign = R(X)}, 1.0f, 0, KILN_ERR_DEVICE, "x", 0},
  {"foreign_out", {.spec = {OK_SHAPES}, .foreign = R(OUT)}, 1.0f, 0, KILN_ERR_DEVICE, "out", 0},
  {"cpu_context_x", {.spec = {OK_SHAPES}, .foreign = R(X), .foreign_cpu = 1}, 1.0f, 0, KILN_ERR_DEVICE, "x", 0},
  {"scale_zero", {.spec = {OK_SHAPES}}, 0.0f, 0, KILN_ERR_INVALID_ARGUMENT, "scale", 0},
  {"scale_negative", {.spec = {OK_SHAPES}}, -0.5f, 0, KILN_ERR_INVALID_ARGUMENT, "scale", 0},
  {"scale_nan", {.spec = {OK_SHAPES}}, NAN, 0, KILN_ERR_INVALID_ARGUMENT, "scale", 0},
  {"scale_inf", {.spec = {OK_SHAPES}}, INFINITY, 0, KILN_ERR_INVALID_ARGUMENT, "scale", 0},
  {"scale_nan_causal", {.spec = {T2(5, 5), T2(5, 5)}}, NAN, 1, KILN_ERR_INVALID_ARGUMENT, "scale", 0},
  /* a causal mask needs [..., Sq, Sk] */
  {"causal_1d", {.spec = {T1(17), T1(17)}}, 1.0f, 1, KILN_ERR_SHAPE, "x", R(X)},
  /* the additive mask: [Sk], or [B, Sk] with B = x's first dim */
  {"mask_length", {.spec = {OK_SHAPES, T1(16)}}, 1.0f, 0, KILN_ERR_SHAPE, "mask", R(MASK)},
  {"mask_batch_differs", {.spec = {OK_SHAPES, T2(3, 17)}}, 1.0f, 0, KILN_ERR_SHAPE, "mask", R(MASK)},
  {"mask_2d_for_1d_x", {.spec = {T1(17), T1(17), T2(1, 17)}}, 1.0f, 0, KILN_ERR_SHAPE, "mask", R(MASK)},
  {"mask_3d", {.spec = {T3(2, 4, 17), T3(2, 4, 17), T3(2, 4, 17)}}, 1.0f, 0, KILN_ERR_SHAPE, "mask", R(MASK)},
  {"mask_dtype", {.spec = {OK_SHAPES, T1(17)}, .odd_dtype = R(MASK)}, 1.0f, 0, KILN_ERR_DTYPE, "mask", 0},
  {"mask_foreign", {.spec = {OK_SHAPES, T1(17)}, .foreign = R(MASK)}, 1.0f, 0, KILN_ERR_DEVICE, "mask", 0},
  {"out_is_mask", {.spec = {T1(17), {0}, T1(17)}, .out_is = MASK + 1}, 1.0f, 0, KILN_ERR_INVALID_ARGUMENT, "mask", 0},
  /* i32 holds token ids; softmax takes only float dtypes */
  {"i32", {.spec = {OK_SHAPES}, .odd_dtype = R(X) | R(OUT), .odd_i32 = 1}, 1.0f, 0, KILN_ERR_DTYPE, "x", 0},
  /* "bad flag" in kiln.h's status list: causal is 0 or 1 */
  {"causal_flag_2", {.spec = {OK_SHAPES}}, 1.0f, 2, KILN_ERR_INVALID_ARGUMENT, "causal", 0},
};
/* clang-format on */

static void test_bad_call(kt_env *env) {
  const sm_bad *c = env->param;
  kt_operands ops = kt_bad_operands(env, &c->s, OUT);
  kiln_softmax_params p = {.scale = c->scale, .causal = c->causal, .mask = ops.t[MASK]};
  kiln_status s = kiln_softmax(ops.ctx, ops.t[X], ops.t[OUT], &p);
  kt_bad_check(env, &c->s, &ops, s, c->want, "kiln_softmax", c->arg, c->shapes, names);
}

void softmax_register_errors(void);
void softmax_register_errors(void) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    kt_add(test_bad_call, &cases[i], KILN_F32, "softmax_error_%s", cases[i].name);
}
