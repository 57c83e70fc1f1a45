/*
 * kiln_attention through cuDNN's fused flash attention (route "cudnn" of
 * cuda_attention.cu). cuDNN has no attention call as such: it recognizes
 * an operation graph of the form
 *
 *   S = Q K^T (f32)  ->  S * scale  ->  [causal: select(row + shift >= col, S, -inf)]
 *     ->  softmax as max, sub, exp, sum, div (plus log + add, the row
 *         statistics, left virtual)  ->  P (q's dtype)  ->  O = P V
 *
 * and runs the whole graph as one fused kernel. We build that graph with the
 * backend C API (cudnn_graph.h) on kiln's own [B, S, H, D] tensors, through
 * strides, so nothing is copied; heuristics (mode A) rank the engine
 * configurations, and of the first three that finalize the one that runs
 * fastest on the first call's tensors becomes the plan.
 *
 * Plans are built once per key (everything a plan depends on: shape,
 * strides, dtype, causal) and cached per context; the scale and the causal
 * shift are by-value scalars given at execution, so they are not part of
 * the key. A shape cuDNN refuses is remembered as refused, and the caller
 * falls back to kiln's kernels: a refusal never reaches the user.
 *
 * The handle is made at the first use in a context (loading cuDNN costs
 * tens of milliseconds; contexts that never route here never pay it) and
 * bound to the context's stream. Neither the handle nor a plan is made
 * inside a graph capture; a cached plan's execution is captured as any
 * kernel's.
 */
#include "cuda_attention.cuh"
#include "cuda_marks.h"
#include "cuda_tune.cuh"

#include <chrono>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef KILN_HAVE_CUDNN

#include <cudnn.h>

namespace {

/* Unique ids of the graph's tensors: the variant pack's keys. */
enum : int64_t {
  UID_Q = 1,
  UID_K,
  UID_V,
  UID_O,
  UID_SCALE,
  UID_NEG_INF,
  UID_SHIFT,
  UID_VIRTUAL = 100 /* virtual tensors from here on */
};

struct cudnn_key {
  int64_t batch, hq, hkv, sq, sk, d;
  int64_t q_row, k_row, v_row;
  int32_t dtype;
  int32_t causal;
};

/* One cached plan: the descriptors the plan was made of (kept alive with
 * it), or none when cuDNN refused the key. */
constexpr int MAX_DESCS = 96; /* a causal graph with statistics makes 61 */
struct cudnn_entry {
  cudnn_key key;
  uint64_t last_used; /* 0: empty slot */
  cudnnBackendDescriptor_t plan; /* NULL: refused */
  int64_t workspace;
  cudnnBackendDescriptor_t descs[MAX_DESCS];
  int ndescs;
};

constexpr int CACHE_SLOTS = 32;

/* This call's tensors and stream, for timing a shape's candidate plans
 * when its entry is built. */
struct tune_call {
  const kiln_dev::attn_args *a;
  float scale;
  void *ws;
  cudaStream_t stream;
};

} // namespace

struct kiln_cuda_cudnn {
  cudnnHandle_t handle;
  uint64_t tick;
  cudnn_entry slots[CACHE_SLOTS];
};

namespace {

void entry_release(cudnn_entry *e) {
  /* Destroyed newest first: the plan before what it was built from. */
  if (e->plan)
    (void)cudnnBackendDestroyDescriptor(e->plan);
  for (int i = e->ndescs - 1; i >= 0; i--)
    (void)cudnnBackendDestroyDescriptor(e->descs[i]);
  memset(e, 0, sizeof *e);
}

/* The graph under construction: every descriptor made is recorded in the
 * entry, so one release frees them whatever step failed. */
struct builder {
  cudnn_entry *e;
  cudnnStatus_t status = CUDNN_STATUS_SUCCESS;
  int64_t next_uid = UID_VIRTUAL;
  cudnnBackendDescriptorType_t types[MAX_DESCS]; /* of e->descs, for why */
  char why[384] = "";                             /* the first failure, for KILN_CUDNN_DEBUG */

  explicit builder(cudnn_entry *entry) : e(entry) {}

  /* Records the first failure: what was being done, and cuDNN's words. */
  void failed(cudnnStatus_t s, const char *what, long long a, long long b) {
    status = s;
    char last[256] = "";
    cudnnGetLastErrorString(last, sizeof last);
    snprintf(why, sizeof why, "%s %lld/%lld: %s; %s", what, a, b, cudnnGetErrorString(s), last);
  }
  long long type_of(cudnnBackendDescriptor_t d) const {
    for (int i = 0; i < e->ndescs; i++)
      if (e->descs[i] == d)
        return types[i];
    return -1;
  }
  cudnnBackendDescriptor_t make(cudnnBackendDescriptorType_t type) {
    if (status != CUDNN_STATUS_SUCCESS)
      return nullptr;
    if (e->ndescs == MAX_DESCS) {
      failed(CUDNN_STATUS_INTERNAL_ERROR, "too many descriptors", MAX_DESCS, type);
      return nullptr;
    }
    cudnnBackendDescriptor_t d = nullptr;
    const cudnnStatus_t s = cudnnBackendCreateDescriptor(type, &d);
    if (s != CUDNN_STATUS_SUCCESS) {
      failed(s, "create descriptor type", type, 0);
      return nullptr;
    }
    types[e->ndescs] = type;
    e->descs[e->ndescs++] = d;
    return d;
  }
  void set(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name,
           cudnnBackendAttributeType_t type, int64_t count, const void *value) {
    if (status != CUDNN_STATUS_SUCCESS)
      return;
    const cudnnStatus_t s = cudnnBackendSetAttribute(d, name, type, count, value);
    if (s != CUDNN_STATUS_SUCCESS)
      failed(s, "set attribute (descriptor type/attribute)", type_of(d), name);
  }
  void finalize(cudnnBackendDescriptor_t d) {
    if (status != CUDNN_STATUS_SUCCESS)
      return;
    const cudnnStatus_t s = cudnnBackendFinalize(d);
    if (s != CUDNN_STATUS_SUCCESS)
      failed(s, "finalize (descriptor type/-)", type_of(d), 0);
  }

  /* A 4-d tensor; virtual ones get the next free uid. */
  cudnnBackendDescriptor_t tensor(cudnnDataType_t type, const int64_t dims[4],
                                  const int64_t strides[4], int64_t uid, bool is_virtual,
                                  bool by_value = false) {
    cudnnBackendDescriptor_t t = make(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    if (is_virtual)
      uid = next_uid++;
    const int64_t align = 16;
    set(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type);
    set(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims);
    set(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides);
    set(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
    set(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align);
    if (is_virtual) {
      const bool yes = true;
      set(t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &yes);
    }
    if (by_value) {
      const bool yes = true;
      set(t, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &yes);
    }
    finalize(t);
    return t;
  }
  /* A virtual tensor shaped like the scores [b, h, sq, sk] or the row
   * statistics [b, h, sq, 1], dense. */
  cudnnBackendDescriptor_t scores(cudnnDataType_t type, const int64_t dims[4]) {
    const int64_t strides[4] = {dims[1] * dims[2] * dims[3], dims[2] * dims[3], dims[3], 1};
    return tensor(type, dims, strides, 0, true);
  }
  cudnnBackendDescriptor_t scalar(cudnnDataType_t type, int64_t uid) {
    const int64_t ones[4] = {1, 1, 1, 1};
    return tensor(type, ones, ones, uid, false, true);
  }

  /* y = mode(x[, b[, t]]); compute precision prec; axis for GEN_INDEX. */
  cudnnBackendDescriptor_t pointwise(cudnnPointwiseMode_t mode, cudnnDataType_t prec,
                                     cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t b,
                                     cudnnBackendDescriptor_t t, cudnnBackendDescriptor_t y,
                                     int64_t axis = -1) {
    cudnnBackendDescriptor_t pw = make(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
    set(pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode);
    set(pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &prec);
    if (mode == CUDNN_POINTWISE_GEN_INDEX)
      set(pw, CUDNN_ATTR_POINTWISE_AXIS, CUDNN_TYPE_INT64, 1, &axis);
    finalize(pw);
    cudnnBackendDescriptor_t op = make(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
    set(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &pw);
    set(op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x);
    if (b)
      set(op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b);
    if (t)
      set(op, CUDNN_ATTR_OPERATION_POINTWISE_TDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t);
    set(op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y);
    finalize(op);
    return op;
  }
  cudnnBackendDescriptor_t reduction(cudnnReduceTensorOp_t mode, cudnnBackendDescriptor_t x,
                                     cudnnBackendDescriptor_t y) {
    const cudnnDataType_t prec = CUDNN_DATA_FLOAT;
    cudnnBackendDescriptor_t r = make(CUDNN_BACKEND_REDUCTION_DESCRIPTOR);
    set(r, CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, 1, &mode);
    set(r, CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &prec);
    finalize(r);
    cudnnBackendDescriptor_t op = make(CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR);
    set(op, CUDNN_ATTR_OPERATION_REDUCTION_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &r);
    set(op, CUDNN_ATTR_OPERATION_REDUCTION_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x);
    set(op, CUDNN_ATTR_OPERATION_REDUCTION_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y);
    finalize(op);
    return op;
  }
  cudnnBackendDescriptor_t matmul(cudnnBackendDescriptor_t a, cudnnBackendDescriptor_t b,
                                  cudnnBackendDescriptor_t c) {
    const cudnnDataType_t prec = CUDNN_DATA_FLOAT;
    cudnnBackendDescriptor_t m = make(CUDNN_BACKEND_MATMUL_DESCRIPTOR);
    set(m, CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &prec);
    finalize(m);
    cudnnBackendDescriptor_t op = make(CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR);
    set(op, CUDNN_ATTR_OPERATION_MATMUL_ADESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &a);
    set(op, CUDNN_ATTR_OPERATION_MATMUL_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b);
    set(op, CUDNN_ATTR_OPERATION_MATMUL_CDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &c);
    set(op, CUDNN_ATTR_OPERATION_MATMUL_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &m);
    finalize(op);
    return op;
  }
};

/* Builds the operation graph for key into e (its descriptors recorded
 * there); with_stats: the softmax also computes its row statistics
 * (log-sum-exp, left virtual), the form cuDNN's frontend gives it. */
cudnnBackendDescriptor_t build_graph(cudnnHandle_t handle, const cudnn_key &k, bool with_stats,
                                     builder &g) {
  const cudnnDataType_t io = k.dtype == KILN_BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_HALF;
  const cudnnDataType_t f32 = CUDNN_DATA_FLOAT;
  /* kiln's padded layout, token rows q_row apart, heads d apart. */
  const int64_t q_dims[4] = {k.batch, k.hq, k.sq, k.d};
  const int64_t q_strides[4] = {k.sq * k.q_row, k.d, k.q_row, 1};
  /* K read as K^T: [b, hkv, d, sk]. */
  const int64_t kt_dims[4] = {k.batch, k.hkv, k.d, k.sk};
  const int64_t kt_strides[4] = {k.sk * k.k_row, k.d, 1, k.k_row};
  const int64_t v_dims[4] = {k.batch, k.hkv, k.sk, k.d};
  const int64_t v_strides[4] = {k.sk * k.v_row, k.d, k.v_row, 1};
  const int64_t o_strides[4] = {k.sq * k.hq * k.d, k.d, k.hq * k.d, 1};
  const int64_t s_dims[4] = {k.batch, k.hq, k.sq, k.sk};
  const int64_t row_dims[4] = {k.batch, k.hq, k.sq, 1};

  cudnnBackendDescriptor_t ops[20]; /* 15 at most */
  int nops = 0;
  cudnnBackendDescriptor_t q = g.tensor(io, q_dims, q_strides, UID_Q, false);
  cudnnBackendDescriptor_t kt = g.tensor(io, kt_dims, kt_strides, UID_K, false);
  cudnnBackendDescriptor_t v = g.tensor(io, v_dims, v_strides, UID_V, false);
  cudnnBackendDescriptor_t o = g.tensor(io, q_dims, o_strides, UID_O, false);
  cudnnBackendDescriptor_t scale = g.scalar(f32, UID_SCALE);

  cudnnBackendDescriptor_t s = g.scores(f32, s_dims);
  ops[nops++] = g.matmul(q, kt, s);
  cudnnBackendDescriptor_t scaled = g.scores(f32, s_dims);
  ops[nops++] = g.pointwise(CUDNN_POINTWISE_MUL, f32, s, scale, nullptr, scaled);
  cudnnBackendDescriptor_t logits = scaled;
  if (k.causal) {
    /* Key j visible to query i when i + (sk - sq) >= j (bottom-right
     * aligned); the shift term only when it is not 0, so that self
     * attention has exactly the graph of cuDNN's own causal mask. */
    cudnnBackendDescriptor_t row = g.scores(CUDNN_DATA_INT32, s_dims);
    ops[nops++] = g.pointwise(CUDNN_POINTWISE_GEN_INDEX, f32, scaled, nullptr, nullptr, row, 2);
    cudnnBackendDescriptor_t col = g.scores(CUDNN_DATA_INT32, s_dims);
    ops[nops++] = g.pointwise(CUDNN_POINTWISE_GEN_INDEX, f32, scaled, nullptr, nullptr, col, 3);
    if (k.sk != k.sq) {
      cudnnBackendDescriptor_t shift = g.scalar(CUDNN_DATA_INT32, UID_SHIFT);
      cudnnBackendDescriptor_t shifted = g.scores(CUDNN_DATA_INT32, s_dims);
      ops[nops++] =
          g.pointwise(CUDNN_POINTWISE_ADD, CUDNN_DATA_INT32, row, shift, nullptr, shifted);
      row = shifted;
    }
    cudnnBackendDescriptor_t keep = g.scores(CUDNN_DATA_BOOLEAN, s_dims);
    ops[nops++] = g.pointwise(CUDNN_POINTWISE_CMP_GE, CUDNN_DATA_BOOLEAN, row, col, nullptr, keep);
    cudnnBackendDescriptor_t neg_inf = g.scalar(f32, UID_NEG_INF);
    logits = g.scores(f32, s_dims);
    ops[nops++] =
        g.pointwise(CUDNN_POINTWISE_BINARY_SELECT, f32, scaled, neg_inf, keep, logits);
  }
  cudnnBackendDescriptor_t max = g.scores(f32, row_dims);
  ops[nops++] = g.reduction(CUDNN_REDUCE_TENSOR_MAX, logits, max);
  cudnnBackendDescriptor_t centered = g.scores(f32, s_dims);
  ops[nops++] = g.pointwise(CUDNN_POINTWISE_SUB, f32, logits, max, nullptr, centered);
  cudnnBackendDescriptor_t e = g.scores(f32, s_dims);
  ops[nops++] = g.pointwise(CUDNN_POINTWISE_EXP, f32, centered, nullptr, nullptr, e);
  cudnnBackendDescriptor_t sum = g.scores(f32, row_dims);
  ops[nops++] = g.reduction(CUDNN_REDUCE_TENSOR_ADD, e, sum);
  if (with_stats) {
    cudnnBackendDescriptor_t log_sum = g.scores(f32, row_dims);
    ops[nops++] = g.pointwise(CUDNN_POINTWISE_LOG, f32, sum, nullptr, nullptr, log_sum);
    cudnnBackendDescriptor_t stats = g.scores(f32, row_dims);
    ops[nops++] = g.pointwise(CUDNN_POINTWISE_ADD, f32, max, log_sum, nullptr, stats);
  }
  /* P in q's dtype: the second matmul's A takes the i/o type. */
  cudnnBackendDescriptor_t p = g.scores(io, s_dims);
  ops[nops++] = g.pointwise(CUDNN_POINTWISE_DIV, f32, e, sum, nullptr, p);
  ops[nops++] = g.matmul(p, v, o);

  cudnnBackendDescriptor_t graph = g.make(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  g.set(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, nops, ops);
  g.set(graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
  g.finalize(graph);
  return graph;
}

/* A plan for config within max_workspace bytes, or NULL (why in g). */
cudnnBackendDescriptor_t plan_of(cudnnHandle_t handle, cudnnBackendDescriptor_t config,
                                 int64_t max_workspace, int64_t index, builder &g,
                                 int64_t *workspace) {
  cudnnBackendDescriptor_t plan = nullptr;
  if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &plan) !=
      CUDNN_STATUS_SUCCESS)
    return nullptr;
  int64_t ws = 0, got = 0;
  cudnnStatus_t s = cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE,
                                             CUDNN_TYPE_HANDLE, 1, &handle);
  if (s == CUDNN_STATUS_SUCCESS)
    s = cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                                 CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &config);
  if (s == CUDNN_STATUS_SUCCESS)
    s = cudnnBackendFinalize(plan);
  if (s == CUDNN_STATUS_SUCCESS)
    s = cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                 CUDNN_TYPE_INT64, 1, &got, &ws);
  if (s == CUDNN_STATUS_SUCCESS && ws <= max_workspace) {
    *workspace = ws;
    return plan;
  }
  /* Kept for the debug line: why the last config was passed over. */
  g.failed(s != CUDNN_STATUS_SUCCESS ? s : CUDNN_STATUS_NOT_SUPPORTED,
           "plan of config (index/workspace)", index, ws);
  (void)cudnnBackendDestroyDescriptor(plan);
  return nullptr;
}

/* Up to TUNE_PLANS plans, in heuristics' order, of the configs that
 * finalize within max_workspace; from config `only` alone when it is not
 * negative (KILN_CUDNN_PLAN). Returns how many. */
constexpr int TUNE_PLANS = 3;
static_assert(TUNE_PLANS <= kiln_dev::TUNE_MAX, "tune_fastest's bound");
struct candidates {
  int n = 0;
  cudnnBackendDescriptor_t plan[TUNE_PLANS];
  int64_t workspace[TUNE_PLANS], index[TUNE_PLANS];
};
void make_plans(cudnnHandle_t handle, cudnnBackendDescriptor_t graph, int64_t max_workspace,
                int only, builder &g, candidates *out) {
  cudnnBackendDescriptor_t heur = g.make(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  const cudnnBackendHeurMode_t mode = CUDNN_HEUR_MODE_A;
  g.set(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph);
  g.set(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode);
  g.finalize(heur);
  int64_t count = 0;
  if (g.status != CUDNN_STATUS_SUCCESS)
    return;
  cudnnStatus_t s = cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                             CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, nullptr);
  if (s != CUDNN_STATUS_SUCCESS || count <= 0) {
    g.failed(s != CUDNN_STATUS_SUCCESS ? s : CUDNN_STATUS_NOT_SUPPORTED, "heuristics: configs",
             count, 0);
    return;
  }
  constexpr int MAX_CONFIGS = 8;
  cudnnBackendDescriptor_t configs[MAX_CONFIGS];
  const int64_t want = count < MAX_CONFIGS ? count : MAX_CONFIGS;
  for (int64_t i = 0; i < want; i++)
    configs[i] = g.make(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
  if (g.status != CUDNN_STATUS_SUCCESS)
    return;
  s = cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                               want, &count, configs);
  if (s != CUDNN_STATUS_SUCCESS) {
    g.failed(s, "heuristics: get configs", want, 0);
    return;
  }
  for (int64_t i = only < 0 ? 0 : only; i < count && i < want && out->n < TUNE_PLANS; i++) {
    int64_t ws = 0;
    cudnnBackendDescriptor_t plan = plan_of(handle, configs[i], max_workspace, i, g, &ws);
    if (plan) {
      out->plan[out->n] = plan;
      out->workspace[out->n] = ws;
      out->index[out->n++] = i;
      if (only >= 0)
        break;
    }
  }
}

/* Runs plan once on this call's tensors. */
cudnnStatus_t execute(cudnnHandle_t handle, cudnnBackendDescriptor_t plan,
                      const kiln_dev::attn_args &a, float scale, void *ws) {
  const float neg_inf = -INFINITY;
  const int32_t shift = (int32_t)(a.sk - a.sq);
  int64_t uids[7] = {UID_Q, UID_K, UID_V, UID_O, UID_SCALE};
  void *ptrs[7] = {(void *)a.q, (void *)a.k, (void *)a.v, a.out, (void *)&scale};
  int n = 5;
  if (a.causal) {
    uids[n] = UID_NEG_INF;
    ptrs[n++] = (void *)&neg_inf;
    if (a.sk != a.sq) {
      uids[n] = UID_SHIFT;
      ptrs[n++] = (void *)&shift;
    }
  }
  cudnnBackendDescriptor_t pack = nullptr;
  cudnnStatus_t s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &pack);
  if (s == CUDNN_STATUS_SUCCESS)
    s = cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, n,
                                 uids);
  if (s == CUDNN_STATUS_SUCCESS)
    s = cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS,
                                 CUDNN_TYPE_VOID_PTR, n, ptrs);
  if (s == CUDNN_STATUS_SUCCESS)
    s = cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1,
                                 &ws);
  if (s == CUDNN_STATUS_SUCCESS)
    s = cudnnBackendFinalize(pack);
  if (s == CUDNN_STATUS_SUCCESS)
    s = cudnnBackendExecute(handle, plan, pack);
  if (pack)
    (void)cudnnBackendDestroyDescriptor(pack);
  return s;
}

/* The fastest of the candidates on this call's tensors (the first, in
 * heuristics' order, when there is one or timing fails); the others are
 * destroyed. Heuristics' first pick is not the fastest everywhere: on the
 * H200 (cuDNN 9.19, 2026-12-01) bf16 B32 H32 S512 D64 causal ran in 150 us
 * on config 0 of 5 and 129 on config 1 (PyTorch's cuDNN call: 139). */
int pick_fastest(cudnnHandle_t handle, const candidates &cand, const tune_call &t,
                 const char *shape) {
  /* out is written by every run with the same values: it never overlaps
   * the inputs (src/ops/attention.c). */
  float ms[TUNE_PLANS];
  const int best = cand.n < 2 ? 0 : kiln_dev::tune_fastest(cand.n, t.stream, [&](int i) {
    return execute(handle, cand.plan[i], *t.a, t.scale, t.ws) == CUDNN_STATUS_SUCCESS;
  }, ms);
  for (int i = 0; cand.n > 1 && kiln_cuda_env_cudnn_debug() && i < cand.n; i++)
    fprintf(stderr, "kiln cudnn: %s: config %lld: %.1f us\n", shape, (long long)cand.index[i],
            1e3 * ms[i]);
  for (int i = 0; i < cand.n; i++)
    if (i != best)
      (void)cudnnBackendDestroyDescriptor(cand.plan[i]);
  return best;
}

/* Fills e with key's plan, or leaves it refused (plan NULL). The graph
 * with the statistics first (the frontend's form), then without; of the
 * first configs that build, the fastest on this call's tensors. */
void build_entry(kiln_cuda_cudnn *c, cudnn_entry *e, const cudnn_key &k, int64_t max_workspace,
                 const tune_call &t) {
  const bool debug = kiln_cuda_env_cudnn_debug();
  const auto start = std::chrono::steady_clock::now();
  char shape[160];
  snprintf(shape, sizeof shape, "B %lld Hq %lld Hkv %lld Sq %lld Sk %lld D %lld %s%s",
           (long long)k.batch, (long long)k.hq, (long long)k.hkv, (long long)k.sq,
           (long long)k.sk, (long long)k.d, k.dtype == KILN_BF16 ? "bf16" : "f16",
           k.causal ? " causal" : "");
  int stats_first = 1, only = -1;
  kiln_cuda_env_cudnn_plan(&stats_first, &only);
  for (int pass = 0; pass < 2; pass++) {
    const bool with_stats = pass == 0 ? stats_first != 0 : stats_first == 0;
    builder g(e);
    cudnnBackendDescriptor_t graph = build_graph(c->handle, k, with_stats, g);
    candidates cand;
    if (g.status == CUDNN_STATUS_SUCCESS)
      make_plans(c->handle, graph, max_workspace, only, g, &cand);
    if (cand.n > 0) {
      const int best = pick_fastest(c->handle, cand, t, shape);
      e->plan = cand.plan[best];
      e->workspace = cand.workspace[best];
      break;
    }
    if (debug)
      fprintf(stderr, "kiln cudnn: %s: graph %s statistics: %s\n", shape,
              with_stats ? "with" : "without", g.why);
    const cudnn_key keep = e->key;
    entry_release(e);
    e->key = keep;
  }
  if (debug)
    fprintf(stderr, "kiln cudnn: %s: %s (workspace %lld; %.1f ms to build)\n", shape,
            e->plan ? "plan" : "refused", (long long)e->workspace,
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count());
}

/* The cached entry for key, built on a miss (evicting the least recently
 * used slot when all are taken); NULL on a miss when !may_build. */
cudnn_entry *entry_for(kiln_cuda_cudnn *c, const cudnn_key &k, int64_t max_workspace,
                       bool may_build, const tune_call &t) {
  cudnn_entry *victim = &c->slots[0];
  for (cudnn_entry &e : c->slots) {
    if (e.last_used && memcmp(&e.key, &k, sizeof k) == 0) {
      e.last_used = ++c->tick;
      return &e;
    }
    if (e.last_used < victim->last_used)
      victim = &e;
  }
  if (!may_build)
    return nullptr;
  if (victim->last_used)
    entry_release(victim);
  victim->key = k;
  build_entry(c, victim, k, max_workspace, t);
  victim->last_used = ++c->tick;
  return victim;
}

bool aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

} // namespace

bool kiln_cuda_attention_cudnn_fits(const kiln_dev::attn_args &a, kiln_dtype dtype) {
  /* The graph has no additive mask, no per-sequence lengths and the
   * padded layout; cuDNN wants 16-byte aligned rows, D a multiple of 8.
   * Causal with more queries than keys has rows with no visible key,
   * which kiln defines as zeros and cuDNN does not. A negative scale gave
   * NaN on the H200 (cuDNN 9, the tests' scale_negative case), so only
   * positive finite scales go to cuDNN. */
  return (dtype == KILN_F16 || dtype == KILN_BF16) && !a.mask && !a.seqlens_k && !a.cu_q &&
         a.scale_log2 > 0 && isfinite(a.scale_log2) &&
         a.d % 8 == 0 && a.d <= 256 && a.sk >= 1 && !(a.causal && a.sq > a.sk) &&
         a.q_row % 8 == 0 && a.k_row % 8 == 0 && a.v_row % 8 == 0 && aligned16(a.q) &&
         aligned16(a.k) && aligned16(a.v) && aligned16(a.out);
}

kiln_status kiln_cuda_attention_cudnn(kiln_cuda *st, const kiln_dev::attn_args &a,
                                      kiln_dtype dtype, float scale, const char *fn, bool *ran) {
  *ran = false;
  /* Inside a graph capture nothing is built (cuDNN's plan building may
   * make calls a capture forbids): a shape not yet seen runs on kiln's
   * kernels there, and is not remembered as refused. */
  if (!st->cudnn && st->capturing)
    return KILN_OK;
  if (!st->cudnn) {
    kiln_cuda_cudnn *c = (kiln_cuda_cudnn *)calloc(1, sizeof *c);
    if (!c)
      return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "%s: out of host memory for cuDNN's state", fn);
    cudnnStatus_t s = cudnnCreate(&c->handle);
    if (s == CUDNN_STATUS_SUCCESS)
      s = cudnnSetStream(c->handle, st->stream);
    if (s != CUDNN_STATUS_SUCCESS) {
      /* No usable cuDNN at run time (library or driver): kiln's kernels
       * take every shape, so this is a refusal, remembered as a handle-
       * less state. */
      if (c->handle)
        (void)cudnnDestroy(c->handle);
      c->handle = nullptr;
      if (kiln_cuda_env_cudnn_debug())
        fprintf(stderr, "kiln cudnn: no handle: %s\n", cudnnGetErrorString(s));
    }
    st->cudnn = c;
  }
  kiln_cuda_cudnn *c = st->cudnn;
  if (!c->handle)
    return KILN_OK;
  cudnn_key k;
  memset(&k, 0, sizeof k);
  k.batch = a.batch;
  k.hq = a.hq;
  k.hkv = a.hkv;
  k.sq = a.sq;
  k.sk = a.sk;
  k.d = a.d;
  k.q_row = a.q_row;
  k.k_row = a.k_row;
  k.v_row = a.v_row;
  k.dtype = dtype;
  k.causal = a.causal;
  /* The workspace is cuBLASLt's: both are used only by work on st->stream,
   * one after the other. */
  const tune_call t = {&a, scale, st->workspace, st->stream};
  cudnn_entry *e = entry_for(c, k, (int64_t)st->workspace_size, !st->capturing, t);
  if (!e || !e->plan)
    return KILN_OK;
  const cudnnStatus_t s = execute(c->handle, e->plan, a, scale, st->workspace);
  /* "Not supported" at execution (a plan that built, but not for this
   * run, inside a capture say) launched nothing: kiln's kernels take it. */
  if (CUDNN_STATUS_CATEGORY(s) == CUDNN_STATUS_NOT_SUPPORTED) {
    if (kiln_cuda_env_cudnn_debug())
      fprintf(stderr, "kiln cudnn: execution not supported, falling back: %s\n",
              cudnnGetErrorString(s));
    return KILN_OK;
  }
  if (s != CUDNN_STATUS_SUCCESS)
    return kiln_fail(KILN_ERR_UNSUPPORTED, "%s: cuDNN's fused attention failed: %s", fn,
                     cudnnGetErrorString(s));
  /* cuDNN's Hopper kernels store in a way compute-sanitizer's initcheck
   * does not see: out is declared written (cuda_marks.cu). */
  kiln_cuda_mark_written(st->stream, a.out,
                         (size_t)a.batch * (size_t)a.sq * (size_t)a.hq * (size_t)a.d * 2);
  *ran = true;
  return KILN_OK;
}

void kiln_cuda_cudnn_release(kiln_cuda *st) {
  kiln_cuda_cudnn *c = st->cudnn;
  if (!c)
    return;
  for (cudnn_entry &e : c->slots)
    if (e.last_used)
      entry_release(&e);
  if (c->handle)
    (void)cudnnDestroy(c->handle);
  free(c);
  st->cudnn = nullptr;
}

#else /* no cuDNN in this build: the route takes nothing */

bool kiln_cuda_attention_cudnn_fits(const kiln_dev::attn_args &, kiln_dtype) { return false; }

kiln_status kiln_cuda_attention_cudnn(kiln_cuda *, const kiln_dev::attn_args &, kiln_dtype,
                                      float, const char *, bool *ran) {
  *ran = false;
  return KILN_OK;
}

void kiln_cuda_cudnn_release(kiln_cuda *) {}

#endif
