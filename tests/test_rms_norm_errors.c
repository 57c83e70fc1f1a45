/* kiln_rms_norm's failing calls, one table row each. */
#include "bad_call.h"

#include <math.h>

enum { X, W, OUT };
#define R(role) KT_ROLE(role)
#define T1(a) {1, {a}}
#define T2(a, b) {2, {a, b}}
#define OK_SHAPES T2(4, 17), T1(17), T2(4, 17)

typedef struct rn_bad {
  const char *name;
  kt_bad_setup s;
  float eps; /* must be finite and > 0 to be valid */
  kiln_status want;
  const char *arg;
  unsigned shapes;
} rn_bad;

static const char *const names[KT_ROLES] = {"x", "weight", "out"};

/* clang-format off */
static const rn_bad cases[] = {
  {"weight_length", {.spec = {T2(4, 17), T1(16), T2(4, 17)}}, 1e-6f, KILN_ERR_SHAPE, "weight", R(W)},
  {"weight_2d", {.spec = {T2(4, 17), T2(1, 17), T2(4, 17)}}, 1e-6f, KILN_ERR_SHAPE, "weight", R(W)},
  {"weight_is_rows", {.spec = {T2(4, 17), T1(4), T2(4, 17)}}, 1e-6f, KILN_ERR_SHAPE, "weight", R(W)},
  {"out_shape", {.spec = {T2(4, 17), T1(17), T2(4, 16)}}, 1e-6f, KILN_ERR_SHAPE, "out", R(OUT)},
  {"out_same_count_other_shape", {.spec = {T2(4, 17), T1(17), T1(68)}}, 1e-6f, KILN_ERR_SHAPE, "out", R(OUT)},
  {"dtype_x", {.spec = {OK_SHAPES}, .odd_dtype = R(X)}, 1e-6f, KILN_ERR_DTYPE, "x", 0},
  {"dtype_weight", {.spec = {OK_SHAPES}, .odd_dtype = R(W)}, 1e-6f, KILN_ERR_DTYPE, "weight", 0},
  {"dtype_out", {.spec = {OK_SHAPES}, .odd_dtype = R(OUT)}, 1e-6f, KILN_ERR_DTYPE, "out", 0},
  {"i32", {.spec = {OK_SHAPES}, .odd_dtype = R(X) | R(W) | R(OUT), .odd_i32 = 1}, 1e-6f, KILN_ERR_DTYPE, "x", 0},
  {"null_ctx", {.spec = {OK_SHAPES}, .null = KT_CTX}, 1e-6f, KILN_ERR_INVALID_ARGUMENT, "ctx", 0},
  {"null_x", {.spec = {OK_SHAPES}, .null = R(X)}, 1e-6f, KILN_ERR_INVALID_ARGUMENT, "x", 0},
  {"null_weight", {.spec = {OK_SHAPES}, .null = R(W)}, 1e-6f, KILN_ERR_INVALID_ARGUMENT, "weight", 0},
  {"null_out", {.spec = {OK_SHAPES}, .null = R(OUT)}, 1e-6f, KILN_ERR_INVALID_ARGUMENT, "out", 0},
  {"foreign_x", {.spec = {OK_SHAPES}, .foreign = R(X)}, 1e-6f, KILN_ERR_DEVICE, "x", 0},
  {"foreign_weight", {.spec = {OK_SHAPES}, .foreign = R(W)}, 1e-6f, KILN_ERR_DEVICE, "weight", 0},
  {"foreign_out", {.spec = {OK_SHAPES}, .foreign = R(OUT)}, 1e-6f, KILN_ERR_DEVICE, "out", 0},
  {"cpu_context_weight", {.spec = {OK_SHAPES}, .foreign = R(W), .foreign_cpu = 1}, 1e-6f, KILN_ERR_DEVICE, "weight", 0},
  {"eps_zero", {.spec = {OK_SHAPES}}, 0.0f, KILN_ERR_INVALID_ARGUMENT, "eps", 0},
  {"eps_negative", {.spec = {OK_SHAPES}}, -1e-6f, KILN_ERR_INVALID_ARGUMENT, "eps", 0},
  {"eps_minus_zero", {.spec = {OK_SHAPES}}, -0.0f, KILN_ERR_INVALID_ARGUMENT, "eps", 0},
  {"eps_nan", {.spec = {OK_SHAPES}}, NAN, KILN_ERR_INVALID_ARGUMENT, "eps", 0},
  {"eps_inf", {.spec = {OK_SHAPES}}, INFINITY, KILN_ERR_INVALID_ARGUMENT, "eps", 0},
  /* out may be x, never weight: with a 1-D x, out == weight fits every shape */
  {"out_is_weight", {.spec = {T1(17), T1(17)}, .out_is = W + 1}, 1e-6f, KILN_ERR_INVALID_ARGUMENT, "weight", 0},
};
/* clang-format on */

static void test_bad_call(kt_env *env) {
  const rn_bad *c = env->param;
  kt_operands ops = kt_bad_operands(env, &c->s, OUT);
  kiln_status s = kiln_rms_norm(ops.ctx, ops.t[X], ops.t[W], c->eps, ops.t[OUT]);
  kt_bad_check(env, &c->s, &ops, s, c->want, "kiln_rms_norm", c->arg, c->shapes, names);
}

void rms_norm_register_errors(void);
void rms_norm_register_errors(void) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    kt_add(test_bad_call, &cases[i], KILN_F32, "rms_norm_error_%s", cases[i].name);
}
