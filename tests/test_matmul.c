/* kiln_matmul against a float64 reference: every case of kt_matmul_cases in
 * every dtype on every backend, plus plan-cache and TF32 checks. The
 * failing calls are in test_matmul_errors.c. */
#include "cases.h"
#include "harness.h"
#include "harness_ops.h"
#include "reference.h"
#include "tolerance.h"

#include <math.h>

void matmul_register_errors(void);

static const kiln_dtype dtypes[] = {KILN_F32, KILN_F16, KILN_BF16};

typedef struct operand_shapes {
  int nd_a, nd_b, nd_out;
  int64_t a[KILN_MAX_DIMS], b[KILN_MAX_DIMS], out[KILN_MAX_DIMS];
  ref_matmul_shape ref;
} operand_shapes;

/* a: batch + [M, K] ([K, M]); b: (batch +) [K, N] ([N, K]); out: batch + [M, N] */
static operand_shapes shapes_of(const kt_matmul_case *c) {
  operand_shapes s = {0};
  s.ref = (ref_matmul_shape){1, c->m, c->n, c->k, c->ta, c->tb, c->b_batched};
  for (int i = 0; i < c->nbatch; i++) {
    s.a[s.nd_a++] = s.out[s.nd_out++] = c->batch[i];
    if (c->b_batched)
      s.b[s.nd_b++] = c->batch[i];
    s.ref.batch *= c->batch[i];
  }
  s.a[s.nd_a++] = c->ta ? c->k : c->m;
  s.a[s.nd_a++] = c->ta ? c->m : c->k;
  s.b[s.nd_b++] = c->tb ? c->n : c->k;
  s.b[s.nd_b++] = c->tb ? c->k : c->n;
  s.out[s.nd_out++] = c->m;
  s.out[s.nd_out++] = c->n;
  return s;
}

/* The size of the terms behind out: sqrt(sum of their squares), the
 * largest over out's elements. A product whose terms cancel (a 1 x 1 x 17
 * dot product near zero) is still computed to the rounding of its terms,
 * so its error is measured against them, not against the tiny result.
 * For random inputs this is about max|ref| and changes nothing. */
static double term_scale(const operand_shapes *s, const double *av, const double *bv,
                         const double *cv, const double *biasv, double alpha, double beta,
                         int64_t na, int64_t nb, int64_t n) {
  double *a2 = kt_alloc((size_t)na * sizeof *a2), *b2 = kt_alloc((size_t)nb * sizeof *b2);
  double *c2 = cv ? kt_alloc((size_t)n * sizeof *c2) : NULL;
  double *bias2 = biasv ? kt_alloc((size_t)s->ref.n * sizeof *bias2) : NULL;
  for (int64_t i = 0; i < na; i++)
    a2[i] = av[i] * av[i];
  for (int64_t i = 0; i < nb; i++)
    b2[i] = bv[i] * bv[i];
  for (int64_t i = 0; c2 && i < n; i++)
    c2[i] = cv[i] * cv[i];
  for (int64_t i = 0; bias2 && i < s->ref.n; i++)
    bias2[i] = biasv[i] * biasv[i];
  double *sq = kt_alloc((size_t)n * sizeof *sq), scale = 0.0;
  ref_matmul(&s->ref, a2, b2, c2, bias2, alpha * alpha, beta * beta, sq);
  for (int64_t i = 0; i < n; i++)
    scale = fmax(scale, sqrt(sq[i]));
  return scale;
}

/* Runs one case with fresh inputs and checks out; returns nothing, fails
 * the test on any mismatch. */
static void run_case(kt_env *env, const kt_matmul_case *c, double tol) {
  operand_shapes s = shapes_of(c);
  kiln_tensor *a = kt_tensor(env, env->dtype, s.nd_a, s.a);
  kiln_tensor *b = kt_tensor(env, env->dtype, s.nd_b, s.b);
  kiln_tensor *out = kt_tensor(env, env->dtype, s.nd_out, s.out);
  kiln_tensor *bias = c->bias ? kt_tensor(env, env->dtype, 1, &c->n) : NULL;
  double *av = kt_random(env, a, -1.0, 1.0), *bv = kt_random(env, b, -1.0, 1.0);
  double *biasv = bias ? kt_random(env, bias, -1.0, 1.0) : NULL;
  /* beta == 0 must not read out: NaN there must not leak through. For
   * beta != 0 out holds real values that take part in the result. */
  double *cv = c->beta != 0.0f ? kt_random(env, out, -1.0, 1.0) : NULL;
  if (!cv)
    kt_poison(env, out);

  kiln_matmul_params p = {
      .transpose_a = c->ta, .transpose_b = c->tb, .alpha = c->alpha, .beta = c->beta, .bias = bias};
  KT_OK(env, kiln_matmul(env->ctx, a, b, out, c->p_null ? NULL : &p));

  int64_t n = kiln_tensor_numel(out);
  double *ref = kt_alloc((size_t)n * sizeof *ref);
  ref_matmul(&s.ref, av, bv, cv, biasv, c->alpha, c->beta, ref);
  double max_ref = 0.0;
  for (int64_t i = 0; i < n; i++)
    max_ref = fmax(max_ref, fabs(ref[i]));
  const double terms = term_scale(&s, av, bv, cv, biasv, c->alpha, c->beta,
                                  kiln_tensor_numel(a), kiln_tensor_numel(b), n);
  const double row_tol = max_ref > 0.0 && terms > max_ref ? tol * terms / max_ref : tol;
  kt_check_close(env, "out", kt_read(env, out), ref, n, n, &row_tol, tol);
  kt_expect_same(env, "input a", a, av);
  kt_expect_same(env, "input b", b, bv);
}

static void test_case(kt_env *env) {
  kt_matmul_case c = *(const kt_matmul_case *)env->param;
  if (kt_quick())
    c = kt_matmul_case_quick(c);
  run_case(env, &c, kt_matmul_tol(env->dtype, c.k));
}

/* Plans are cached by shape, dtype and layout: a shape seen before, with
 * another in between, must still give right results with new data. */
static void test_plan_cache(kt_env *env) {
  static const kt_matmul_case seq[] = {
      {"first", 0, {0}, 33, 20, 47, 0, 1, 0, 1.0f, 0.0f, 1, 0},
      {"other", 1, {2}, 20, 33, 47, 1, 0, 1, 1.0f, 0.0f, 0, 0},
      {"first_again", 0, {0}, 33, 20, 47, 0, 1, 0, 1.0f, 0.0f, 1, 0},
      {"same_shape_no_bias", 0, {0}, 33, 20, 47, 0, 1, 0, 1.0f, 0.0f, 0, 0},
      {"same_shape_beta", 0, {0}, 33, 20, 47, 0, 1, 0, 1.0f, 2.0f, 1, 0},
  };
  for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++)
    run_case(env, &seq[i], kt_matmul_tol(env->dtype, seq[i].k));
}

/* TF32 trades f32 precision for speed on the GPU (the CPU ignores it).
 * With it on, f32 error may grow to about 2^-11; switched off again, the
 * strict f32 tolerance must hold, so a cached TF32 plan must not be
 * reused. */
static void test_tf32_toggle(kt_env *env) {
  const kt_matmul_case c = {"tf32", 0, {0}, 64, 48, 300, 0, 0, 0, 1.0f, 0.0f, 0, 1};
  env->ctx = kt_context(env); /* a failure half-way must not leave TF32 on for others */
  KT_OK(env, kiln_context_allow_tf32(env->ctx, 1));
  run_case(env, &c, kt_matmul_tf32_tol(c.k));
  KT_OK(env, kiln_context_allow_tf32(env->ctx, 0));
  run_case(env, &c, kt_matmul_tol(KILN_F32, c.k));
}

/* An out never written before (not poisoned: fresh from kiln_tensor_create)
 * that the next op's kernel reads. Under compute-sanitizer's initcheck
 * (scripts/gpu_check.sh) every element the matmul wrote must count as
 * written, whichever kernel wrote it: on the H200, cuBLASLt's 16-bit
 * kernels store in a way initcheck does not see, so cuda_matmul.cu marks
 * their output through NVTX; without that this test's kiln_add reads
 * "uninitialized" memory. 300 x 72 x 100 takes cuBLASLt on the GPU in every
 * dtype (past the small kernel's 2^21 products, too many rows for the thin
 * ones); 30 x 72 x 100 takes kiln's own small kernel. */
static void test_fresh_out_read_by_next_op(kt_env *env) {
  static const int64_t ms[] = {300, 30};
  const int64_t n = 72, k = 100;
  for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
    const int64_t m = ms[i], sa[2] = {m, k}, sb[2] = {n, k}, so[2] = {m, n};
    kiln_tensor *a = kt_tensor(env, env->dtype, 2, sa), *b = kt_tensor(env, env->dtype, 2, sb);
    kiln_tensor *bias = kt_tensor(env, env->dtype, 1, &n);
    kiln_tensor *out = kt_tensor(env, env->dtype, 2, so), *twice = kt_tensor(env, env->dtype, 2, so);
    double *av = kt_random(env, a, -1.0, 1.0), *bv = kt_random(env, b, -1.0, 1.0);
    double *biasv = kt_random(env, bias, -1.0, 1.0);
    kt_poison(env, twice);
    const kiln_matmul_params p = {.transpose_b = 1, .alpha = 1.0f, .beta = 0.0f, .bias = bias};
    KT_OK(env, kiln_matmul(env->ctx, a, b, out, &p));
    KT_OK(env, kiln_add(env->ctx, out, out, twice));
    double *ref = kt_alloc((size_t)(m * n) * sizeof *ref);
    const ref_matmul_shape rs = {1, m, n, k, false, true, false};
    ref_matmul(&rs, av, bv, NULL, biasv, 1.0, 0.0, ref);
    double *got = kt_read(env, out), *got2 = kt_read(env, twice);
    kt_check_close(env, "out", got, ref, m * n, n, NULL, kt_matmul_tol(env->dtype, k));
    for (int64_t j = 0; j < m * n; j++) /* doubling is exact in every dtype */
      if (got2[j] != 2.0 * got[j])
        KT_FAIL(env, "m %lld: out + out [%lld] is %g, expected %g", (long long)m, (long long)j,
                got2[j], 2.0 * got[j]);
  }
}

/* The activation epilogue: act(product) against float64, fused (where the
 * backend fuses it) and composite (the product rounded, then kiln_gelu),
 * and the two against each other. The shapes take each CPU path: one row
 * (GEMV), few rows against a [N, K] weight, rows or columns split over
 * threads, batches with b batched, a transposed a, k = 0 (out = act(beta *
 * out + bias)); in 16-bit, the few-row and the tiled paths. */
typedef struct act_case {
  kt_matmul_case c;
  kiln_activation act;
} act_case;

static const act_case act_cases[] = {
    {{"gelu_1x1x17", 0, {0}, 1, 1, 17, 0, 1, 0, 1.0f, 0.0f, 1, 0}, KILN_ACTIVATION_GELU},
    {{"gelu_3x1000x17", 0, {0}, 3, 1000, 17, 0, 1, 0, 1.0f, 0.0f, 1, 0}, KILN_ACTIVATION_GELU},
    {{"gelu_tanh_17x257x33_beta", 0, {0}, 17, 257, 33, 0, 0, 0, 0.5f, 0.75f, 0, 0},
     KILN_ACTIVATION_GELU_TANH},
    {{"gelu_257x1000x40", 0, {0}, 257, 1000, 40, 0, 1, 0, 1.0f, 0.0f, 1, 0},
     KILN_ACTIVATION_GELU},
    {{"gelu_tanh_33x4099x7", 0, {0}, 33, 4099, 7, 0, 0, 0, 1.0f, 0.0f, 1, 0},
     KILN_ACTIVATION_GELU_TANH},
    {{"gelu_3x17x33x19_b_batched", 1, {3}, 17, 33, 19, 0, 1, 1, 1.0f, 0.0f, 1, 0},
     KILN_ACTIVATION_GELU},
    {{"gelu_ta_64x48x300", 0, {0}, 64, 48, 300, 1, 0, 0, 1.0f, 0.0f, 1, 0}, KILN_ACTIVATION_GELU},
    {{"gelu_k0_5x9", 0, {0}, 5, 9, 0, 0, 1, 0, 1.0f, 1.0f, 1, 0}, KILN_ACTIVATION_GELU},
};

static double act_ref(kiln_activation act, double x) {
  if (act == KILN_ACTIVATION_GELU)
    return 0.5 * x * erfc(-x / sqrt(2.0)); /* 1 + erf cancels in the tail */
  return 0.5 * x * (1.0 + tanh(sqrt(2.0 / acos(-1.0)) * (x + 0.044715 * x * x * x)));
}

/* kiln_matmul with c's activation into out, fused or composite. */
static double *run_act(kt_env *env, const act_case *ac, int fused, const kiln_tensor *a,
                       const kiln_tensor *b, const kiln_tensor *bias, kiln_tensor *out) {
  const kiln_matmul_params p = {.transpose_a = ac->c.ta, .transpose_b = ac->c.tb,
                                .alpha = ac->c.alpha, .beta = ac->c.beta, .bias = bias,
                                .activation = ac->act};
  kx_use_fused(env, fused);
  const kiln_status st = kiln_matmul(env->ctx, a, b, out, &p);
  kx_use_fused(env, 1);
  KT_OK(env, st);
  return kt_read(env, out);
}

static void test_activation(kt_env *env) {
  const act_case *ac = env->param;
  const kt_matmul_case *c = &ac->c;
  kx_use_fused(env, 1);
  operand_shapes s = shapes_of(c);
  kiln_tensor *a = kt_tensor(env, env->dtype, s.nd_a, s.a);
  kiln_tensor *b = kt_tensor(env, env->dtype, s.nd_b, s.b);
  kiln_tensor *bias = c->bias ? kt_tensor(env, env->dtype, 1, &c->n) : NULL;
  kiln_tensor *fused = kt_tensor(env, env->dtype, s.nd_out, s.out);
  kiln_tensor *composite = kt_tensor(env, env->dtype, s.nd_out, s.out);
  double *av = kt_random(env, a, -1.0, 1.0), *bv = kt_random(env, b, -1.0, 1.0);
  double *biasv = bias ? kt_random(env, bias, -1.0, 1.0) : NULL;
  double *cv = NULL;
  if (c->beta != 0.0f) { /* the same starting out for both runs */
    cv = kt_random(env, fused, -1.0, 1.0);
    KT_OK(env, kiln_tensor_write(composite, kiln_tensor_data(fused), kiln_tensor_nbytes(fused)));
  } else {
    kt_poison(env, fused);
    kt_poison(env, composite);
  }
  double *got_f = run_act(env, ac, 1, a, b, bias, fused);
  double *got_c = run_act(env, ac, 0, a, b, bias, composite);

  const int64_t n = kiln_tensor_numel(fused);
  double *prod = kt_alloc((size_t)n * sizeof *prod), *ref = kt_alloc((size_t)n * sizeof *ref);
  ref_matmul(&s.ref, av, bv, cv, biasv, c->alpha, c->beta, prod);
  double max_prod = 0.0, max_ref = 1e-30;
  for (int64_t i = 0; i < n; i++) {
    ref[i] = act_ref(ac->act, prod[i]);
    max_prod = fmax(max_prod, fabs(prod[i]));
    max_ref = fmax(max_ref, fabs(ref[i]));
  }
  const double terms = fmax(max_prod, term_scale(&s, av, bv, cv, biasv, c->alpha, c->beta,
                                                 kiln_tensor_numel(a), kiln_tensor_numel(b), n));
  /* GELU's slope is at most 1.13: the product's error passes through
   * nearly as it is; then GELU's own f32 error and the rounding to the
   * dtype. The composite also rounds the product to the dtype first. */
  const double unit = kx_unit(env->dtype);
  const double fused_tol =
      (1.13 * kt_matmul_tol(env->dtype, c->k > 0 ? c->k : 1) * terms) / max_ref + 4.0 * unit +
      128 * 0x1p-24;
  const double composite_tol = fused_tol + 1.13 * unit * max_prod / max_ref;
  kt_check_close(env, "out (fused)", got_f, ref, n, n, NULL, fused_tol);
  kt_check_close(env, "out (composite)", got_c, ref, n, n, NULL, composite_tol);
  kt_check_close(env, "fused against composite", got_f, got_c, n, n, NULL,
                 1.13 * unit * max_prod / max_ref + 4.0 * unit + 128 * 0x1p-24);
  kt_expect_same(env, "input a", a, av);
  kt_expect_same(env, "input b", b, bv);
}

int main(void) {
  for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
    const char *dt = kiln_dtype_name(dtypes[d]);
    for (size_t i = 0; i < kt_matmul_case_count; i++)
      kt_add(test_case, &kt_matmul_cases[i], dtypes[d], "matmul_%s_%s", dt,
             kt_matmul_cases[i].name);
    for (size_t i = 0; i < sizeof act_cases / sizeof act_cases[0]; i++)
      kt_add(test_activation, &act_cases[i], dtypes[d], "matmul_%s_act_%s", dt,
             act_cases[i].c.name);
    kt_add(test_plan_cache, NULL, dtypes[d], "matmul_%s_plan_cache", dt);
    kt_add(test_fresh_out_read_by_next_op, NULL, dtypes[d], "matmul_%s_fresh_out_read_by_next_op",
           dt);
  }
  kt_add(test_tf32_toggle, NULL, KILN_F32, "matmul_f32_tf32_toggle");
  matmul_register_errors();
  return kt_run("matmul");
}
