/* Graph capture and replay: a captured chain runs only when replayed, reads
 * the tensors' current contents on every replay, and capture refuses the
 * calls kiln.h says it refuses. */
#include "harness.h"
#include "reference.h"
#include "tolerance.h"

#include <math.h>
#include <string.h>

static const kiln_dtype dtypes[] = {KILN_F32, KILN_F16, KILN_BF16};

/* y = x @ w; s = softmax(0.5 * y); r = rms_norm(s, g): three ops whose
 * inputs are each other's outputs, so replaying them out of order, or
 * only some of them, shows up. */
enum { M = 5, K = 33, N = 17 };
static const float SCALE = 0.5f, EPS = 1e-5f;

typedef struct chain {
  kiln_tensor *x, *w, *g, *y, *s, *r;
} chain;

static chain make_chain(kt_env *env) {
  const int64_t xs[2] = {M, K}, ws[2] = {K, N}, ys[2] = {M, N}, gs[1] = {N};
  chain c = {
      kt_tensor(env, env->dtype, 2, xs), kt_tensor(env, env->dtype, 2, ws),
      kt_tensor(env, env->dtype, 1, gs), kt_tensor(env, env->dtype, 2, ys),
      kt_tensor(env, env->dtype, 2, ys), kt_tensor(env, env->dtype, 2, ys),
  };
  return c;
}

static void capture_chain(kt_env *env, const chain *c) {
  const kiln_softmax_params sp = {.scale = SCALE};
  KT_OK(env, kiln_matmul(env->ctx, c->x, c->w, c->y, NULL));
  KT_OK(env, kiln_softmax(env->ctx, c->y, c->s, &sp));
  KT_OK(env, kiln_rms_norm(env->ctx, c->s, c->g, EPS, c->r));
}

/* Each stage against the reference computed from the stage's actual input
 * (the library's own, dtype-rounded, previous output), so rounding of the
 * intermediates is not mistaken for an error. */
static void check_chain(kt_env *env, const chain *c, const double *xv, const double *wv,
                        const double *gv) {
  double *y = kt_read(env, c->y), *s = kt_read(env, c->s), *r = kt_read(env, c->r);
  double ref[M * N];
  const ref_matmul_shape mm = {1, M, N, K, false, false, false};
  ref_matmul(&mm, xv, wv, NULL, NULL, 1.0, 0.0, ref);
  kt_check_close(env, "y = x @ w", y, ref, M * N, M * N, NULL, kt_matmul_tol(env->dtype, K));
  double big = 0.0; /* the largest |scale * y|, for the softmax tolerance */
  for (int i = 0; i < M * N; i++)
    big = fabs(SCALE * y[i]) > big ? fabs(SCALE * y[i]) : big;
  const ref_softmax_shape ss = {M, N, 0, NULL, M};
  ref_softmax(&ss, y, SCALE, ref);
  kt_check_close(env, "s = softmax(y)", s, ref, M * N, N, NULL,
                 kt_softmax_tol(env->dtype, N, big));
  ref_rms_norm(s, gv, M, N, EPS, ref);
  kt_check_close(env, "r = rms_norm(s)", r, ref, M * N, N, NULL, kt_rms_norm_tol(env->dtype, N));
}

static void expect_poison(kt_env *env, const kiln_tensor *t, const char *what) {
  double *v = kt_read(env, t);
  for (int64_t i = 0; i < kiln_tensor_numel(t); i++)
    if (v[i] == v[i])
      KT_FAIL(env, "%s was written during capture (element %lld is %g): ops must wait for "
                   "kiln_graph_run", what, (long long)i, v[i]);
}

static void test_chain_replay(kt_env *env) {
  chain c = make_chain(env);
  double *xv = kt_random(env, c.x, -1, 1), *wv = kt_random(env, c.w, -1, 1);
  double *gv = kt_random(env, c.g, -1.5, 1.5);
  kt_poison(env, c.y);
  kt_poison(env, c.s);
  kt_poison(env, c.r);

  KT_OK(env, kiln_graph_begin(env->ctx));
  capture_chain(env, &c);
  kiln_graph *g = NULL;
  KT_OK(env, kiln_graph_end(env->ctx, &g));
  kt_track_graph(g);
  assert_non_null(g);
  expect_poison(env, c.y, "y");
  expect_poison(env, c.s, "s");
  expect_poison(env, c.r, "r");

  KT_OK(env, kiln_graph_run(env->ctx, g));
  check_chain(env, &c, xv, wv, gv);

  /* New inputs, same graph: the replay must read them. */
  for (int round = 0; round < 2; round++) {
    xv = kt_random(env, c.x, -2, 2);
    wv = kt_random(env, c.w, -1, 1);
    gv = kt_random(env, c.g, -1, 1);
    KT_OK(env, kiln_graph_run(env->ctx, g));
    KT_OK(env, kiln_sync(env->ctx));
    check_chain(env, &c, xv, wv, gv);
  }
}

/* out = a @ b + 1 * out, replayed three times: each replay reads the out
 * the previous one left. */
static void test_accumulating_replay(kt_env *env) {
  const int64_t as[2] = {7, 19}, bs[2] = {19, 3}, os[2] = {7, 3};
  kiln_tensor *a = kt_tensor(env, env->dtype, 2, as), *b = kt_tensor(env, env->dtype, 2, bs);
  kiln_tensor *out = kt_tensor(env, env->dtype, 2, os);
  double *av = kt_random(env, a, -1, 1), *bv = kt_random(env, b, -1, 1);
  double *ov = kt_random(env, out, -1, 1);
  const kiln_matmul_params p = {.alpha = 1.0f, .beta = 1.0f};

  KT_OK(env, kiln_graph_begin(env->ctx));
  KT_OK(env, kiln_matmul(env->ctx, a, b, out, &p));
  kiln_graph *g = NULL;
  KT_OK(env, kiln_graph_end(env->ctx, &g));
  kt_track_graph(g);

  const ref_matmul_shape mm = {1, 7, 3, 19, false, false, false};
  double ref[7 * 3];
  for (int run = 0; run < 3; run++) {
    KT_OK(env, kiln_graph_run(env->ctx, g));
    ref_matmul(&mm, av, bv, ov, NULL, 1.0, 1.0, ref);
    double *now = kt_read(env, out);
    kt_check_close(env, "out after a replay", now, ref, 21, 21, NULL,
                   kt_matmul_tol(env->dtype, 19));
    ov = now;
  }
}

/* Between begin and end: create, write, read and sync fail with
 * KILN_ERR_INVALID_ARGUMENT and change nothing; so do a nested begin and a
 * replay. After end everything works again. */
static void test_refused_during_capture(kt_env *env) {
  const int64_t n = 9;
  kiln_tensor *t = kt_tensor(env, env->dtype, 1, &n);
  kt_snapshot snap = kt_fill_pattern(env, t);
  unsigned char buf[9 * 4], guard[9 * 4];
  memset(buf, 0x3c, sizeof buf);
  memcpy(guard, buf, sizeof buf);
  kiln_graph *empty = NULL;
  KT_OK(env, kiln_graph_begin(env->ctx));
  KT_OK(env, kiln_graph_end(env->ctx, &empty));
  kt_track_graph(empty);

  KT_OK(env, kiln_graph_begin(env->ctx));
  kiln_tensor *made = (kiln_tensor *)&made;
  kiln_status s = kiln_tensor_create(env->ctx, env->dtype, 1, &n, &made);
  kiln_tensor *left = made;
  if (s == KILN_OK)
    kiln_tensor_destroy(made);
  kt_expect_error(env, s, KILN_ERR_INVALID_ARGUMENT, "kiln_tensor_create", NULL, NULL);
  if (left)
    KT_FAIL(env, "a kiln_tensor_create refused during capture left *out non-NULL");
  kt_expect_error(env, kiln_tensor_write(t, buf, snap.nbytes), KILN_ERR_INVALID_ARGUMENT,
                  "kiln_tensor_write", NULL, NULL);
  kt_expect_error(env, kiln_tensor_read(t, buf, snap.nbytes), KILN_ERR_INVALID_ARGUMENT,
                  "kiln_tensor_read", NULL, NULL);
  if (memcmp(buf, guard, snap.nbytes) != 0)
    KT_FAIL(env, "kiln_tensor_read refused during capture wrote to dst");
  kt_expect_error(env, kiln_sync(env->ctx), KILN_ERR_INVALID_ARGUMENT, "kiln_sync", NULL, NULL);
  kt_expect_error(env, kiln_graph_begin(env->ctx), KILN_ERR_INVALID_ARGUMENT, "kiln_graph_begin",
                  NULL, NULL);
  kt_expect_error(env, kiln_graph_run(env->ctx, empty), KILN_ERR_INVALID_ARGUMENT,
                  "kiln_graph_run", NULL, NULL);
  kiln_graph *g = NULL;
  KT_OK(env, kiln_graph_end(env->ctx, &g));
  kt_track_graph(g);

  kt_expect_unchanged(env, &snap, "a tensor written during capture");
  KT_OK(env, kiln_sync(env->ctx));
  kt_random(env, kt_tensor(env, env->dtype, 1, &n), -1, 1);
  KT_OK(env, kiln_graph_run(env->ctx, g)); /* recorded nothing: runs nothing */
  KT_OK(env, kiln_graph_run(env->ctx, empty));
}

/* An op that fails while capturing is not recorded; capture goes on. */
static void test_failed_op_not_recorded(kt_env *env) {
  const int64_t as[2] = {4, 6}, bad_b[2] = {5, 3}, os[2] = {4, 3}, xs[2] = {3, 17};
  kiln_tensor *a = kt_tensor(env, env->dtype, 2, as), *b = kt_tensor(env, env->dtype, 2, bad_b);
  kiln_tensor *out = kt_tensor(env, env->dtype, 2, os);
  kiln_tensor *x = kt_tensor(env, env->dtype, 2, xs), *sm = kt_tensor(env, env->dtype, 2, xs);
  kt_random(env, a, -1, 1);
  kt_random(env, b, -1, 1);
  kt_snapshot out_snap = kt_fill_pattern(env, out);
  double *xv = kt_random(env, x, -3, 3);
  kt_poison(env, sm);

  KT_OK(env, kiln_graph_begin(env->ctx));
  kt_expect_error(env, kiln_matmul(env->ctx, a, b, out, NULL), KILN_ERR_SHAPE, "kiln_matmul",
                  NULL, NULL);
  KT_OK(env, kiln_softmax(env->ctx, x, sm, NULL));
  kiln_graph *g = NULL;
  KT_OK(env, kiln_graph_end(env->ctx, &g));
  kt_track_graph(g);
  KT_OK(env, kiln_graph_run(env->ctx, g));

  double ref[3 * 17];
  const ref_softmax_shape ss = {3, 17, 0, NULL, 3};
  ref_softmax(&ss, xv, 1.0, ref);
  kt_check_close(env, "softmax recorded after a failed op", kt_read(env, sm), ref, 51, 17, NULL,
                 kt_softmax_tol(env->dtype, 17, 3.0));
  kt_expect_unchanged(env, &out_snap, "the failed matmul's out");
}

/* A graph belongs to the context it was captured on. */
static void test_graph_of_another_context(kt_env *env) {
  kiln_context *other = kt_context(env);
  const int64_t xs[2] = {2, 17};
  kiln_tensor *x = kt_tensor_on(env, other, env->dtype, 2, xs);
  kiln_tensor *out = kt_tensor_on(env, other, env->dtype, 2, xs);
  double *xv = kt_random(env, x, -1, 1);
  kt_snapshot snap = kt_fill_pattern(env, out);
  KT_OK(env, kiln_graph_begin(other));
  KT_OK(env, kiln_softmax(other, x, out, NULL));
  kiln_graph *g = NULL;
  KT_OK(env, kiln_graph_end(other, &g));
  kt_track_graph(g);

  kt_expect_error(env, kiln_graph_run(env->ctx, g), KILN_ERR_DEVICE, "kiln_graph_run", "graph",
                  NULL);
  KT_OK(env, kiln_sync(env->ctx));
  kt_expect_unchanged(env, &snap, "out of a graph run on the wrong context");
  KT_OK(env, kiln_graph_run(other, g));
  double ref[2 * 17];
  const ref_softmax_shape ss = {2, 17, 0, NULL, 2};
  ref_softmax(&ss, xv, 1.0, ref);
  kt_check_close(env, "the graph on its own context", kt_read(env, out), ref, 34, 17, NULL,
                 kt_softmax_tol(env->dtype, 17, 1.0));
}

static void test_bad_graph_calls(kt_env *env) {
  kiln_graph *g = (kiln_graph *)&g;
  kt_expect_error(env, kiln_graph_end(env->ctx, &g), KILN_ERR_INVALID_ARGUMENT,
                  "kiln_graph_end", NULL, NULL);
  if (g)
    KT_FAIL(env, "kiln_graph_end without kiln_graph_begin left *graph non-NULL");
  kt_expect_error(env, kiln_graph_begin(NULL), KILN_ERR_INVALID_ARGUMENT, "kiln_graph_begin",
                  "ctx", NULL);
  g = (kiln_graph *)&g;
  kt_expect_error(env, kiln_graph_end(NULL, &g), KILN_ERR_INVALID_ARGUMENT, "kiln_graph_end",
                  "ctx", NULL);
  if (g)
    KT_FAIL(env, "kiln_graph_end(NULL, ...) left *graph non-NULL");
  kt_expect_error(env, kiln_graph_end(env->ctx, NULL), KILN_ERR_INVALID_ARGUMENT,
                  "kiln_graph_end", "graph", NULL);
  kt_expect_error(env, kiln_graph_run(env->ctx, NULL), KILN_ERR_INVALID_ARGUMENT,
                  "kiln_graph_run", "graph", NULL);

  KT_OK(env, kiln_graph_begin(env->ctx));
  kiln_graph *empty = NULL;
  KT_OK(env, kiln_graph_end(env->ctx, &empty));
  kt_track_graph(empty);
  kt_expect_error(env, kiln_graph_run(NULL, empty), KILN_ERR_INVALID_ARGUMENT, "kiln_graph_run",
                  "ctx", NULL);
  kiln_graph_destroy(NULL); /* fine */
}

/* Destroying a context with a capture still open frees it (valgrind runs
 * check that nothing leaks). */
static void test_destroy_while_capturing(kt_env *env) {
  kiln_context *ctx = NULL;
  KT_OK(env, kiln_context_create(env->device, 0, &ctx));
  kiln_status s = kiln_graph_begin(ctx);
  kiln_context_destroy(ctx);
  KT_OK(env, s);
}

int main(void) {
  for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
    const char *dt = kiln_dtype_name(dtypes[d]);
    kt_add(test_chain_replay, NULL, dtypes[d], "graph_%s_matmul_softmax_rms_norm_replay", dt);
    kt_add(test_accumulating_replay, NULL, dtypes[d], "graph_%s_accumulating_replay", dt);
  }
  kt_add(test_refused_during_capture, NULL, KILN_F32, "graph_refused_during_capture");
  kt_add(test_failed_op_not_recorded, NULL, KILN_F32, "graph_failed_op_not_recorded");
  kt_add(test_graph_of_another_context, NULL, KILN_F32, "graph_of_another_context");
  kt_add(test_bad_graph_calls, NULL, KILN_F32, "graph_bad_calls");
  kt_add(test_destroy_while_capturing, NULL, KILN_F32, "graph_destroy_while_capturing");
  return kt_run("graph");
}
