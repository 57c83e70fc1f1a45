/* kiln_softmax's failing calls, one table row each. */
#include "bad_call.h"

#include <math.h>

enum { X, OUT };
#define R(role) KT_ROLE(role)
#define T1(a) {1, {a}}
#define T2(a, b) {2, {a, b}}
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

static const char *const names[KT_ROLES] = {"x", "out"};

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
  {"scale_zero", {.spec = {OK_SHAPES}}, 0.0f, 0, KILN_ERR_INVALID_ARGUMENT, "scale", 0},
  {"scale_negative", {.spec = {OK_SHAPES}}, -0.5f, 0, KILN_ERR_INVALID_ARGUMENT, "scale", 0},
  {"scale_nan", {.spec = {OK_SHAPES}}, NAN, 0, KILN_ERR_INVALID_ARGUMENT, "scale", 0},
  {"scale_inf", {.spec = {OK_SHAPES}}, INFINITY, 0, KILN_ERR_INVALID_ARGUMENT, "scale", 0},
  {"scale_nan_causal", {.spec = {T2(5, 5), T2(5, 5)}}, NAN, 1, KILN_ERR_INVALID_ARGUMENT, "scale", 0},
  /* a causal mask needs [..., Sq, Sk] */
  {"causal_1d", {.spec = {T1(17), T1(17)}}, 1.0f, 1, KILN_ERR_SHAPE, "x", R(X)},
  /* "bad flag" in kiln.h's status list: causal is 0 or 1 */
  {"causal_flag_2", {.spec = {OK_SHAPES}}, 1.0f, 2, KILN_ERR_INVALID_ARGUMENT, "causal", 0},
};
/* clang-format on */

static void test_bad_call(kt_env *env) {
  const sm_bad *c = env->param;
  kt_operands ops = kt_bad_operands(env, &c->s, OUT);
  kiln_softmax_params p = {c->scale, c->causal};
  kiln_status s = kiln_softmax(ops.ctx, ops.t[X], ops.t[OUT], &p);
  kt_bad_check(env, &c->s, &ops, s, c->want, "kiln_softmax", c->arg, c->shapes, names);
}

void softmax_register_errors(void);
void softmax_register_errors(void) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    kt_add(test_bad_call, &cases[i], KILN_F32, "softmax_error_%s", cases[i].name);
}
