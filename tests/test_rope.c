/* kiln_rope against float64: both layouts (seq at -2 and -3), rotate-half
 * and interleaved, partial rotary dims, decoding offsets up to 100000.
 * The angle is the documented f32 one (f32 inverse frequency times the
 * position as f32); the reference evaluates cos, sin and the rotation in
 * double from it. Failing calls at the end. */
#include "harness_ops.h"

#include <math.h>

static const kiln_dtype dtypes[] = {KILN_F32, KILN_F16, KILN_BF16};

typedef struct rope_case {
  const char *name;
  int ndim;
  int64_t shape[4];
  kiln_rope_params p;
  int in_place;
} rope_case;

/* clang-format off */
static const rope_case cases[] = {
  /* name                  nd shape                 base     offset  inter rot axis  inplace */
  {"d2_s1",                2, {1, 2},             {10000.0f, 0,      0,    0,  0},   0},
  {"bhsd_17x64",           4, {2, 3, 17, 64},     {10000.0f, 0,      0,    0, -2},   0},
  {"bhsd_interleaved",     4, {1, 2, 17, 64},     {10000.0f, 0,      1,    0, -2},   1},
  {"bshd_llama",           4, {2, 17, 3, 128},    {500000.0f, 5,     0,    0, -3},   0},
  {"bshd_partial_gptj",    4, {1, 9, 2, 100},     {10000.0f, 3,      1,   32, -3},   0},
  {"partial_neox_in_place",3, {3, 33, 80},        {10000.0f, 0,      0,   20,  0},   1},
  {"decode_offset_100000", 4, {1, 4, 1, 4098},    {10000.0f, 100000, 0,    0, -2},   0},
  {"long_1000",            2, {1000, 34},         {10000.0f, 7,      1,    0,  0},   0},
};
/* clang-format on */

static void reference(const rope_case *c, const double *x, double *out, int64_t n) {
  const int axis = c->p.seq_axis == -3 ? 3 : 2;
  const int64_t d = c->shape[c->ndim - 1], seq = c->shape[c->ndim - axis];
  const int64_t inner = axis == 3 ? c->shape[c->ndim - 2] : 1;
  const int64_t rot = c->p.rotary_dims ? c->p.rotary_dims : d, half = rot / 2;
  for (int64_t r = 0; r < n / d; r++) {
    const double *v = x + r * d;
    double *o = out + r * d;
    const float pos = (float)(c->p.position_offset + (r / inner) % seq);
    for (int64_t j = rot; j < d; j++)
      o[j] = v[j];
    for (int64_t i = 0; i < half; i++) {
      const float inv_freq = (float)(1.0 / pow((double)c->p.base, (double)(2 * i) / (double)rot));
      const double angle = (double)(pos * inv_freq), co = cos(angle), si = sin(angle);
      const int64_t i1 = c->p.interleaved ? 2 * i : i, i2 = c->p.interleaved ? 2 * i + 1 : i + half;
      o[i1] = v[i1] * co - v[i2] * si;
      o[i2] = v[i2] * co + v[i1] * si;
    }
  }
}

static void test_case(kt_env *env) {
  const rope_case *c = env->param;
  kiln_tensor *x = kt_tensor(env, env->dtype, c->ndim, c->shape);
  kiln_tensor *out = c->in_place ? x : kt_tensor(env, env->dtype, c->ndim, c->shape);
  double *xv = kt_random(env, x, -2.0, 2.0);
  if (!c->in_place)
    kt_poison(env, out);
  KT_OK(env, kiln_rope(env->ctx, x, out, &c->p));
  const int64_t n = kiln_tensor_numel(x), d = c->shape[c->ndim - 1];
  double *ref = kt_alloc((size_t)n * sizeof *ref);
  reference(c, xv, ref, n);
  /* f32 cos/sin of the same f32 angle: a few ulps, then one rounding. */
  kt_check_close(env, "out", kt_read(env, out), ref, n, d, NULL,
                 2.0 * kx_unit(env->dtype) + 16 * 0x1p-24);
  if (!c->in_place)
    kt_expect_same(env, "input x", x, xv);
}

/* ------------------------------------------------------------ errors */

typedef struct rope_bad {
  const char *name;
  kx_setup s;
  kiln_rope_params p;
  kiln_status want;
  const char *arg;
} rope_bad;

enum { X, OUT };
#define R(role) KT_ROLE(role)
#define T1(a) {1, {a}}
#define T2(a, b) {2, {a, b}}
#define T3(a, b, c) {3, {a, b, c}}
#define OKS T3(2, 5, 16), T3(2, 5, 16)
#define P {10000.0f, 0, 0, 0, 0}

/* clang-format off */
static const rope_bad bad[] = {
  {"odd_d", {.spec = {T2(5, 15), T2(5, 15)}}, P, KILN_ERR_SHAPE, "x"},
  {"rotary_odd", {.spec = {OKS}}, {10000.0f, 0, 0, 7, 0}, KILN_ERR_INVALID_ARGUMENT, "rotary_dims"},
  {"rotary_past_d", {.spec = {OKS}}, {10000.0f, 0, 0, 18, 0}, KILN_ERR_INVALID_ARGUMENT, "rotary_dims"},
  {"rotary_negative", {.spec = {OKS}}, {10000.0f, 0, 0, -2, 0}, KILN_ERR_INVALID_ARGUMENT, "rotary_dims"},
  {"seq_axis_minus_1", {.spec = {OKS}}, {10000.0f, 0, 0, 0, -1}, KILN_ERR_INVALID_ARGUMENT, "seq_axis"},
  {"seq_axis_3_on_2d", {.spec = {T2(5, 16), T2(5, 16)}}, {10000.0f, 0, 0, 0, -3}, KILN_ERR_SHAPE, "x"},
  {"one_dim", {.spec = {T1(16), T1(16)}}, P, KILN_ERR_SHAPE, "x"},
  {"base_zero", {.spec = {OKS}}, {0.0f, 0, 0, 0, 0}, KILN_ERR_INVALID_ARGUMENT, "base"},
  {"base_nan", {.spec = {OKS}}, {NAN, 0, 0, 0, 0}, KILN_ERR_INVALID_ARGUMENT, "base"},
  {"offset_negative", {.spec = {OKS}}, {10000.0f, -1, 0, 0, 0}, KILN_ERR_INVALID_ARGUMENT, "position_offset"},
  {"interleaved_2", {.spec = {OKS}}, {10000.0f, 0, 2, 0, 0}, KILN_ERR_INVALID_ARGUMENT, "interleaved"},
  {"out_shape", {.spec = {T3(2, 5, 16), T3(2, 16, 5)}}, P, KILN_ERR_SHAPE, "out"},
  {"dtype_out", {.spec = {OKS}, .odd_dtype = R(OUT)}, P, KILN_ERR_DTYPE, "out"},
  {"i32_x", {.spec = {OKS}, .odd_dtype = R(X) | R(OUT), .odd_i32 = 1}, P, KILN_ERR_DTYPE, "x"},
  {"null_ctx", {.spec = {OKS}, .null = KX_CTX}, P, KILN_ERR_INVALID_ARGUMENT, "ctx"},
  {"null_x", {.spec = {OKS}, .null = R(X)}, P, KILN_ERR_INVALID_ARGUMENT, "x"},
  {"foreign_out", {.spec = {OKS}, .foreign = R(OUT)}, P, KILN_ERR_DEVICE, "out"},
};
/* clang-format on */

static void test_bad(kt_env *env) {
  const rope_bad *c = env->param;
  kx_operands o = kx_bad_operands(env, &c->s, OUT);
  kx_bad_check(env, &c->s, &o, kiln_rope(o.ctx, o.t[X], o.t[OUT], &c->p), c->want, "kiln_rope",
               c->arg);
}

int main(void) {
  for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++)
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
      kt_add(test_case, &cases[i], dtypes[d], "rope_%s_%s", kiln_dtype_name(dtypes[d]),
             cases[i].name);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    kt_add(test_bad, &bad[i], KILN_F32, "rope_error_%s", bad[i].name);
  return kt_run("rope");
}
