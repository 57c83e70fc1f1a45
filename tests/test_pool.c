/* kiln_mean_pool, fused and composite, against float64 and each other, in
 * the varlen and padded layouts, with and without the L2 step; the same
 * op captured in a graph and replayed; its NaN/inf and huge/tiny rules
 * (kiln.h); bad lengths found before writing (CPU, composite) or by the
 * kernel (GPU). The failing calls are in test_pool_errors.c. */
#include "harness_ops.h"
#include "tolerance.h"

#include <math.h>
#include <string.h>

void pool_register_errors(void);

static const kiln_dtype dtypes[] = {KILN_F32, KILN_F16, KILN_BF16};

typedef struct pool_case {
  const char *name;
  int padded;       /* x [B, S, H] (else varlen [T, H] with cu_seqlens) */
  int batch;
  int32_t lens[8];  /* each sequence's length */
  int64_t seq;      /* padded: S */
  int seqlens;      /* padded: pass seqlens (else every length is S) */
  int64_t h;
  int normalize;
  double lo, hi;    /* the inputs' range */
  int graph;        /* also captured in a graph and replayed */
} pool_case;

/* clang-format off */
static const pool_case cases[] = {
  /* name                    pad B  lens                      S   sl  H     nrm lo     hi     graph */
  {"varlen_h1",               0, 3, {3, 1, 5},                0,  0,  1,    1,  -1.0,  2.0,   0},
  {"varlen_h3_empty",         0, 3, {0, 3, 17},               0,  0,  3,    0,  -1.0,  1.0,   0},
  {"varlen_h3_empty_norm",    0, 4, {17, 0, 3, 0},            0,  0,  3,    1,  -1.0,  1.0,   0},
  {"varlen_h17_one_token",    0, 1, {1},                      0,  0,  17,   1,  -1.0,  1.0,   0},
  {"varlen_h384_bert",        0, 5, {1, 7, 128, 33, 256},     0,  0,  384,  1,  -1.0,  2.0,   1},
  {"varlen_h1000_long",       0, 2, {1000, 3},                0,  0,  1000, 0,  -1.0,  1.0,   0},
  {"varlen_h4099",            0, 2, {5, 2},                   0,  0,  4099, 1,  -1.0,  1.0,   0},
  {"varlen_h17_len4099",      0, 2, {4099, 17},               0,  0,  17,   1,  -1.0,  1.0,   0},
  {"varlen_h33_mean_1000",    0, 2, {999, 4},                 0,  0,  33,   1,  999.0, 1001.0, 0},
  {"padded_h384_seqlens",     1, 3, {17, 0, 5},               17, 1,  384,  1,  -1.0,  2.0,   1},
  {"padded_h3_full",          1, 2, {3, 3},                   3,  0,  3,    0,  -1.0,  1.0,   0},
  {"padded_h1000_seqlens",    1, 4, {1, 64, 0, 33},           64, 1,  1000, 0,  -1.0,  1.0,   0},
  {"padded_h17_full_norm",    1, 3, {17, 17, 17},             17, 0,  17,   1,  -1.0,  1.0,   0},
};
/* clang-format on */

/* x, its lengths tensor and out for a case; vals: what x holds (padding
 * rows NaN, so reading one would show). */
typedef struct pool_operands {
  kiln_tensor *x, *lengths;
  double *vals;
  int64_t rows; /* of x, as [rows, H] */
  int64_t start[8];
} pool_operands;

static pool_operands make_operands(kt_env *env, const pool_case *c) {
  pool_operands o = {0};
  int32_t len[9];
  int64_t total = 0;
  for (int b = 0; b < c->batch; b++) {
    o.start[b] = c->padded ? b * c->seq : total;
    total += c->lens[b];
  }
  if (c->padded) {
    const int64_t shape[3] = {c->batch, c->seq, c->h}, n = c->batch;
    o.x = kt_tensor(env, env->dtype, 3, shape);
    o.rows = c->batch * c->seq;
    for (int b = 0; b < c->batch; b++)
      len[b] = c->lens[b];
    o.lengths = c->seqlens ? kx_ids(env, 1, &n, len) : NULL;
  } else {
    const int64_t shape[2] = {total, c->h}, n = c->batch + 1;
    o.x = kt_tensor(env, env->dtype, 2, shape);
    o.rows = total;
    len[0] = 0;
    for (int b = 0; b < c->batch; b++)
      len[b + 1] = len[b] + c->lens[b];
    o.lengths = kx_ids(env, 1, &n, len);
  }
  o.vals = kt_random(env, o.x, c->lo, c->hi);
  if (c->padded) { /* padding: NaN */
    for (int b = 0; b < c->batch; b++)
      for (int64_t i = c->lens[b]; i < c->seq; i++)
        for (int64_t j = 0; j < c->h; j++)
          o.vals[(b * c->seq + i) * c->h + j] = NAN;
    kt_write(env, o.x, o.vals);
  }
  return o;
}

/* The float64 reference: means, then / their norm (a zero vector stays
 * zero). */
static double *reference(const pool_case *c, const pool_operands *o) {
  double *ref = kt_alloc((size_t)(c->batch * c->h) * sizeof *ref);
  for (int b = 0; b < c->batch; b++) {
    double *r = ref + b * c->h, sq = 0.0;
    for (int64_t j = 0; j < c->h; j++) {
      double s = 0.0;
      for (int64_t i = 0; i < c->lens[b]; i++)
        s += o->vals[(o->start[b] + i) * c->h + j];
      r[j] = c->lens[b] ? s / c->lens[b] : 0.0;
      sq += r[j] * r[j];
    }
    if (c->normalize && sq > 0.0)
      for (int64_t j = 0; j < c->h; j++)
        r[j] /= sqrt(sq);
  }
  return ref;
}

static kiln_tensor *make_out(kt_env *env, const pool_case *c) {
  const int64_t shape[2] = {c->batch, c->h};
  kiln_tensor *out = kt_tensor(env, env->dtype, 2, shape);
  kt_poison(env, out);
  return out;
}

static void test_pool(kt_env *env) {
  const pool_case *c = env->param;
  kx_use_fused(env, 1);
  pool_operands o = make_operands(env, c);
  kiln_tensor *outs[2];
  for (int k = 0; k < 2; k++) {
    outs[k] = make_out(env, c);
    kx_use_fused(env, k == 0);
    KT_OK(env, kiln_mean_pool(env->ctx, o.x, o.lengths, c->normalize, outs[k]));
  }
  kx_use_fused(env, 1);
  int32_t longest = 0;
  for (int b = 0; b < c->batch; b++)
    longest = c->lens[b] > longest ? c->lens[b] : longest;
  const double *ref = reference(c, &o);
  const int64_t n = c->batch * c->h;
  const double tol = kt_mean_pool_tol(env->dtype, longest, c->h);
  /* The composite rounds the mean to the dtype before normalizing. */
  const double tol_c = tol + (c->normalize ? 2.0 * kx_unit(env->dtype) : 0.0);
  double *o0 = kt_read(env, outs[0]), *o1 = kt_read(env, outs[1]);
  kt_check_close(env, "fused", o0, ref, n, c->h, NULL, tol);
  kt_check_close(env, "composite", o1, ref, n, c->h, NULL, tol_c);
  kt_check_close(env, "composite against fused", o1, o0, n, c->h, NULL, tol + tol_c);
  kt_expect_same(env, "input x", o.x, o.vals);
  if (!c->graph)
    return;
  /* Captured once, replayed twice on fresh inputs: the lengths are read
   * by the kernel, so a replay sees what the tensors hold then. */
  kiln_tensor *out = make_out(env, c);
  KT_OK(env, kiln_graph_begin(env->ctx));
  kiln_status s = kiln_mean_pool(env->ctx, o.x, o.lengths, c->normalize, out);
  kiln_graph *g = NULL;
  KT_OK(env, kiln_graph_end(env->ctx, &g));
  kt_track_graph(g);
  KT_OK(env, s);
  for (int rep = 0; rep < 2; rep++) {
    o.vals = kt_random(env, o.x, c->lo, c->hi);
    if (c->padded)
      for (int b = 0; b < c->batch; b++)
        for (int64_t i = (int64_t)c->lens[b] * c->h; i < c->seq * c->h; i++)
          o.vals[b * c->seq * c->h + i] = NAN;
    kt_write(env, o.x, o.vals);
    kt_poison(env, out);
    KT_OK(env, kiln_graph_run(env->ctx, g));
    kt_check_close(env, "graph replay", kt_read(env, out), reference(c, &o), n, c->h, NULL, tol);
  }
}

/* ------------------------------------------------------------ edges */

/* One varlen sequence of 3 rows over H = 5 columns, with special values
 * placed in it, both ways; exp: the expected out (NaN where NaN). */
static void expect_edge_ways(kt_env *env, const char *what, const double *rows, int normalize,
                             const double *exp, int ways) {
  const int64_t xs[2] = {3, 5}, cs = 2, os[2] = {1, 5};
  const int32_t cu[2] = {0, 3};
  kiln_tensor *x = kt_tensor(env, env->dtype, 2, xs), *len = kx_ids(env, 1, &cs, cu);
  double vals[15];
  memcpy(vals, rows, sizeof vals);
  kt_write(env, x, vals);
  for (int composite = 0; composite < ways; composite++) {
    kiln_tensor *out = kt_tensor(env, env->dtype, 2, os);
    kt_poison(env, out);
    kx_use_fused(env, !composite);
    kiln_status s = kiln_mean_pool(env->ctx, x, len, normalize, out);
    kx_use_fused(env, 1);
    KT_OK(env, s);
    const double *got = kt_read(env, out);
    for (int j = 0; j < 5; j++) {
      const bool ok = isnan(exp[j]) ? isnan(got[j])
                      : isinf(exp[j]) ? got[j] == exp[j]
                                      : fabs(got[j] - exp[j]) <= 4 * kx_unit(env->dtype) *
                                                                     (fabs(exp[j]) + 1e-300);
      if (!ok)
        KT_FAIL(env, "%s (%s, normalize %d): out[%d] is %g, expected %g", what,
                composite ? "composite" : "fused", normalize, j, got[j], exp[j]);
    }
  }
}

static void expect_edge(kt_env *env, const char *what, const double *rows, int normalize,
                        const double *exp) {
  expect_edge_ways(env, what, rows, normalize, exp, 2);
}

static void test_pool_edges(kt_env *env) {
  const double inf = INFINITY, nan = NAN;
  /* +inf in column 1: mean +inf; normalized NaN there, zeros elsewhere. */
  const double one_inf[15] = {1, 2, 3, 4, 5, 1, inf, 3, 4, 5, 1, 2, 3, 4, 5};
  expect_edge(env, "+inf", one_inf, 0, (double[]){1, inf, 3, 4, 5});
  expect_edge(env, "+inf", one_inf, 1, (double[]){0, nan, 0, 0, 0});
  /* +inf and -inf in one column: NaN; normalized, every element NaN. */
  const double both_inf[15] = {1, inf, 3, 4, 5, 1, -inf, 3, 4, 5, 1, 2, 3, 4, 5};
  expect_edge(env, "+inf and -inf", both_inf, 0, (double[]){1, nan, 3, 4, 5});
  expect_edge(env, "+inf and -inf", both_inf, 1, (double[]){nan, nan, nan, nan, nan});
  /* NaN: its column NaN; normalized, the row. */
  const double one_nan[15] = {1, 2, 3, 4, 5, 1, 2, nan, 4, 5, 1, 2, 3, 4, 5};
  expect_edge(env, "NaN", one_nan, 0, (double[]){1, 2, nan, 4, 5});
  expect_edge(env, "NaN", one_nan, 1, (double[]){nan, nan, nan, nan, nan});
  /* zeros stay zeros, normalized too (0 / 0 is 0). */
  const double zeros[15] = {0};
  expect_edge(env, "zeros", zeros, 1, (double[]){0, 0, 0, 0, 0});
  /* Huge and tiny means normalize to the same unit vector: f32 and bf16
   * hold 1e20 (squares overflow f32) and 1e-25 (squares underflow). The
   * composite's rms_norm has an eps (FLT_MIN) that swamps squares that
   * small (kiln.h), so tiny means are the fused kernel's alone. */
  if (env->dtype != KILN_F16) {
    const double unit[5] = {1 / sqrt(55.0), 2 / sqrt(55.0), 3 / sqrt(55.0), 4 / sqrt(55.0),
                            5 / sqrt(55.0)};
    double huge[15], tiny[15];
    for (int i = 0; i < 15; i++) {
      huge[i] = (double)(i % 5 + 1) * 1e20;
      tiny[i] = (double)(i % 5 + 1) * 1e-25;
    }
    expect_edge(env, "huge (1e20)", huge, 1, unit);
    expect_edge_ways(env, "tiny (1e-25)", tiny, 1, unit, 1);
  }
}

/* ------------------------------------------------------ bad lengths */

typedef struct pool_bad_lengths {
  const char *name;
  int padded;
  int32_t len[4]; /* varlen: cu_seqlens [4] over T = 12; padded: seqlens [3] with S = 4 */
  const char *needle;
} pool_bad_lengths;

static const pool_bad_lengths length_cases[] = {
    {"cu_first_not_0", 0, {1, 4, 8, 12}, "cu_seqlens[0]"},
    {"cu_decreasing", 0, {0, 8, 4, 12}, "cu_seqlens[2]"},
    {"cu_last_not_total", 0, {0, 4, 8, 11}, "cu_seqlens[3]"},
    {"cu_last_above_total", 0, {0, 4, 8, 13}, "cu_seqlens[3]"},
    {"seqlens_negative", 1, {4, -1, 2}, "seqlens[1]"},
    {"seqlens_above_s", 1, {4, 2, 5}, "seqlens[2]"},
};

/* On the CPU and in the composite the call fails before writing; on the
 * GPU the kernel finds it, writes nothing, and the next sync reports it. */
static void test_bad_lengths(kt_env *env) {
  const pool_bad_lengths *c = env->param;
  const int64_t xv[2] = {12, 8}, xp[3] = {3, 4, 8}, os[2] = {3, 8};
  const int64_t ln = c->padded ? 3 : 4;
  kiln_tensor *x = c->padded ? kt_tensor(env, env->dtype, 3, xp) : kt_tensor(env, env->dtype, 2, xv);
  kt_random(env, x, -1, 1);
  kiln_tensor *len = kx_ids(env, 1, &ln, c->len), *out = kt_tensor(env, env->dtype, 2, os);
  for (int composite = 0; composite < 2; composite++) {
    kx_use_fused(env, !composite);
    kt_snapshot snap = kt_fill_pattern(env, out);
    kiln_status s = kiln_mean_pool(env->ctx, x, len, 1, out);
    kx_use_fused(env, 1);
    if (env->device == KILN_DEVICE_CUDA && s == KILN_OK)
      s = kiln_sync(env->ctx); /* found by the kernel, reported here */
    const char *needles[] = {c->needle, NULL};
    kt_expect_error(env, s, KILN_ERR_INVALID_ARGUMENT, "kiln_mean_pool", NULL, needles);
    kt_expect_unchanged(env, &snap, "out");
  }
}

/* The composite reads the lengths on the host: a capture is refused. */
static void test_composite_capture(kt_env *env) {
  const int64_t xs[2] = {4, 8}, cs = 2, os[2] = {1, 8};
  const int32_t cu[2] = {0, 4};
  kiln_tensor *x = kt_tensor(env, env->dtype, 2, xs), *len = kx_ids(env, 1, &cs, cu);
  kiln_tensor *out = kt_tensor(env, env->dtype, 2, os);
  kt_random(env, x, -1, 1);
  kx_use_fused(env, 0);
  kiln_status begin = kiln_graph_begin(env->ctx);
  kiln_status s = KILN_OK;
  if (begin == KILN_OK) {
    s = kiln_mean_pool(env->ctx, x, len, 1, out);
    kiln_graph *g = NULL;
    KT_OK(env, kiln_graph_end(env->ctx, &g));
    kt_track_graph(g);
  }
  kx_use_fused(env, 1);
  KT_OK(env, begin);
  const char *needles[] = {"composite", "graph", NULL};
  kt_expect_error(env, s, KILN_ERR_UNSUPPORTED, "kiln_mean_pool", NULL, needles);
}

/* No sequences, or no columns: nothing to do, and fine. */
static void test_empty(kt_env *env) {
  const int64_t x0[2] = {0, 17}, c1 = 1, o0[2] = {0, 17}, xp[3] = {2, 3, 0}, op[2] = {2, 0};
  const int32_t cu[1] = {0};
  kiln_tensor *x = kt_tensor(env, env->dtype, 2, x0), *out = kt_tensor(env, env->dtype, 2, o0);
  KT_OK(env, kiln_mean_pool(env->ctx, x, kx_ids(env, 1, &c1, cu), 1, out));
  kiln_tensor *xpad = kt_tensor(env, env->dtype, 3, xp), *opad = kt_tensor(env, env->dtype, 2, op);
  KT_OK(env, kiln_mean_pool(env->ctx, xpad, NULL, 0, opad));
  KT_OK(env, kiln_sync(env->ctx));
}

int main(void) {
  for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
    const char *dt = kiln_dtype_name(dtypes[d]);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
      kt_add(test_pool, &cases[i], dtypes[d], "mean_pool_%s_%s", dt, cases[i].name);
    kt_add(test_pool_edges, NULL, dtypes[d], "mean_pool_%s_edges", dt);
    kt_add(test_empty, NULL, dtypes[d], "mean_pool_%s_empty", dt);
  }
  for (size_t i = 0; i < sizeof length_cases / sizeof length_cases[0]; i++)
    kt_add(test_bad_lengths, &length_cases[i], KILN_F32, "mean_pool_error_lengths_%s",
           length_cases[i].name);
  kt_add(test_composite_capture, NULL, KILN_BF16, "mean_pool_error_composite_capture");
  pool_register_errors();
  return kt_run("pool");
}
