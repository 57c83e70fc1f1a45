/*
 * kiln_matmul on the GPU: the op in batch-folded form, the one function
 * that decides which kernel runs it, and the cuBLASLt path with its cached
 * plans.
 */
#include "cuda_backend.h"
#include "cuda_common.cuh"
#include "cuda_gemm.h"
#include "cuda_marks.h"
#include "cuda_tune.cuh"

#include <stdio.h>
#include <string.h>

static const char *const FN = "kiln_matmul";

/* ------------------------------------------------------------ routing */

/* The crossovers between our kernels and cuBLASLt, from
 * scripts/sweep_matmul.sh over bench/crossover.tsv (H100, 2026-11-25,
 * BENCHMARKS.md has the table). One cublasLtMatmul call costs about 9 us
 * back to back against 3-4 us for a launch of ours, so our kernels take
 * what they finish in a few microseconds, and the thin ones what is bound
 * by reading the long operand once. */
/* Small tile kernel: the whole product (m * n * k * batch) at most this...
 * (f32 128^3: 3.6 us against 8.2 back to back, 3.3 against 4.2 in a graph;
 * at 192^3 cuBLASLt ties back to back and wins in a graph) */
static const int64_t SMALL_MAX_WORK = (int64_t)1 << 21;
/* ...and k at most this: the kernel walks k in serial stages of 64, each
 * a round trip to memory (64x64x256: 5.7 us against 9.1; x512: 10.0
 * against 9.2). */
static const int64_t SMALL_MAX_K = 256;

/* The thin kernels run on CUDA cores, so against cuBLASLt's tensor cores
 * they win only while reading the long operand is the whole cost. f32
 * without TF32 (no tensor cores either side): up to the kernels' 16 rows
 * (16x4096x4096: 53.6 us against 63.0). f16/bf16: up to 4 rows
 * (4x4096x4096: 27.4 against 25.9, a tie; 8 rows: 36.3 against 26.3), or
 * 8 when the long operand is under 4M elements and launch cost decides
 * (8x1024x1024: 4.4 us against 9-14). f32 with TF32 is taken as 16-bit. */
bool kiln_cuda_thin_wins(bool tensor_cores, int64_t rows, int64_t long_elems) {
  if (!tensor_cores)
    return rows <= KILN_CUDA_THIN_LIMIT;
  return rows <= 4 || (rows <= 8 && long_elems < ((int64_t)1 << 22));
}

enum class route { fill, small, gemv, thin, cublaslt };

/* The one place that decides which kernel runs a matmul. The context's
 * KILN_CUDA_MATMUL (matmul_route: 0 auto, 1 our kernels wherever one takes
 * the shape, 2 cuBLASLt) lets the bench time both sides of a crossover. */
static route choose_route(const kiln_cuda *st, const kiln_cuda_gemm *g) {
  const int forced = st->matmul_route;
  if (g->k == 0)
    return route::fill;
  if (forced == 2)
    return route::cublaslt;
  if (forced == 1)
    return kiln_cuda_gemv_fits(g)         ? route::gemv
           : kiln_cuda_gemm_thin_fits(g)  ? route::thin
           : kiln_cuda_gemm_small_fits(g) ? route::small
                                          : route::cublaslt;
  const int64_t rows = g->m < g->n ? g->m : g->n, len = g->m < g->n ? g->n : g->m;
  const bool tensor_cores = g->dtype != KILN_F32 || st->tf32;
  /* b stored [k, n] under few rows of a (m <= n): the n-major GEMV, by the
   * thin kernels' crossover (rows = m). Provisional: the crossover was
   * measured for the thin kernels on an H100; the lead measures the GEMV's
   * on the H200 (KILN_CUDA_MATMUL=own against =cublaslt). */
  if (kiln_cuda_thin_wins(tensor_cores, rows, len * g->k) && kiln_cuda_gemv_fits(g))
    return route::gemv;
  if (kiln_cuda_thin_wins(tensor_cores, rows, len * g->k) && kiln_cuda_gemm_thin_fits(g))
    return route::thin;
  const int64_t work = g->m * g->n * g->k; /* each <= SMALL_MAX_WORK below: no overflow */
  if (g->m <= SMALL_MAX_WORK && g->n <= SMALL_MAX_WORK && g->k <= SMALL_MAX_K &&
      work <= SMALL_MAX_WORK / g->batch && kiln_cuda_gemm_small_fits(g))
    return route::small;
  return route::cublaslt;
}

/* --------------------------------------------------------- the problem */

/* The op's fields as raw device pointers; src/ops/ has already folded the
 * batch into m where it can (kiln_matmul_op). */
static kiln_cuda_gemm gemm_of(const kiln_matmul_op *op) {
  kiln_cuda_gemm g;
  g.dtype = op->dtype;
  g.m = op->m;
  g.n = op->n;
  g.k = op->k;
  g.batch = op->batch;
  g.transpose_a = op->transpose_a;
  g.transpose_b = op->transpose_b;
  g.a = op->a->data;
  g.b = op->b->data;
  g.bias = op->bias ? op->bias->data : NULL;
  g.c = op->out->data;
  g.stride_a = op->stride_a;
  g.stride_b = op->stride_b;
  g.stride_c = op->stride_c;
  g.alpha = op->alpha;
  g.beta = op->beta;
  return g;
}

/* ------------------------------------------------------------ cuBLASLt */

static cudaDataType_t cuda_type(kiln_dtype dtype) { return kiln_dev::cuda_dtypes[dtype].type; }

static kiln_cuda_plan_key key_of(const kiln_cuda *st, const kiln_cuda_gemm *g) {
  kiln_cuda_plan_key key;
  memset(&key, 0, sizeof key);
  key.m = g->m;
  key.n = g->n;
  key.k = g->k;
  key.batch = g->batch;
  key.dtype = (int32_t)g->dtype;
  key.transpose_a = g->transpose_a;
  key.transpose_b = g->transpose_b;
  key.b_batched = g->stride_b != 0;
  key.beta_nonzero = g->beta != 0.0f;
  key.bias = g->bias != NULL;
  key.tf32 = g->dtype == KILN_F32 && st->tf32;
  key.aligned = (uint8_t)(kiln_dev::aligned16(g->a) | kiln_dev::aligned16(g->b) << 1 |
                          kiln_dev::aligned16(g->c) << 2 |
                          (g->bias && kiln_dev::aligned16(g->bias)) << 3);
  return key;
}

static kiln_status set_desc(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr,
                            const void *value, size_t size) {
  return kiln_cublas_check(cublasLtMatmulDescSetAttribute(desc, attr, value, size), FN,
                           "cublasLtMatmulDescSetAttribute");
}

/* A column-major rows x cols layout with leading dimension rows, strided
 * over batch when there is one. */
static kiln_status make_layout(cublasLtMatrixLayout_t *layout, kiln_dtype dtype, int64_t rows,
                               int64_t cols, int64_t batch, int64_t stride) {
  KILN_CUDA_TRY(kiln_cublas_check(
      cublasLtMatrixLayoutCreate(layout, cuda_type(dtype), (uint64_t)rows, (uint64_t)cols, rows),
      FN, "cublasLtMatrixLayoutCreate"));
  if (batch == 1)
    return KILN_OK;
  int32_t count = (int32_t)batch;
  KILN_CUDA_TRY(kiln_cublas_check(cublasLtMatrixLayoutSetAttribute(
                                      *layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count,
                                      sizeof count),
                                  FN, "cublasLtMatrixLayoutSetAttribute"));
  return kiln_cublas_check(cublasLtMatrixLayoutSetAttribute(
                               *layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
                               sizeof stride),
                           FN, "cublasLtMatrixLayoutSetAttribute");
}

/* Row-major c = op(a) op(b) is column-major c^T = op(b)^T op(a)^T: a
 * row-major [r, s] matrix is a column-major s x r one, so each operand is
 * passed as stored, cuBLASLt's A being our b and its B our a. */
static kiln_status describe_plan(const kiln_cuda *st, const kiln_cuda_gemm *g,
                                 kiln_cuda_plan *p) {
  const bool tf32 = g->dtype == KILN_F32 && st->tf32;
  KILN_CUDA_TRY(kiln_cublas_check(
      cublasLtMatmulDescCreate(&p->desc, tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F,
                               CUDA_R_32F),
      FN, "cublasLtMatmulDescCreate"));
  const cublasOperation_t op_a = g->transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = g->transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  KILN_CUDA_TRY(set_desc(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof op_a));
  KILN_CUDA_TRY(set_desc(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof op_b));
  if (g->bias) {
    /* The epilogue adds a vector along the rows of column-major c^T,
     * which are the n columns of our c: exactly bias[n] on every row. */
    const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    KILN_CUDA_TRY(set_desc(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof epilogue));
    /* The heuristic reads the pointer's alignment off the descriptor. */
    KILN_CUDA_TRY(set_desc(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g->bias, sizeof g->bias));
    p->bias = g->bias;
  }
  const int64_t m = g->m, n = g->n, k = g->k;
  KILN_CUDA_TRY(make_layout(&p->a, g->dtype, g->transpose_b ? k : n, g->transpose_b ? n : k,
                            g->batch, g->stride_b));
  KILN_CUDA_TRY(make_layout(&p->b, g->dtype, g->transpose_a ? m : k, g->transpose_a ? k : m,
                            g->batch, g->stride_a));
  return make_layout(&p->c, g->dtype, n, m, g->batch, g->stride_c);
}

static kiln_status set_pref(cublasLtMatmulPreference_t pref,
                            cublasLtMatmulPreferenceAttributes_t attr, uint32_t value) {
  return kiln_cublas_check(cublasLtMatmulPreferenceSetAttribute(pref, attr, &value, sizeof value),
                           FN, "cublasLtMatmulPreferenceSetAttribute");
}

/* Products this large (2 m n k batch flops) get their candidates timed
 * when the plan is built: a few runs cost well under a millisecond each,
 * while the heuristic's first pick is not always the fastest. Smaller ones
 * take that first pick, as PyTorch does (KILN_MATMUL_TUNE=all times every
 * product with beta 0, so that the tests take this path). */
constexpr double TUNE_MIN_FLOPS = 17179869184.0; /* 2^34: 512 x 4096 x 4096 */
constexpr int TUNE_ALGOS = 4;
static_assert(TUNE_ALGOS <= kiln_dev::TUNE_MAX, "tune_fastest's bound");
static bool tunable(const kiln_cuda *st, const kiln_cuda_gemm *g) {
  const double flops = 2.0 * (double)g->m * (double)g->n * (double)g->k * (double)g->batch;
  return !st->capturing && g->beta == 0.0f &&
         (flops >= TUNE_MIN_FLOPS || kiln_cuda_env_matmul_tune_all());
}

/* The heuristic's first choice, or for a tunable product the fastest of
 * its first TUNE_ALGOS on this call's operands; none is not an error (our
 * tile kernel runs instead). */
static kiln_status choose_algo(const kiln_cuda *st, const kiln_cuda_gemm *g,
                               cublasLtMatmulPreference_t pref, kiln_cuda_plan *p) {
  const uint64_t workspace = st->workspace_size;
  KILN_CUDA_TRY(kiln_cublas_check(
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                           &workspace, sizeof workspace),
      FN, "cublasLtMatmulPreferenceSetAttribute"));
  const uint32_t elem = (uint32_t)kiln_dtype_size(g->dtype);
  KILN_CUDA_TRY(set_pref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                         kiln_dev::aligned16(g->b) ? 16 : elem));
  KILN_CUDA_TRY(set_pref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                         kiln_dev::aligned16(g->a) ? 16 : elem));
  const uint32_t c_align = kiln_dev::aligned16(g->c) ? 16 : elem;
  KILN_CUDA_TRY(set_pref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, c_align));
  KILN_CUDA_TRY(set_pref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, c_align));
  cublasLtMatmulHeuristicResult_t results[TUNE_ALGOS];
  int found = 0;
  const int want = tunable(st, g) ? TUNE_ALGOS : 1;
  cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(st->lt, p->desc, p->a, p->b, p->c, p->c, pref,
                                                    want, results, &found);
  if (s == CUBLAS_STATUS_NOT_SUPPORTED || (s == CUBLAS_STATUS_SUCCESS && found == 0))
    return KILN_OK;
  KILN_CUDA_TRY(kiln_cublas_check(s, FN, "cublasLtMatmulAlgoGetHeuristic"));
  /* c is written by every run with the same values: only products that
   * do not read it (beta 0) are timed, and c overlaps neither a nor b
   * (src/ops/matmul.c). */
  float ms[TUNE_ALGOS];
  const int best = found < 2 ? 0 : kiln_dev::tune_fastest(found, st->stream, [&](int i) {
    return cublasLtMatmul(st->lt, p->desc, &g->alpha, g->b, p->a, g->a, p->b, &g->beta, g->c,
                          p->c, g->c, p->c, &results[i].algo, st->workspace, st->workspace_size,
                          st->stream) == CUBLAS_STATUS_SUCCESS;
  }, ms);
  for (int i = 0; found > 1 && kiln_cuda_env_matmul_debug() && i < found; i++)
    fprintf(stderr, "kiln matmul: %s %lld x %lld x %lld (batch %lld): candidate %d: %.1f us\n",
            kiln_dtype_name(g->dtype), (long long)g->m, (long long)g->n, (long long)g->k,
            (long long)g->batch, i, 1e3 * ms[i]);
  p->algo = results[best].algo;
  p->has_algo = true;
  return KILN_OK;
}

static kiln_status build_plan(const kiln_cuda *st, const kiln_cuda_gemm *g, kiln_cuda_plan *p) {
  memset(p, 0, sizeof *p);
  kiln_status s = describe_plan(st, g, p);
  cublasLtMatmulPreference_t pref = NULL;
  if (s == KILN_OK)
    s = kiln_cublas_check(cublasLtMatmulPreferenceCreate(&pref), FN,
                          "cublasLtMatmulPreferenceCreate");
  if (s == KILN_OK)
    s = choose_algo(st, g, pref, p);
  if (pref)
    cublasLtMatmulPreferenceDestroy(pref);
  if (s != KILN_OK)
    kiln_cuda_plan_destroy(p);
  return s;
}

/* The fallback where cuBLASLt has no algorithm: our tile kernel takes any
 * shape whose grid fits. */
static kiln_status run_small(const kiln_cuda *st, const kiln_cuda_gemm *g) {
  if (!kiln_cuda_gemm_small_fits(g))
    return kiln_fail(KILN_ERR_UNSUPPORTED,
                     "%s: cuBLASLt has no algorithm for this %s product (m %lld, n %lld, k %lld, "
                     "batch %lld) and it is too large for kiln's own kernel", FN,
                     kiln_dtype_name(g->dtype), (long long)g->m, (long long)g->n,
                     (long long)g->k, (long long)g->batch);
  return kiln_cuda_check(kiln_cuda_gemm_small(g, st->stream), FN, "launching gemm_small");
}

/* cuBLASLt's 16-bit Hopper kernels write c unseen by initcheck
 * (cuda_marks.cu): each batch's m x n block is marked, never the gaps. */
static void mark_written(const kiln_cuda *st, const kiln_cuda_gemm *g) {
  const size_t es = kiln_dtype_size(g->dtype), block = (size_t)(g->m * g->n) * es;
  if (g->batch == 1 || g->stride_c == g->m * g->n) {
    kiln_cuda_mark_written(st->stream, g->c, block * (size_t)g->batch);
    return;
  }
  for (int64_t b = 0; b < g->batch; b++)
    kiln_cuda_mark_written(st->stream, (const char *)g->c + (size_t)(b * g->stride_c) * es, block);
}

static kiln_status run_cublaslt(kiln_cuda *st, const kiln_cuda_gemm *g) {
  if (g->batch > INT32_MAX)
    return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: batch %lld is more than cuBLASLt takes (%d)", FN,
                     (long long)g->batch, INT32_MAX);
  const kiln_cuda_plan_key key = key_of(st, g);
  kiln_cuda_plan *plan = kiln_cuda_plan_find(&st->plans, &key);
  if (!plan) {
    kiln_cuda_plan fresh;
    KILN_CUDA_TRY(build_plan(st, g, &fresh));
    plan = kiln_cuda_plan_put(&st->plans, &key, &fresh);
  }
  if (!plan->has_algo)
    return run_small(st, g);
  if (g->bias && plan->bias != g->bias) {
    KILN_CUDA_TRY(set_desc(plan->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g->bias,
                           sizeof g->bias));
    plan->bias = g->bias;
  }
  /* alpha and beta are host scalars, read when the call is enqueued (and
   * so baked into a graph being captured). */
  KILN_CUDA_TRY(kiln_cublas_check(cublasLtMatmul(st->lt, plan->desc, &g->alpha, g->b, plan->a,
                                                 g->a, plan->b, &g->beta, g->c, plan->c, g->c,
                                                 plan->c, &plan->algo, st->workspace,
                                                 st->workspace_size, st->stream),
                                  FN, "cublasLtMatmul"));
  mark_written(st, g);
  return KILN_OK;
}

/* ------------------------------------------------------------- the op */

static kiln_status kiln_cuda_matmul(void *state, const kiln_matmul_op *op) {
  kiln_cuda *st = (kiln_cuda *)state;
  KILN_CUDA_TRY(kiln_cuda_enter(st, FN));
  const kiln_cuda_gemm g = gemm_of(op);
  switch (choose_route(st, &g)) {
  case route::fill:
    return kiln_cuda_check(kiln_cuda_gemm_fill(&g, st->sm_count, st->stream), FN,
                           "launching gemm_fill");
  case route::small:
    return kiln_cuda_check(kiln_cuda_gemm_small(&g, st->stream), FN, "launching gemm_small");
  case route::gemv:
    return kiln_cuda_check(kiln_cuda_gemv(&g, st->sm_count, st->gemv_workspace, st->stream), FN,
                           "launching gemv");
  case route::thin:
    return kiln_cuda_check(kiln_cuda_gemm_thin(&g, st->stream), FN, "launching gemm_thin");
  case route::cublaslt: break;
  }
  return run_cublaslt(st, &g);
}

/* No activation epilogue here: src/ops/ runs the product, then kiln_gelu.
 * cuBLASLt's GELU epilogues compute one fixed form of GELU, while models
 * are trained with one form or the other (MiniLM: erf), and kiln's own
 * kernels take only the shapes a few microseconds decide. */
static bool kiln_cuda_matmul_supports(void *state, const kiln_op *op) {
  (void)state;
  return op->u.matmul.activation == KILN_ACTIVATION_NONE;
}

KILN_CUDA_OP(matmul, kiln_cuda_matmul, kiln_cuda_matmul_supports);
