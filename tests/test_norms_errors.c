/* kiln_add_rms_norm's, kiln_layer_norm's and kiln_add_layer_norm's failing
 * calls. */
#include "harness_ops.h"

#include <math.h>

#define R(role) KT_ROLE(role)
#define T1(a) {1, {a}}
#define T2(a, b) {2, {a, b}}

enum { X, RES, W, H, OUT };
#define ARN_OK T2(4, 17), T2(4, 17), T1(17), T2(4, 17), T2(4, 17)

typedef struct norm_bad {
  const char *name;
  kx_setup s;
  float eps;
  kiln_status want;
  const char *arg;
} norm_bad;

/* clang-format off */
static const norm_bad arn_cases[] = {
  {"residual_shape", {.spec = {T2(4, 17), T2(4, 16), T1(17), T2(4, 17), T2(4, 17)}}, 1e-6f, KILN_ERR_SHAPE, "residual"},
  {"weight_length", {.spec = {T2(4, 17), T2(4, 17), T1(16), T2(4, 17), T2(4, 17)}}, 1e-6f, KILN_ERR_SHAPE, "weight"},
  {"h_out_shape", {.spec = {T2(4, 17), T2(4, 17), T1(17), T2(17, 4), T2(4, 17)}}, 1e-6f, KILN_ERR_SHAPE, "h_out"},
  {"out_shape", {.spec = {T2(4, 17), T2(4, 17), T1(17), T2(4, 17), T1(68)}}, 1e-6f, KILN_ERR_SHAPE, "out"},
  {"dtype_residual", {.spec = {ARN_OK}, .odd_dtype = R(RES)}, 1e-6f, KILN_ERR_DTYPE, "residual"},
  {"dtype_h_out", {.spec = {ARN_OK}, .odd_dtype = R(H)}, 1e-6f, KILN_ERR_DTYPE, "h_out"},
  {"i32_x", {.spec = {ARN_OK}, .odd_dtype = R(X), .odd_i32 = 1}, 1e-6f, KILN_ERR_DTYPE, "x"},
  {"null_ctx", {.spec = {ARN_OK}, .null = KX_CTX}, 1e-6f, KILN_ERR_INVALID_ARGUMENT, "ctx"},
  {"null_residual", {.spec = {ARN_OK}, .null = R(RES)}, 1e-6f, KILN_ERR_INVALID_ARGUMENT, "residual"},
  {"null_h_out", {.spec = {ARN_OK}, .null = R(H)}, 1e-6f, KILN_ERR_INVALID_ARGUMENT, "h_out"},
  {"foreign_weight", {.spec = {ARN_OK}, .foreign = R(W)}, 1e-6f, KILN_ERR_DEVICE, "weight"},
  {"eps_zero", {.spec = {ARN_OK}}, 0.0f, KILN_ERR_INVALID_ARGUMENT, "eps"},
  {"eps_nan", {.spec = {ARN_OK}}, NAN, KILN_ERR_INVALID_ARGUMENT, "eps"},
  {"out_is_h_out", {.spec = {ARN_OK}, .out_is = H + 1}, 1e-6f, KILN_ERR_INVALID_ARGUMENT, "h_out"},
  {"out_is_x", {.spec = {ARN_OK}, .out_is = X + 1}, 1e-6f, KILN_ERR_INVALID_ARGUMENT, "x"},
};
/* clang-format on */

enum { LX, LW, LB, LOUT };
#define LN_OK T2(4, 17), T1(17), T1(17), T2(4, 17)

/* clang-format off */
static const norm_bad ln_cases[] = {
  {"weight_length", {.spec = {T2(4, 17), T1(4), T1(17), T2(4, 17)}}, 1e-5f, KILN_ERR_SHAPE, "weight"},
  {"bias_2d", {.spec = {T2(4, 17), T1(17), T2(1, 17), T2(4, 17)}}, 1e-5f, KILN_ERR_SHAPE, "bias"},
  {"out_shape", {.spec = {T2(4, 17), T1(17), T1(17), T2(4, 16)}}, 1e-5f, KILN_ERR_SHAPE, "out"},
  {"dtype_bias", {.spec = {LN_OK}, .odd_dtype = R(LB)}, 1e-5f, KILN_ERR_DTYPE, "bias"},
  {"dtype_out", {.spec = {LN_OK}, .odd_dtype = R(LOUT)}, 1e-5f, KILN_ERR_DTYPE, "out"},
  {"i32_x", {.spec = {LN_OK}, .odd_dtype = R(LX), .odd_i32 = 1}, 1e-5f, KILN_ERR_DTYPE, "x"},
  {"null_x", {.spec = {LN_OK}, .null = R(LX)}, 1e-5f, KILN_ERR_INVALID_ARGUMENT, "x"},
  {"null_out", {.spec = {LN_OK}, .null = R(LOUT)}, 1e-5f, KILN_ERR_INVALID_ARGUMENT, "out"},
  {"foreign_bias", {.spec = {LN_OK}, .foreign = R(LB)}, 1e-5f, KILN_ERR_DEVICE, "bias"},
  {"eps_negative", {.spec = {LN_OK}}, -1e-5f, KILN_ERR_INVALID_ARGUMENT, "eps"},
  {"eps_inf", {.spec = {LN_OK}}, INFINITY, KILN_ERR_INVALID_ARGUMENT, "eps"},
  {"out_is_weight", {.spec = {T1(17), T1(17), T1(17), T1(17)}, .out_is = LW + 1}, 1e-5f, KILN_ERR_INVALID_ARGUMENT, "weight"},
};
/* clang-format on */

enum { AX, ARES, AW, AB, AH, AOUT };
#define ALN_OK T2(4, 17), T2(4, 17), T1(17), T1(17), T2(4, 17), T2(4, 17)

/* clang-format off */
static const norm_bad aln_cases[] = {
  {"residual_shape", {.spec = {T2(4, 17), T2(4, 16), T1(17), T1(17), T2(4, 17), T2(4, 17)}}, 1e-5f, KILN_ERR_SHAPE, "residual"},
  {"weight_length", {.spec = {T2(4, 17), T2(4, 17), T1(16), T1(17), T2(4, 17), T2(4, 17)}}, 1e-5f, KILN_ERR_SHAPE, "weight"},
  {"bias_2d", {.spec = {T2(4, 17), T2(4, 17), T1(17), T2(1, 17), T2(4, 17), T2(4, 17)}}, 1e-5f, KILN_ERR_SHAPE, "bias"},
  {"h_out_shape", {.spec = {T2(4, 17), T2(4, 17), T1(17), T1(17), T2(17, 4), T2(4, 17)}}, 1e-5f, KILN_ERR_SHAPE, "h_out"},
  {"out_shape", {.spec = {T2(4, 17), T2(4, 17), T1(17), T1(17), T2(4, 17), T1(68)}}, 1e-5f, KILN_ERR_SHAPE, "out"},
  {"dtype_residual", {.spec = {ALN_OK}, .odd_dtype = R(ARES)}, 1e-5f, KILN_ERR_DTYPE, "residual"},
  {"dtype_weight", {.spec = {ALN_OK}, .odd_dtype = R(AW)}, 1e-5f, KILN_ERR_DTYPE, "weight"},
  {"dtype_bias", {.spec = {ALN_OK}, .odd_dtype = R(AB)}, 1e-5f, KILN_ERR_DTYPE, "bias"},
  {"dtype_h_out", {.spec = {ALN_OK}, .odd_dtype = R(AH)}, 1e-5f, KILN_ERR_DTYPE, "h_out"},
  {"dtype_out", {.spec = {ALN_OK}, .odd_dtype = R(AOUT)}, 1e-5f, KILN_ERR_DTYPE, "out"},
  {"i32_x", {.spec = {ALN_OK}, .odd_dtype = R(AX), .odd_i32 = 1}, 1e-5f, KILN_ERR_DTYPE, "x"},
  {"null_ctx", {.spec = {ALN_OK}, .null = KX_CTX}, 1e-5f, KILN_ERR_INVALID_ARGUMENT, "ctx"},
  {"null_x", {.spec = {ALN_OK}, .null = R(AX)}, 1e-5f, KILN_ERR_INVALID_ARGUMENT, "x"},
  {"null_residual", {.spec = {ALN_OK}, .null = R(ARES)}, 1e-5f, KILN_ERR_INVALID_ARGUMENT, "residual"},
  {"null_h_out", {.spec = {ALN_OK}, .null = R(AH)}, 1e-5f, KILN_ERR_INVALID_ARGUMENT, "h_out"},
  {"null_out", {.spec = {ALN_OK}, .null = R(AOUT)}, 1e-5f, KILN_ERR_INVALID_ARGUMENT, "out"},
  {"foreign_residual", {.spec = {ALN_OK}, .foreign = R(ARES)}, 1e-5f, KILN_ERR_DEVICE, "residual"},
  {"foreign_bias", {.spec = {ALN_OK}, .foreign = R(AB)}, 1e-5f, KILN_ERR_DEVICE, "bias"},
  {"foreign_out", {.spec = {ALN_OK}, .foreign = R(AOUT)}, 1e-5f, KILN_ERR_DEVICE, "out"},
  {"eps_zero", {.spec = {ALN_OK}}, 0.0f, KILN_ERR_INVALID_ARGUMENT, "eps"},
  {"eps_negative", {.spec = {ALN_OK}}, -1e-5f, KILN_ERR_INVALID_ARGUMENT, "eps"},
  {"eps_inf", {.spec = {ALN_OK}}, INFINITY, KILN_ERR_INVALID_ARGUMENT, "eps"},
  {"eps_nan", {.spec = {ALN_OK}}, NAN, KILN_ERR_INVALID_ARGUMENT, "eps"},
  {"out_is_h_out", {.spec = {ALN_OK}, .out_is = AH + 1}, 1e-5f, KILN_ERR_INVALID_ARGUMENT, "h_out"},
  {"out_is_x", {.spec = {ALN_OK}, .out_is = AX + 1}, 1e-5f, KILN_ERR_INVALID_ARGUMENT, "x"},
  {"out_is_residual", {.spec = {ALN_OK}, .out_is = ARES + 1}, 1e-5f, KILN_ERR_INVALID_ARGUMENT, "residual"},
  {"out_is_bias", {.spec = {T1(17), T1(17), T1(17), T1(17), T1(17), T1(17)}, .out_is = AB + 1}, 1e-5f, KILN_ERR_INVALID_ARGUMENT, "bias"},
};
/* clang-format on */

static void test_aln(kt_env *env) {
  const norm_bad *c = env->param;
  kx_operands o = kx_bad_operands(env, &c->s, AOUT);
  kiln_status s = kiln_add_layer_norm(o.ctx, o.t[AX], o.t[ARES], o.t[AW], o.t[AB], c->eps,
                                      o.t[AH], o.t[AOUT]);
  kx_bad_check(env, &c->s, &o, s, c->want, "kiln_add_layer_norm", c->arg);
}

static void test_arn(kt_env *env) {
  const norm_bad *c = env->param;
  kx_operands o = kx_bad_operands(env, &c->s, OUT);
  kiln_status s = kiln_add_rms_norm(o.ctx, o.t[X], o.t[RES], o.t[W], c->eps, o.t[H], o.t[OUT]);
  kx_bad_check(env, &c->s, &o, s, c->want, "kiln_add_rms_norm", c->arg);
}

static void test_ln(kt_env *env) {
  const norm_bad *c = env->param;
  kx_operands o = kx_bad_operands(env, &c->s, LOUT);
  kiln_status s = kiln_layer_norm(o.ctx, o.t[LX], o.t[LW], o.t[LB], c->eps, o.t[LOUT]);
  kx_bad_check(env, &c->s, &o, s, c->want, "kiln_layer_norm", c->arg);
}

/* h_out is written while weight and bias are read by every row: it may
 * not be either of them (checked before either path is chosen). */
static void test_aln_h_out_is_param(kt_env *env) {
  const int64_t n = 17;
  for (int which = 0; which < 2; which++) {
    kiln_tensor *x = kt_tensor(env, env->dtype, 1, &n), *r = kt_tensor(env, env->dtype, 1, &n);
    kiln_tensor *w = kt_tensor(env, env->dtype, 1, &n), *b = kt_tensor(env, env->dtype, 1, &n);
    kiln_tensor *out = kt_tensor(env, env->dtype, 1, &n), *h = which ? b : w;
    kt_snapshot snaps[5] = {kt_fill_pattern(env, x), kt_fill_pattern(env, r), kt_fill_pattern(env, w),
                            kt_fill_pattern(env, b), kt_fill_pattern(env, out)};
    kiln_status s = kiln_add_layer_norm(env->ctx, x, r, w, b, 1e-5f, h, out);
    const char *needles[] = {which ? "bias" : "weight", NULL};
    kt_expect_error(env, s, KILN_ERR_INVALID_ARGUMENT, "kiln_add_layer_norm", "h_out", needles);
    for (int i = 0; i < 5; i++)
      kt_expect_unchanged(env, &snaps[i], "an operand");
  }
}

void norms_register_errors(void);
void norms_register_errors(void) {
  kt_add(test_aln_h_out_is_param, NULL, KILN_F32, "add_layer_norm_error_h_out_is_weight_or_bias");
  for (size_t i = 0; i < sizeof arn_cases / sizeof arn_cases[0]; i++)
    kt_add(test_arn, &arn_cases[i], KILN_F32, "add_rms_norm_error_%s", arn_cases[i].name);
  for (size_t i = 0; i < sizeof ln_cases / sizeof ln_cases[0]; i++)
    kt_add(test_ln, &ln_cases[i], KILN_F32, "layer_norm_error_%s", ln_cases[i].name);
  for (size_t i = 0; i < sizeof aln_cases / sizeof aln_cases[0]; i++)
    kt_add(test_aln, &aln_cases[i], KILN_F32, "add_layer_norm_error_%s", aln_cases[i].name);
}
