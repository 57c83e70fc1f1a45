/* kiln_lora_linear against a float64 reference, fused and composite
 * (kiln_context_use_fused(ctx, 0)), and the two against each other. The
 * failing calls are in test_lora_errors.c. */
#include "harness_ops.h"
#include "reference.h"
#include "tolerance.h"

#include <math.h>

void lora_register_errors(void);

static const kiln_dtype dtypes[] = {KILN_F32, KILN_F16, KILN_BF16};

typedef struct lora_case {
  const char *name;
  int nlead;           /* x's leading dims: 1 or 2 */
  int64_t lead[2];
  int64_t in, n, rank; /* x [..., in], w [n, in], a [rank, in], b [n, rank] */
  int bias;
  float scale;
} lora_case;

/* clang-format off */
static const lora_case cases[] = {
  /* name                    nl lead      in     n  rank bias scale */
  {"one",                    1, {1},       1,    1,   1, 0,  1.0f},
  {"odd_3x17_r3_bias",       1, {3},      17,   33,   3, 1,  0.5f},
  {"decode_1x1000_r16",      1, {1},    1000, 1000,  16, 0,  2.0f},
  {"batch_2x5_n4099_r8",     2, {2, 5},   64, 4099,   8, 1,  1.0f},
  {"rank_256",               1, {7},     129,   65, 256, 0,  0.125f},
  {"rank_300_composite_only",1, {4},      33,   17, 300, 1,  0.25f},
  {"rows_1000_r1",           1, {1000},   17,    3,   1, 1, -1.5f},
  {"in_4099_r17",            1, {3},    4099,   31,  17, 0, -0.75f},
  {"in_0_bias",              1, {3},       0,    5,   2, 1,  1.0f},
  {"rows_0",                 1, {0},      17,    9,   4, 1,  1.0f},
  {"rows_16_r64_bias",       1, {16},    512,   17,  64, 1,  0.5f},
  {"rows_8_r64",             2, {2, 4},  256,  100,  64, 1, -0.5f},
  {"wide_2x256_n4099_r33",   1, {2},     256, 4099,  33, 1,  1.0f},
  {"rows_17_r4",             1, {17},     64,   40,   4, 1,  1.0f},
  {"rank_65",                1, {1},      64,   40,  65, 0,  0.25f},
  {"rows_9_n_1",             1, {9},      40,    1,   5, 1,  2.0f},
};
/* clang-format on */

typedef struct lora_tensors {
  kiln_tensor *x, *w, *bias, *a, *b;
  double *xv, *wv, *biasv, *av, *bv;
  int64_t rows;
} lora_tensors;

static lora_tensors make_inputs(kt_env *env, const lora_case *c) {
  lora_tensors t = {.rows = 1};
  int64_t xs[3] = {c->lead[0], c->lead[1], 0};
  xs[c->nlead] = c->in;
  for (int i = 0; i < c->nlead; i++)
    t.rows *= c->lead[i];
  const int64_t ws[2] = {c->n, c->in}, as[2] = {c->rank, c->in}, bs[2] = {c->n, c->rank};
  t.x = kt_tensor(env, env->dtype, c->nlead + 1, xs);
  t.w = kt_tensor(env, env->dtype, 2, ws);
  t.a = kt_tensor(env, env->dtype, 2, as);
  t.b = kt_tensor(env, env->dtype, 2, bs);
  t.xv = kt_random(env, t.x, -1.0, 1.0);
  t.wv = kt_random(env, t.w, -1.0, 1.0);
  t.av = kt_random(env, t.a, -1.0, 1.0);
  t.bv = kt_random(env, t.b, -1.0, 1.0);
  if (c->bias) {
    t.bias = kt_tensor(env, env->dtype, 1, &c->n);
    t.biasv = kt_random(env, t.bias, -1.0, 1.0);
  }
  return t;
}

/* x w^T + bias + scale (x a^T) b^T, in double from the stored values.
 * spread[r]: how large row r's two terms get against the result, max over
 * the row of |x w^T + bias| + |scale| sum_k |(x a^T)_k b_jk|, over max|out|:
 * the composite rounds each term, and where they cancel, that rounding is
 * large against the result. */
static double *reference(const lora_case *c, const lora_tensors *t, double *spread) {
  double *base = kt_alloc((size_t)(t->rows * c->n) * sizeof *base);
  double *mid = kt_alloc((size_t)(t->rows * c->rank) * sizeof *mid);
  double *out = kt_alloc((size_t)(t->rows * c->n) * sizeof *out);
  const ref_matmul_shape linear = {1, t->rows, c->n, c->in, false, true, false};
  const ref_matmul_shape down = {1, t->rows, c->rank, c->in, false, true, false};
  const ref_matmul_shape up = {1, t->rows, c->n, c->rank, false, true, false};
  ref_matmul(&linear, t->xv, t->wv, NULL, t->biasv, 1.0, 0.0, base);
  ref_matmul(&down, t->xv, t->av, NULL, NULL, 1.0, 0.0, mid);
  ref_matmul(&up, mid, t->bv, base, NULL, c->scale, 1.0, out);
  for (int64_t r = 0; r < t->rows; r++) {
    double terms = 0.0, result = 1e-300;
    for (int64_t j = 0; j < c->n; j++) {
      double lora = 0.0;
      for (int64_t k = 0; k < c->rank; k++)
        lora += fabs(mid[r * c->rank + k] * t->bv[j * c->rank + k]);
      terms = fmax(terms, fabs(base[r * c->n + j]) + fabs(c->scale) * lora);
      result = fmax(result, fabs(out[r * c->n + j]));
    }
    spread[r] = terms / result;
  }
  return out;
}

/* Whether the CUDA backend runs c fused (cuda_lora.cu): where its thin
 * kernel wins the base product (f32 up to 16 rows; 16-bit up to 4, or 8
 * when w has under 4M elements), w under 8M elements, no more rows than
 * w, rank <= 64, and in whole 16-byte vectors. Elsewhere it runs the composite, which the
 * tolerance must allow for. */
static bool cuda_fuses(const kt_env *env, const lora_case *c, int64_t rows) {
  const int64_t vw = 16 / (int64_t)kiln_dtype_size(env->dtype);
  const bool thin_wins = env->dtype == KILN_F32
                             ? rows <= 16
                             : rows <= 4 || (rows <= 8 && c->n * c->in < ((int64_t)1 << 22));
  return thin_wins && c->n * c->in < ((int64_t)1 << 23) && rows <= c->n && c->rank <= 64 &&
         c->in % vw == 0;
}

static void test_case(kt_env *env) {
  const lora_case *c = env->param;
  kx_use_fused(env, 1);
  lora_tensors t = make_inputs(env, c);
  int64_t os[3] = {c->lead[0], c->lead[1], 0};
  os[c->nlead] = c->n;
  kiln_tensor *fused = kt_tensor(env, env->dtype, c->nlead + 1, os);
  kiln_tensor *composite = kt_tensor(env, env->dtype, c->nlead + 1, os);
  kt_poison(env, fused);
  kt_poison(env, composite);

  KT_OK(env, kiln_lora_linear(env->ctx, t.x, t.w, t.bias, t.a, t.b, c->scale, fused));
  kx_use_fused(env, 0);
  KT_OK(env, kiln_lora_linear(env->ctx, t.x, t.w, t.bias, t.a, t.b, c->scale, composite));
  kx_use_fused(env, 1);

  const int64_t n = t.rows * c->n;
  double *spread = kt_alloc((size_t)t.rows * sizeof *spread);
  double *ref = reference(c, &t, spread);
  double *fv = kt_read(env, fused), *cv = kt_read(env, composite);
  /* The fused path rounds once; the composite also rounds x w^T + bias and
   * x a^T to the dtype, an error of u relative to each term (spread). */
  const double u = kx_unit(env->dtype);
  const double tol_f = kt_matmul_tol(env->dtype, c->in + c->rank);
  double *tol_1 = kt_alloc((size_t)t.rows * sizeof *tol_1);
  double *tol_c = kt_alloc((size_t)t.rows * sizeof *tol_c);
  double *tol_both = kt_alloc((size_t)t.rows * sizeof *tol_both);
  for (int64_t r = 0; r < t.rows; r++) {
    tol_1[r] = tol_f * (1.0 + spread[r]); /* the sums' own error scales with the terms */
    tol_c[r] = tol_1[r] + 4.0 * u * spread[r];
    tol_both[r] = tol_c[r] + tol_1[r];
  }
  const bool fused_is_composite =
      env->device == KILN_DEVICE_CUDA && !cuda_fuses(env, c, t.rows);
  kt_check_close(env, "fused out", fv, ref, n, c->n, fused_is_composite ? tol_c : tol_1, 0.0);
  kt_check_close(env, "composite out", cv, ref, n, c->n, tol_c, 0.0);
  kt_check_close(env, "composite against fused", cv, fv, n, c->n, tol_both, 0.0);
  kt_expect_same(env, "input x", t.x, t.xv);
  kt_expect_same(env, "input w", t.w, t.wv);
  kt_expect_same(env, "input a", t.a, t.av);
  kt_expect_same(env, "input b", t.b, t.bv);
}

/* A captured LoRA, fused and composite, reads its inputs' current values
 * on each replay and gives what the same call gives eagerly. */
static void test_graph_replay(kt_env *env) {
  static const lora_case c = {"graph", 1, {3}, 64, 40, 8, 1, 0.5f};
  const int64_t os[2] = {3, 40};
  for (int fused = 1; fused >= 0; fused--) {
    kx_use_fused(env, fused);
    lora_tensors t = make_inputs(env, &c);
    kiln_tensor *replayed = kt_tensor(env, env->dtype, 2, os);
    kiln_tensor *eager = kt_tensor(env, env->dtype, 2, os);
    kt_poison(env, replayed);
    KT_OK(env, kiln_graph_begin(env->ctx));
    KT_OK(env, kiln_lora_linear(env->ctx, t.x, t.w, t.bias, t.a, t.b, c.scale, replayed));
    kiln_graph *g = NULL;
    KT_OK(env, kiln_graph_end(env->ctx, &g));
    kt_track_graph(g);
    for (int round = 0; round < 2; round++) {
      kt_random(env, t.x, -2.0, 2.0);
      kt_random(env, t.b, -1.0, 1.0);
      KT_OK(env, kiln_graph_run(env->ctx, g));
      KT_OK(env, kiln_lora_linear(env->ctx, t.x, t.w, t.bias, t.a, t.b, c.scale, eager));
      kt_expect_same(env, fused ? "fused replay" : "composite replay", replayed,
                     kt_read(env, eager));
    }
  }
  kx_use_fused(env, 1);
}

int main(void) {
  for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++)
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
      kt_add(test_case, &cases[i], dtypes[d], "lora_%s_%s", kiln_dtype_name(dtypes[d]),
             cases[i].name);
  for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++)
    kt_add(test_graph_replay, NULL, dtypes[d], "lora_%s_graph_replay",
           kiln_dtype_name(dtypes[d]));
  lora_register_errors();
  return kt_run("lora");
}
