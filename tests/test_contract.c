/* Contract bugs of issue #9 item 3, on every backend: add_rms_norm's
 * overlap rules, rope's last position, empty tensors whose other dims
 * multiply past INT64_MAX (UB that the sanitizer build catches), and what a
 * failed graph replay leaves and how it is reported. */
#include "harness.h"
#include "reference.h"
#include "tolerance.h"

#include <math.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------- add_rms_norm overlaps */

enum { ROWS = 4, COLS = 8, POOL = 256 };
enum { APART = -1, SAME_AS_X = -2, SAME_AS_RES = -3 };

/* Where x, residual and h_out lie in one pool of POOL floats (element
 * offsets), or which tensor h_out (and residual) is. */
typedef struct overlap_case {
  const char *name;
  int x, res; /* res may be SAME_AS_X: the x tensor itself */
  int h;      /* an offset, SAME_AS_X or SAME_AS_RES */
  bool ok;
  const char *other; /* the input named with h_out when refused */
} overlap_case;

static const overlap_case overlap_cases[] = {
    {"h_is_x_res_apart", 0, 64, SAME_AS_X, true, NULL},
    {"h_is_res_x_apart", 0, 64, SAME_AS_RES, true, NULL},
    {"h_is_x_is_res", 0, SAME_AS_X, SAME_AS_X, true, NULL},
    {"all_apart", 0, 64, 128, true, NULL},
    {"inputs_overlap_h_apart", 0, 4, 128, true, NULL}, /* both only read */
    {"h_is_x_res_overlaps_it", 0, 4, SAME_AS_X, false, "residual"},
    {"h_is_x_res_overlaps_it_below", 4, 0, SAME_AS_X, false, "residual"},
    {"h_is_res_x_overlaps_it", 4, 0, SAME_AS_RES, false, "x"},
    {"h_is_res_x_overlaps_it_above", 0, 4, SAME_AS_RES, false, "x"},
    {"h_overlaps_x", 0, 64, 4, false, "x"},
    {"h_overlaps_res", 0, 64, 68, false, "residual"},
    {"h_overlaps_both", 0, 16, 8, false, "x"},
    {"h_is_x_res_same_memory_other_tensor", 0, 0, SAME_AS_X, false, "residual"},
};

/* The same overlap rules for kiln_add_rms_norm (layer = false) and
 * kiln_add_layer_norm (layer = true, without weight and bias). */
static void run_add_norm_overlap(kt_env *env, bool layer) {
  const overlap_case *c = env->param;
  const char *fn = layer ? "kiln_add_layer_norm" : "kiln_add_rms_norm";
  const int64_t pool_n = POOL, shape[2] = {ROWS, COLS}, wn = COLS;
  kiln_tensor *pool = kt_tensor(env, KILN_F32, 1, &pool_n);
  double *pv = kt_random(env, pool, -2, 2);
  kiln_tensor *weight = kt_tensor(env, KILN_F32, 1, &wn);
  double *wv = kt_random(env, weight, 0.5, 1.5);
  kiln_tensor *out = kt_tensor(env, KILN_F32, 2, shape);
  float *base = kiln_tensor_data(pool);
  kiln_tensor *views[3] = {NULL, NULL, NULL};
  const int offsets[3] = {c->x, c->res, c->h};
  for (int i = 0; i < 3; i++)
    if (offsets[i] >= 0) {
      KT_OK(env, kiln_tensor_wrap(env->ctx, KILN_F32, 2, shape, base + offsets[i], &views[i]));
      kt_track_tensor(views[i]);
    }
  kiln_tensor *x = views[0];
  kiln_tensor *res = c->res == SAME_AS_X ? x : views[1];
  kiln_tensor *h = c->h == SAME_AS_X ? x : c->h == SAME_AS_RES ? res : views[2];

  const double *xv = pv + c->x, *rv = c->res == SAME_AS_X ? xv : pv + c->res;
  double hv[ROWS * COLS], ref[ROWS * COLS];
  for (int i = 0; i < ROWS * COLS; i++)
    hv[i] = (double)((float)xv[i] + (float)rv[i]); /* h rounded to f32 */
  kt_snapshot po = kt_fill_pattern(env, out);
  kiln_status s = layer ? kiln_add_layer_norm(env->ctx, x, res, NULL, NULL, 1e-6f, h, out)
                        : kiln_add_rms_norm(env->ctx, x, res, weight, 1e-6f, h, out);
  if (!c->ok) {
    const char *needles[] = {c->other, NULL};
    kt_expect_error(env, s, KILN_ERR_INVALID_ARGUMENT, fn, "h_out", needles);
    kt_expect_same(env, "the pool", pool, pv);
    kt_expect_unchanged(env, &po, "out");
    return;
  }
  KT_OK(env, s);
  if (layer)
    ref_layer_norm(hv, NULL, NULL, ROWS, COLS, 1e-6, ref);
  else
    ref_rms_norm(hv, wv, ROWS, COLS, 1e-6, ref);
  kt_check_close(env, "h_out", kt_read(env, h), hv, ROWS * COLS, COLS, NULL, 0x1p-23);
  kt_check_close(env, "out", kt_read(env, out), ref, ROWS * COLS, COLS, NULL,
                 kt_rms_norm_tol(KILN_F32, COLS));
}

static void test_add_rms_norm_overlap(kt_env *env) { run_add_norm_overlap(env, false); }
static void test_add_layer_norm_overlap(kt_env *env) { run_add_norm_overlap(env, true); }

/* ------------------------------------------------------ rope positions */

/* The last position, position_offset + S - 1, may be INT64_MAX and no
 * more; a rotation keeps each pair's length, so the accepted call is
 * checked by that (the angle of a position near 9.2e18 is f32 noise). */
static void test_rope_last_position(kt_env *env) {
  const int64_t seqs[] = {1, 2, 17};
  for (size_t i = 0; i < COUNT(seqs); i++) {
    const int64_t s = seqs[i], shape[2] = {s, 8}, n = s * 8;
    kiln_tensor *x = kt_tensor(env, env->dtype, 2, shape);
    double *xv = kt_random(env, x, -2, 2);
    kiln_tensor *out = kt_tensor(env, env->dtype, 2, shape);
    kiln_rope_params p = {.base = 10000.0f, .position_offset = INT64_MAX - (s - 1)};
    kt_poison(env, out);
    KT_OK(env, kiln_rope(env->ctx, x, out, &p));
    double *ov = kt_read(env, out);
    for (int64_t j = 0; j < n; j += 8)
      for (int k = 0; k < 4; k++) { /* rotate-half pairs (k, k + 4) */
        double a = hypot(xv[j + k], xv[j + k + 4]), b = hypot(ov[j + k], ov[j + k + 4]);
        if (!(fabs(a - b) <= 1e-2 * (a + 1e-3)))
          KT_FAIL(env, "S %lld: pair %lld/%d has length %g, was %g", (long long)s,
                  (long long)(j / 8), k, b, a);
      }
    /* Past it: refused, out untouched, on every backend (S = 1 can start
     * at INT64_MAX itself, so nothing is past it). */
    const int64_t refused[2] = {s > 1 ? INT64_MAX - (s - 2) : 0, INT64_MAX};
    for (int r = 0; r < 2 && s > 1; r++) {
      p.position_offset = refused[r];
      kt_snapshot snap = kt_fill_pattern(env, out);
      kiln_status st = kiln_rope(env->ctx, x, out, &p);
      const char *needles[] = {kt_tensor_shape_str(x), NULL};
      kt_expect_error(env, st, KILN_ERR_INVALID_ARGUMENT, "kiln_rope", "position_offset",
                      needles);
      kt_expect_unchanged(env, &snap, "out");
    }
    /* In place, the same refusal. */
    p.position_offset = INT64_MAX;
    if (s > 1) {
      kiln_status st = kiln_rope(env->ctx, x, x, &p);
      kt_expect_error(env, st, KILN_ERR_INVALID_ARGUMENT, "kiln_rope", "position_offset", NULL);
      kt_expect_same(env, "x", x, xv);
    }
  }
}

/* ----------------------------------------- empty tensors, huge other dims */

#define HUGE_DIM ((int64_t)1 << 40) /* HUGE_DIM^2 is past INT64_MAX */

static kiln_tensor *t4(kt_env *env, kiln_dtype dtype, int64_t a, int64_t b, int64_t c,
                       int64_t d) {
  const int64_t shape[4] = {a, b, c, d};
  return kt_tensor(env, dtype, 4, shape);
}

/* Every op on empty operands whose leading dims multiply past INT64_MAX:
 * OK and nothing done, or a clean error; never a product that overflows. */
static void expect_ok_or_clean(kt_env *env, kiln_status s, const char *what) {
  if (s == KILN_OK)
    return;
  if (s != KILN_ERR_SHAPE || !strstr(kiln_last_error(), "kiln_"))
    KT_FAIL(env, "%s: %s (%s)", what, kiln_status_string(s), kiln_last_error());
}

static void test_empty_huge_dims(kt_env *env) {
  const kiln_dtype f = env->dtype;
  const int64_t H = HUGE_DIM, eight = 8;
  kiln_tensor *a = t4(env, f, H, H, 0, 8), *out3 = t4(env, f, H, H, 0, 3);
  const int64_t bs[2] = {8, 3}, ws[2] = {3, 8}, las[2] = {2, 8}, lbs[2] = {3, 2};
  kiln_tensor *b = kt_tensor(env, f, 2, bs), *w = kt_tensor(env, f, 2, ws);
  kiln_tensor *la = kt_tensor(env, f, 2, las), *lb = kt_tensor(env, f, 2, lbs);
  kiln_tensor *weight = kt_tensor(env, f, 1, &eight);
  kiln_tensor *y = t4(env, f, H, H, 0, 8), *h = t4(env, f, H, H, 0, 8);
  /* matmul: shared b, then b with a's batch dims (itself empty) */
  KT_OK(env, kiln_matmul(env->ctx, a, b, out3, NULL));
  kiln_tensor *bb = t4(env, f, H, H, 8, 0), *out0 = t4(env, f, H, H, 0, 0);
  KT_OK(env, kiln_matmul(env->ctx, a, bb, out0, NULL));
  KT_OK(env, kiln_lora_linear(env->ctx, a, w, NULL, la, lb, 0.5f, out3));
  const kiln_rope_params r2 = {.base = 10000.0f, .seq_axis = -2};
  const kiln_rope_params r3 = {.base = 10000.0f, .seq_axis = -3};
  KT_OK(env, kiln_rope(env->ctx, a, y, &r2));
  kiln_tensor *z = t4(env, f, H, 0, H, 8), *z2 = t4(env, f, H, 0, H, 8);
  KT_OK(env, kiln_rope(env->ctx, z, z2, &r3));
  KT_OK(env, kiln_rope(env->ctx, z, z2, &r2));
  KT_OK(env, kiln_softmax(env->ctx, a, y, NULL));
  KT_OK(env, kiln_rms_norm(env->ctx, a, weight, 1e-6f, y));
  KT_OK(env, kiln_layer_norm(env->ctx, a, weight, NULL, 1e-5f, y));
  KT_OK(env, kiln_add_rms_norm(env->ctx, a, a, weight, 1e-6f, h, y));
  KT_OK(env, kiln_gelu(env->ctx, a, y, 1));
  KT_OK(env, kiln_silu(env->ctx, a, y));
  KT_OK(env, kiln_scale(env->ctx, a, 2.0f, y));
  KT_OK(env, kiln_swiglu(env->ctx, a, a, y));
  KT_OK(env, kiln_add(env->ctx, a, weight, y));
  KT_OK(env, kiln_mul(env->ctx, a, a, y));
  const int64_t ts[2] = {5, 8};
  kiln_tensor *table = kt_tensor(env, f, 2, ts);
  const int64_t is[3] = {H, H, 0};
  kiln_tensor *ids = kt_tensor(env, KILN_I32, 3, is);
  KT_OK(env, kiln_embedding(env->ctx, table, ids, y));
  /* attention: Hq = 0 heads, so out is empty whatever B and S are */
  kiln_tensor *q = t4(env, f, H, H, 0, 8), *k = t4(env, f, H, 0, 1, 8);
  kiln_tensor *v = t4(env, f, H, 0, 1, 8), *ao = t4(env, f, H, H, 0, 8);
  expect_ok_or_clean(env, kiln_attention(env->ctx, q, k, v, ao, NULL), "attention");
  KT_OK(env, kiln_sync(env->ctx));
}

/* ---------------------------------------------- failed graph replays */

static void write_ids(kt_env *env, kiln_tensor *ids, const int32_t *vals) {
  KT_OK(env, kiln_tensor_write(ids, vals, kiln_tensor_nbytes(ids)));
}

/* A replay whose embedding meets a bad id: kiln_graph_run is OK, every op
 * runs (the matmul before and the softmax after), the bad id's row is
 * zeros, and the next sync (then, on the next failed replay, the next
 * read) reports it once; a good replay after that is clean. */
static void test_graph_replay_failure(kt_env *env) {
  const kiln_dtype f = env->dtype;
  const int64_t xs[2] = {3, 5}, ws[2] = {5, 4}, ys[2] = {3, 4}, tshape[2] = {6, 4}, n_ids = 3;
  kiln_tensor *x = kt_tensor(env, f, 2, xs), *w = kt_tensor(env, f, 2, ws);
  kiln_tensor *y = kt_tensor(env, f, 2, ys), *s = kt_tensor(env, f, 2, ys);
  kiln_tensor *table = kt_tensor(env, f, 2, tshape), *e = kt_tensor(env, f, 2, ys);
  kiln_tensor *ids = kt_tensor(env, KILN_I32, 1, &n_ids);
  double *xv = kt_random(env, x, -1, 1), *wv = kt_random(env, w, -1, 1);
  double *tv = kt_random(env, table, -1, 1);
  const int32_t good[3] = {1, 5, 2}, bad[3] = {1, 9, 2};
  write_ids(env, ids, good);

  KT_OK(env, kiln_graph_begin(env->ctx));
  KT_OK(env, kiln_matmul(env->ctx, x, w, y, NULL));
  KT_OK(env, kiln_embedding(env->ctx, table, ids, e));
  KT_OK(env, kiln_softmax(env->ctx, y, s, NULL));
  kiln_graph *g = NULL;
  KT_OK(env, kiln_graph_end(env->ctx, &g));
  kt_track_graph(g);

  double yref[12], sref[12], eref[12];
  const ref_matmul_shape ms = {1, 3, 4, 5, false, false, false};
  ref_matmul(&ms, xv, wv, NULL, NULL, 1.0, 0.0, yref);
  for (int pass = 0; pass < 2; pass++) {
    write_ids(env, ids, bad);
    kt_poison(env, y);
    kt_poison(env, s);
    kt_poison(env, e);
    KT_OK(env, kiln_graph_run(env->ctx, g));
    kiln_status st;
    double *ev = NULL;
    if (pass == 0) {
      st = kiln_sync(env->ctx); /* the report comes with the sync */
    } else { /* or with a read, which still copies */
      const size_t nb = kiln_tensor_nbytes(e);
      unsigned char *raw = kt_alloc(nb);
      memset(raw, 0xab, nb);
      st = kiln_tensor_read(e, raw, nb);
      bool copied = false;
      for (size_t i = 0; i < nb; i++)
        copied |= raw[i] != 0xab;
      if (!copied)
        KT_FAIL(env, "a read that reports a failed replay copied nothing");
    }
    const char *needles[] = {"ids[1]", "9", NULL};
    kt_expect_error(env, st, KILN_ERR_INVALID_ARGUMENT, "kiln_embedding", NULL, needles);
    KT_OK(env, kiln_sync(env->ctx)); /* reported once */
    ev = kt_read(env, e);
    for (int r = 0; r < 3; r++)
      for (int j = 0; j < 4; j++)
        eref[r * 4 + j] = bad[r] < 6 ? tv[bad[r] * 4 + j] : 0.0;
    for (int i = 0; i < 12; i++)
      if (ev[i] != eref[i] || (eref[i] == 0.0 && signbit(ev[i])))
        KT_FAIL(env, "pass %d: e[%d] is %g, expected %g", pass, i, ev[i], eref[i]);
    double *yv = kt_read(env, y);
    kt_check_close(env, "y (before the failing op)", yv, yref, 12, 4, NULL,
                   kt_matmul_tol(f, 5));
    const ref_softmax_shape ss = {3, 4, 0, NULL, 1};
    ref_softmax(&ss, yv, 1.0, sref);
    kt_check_close(env, "s (after the failing op)", kt_read(env, s), sref, 12, 4, NULL,
                   kt_softmax_tol(f, 4, 8.0));
  }
  /* A good replay after the failures: nothing pending, right rows. */
  write_ids(env, ids, good);
  KT_OK(env, kiln_graph_run(env->ctx, g));
  KT_OK(env, kiln_sync(env->ctx));
  double *ev = kt_read(env, e);
  for (int r = 0; r < 3; r++)
    for (int j = 0; j < 4; j++)
      if (ev[r * 4 + j] != tv[good[r] * 4 + j])
        KT_FAIL(env, "good replay: e[%d][%d] is %g", r, j, ev[r * 4 + j]);
}

/* A custom function failing in a CPU replay (the GPU runs it once, while
 * capturing): the replay goes on, the failure comes with the next sync. */
static kiln_status fail_on_replay(void *stream, kiln_tensor *const *tensors, int ntensors,
                                  void *user) {
  (void)stream;
  (void)tensors;
  (void)ntensors;
  int *calls = user;
  return ++*calls > 1 ? KILN_ERR_BACKEND : KILN_OK;
}

static void test_graph_custom_failure(kt_env *env) {
  if (env->device != KILN_DEVICE_CPU)
    skip(); /* custom functions do not run at GPU replays */
  const int64_t n = 17;
  kiln_tensor *x = kt_tensor(env, KILN_F32, 1, &n), *y = kt_tensor(env, KILN_F32, 1, &n);
  double *xv = kt_random(env, x, -1, 1);
  int calls = 0;
  KT_OK(env, kiln_graph_begin(env->ctx));
  KT_OK(env, kiln_custom_op(env->ctx, fail_on_replay, NULL, 0, &calls));
  KT_OK(env, kiln_scale(env->ctx, x, 3.0f, y));
  kiln_graph *g = NULL;
  KT_OK(env, kiln_graph_end(env->ctx, &g));
  kt_track_graph(g);
  KT_OK(env, kiln_graph_run(env->ctx, g)); /* call 1: fine */
  KT_OK(env, kiln_sync(env->ctx));
  kt_poison(env, y);
  KT_OK(env, kiln_graph_run(env->ctx, g)); /* call 2: fails */
  kt_expect_error(env, kiln_sync(env->ctx), KILN_ERR_BACKEND, "kiln_custom_op", NULL, NULL);
  double ref[17];
  for (int i = 0; i < 17; i++)
    ref[i] = 3.0 * xv[i];
  kt_check_close(env, "y (after the failing op)", kt_read(env, y), ref, n, n, NULL, 0x1p-23);
}

static const kiln_dtype dtypes[] = {KILN_F32, KILN_F16, KILN_BF16};

int main(void) {
  for (size_t i = 0; i < COUNT(overlap_cases); i++) {
    kt_add(test_add_rms_norm_overlap, &overlap_cases[i], KILN_F32, "add_rms_norm_overlap_%s",
           overlap_cases[i].name);
    kt_add(test_add_layer_norm_overlap, &overlap_cases[i], KILN_F32,
           "add_layer_norm_overlap_%s", overlap_cases[i].name);
  }
  for (size_t d = 0; d < COUNT(dtypes); d++) {
    const char *dt = kiln_dtype_name(dtypes[d]);
    kt_add(test_rope_last_position, NULL, dtypes[d], "rope_last_position_%s", dt);
    kt_add(test_empty_huge_dims, NULL, dtypes[d], "empty_huge_dims_%s", dt);
    kt_add(test_graph_replay_failure, NULL, dtypes[d], "graph_replay_failure_%s", dt);
  }
  kt_add(test_graph_custom_failure, NULL, KILN_F32, "graph_custom_failure");
  return kt_run("contract");
}
