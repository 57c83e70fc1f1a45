/*
 * Checks every route of kiln's CUDA backend against its CPU backend: each
 * matmul case runs three times on the GPU (the automatic choice, with
 * KILN_CUDA_MATMUL=own forcing kiln's own kernels wherever one takes the
 * shape, and =cublaslt forcing cuBLASLt), so the thin, small and cuBLASLt
 * paths are all exercised whatever the crossover thresholds are; softmax and
 * rms_norm run at every width of the config table, on both sides of each
 * boundary, 16-byte aligned and not; a graph replays with new inputs.
 * Prints each mismatch, then "route check: N passed, M failed". CTest runs
 * it (test cuda_route_check); without a GPU it exits 77, which CTest shows
 * as skipped. By hand:
 *   cc -O2 -Iinclude scripts/cuda_route_check.c -Lbuild -lkiln -lm -o route_check
 */
#include <kiln.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

#define CHECK(call)                                                                      \
  do {                                                                                   \
    kiln_status s_ = (call);                                                             \
    if (s_ != KILN_OK) {                                                                 \
      fprintf(stderr, "%s:%d: %s: %s: %s\n", __FILE__, __LINE__, #call,                  \
              kiln_status_string(s_), kiln_last_error());                                \
      exit(2);                                                                           \
    }                                                                                    \
  } while (0)

static const kiln_dtype dtypes[] = {KILN_F32, KILN_F16, KILN_BF16};
static const char *const routes[] = {"auto", "own", "cublaslt"};
#define NROUTES 3

/* ------------------------------------------------------------- data */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static float uniform(float lo, float hi) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return lo + (hi - lo) * (float)((rng_state >> 40) * (1.0 / 16777216.0));
}

static int64_t numel(int nd, const int64_t *shape) {
  int64_t n = 1;
  for (int i = 0; i < nd; i++)
    n *= shape[i];
  return n;
}

/* f32 values into dtype's bytes. */
static void *encode(kiln_dtype dt, const float *v, int64_t n) {
  void *out = malloc((size_t)(n ? n : 1) * kiln_dtype_size(dt));
  if (dt == KILN_F32)
    memcpy(out, v, (size_t)n * sizeof *v);
  else if (dt == KILN_F16)
    kiln_f32_to_f16(v, out, (size_t)n);
  else
    kiln_f32_to_bf16(v, out, (size_t)n);
  return out;
}

static kiln_tensor *tensor(kiln_context *ctx, kiln_dtype dt, int nd, const int64_t *shape,
                           const float *v) {
  kiln_tensor *t;
  CHECK(kiln_tensor_create(ctx, dt, nd, shape, &t));
  void *bytes = encode(dt, v, numel(nd, shape));
  CHECK(kiln_tensor_write(t, bytes, kiln_tensor_nbytes(t)));
  free(bytes);
  return t;
}

/* A tensor of quiet NaNs (0xff bytes are NaN in f32, f16 and bf16). */
static kiln_tensor *poisoned(kiln_context *ctx, kiln_dtype dt, int nd, const int64_t *shape) {
  kiln_tensor *t;
  CHECK(kiln_tensor_create(ctx, dt, nd, shape, &t));
  void *bytes = malloc(kiln_tensor_nbytes(t) + 1);
  memset(bytes, 0xff, kiln_tensor_nbytes(t));
  CHECK(kiln_tensor_write(t, bytes, kiln_tensor_nbytes(t)));
  free(bytes);
  return t;
}

static float *read_f32(const kiln_tensor *t) {
  int64_t n = kiln_tensor_numel(t);
  void *bytes = malloc(kiln_tensor_nbytes(t) + 1);
  float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
  CHECK(kiln_tensor_read(t, bytes, kiln_tensor_nbytes(t)));
  kiln_dtype dt = kiln_tensor_dtype(t);
  if (dt == KILN_F32)
    memcpy(v, bytes, (size_t)n * sizeof *v);
  else if (dt == KILN_F16)
    kiln_f16_to_f32(bytes, v, (size_t)n);
  else
    kiln_bf16_to_f32(bytes, v, (size_t)n);
  free(bytes);
  return v;
}

static float *random_values(int64_t n, float lo, float hi) {
  float *v = malloc((n > 0 ? (size_t)n : 1) * sizeof *v);
  for (int64_t i = 0; i < n; i++)
    v[i] = uniform(lo, hi);
  return v;
}

/* ------------------------------------------------------------ checks */

/* Relative to the largest reference magnitude of each row: a wrong index
 * is off by O(1); rounding and summation order by a few units of the
 * dtype's last place. Rows whose values are all f16 subnormals (a softmax
 * over 262144 columns) are measured against the smallest normal f16, whose
 * spacing is the subnormals' too. */
static double tolerance(kiln_dtype dt) {
  return dt == KILN_F32 ? 1e-4 : dt == KILN_F16 ? 4e-3 : 2e-2;
}

static void compare(const char *what, const float *got, const float *ref, int64_t n,
                    int64_t row_len, kiln_dtype dt) {
  const double tol = tolerance(dt);
  for (int64_t r0 = 0; r0 < n; r0 += row_len) {
    double scale = dt == KILN_F16 ? 0x1p-14 : 1e-30, err = 0.0;
    int64_t worst = r0;
    for (int64_t i = r0; i < r0 + row_len && i < n; i++)
      scale = fmax(scale, fabs(ref[i]));
    for (int64_t i = r0; i < r0 + row_len && i < n; i++) {
      double e = isfinite(ref[i]) && !isfinite(got[i]) ? INFINITY : fabs(got[i] - ref[i]);
      if (isnan(ref[i]) != isnan(got[i]))
        e = INFINITY;
      if (e > err || e != e) {
        err = e;
        worst = i;
      }
    }
    if (!(err / scale <= tol)) {
      failed++;
      printf("FAIL %s: row %lld: element %lld is %g, expected %g (error %.3g of the row's "
             "largest %.3g; tolerance %.1g)\n",
             what, (long long)(r0 / row_len), (long long)worst, got[worst], ref[worst],
             err / scale, scale, tol);
      return;
    }
  }
  passed++;
}

/* ------------------------------------------------------------ matmul */

typedef struct mm_case {
  int64_t batch, m, n, k;
  int ta, tb, bb;
  float alpha, beta;
  int bias;
} mm_case;

static const mm_case mm_cases[] = {
    /* m side, b [k, n]: the n-major GEMV (k split into slabs; n not a
     * multiple of the vector width takes scalar loads) */
    {1, 1, 4096, 4096, 0, 0, 0, 1, 0, 0},  {1, 1, 4099, 1000, 0, 0, 0, 1, 0, 1},
    {1, 3, 17, 4099, 0, 0, 0, 0.5f, -1.25f, 1}, {1, 16, 1000, 4099, 0, 0, 0, 1, 0.5f, 1},
    {1, 16, 4099, 17, 0, 0, 0, 1, 0, 0},   {3, 5, 4099, 300, 0, 0, 1, 1, 0, 1},
    /* thin, m side, b [k, n]: the GEMV too now (L-major before) */
    {1, 1, 1024, 300, 0, 0, 0, 1, 0, 0},   {1, 2, 1024, 300, 0, 0, 0, 1, 0, 1},
    {1, 3, 512, 77, 0, 0, 0, -0.5f, 0, 0}, {1, 5, 1000, 64, 0, 0, 0, 1, 0.5f, 1},
    {1, 8, 4096, 256, 0, 0, 0, 1, 0, 0},   {1, 11, 512, 100, 0, 0, 0, 1, 0, 1},
    {1, 16, 1024, 96, 0, 0, 0, 1, 0, 0},   {1, 4, 64, 40, 1, 0, 0, 1, 0, 1},
    /* thin, m side, b [n, k] (Linear weight): k-major, rows of a along k */
    {1, 1, 1000, 512, 0, 1, 0, 1, 0, 0},   {1, 4, 300, 1024, 0, 1, 0, 1, 0, 1},
    {1, 7, 129, 256, 0, 1, 0, 2, -1, 0},   {1, 16, 200, 64, 0, 1, 0, 1, 0, 1},
    {1, 2, 4096, 4096, 0, 1, 0, 1, 0, 0},
    /* thin, n side, b [k, n]: k-major, X rows along t */
    {1, 1000, 1, 512, 0, 0, 0, 1, 0, 0},   {1, 512, 2, 256, 0, 0, 0, 1, 0, 1},
    {1, 300, 4, 128, 0, 0, 0, 1, 0.25f, 0}, {1, 128, 8, 512, 0, 0, 0, 1, 0, 0},
    {1, 257, 16, 64, 0, 0, 0, 1, 0, 1},    {1, 2048, 8, 2048, 0, 0, 0, 1, 0, 0},
    /* thin, n side, other layouts */
    {1, 777, 5, 1024, 0, 1, 0, 1, 0, 1},   {1, 1024, 3, 100, 1, 0, 0, 1, 0, 0},
    {1, 512, 16, 40, 1, 1, 0, 1, 0, 1},
    /* thin, batched */
    {3, 1, 512, 128, 0, 0, 1, 1, 0, 0},    {2, 4, 256, 64, 0, 1, 1, 1, 0, 1},
    {4, 2, 64, 32, 1, 0, 0, 1, 0.5f, 0},   {3, 96, 4, 64, 0, 0, 1, 1, 0, 0},
    /* small */
    {1, 64, 64, 64, 0, 0, 0, 1, 0, 0},     {1, 17, 33, 65, 0, 0, 0, 1, 0, 1},
    {1, 128, 128, 128, 0, 0, 0, 0.5f, -1.25f, 1}, {1, 40, 31, 23, 1, 0, 0, 1, 0, 0},
    {1, 9, 13, 200, 1, 1, 0, 1, 0, 0},     {3, 10, 24, 16, 0, 1, 1, 1, 0, 1},
    {6, 5, 9, 12, 1, 0, 0, -0.5f, 0.5f, 1}, {1, 1, 1, 1, 0, 0, 0, 1, 0, 0},
    {1, 300, 1, 129, 0, 0, 0, 1, 0, 0},    {1, 33, 65, 1, 0, 0, 0, 1, 0, 0},
    /* cuBLASLt territory */
    {1, 256, 512, 768, 0, 0, 0, 1, 0.5f, 1}, {1, 512, 384, 640, 0, 1, 0, 1, 0, 0},
    {1, 100, 300, 1000, 1, 0, 0, 1, 0, 1}, {4, 64, 96, 128, 1, 1, 1, 1, 0, 0},
    {3, 48, 80, 160, 1, 0, 0, 1, 0, 1},    {5, 33, 20, 47, 0, 0, 0, 1, 0, 0},
    {1, 64, 96, 4099, 0, 0, 0, 1, 0, 0},   {1, 20, 4099, 8, 0, 0, 0, 1, 0, 1},
    /* k = 0: out = beta * out + bias */
    {1, 5, 7, 0, 0, 0, 0, 1, 0.5f, 1},     {2, 3, 4, 0, 0, 0, 1, 1, 0, 1},
    {1, 6, 2, 0, 0, 0, 0, 1, 0, 0},
};

static void mm_name(char *buf, size_t len, const mm_case *c, kiln_dtype dt, const char *route) {
  snprintf(buf, len, "matmul %s %s batch %lld %lldx%lldx%lld%s%s%s%s%s", route,
           kiln_dtype_name(dt), (long long)c->batch, (long long)c->m, (long long)c->n,
           (long long)c->k, c->ta ? " ta" : "", c->tb ? " tb" : "",
           c->bb ? " b-batched" : (c->batch > 1 ? " b-shared" : ""), c->bias ? " bias" : "",
           c->beta != 0 ? " beta" : "");
}

static void check_matmul(kiln_context *cpu, kiln_context *const *gpus, const mm_case *c,
                         kiln_dtype dt) {
  int64_t sa[3], sb[3], so[3];
  int nd = c->batch > 1 ? 3 : 2, ndb = c->bb ? 3 : 2;
  sa[0] = sb[0] = so[0] = c->batch;
  int o = nd - 2;
  sa[o] = c->ta ? c->k : c->m;
  sa[o + 1] = c->ta ? c->m : c->k;
  sb[ndb - 2] = c->tb ? c->n : c->k;
  sb[ndb - 1] = c->tb ? c->k : c->n;
  so[o] = c->m;
  so[o + 1] = c->n;
  float *av = random_values(numel(nd, sa), -1, 1), *bv = random_values(numel(ndb, sb), -1, 1);
  float *cv = random_values(numel(nd, so), -1, 1), *biasv = random_values(c->n, -1, 1);
  kiln_matmul_params p = {.transpose_a = c->ta, .transpose_b = c->tb, .alpha = c->alpha,
                          .beta = c->beta};

  kiln_tensor *a = tensor(cpu, dt, nd, sa, av), *b = tensor(cpu, dt, ndb, sb, bv);
  kiln_tensor *out = tensor(cpu, dt, nd, so, cv);
  kiln_tensor *bias = c->bias ? tensor(cpu, dt, 1, &c->n, biasv) : NULL;
  p.bias = bias;
  CHECK(kiln_matmul(cpu, a, b, out, &p));
  float *ref = read_f32(out);
  kiln_tensor_destroy(a);
  kiln_tensor_destroy(b);
  kiln_tensor_destroy(out);
  kiln_tensor_destroy(bias);

  for (int r = 0; r < NROUTES; r++) {
    a = tensor(gpus[r], dt, nd, sa, av);
    b = tensor(gpus[r], dt, ndb, sb, bv);
    out = c->beta != 0 ? tensor(gpus[r], dt, nd, so, cv) : poisoned(gpus[r], dt, nd, so);
    bias = c->bias ? tensor(gpus[r], dt, 1, &c->n, biasv) : NULL;
    p.bias = bias;
    CHECK(kiln_matmul(gpus[r], a, b, out, &p));
    float *got = read_f32(out);
    char name[160];
    mm_name(name, sizeof name, c, dt, routes[r]);
    compare(name, got, ref, numel(nd, so), numel(nd, so), dt); /* one scale: rows of n = 1 */
    free(got);
    kiln_tensor_destroy(a);
    kiln_tensor_destroy(b);
    kiln_tensor_destroy(out);
    kiln_tensor_destroy(bias);
  }
  free(ref);
  free(av);
  free(bv);
  free(cv);
  free(biasv);
}

/* ------------------------------------------------- softmax, rms_norm */

/* Every boundary of the row-config table, odd widths (rows that start
 * unaligned: the scalar path), and rows long enough to stream. */
static const int64_t widths[] = {1,    3,    4,     100,   128,   129,   256,   257,   1000,
                                 1024, 1025, 2048,  2049,  4096,  4099,  8192,  8193,  16384,
                                 16385, 32768, 32769, 65536, 65537, 262144};

static float *softmax_input(int64_t rows, int64_t cols, int pattern) {
  float *v = random_values(rows * cols, -6, 6);
  for (int64_t r = 0; pattern && r < rows; r++)
    for (int64_t c = 0; c < cols; c++)
      if ((pattern == 1 && r % 3 == 1) || (pattern == 2 && (c * 7 + r) % 5 == 0))
        v[r * cols + c] = -INFINITY; /* 1: whole rows of -inf; 2: scattered */
  return v;
}

static void check_softmax(kiln_context *cpu, kiln_context *gpu, kiln_dtype dt, int64_t cols,
                          int causal, int pattern, int in_place) {
  const int64_t rows = cols >= 65536 ? 3 : cols >= 4096 ? 9 : 36, sq = rows % 9 ? 3 : 9;
  const int64_t shape[3] = {causal ? rows / sq : 1, causal ? sq : rows, cols};
  float *xv = softmax_input(rows, cols, pattern);
  kiln_softmax_params p = {0};
  p.scale = causal ? 0.125f : 0.7f;
  p.causal = causal;

  kiln_tensor *x = tensor(cpu, dt, 3, shape, xv), *out;
  CHECK(kiln_tensor_create(cpu, dt, 3, shape, &out));
  CHECK(kiln_softmax(cpu, x, out, &p));
  float *ref = read_f32(out);
  kiln_tensor_destroy(x);
  kiln_tensor_destroy(out);

  x = tensor(gpu, dt, 3, shape, xv);
  out = in_place ? x : poisoned(gpu, dt, 3, shape);
  CHECK(kiln_softmax(gpu, x, out, &p));
  float *got = read_f32(out);
  char name[128];
  snprintf(name, sizeof name, "softmax %s [%lld, %lld, %lld]%s%s%s", kiln_dtype_name(dt),
           (long long)shape[0], (long long)shape[1], (long long)cols, causal ? " causal" : "",
           pattern == 1 ? " -inf rows" : pattern == 2 ? " -inf entries" : "",
           in_place ? " in place" : "");
  compare(name, got, ref, rows * cols, cols, dt);
  if (!in_place)
    kiln_tensor_destroy(out);
  kiln_tensor_destroy(x);
  free(got);
  free(ref);
  free(xv);
}

static void check_rms_norm(kiln_context *cpu, kiln_context *gpu, kiln_dtype dt, int64_t cols,
                           int in_place) {
  const int64_t rows = cols >= 65536 ? 3 : cols >= 4096 ? 9 : 37, shape[2] = {rows, cols};
  float *xv = random_values(rows * cols, -3, 3), *wv = random_values(cols, -2, 2);
  for (int64_t c = 0; c < cols; c++) /* one all-zero row: the eps path */
    xv[c] = 0;

  kiln_tensor *x = tensor(cpu, dt, 2, shape, xv), *w = tensor(cpu, dt, 1, &cols, wv), *out;
  CHECK(kiln_tensor_create(cpu, dt, 2, shape, &out));
  CHECK(kiln_rms_norm(cpu, x, w, 1e-5f, out));
  float *ref = read_f32(out);
  kiln_tensor_destroy(x);
  kiln_tensor_destroy(w);
  kiln_tensor_destroy(out);

  x = tensor(gpu, dt, 2, shape, xv);
  w = tensor(gpu, dt, 1, &cols, wv);
  out = in_place ? x : poisoned(gpu, dt, 2, shape);
  CHECK(kiln_rms_norm(gpu, x, w, 1e-5f, out));
  float *got = read_f32(out);
  char name[96];
  snprintf(name, sizeof name, "rms_norm %s [%lld, %lld]%s", kiln_dtype_name(dt),
           (long long)rows, (long long)cols, in_place ? " in place" : "");
  compare(name, got, ref, rows * cols, cols, dt);
  if (!in_place)
    kiln_tensor_destroy(out);
  kiln_tensor_destroy(x);
  kiln_tensor_destroy(w);
  free(got);
  free(ref);
  free(xv);
  free(wv);
}

/* ------------------------------------------------------------- graph */

/* y = rms_norm(softmax(x @ w)); run eagerly, then as a graph twice with new
 * x, and a tensor destroyed mid-capture (its free is deferred). */
static void run_chain(kiln_context *ctx, kiln_tensor *x, kiln_tensor *w, kiln_tensor *h,
                      kiln_tensor *g, kiln_tensor *y) {
  CHECK(kiln_matmul(ctx, x, w, h, NULL));
  CHECK(kiln_softmax(ctx, h, h, NULL));
  CHECK(kiln_rms_norm(ctx, h, g, 1e-6f, y));
}

static void check_graph(kiln_context *gpu) {
  const int64_t xs[2] = {48, 200}, ws[2] = {200, 300}, hs[2] = {48, 300}, gs = 300;
  float *x1 = random_values(48 * 200, -1, 1), *x2 = random_values(48 * 200, -1, 1);
  float *wv = random_values(200 * 300, -1, 1), *gv = random_values(300, 0.5f, 1.5f);
  kiln_tensor *x = tensor(gpu, KILN_F32, 2, xs, x1), *w = tensor(gpu, KILN_F32, 2, ws, wv);
  kiln_tensor *g = tensor(gpu, KILN_F32, 1, &gs, gv), *h = poisoned(gpu, KILN_F32, 2, hs);
  kiln_tensor *y = poisoned(gpu, KILN_F32, 2, hs), *doomed = poisoned(gpu, KILN_F32, 2, hs);
  float *ref[2];
  for (int i = 0; i < 2; i++) {
    float *xv = i ? x2 : x1, *bytes = encode(KILN_F32, xv, 48 * 200);
    CHECK(kiln_tensor_write(x, bytes, kiln_tensor_nbytes(x)));
    free(bytes);
    run_chain(gpu, x, w, h, g, y);
    ref[i] = read_f32(y);
  }
  kiln_graph *graph;
  CHECK(kiln_graph_begin(gpu));
  run_chain(gpu, x, w, h, g, y);
  kiln_tensor_destroy(doomed);
  CHECK(kiln_graph_end(gpu, &graph));
  for (int i = 0; i < 2; i++) {
    float *bytes = encode(KILN_F32, i ? x2 : x1, 48 * 200);
    CHECK(kiln_tensor_write(x, bytes, kiln_tensor_nbytes(x)));
    free(bytes);
    CHECK(kiln_graph_run(gpu, graph));
    CHECK(kiln_sync(gpu));
    float *got = read_f32(y);
    compare(i ? "graph replay, second input" : "graph replay, first input", got, ref[i],
            48 * 300, 300, 1e-6);
    free(got);
    free(ref[i]);
  }
  kiln_graph_destroy(graph);
  kiln_tensor *list[] = {x, w, g, h, y};
  for (int i = 0; i < 5; i++)
    kiln_tensor_destroy(list[i]);
  free(x1);
  free(x2);
  free(wv);
  free(gv);
}

int main(void) {
  if (kiln_device_count(KILN_DEVICE_CUDA) == 0) {
    printf("route check: no GPU, nothing checked (skipped)\n");
    return 77;
  }
  kiln_context *cpu, *gpus[NROUTES];
  CHECK(kiln_context_create(KILN_DEVICE_CPU, 0, &cpu));
  for (int r = 0; r < NROUTES; r++) {
    if (r == 0)
      unsetenv("KILN_CUDA_MATMUL");
    else
      setenv("KILN_CUDA_MATMUL", routes[r], 1);
    CHECK(kiln_context_create(KILN_DEVICE_CUDA, 0, &gpus[r]));
  }
  unsetenv("KILN_CUDA_MATMUL");
  printf("route check on %s\n", kiln_context_describe(gpus[0]));

  for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
    for (size_t i = 0; i < sizeof mm_cases / sizeof mm_cases[0]; i++)
      check_matmul(cpu, gpus, &mm_cases[i], dtypes[d]);
    for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
      check_softmax(cpu, gpus[0], dtypes[d], widths[i], 0, 0, 0);
      check_softmax(cpu, gpus[0], dtypes[d], widths[i], 1, 0, 0);
      check_softmax(cpu, gpus[0], dtypes[d], widths[i], 0, 1, i % 2);
      check_softmax(cpu, gpus[0], dtypes[d], widths[i], 1, 2, 0);
      check_rms_norm(cpu, gpus[0], dtypes[d], widths[i], i % 2);
    }
  }
  check_graph(gpus[0]);

  for (int r = 0; r < NROUTES; r++)
    kiln_context_destroy(gpus[r]);
  kiln_context_destroy(cpu);
  printf("route check: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
