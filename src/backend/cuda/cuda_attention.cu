/*
 * kiln_attention on the GPU: the op in the form the kernels take, and the
 * one routing function among them. The kernels check the device-side
 * lengths (cu_seqlens, seqlens_k) before writing and raise a bad one as a
 * deferred error (cuda_attention.cuh).
 *
 * Routes (choose_route), in order:
 *   cudnn   cuDNN's fused flash attention (cuda_attention_cudnn.cu): f16/bf16,
 *           padded layout, no mask, no seqlens_k, a positive scale; in auto
 *           mode for D 64 and 128 with at least CUDNN_MIN_S queries and
 *           keys (cudnn_preferred, measured below). A shape cuDNN refuses
 *           falls back to the route auto mode would take among kiln's.
 *   decode  a few queries per sequence (sq <= DECODE_MAX_SQ) against at
 *           least DECODE_MIN_SK keys, or any keys where mma does not take
 *           the shape: split over the keys so that every SM streams part
 *           of the cache. Two kernels, in this order:
 *             decode_mma  f16/bf16, D 32, 64 or 128, 16-byte aligned rows:
 *                         tensor cores, a cp.async pipeline per warp, the
 *                         splits merged by the last block of each row chunk
 *                         (cuda_attention_decode_mma.cu);
 *             decode_simt any dtype, D a whole number of 16-byte pieces
 *                         that a warp can split evenly: CUDA cores, then a
 *                         combine kernel (cuda_attention_decode.cu);
 *   mma     f16/bf16, D 32, 64 or 128, 16-byte aligned rows: tensor cores,
 *           FlashAttention-2 style (cuda_attention_mma.cu);
 *   mma_f32 f32, D 32, 64 or 128, 16-byte aligned rows: tensor cores at
 *           f32's accuracy (each operand split in two, three products:
 *           f16 pieces scaled by powers of two, cuda_attention_mma_f32h.cu,
 *           or TF32 pieces, cuda_attention_mma_f32.cu), in auto mode where
 *           f32_mma_on (MMA_F32_IN_AUTO, KILN_CUDA_F32_MMA);
 *   general everything else (cuda_attention_general.cu).
 * The thresholds are first guesses from the kernels' shapes, to be replaced
 * by measured crossovers. KILN_CUDA_ATTENTION=general|mma|mma_f32|decode|decode_simt|cudnn
 * in the environment of a process (read once) forces a route wherever that
 * kernel takes the shape (decode: decode_mma, else decode_simt), so every
 * kernel can be tested and timed on any case.
 */
#include "cuda_attention.cuh"

#include <stdlib.h>
#include <string.h>

using namespace kiln_dev;

namespace {

/* Past 8 queries, a kv head's rows take several chunks, each reading the
 * cache again; below 512 keys a block per query tile (mma) is enough. */
constexpr int64_t DECODE_MAX_SQ = 8;
constexpr int64_t DECODE_MIN_SK = 512;

enum attn_route { ROUTE_AUTO, ROUTE_GENERAL, ROUTE_MMA, ROUTE_MMA_F32, ROUTE_DECODE,
                  ROUTE_DECODE_SIMT, ROUTE_CUDNN };

/* Where auto mode sends a shape to cuDNN rather than mma. Measured on an
 * H200 (2026-12-01, bf16, 16k tokens a batch, H*D 2048, BENCHMARKS.md):
 * at D 64 and 128 and S 512, 2048, 8192, causal and not, cuDNN ran at
 * 229-673 TFLOP/s against mma's 190-242, 1.9-2.8x, on every shape. Below
 * 512 nothing was measured through kiln; at the MiniLM shape (D 32, S 128)
 * PyTorch's cuDNN took 55 us where mma takes 37, so short sequences and
 * D 32 stay on mma. The crossover between S 128 and 512 is not measured:
 * CUDNN_MIN_S is the smallest length measured as a win. CUDNN_IN_AUTO
 * false turns the route off in auto mode. */
constexpr bool CUDNN_IN_AUTO = true;
constexpr int64_t CUDNN_MIN_S = 512;
bool cudnn_preferred(const attn_args &a, kiln_dtype dtype) {
  return CUDNN_IN_AUTO && kiln_cuda_attention_cudnn_fits(a, dtype) && (a.d == 64 || a.d == 128) &&
         a.sq >= CUDNN_MIN_S && a.sk >= CUDNN_MIN_S;
}

/* Whether auto mode sends f32 to the tensor-core kernel (mma_f32, f16
 * pieces by default) where it fits. Measured on the H200 (2026-12-01,
 * attention_gpu_bench): D 64 B8 H32 S2048 3.83 ms (71.8 TFLOP/s) against
 * the general kernel's 11.1 and PyTorch SDPA's 7.86, causal 2.06 against
 * 6.49 and 4.21; D 128 S2048 3.79 against 12.1; MiniLM varlen f32 55 us
 * against 167 (PyTorch padded: 267); its tests and memcheck clean.
 * KILN_CUDA_F32_MMA=1 or 0 overrides it either way, so tests and
 * benchmarks can run both f32 routes. */
constexpr bool MMA_F32_IN_AUTO = true;
bool f32_mma_on() {
  const int env = kiln_cuda_env_f32_mma();
  return env < 0 ? MMA_F32_IN_AUTO : env == 1;
}

attn_route forced_route() {
  static const attn_route r = [] {
    const char *v = getenv("KILN_CUDA_ATTENTION");
    if (v && strcmp(v, "general") == 0)
      return ROUTE_GENERAL;
    if (v && strcmp(v, "mma") == 0)
      return ROUTE_MMA;
    if (v && strcmp(v, "mma_f32") == 0)
      return ROUTE_MMA_F32;
    if (v && strcmp(v, "decode") == 0)
      return ROUTE_DECODE;
    if (v && strcmp(v, "cudnn") == 0)
      return ROUTE_CUDNN;
    if (v && strcmp(v, "decode_simt") == 0)
      return ROUTE_DECODE_SIMT;
    return ROUTE_AUTO;
  }();
  return r;
}

/* The one routing function. cudnn false: cuDNN refused the shape, route
 * among kiln's kernels. ROUTE_DECODE here means decode_mma; the CUDA-core
 * split kernel is ROUTE_DECODE_SIMT. */
attn_route choose_route(const attn_args &a, kiln_dtype dtype, bool cudnn = true) {
  const attn_route forced = forced_route();
  const bool decode_mma = kiln_cuda_attention_decode_mma_fits(a, dtype);
  const bool decode = decode_mma || kiln_cuda_attention_decode_fits(a, dtype);
  const attn_route decode_route = decode_mma ? ROUTE_DECODE : ROUTE_DECODE_SIMT;
  const bool mma = kiln_cuda_attention_mma_fits(a, dtype);
  const bool mma_f32 = kiln_cuda_attention_mma_f32_fits(a, dtype);
  if (forced == ROUTE_GENERAL || (forced == ROUTE_MMA && mma) ||
      (forced == ROUTE_MMA_F32 && mma_f32) ||
      (forced == ROUTE_DECODE_SIMT && kiln_cuda_attention_decode_fits(a, dtype)))
    return forced;
  /* cuDNN when forced, or in auto mode where it wins (a route forced
   * elsewhere keeps kiln's kernels). */
  if (cudnn && (forced == ROUTE_CUDNN || (forced == ROUTE_AUTO && cudnn_preferred(a, dtype))) &&
      kiln_cuda_attention_cudnn_fits(a, dtype))
    return ROUTE_CUDNN;
  if (forced == ROUTE_DECODE && decode)
    return decode_route;
  /* A few queries: split over keys when the cache is long, and always
   * where the alternative is the general kernel (its blocks hold 128 rows). */
  const bool tensor_cores = mma || (mma_f32 && f32_mma_on());
  if (decode && a.sq <= DECODE_MAX_SQ && (a.sk >= DECODE_MIN_SK || !tensor_cores))
    return decode_route;
  if (mma)
    return ROUTE_MMA;
  if (tensor_cores)
    return ROUTE_MMA_F32;
  return ROUTE_GENERAL;
}

attn_args args_of(const kiln_cuda *st, const kiln_attention_op *op) {
  const size_t es = kiln_dtype_size(op->dtype);
  attn_args a = {};
  a.q = (const char *)op->q->data + op->q_off * es;
  a.k = (const char *)op->k->data + op->k_off * es;
  a.v = (const char *)op->v->data + op->v_off * es;
  a.out = op->out->data;
  a.mask = op->mask ? op->mask->data : nullptr;
  a.mask_b = op->mask_b;
  a.mask_h = op->mask_h;
  a.mask_q = op->mask_q;
  a.seqlens_k = op->seqlens_k ? (const int32_t *)op->seqlens_k->data : nullptr;
  a.cu_q = op->cu_seqlens_q ? (const int32_t *)op->cu_seqlens_q->data : nullptr;
  a.cu_k = op->cu_seqlens_k ? (const int32_t *)op->cu_seqlens_k->data : a.cu_q;
  a.q_row = op->q_row;
  a.k_row = op->k_row;
  a.v_row = op->v_row;
  a.batch = (int)op->batch;
  a.hq = (int)op->hq;
  a.hkv = (int)op->hkv;
  a.group = (int)(op->hq / op->hkv);
  a.d = (int)op->d;
  a.sq = op->sq;
  a.sk = op->sk;
  a.total_q = op->total_q;
  a.total_k = op->total_k;
  a.scale_log2 = op->scale * LOG2E;
  a.causal = op->causal;
  a.defer = kiln_cuda_defer_of(st);
  return a;
}

} // namespace

static kiln_status kiln_cuda_attention(void *state, const kiln_attention_op *op) {
  kiln_cuda *st = (kiln_cuda *)state;
  const char *fn = op->k_off != 0 ? "kiln_attention_packed" : "kiln_attention";
  KILN_CUDA_TRY(kiln_cuda_enter(st, fn));
  /* No sequence, or no token row to write: nothing to do, and no length
   * array to read (an empty batch has cu_seqlens [0] at most). */
  if (op->batch == 0 || op->total_q == 0 || op->hq == 0)
    return KILN_OK;
  if (op->batch > INT32_MAX || op->hq > 65535 || op->d > 256)
    return kiln_fail(KILN_ERR_UNSUPPORTED,
                     "%s: the CUDA kernels take up to 2^31-1 sequences, 65535 heads and D 256; "
                     "got batch %lld, Hq %lld, D %lld", fn, (long long)op->batch,
                     (long long)op->hq, (long long)op->d);
  const attn_args a = args_of(st, op);
  attn_route route = choose_route(a, op->dtype);
  if (route == ROUTE_CUDNN) {
    bool ran = false;
    KILN_CUDA_TRY(kiln_cuda_attention_cudnn(st, a, op->dtype, op->scale, fn, &ran));
    if (ran)
      return KILN_OK;
    route = choose_route(a, op->dtype, false); /* cuDNN has no plan for the shape */
  }
  cudaError_t err;
  switch (route) {
  /* The decode kernels' partials share cuBLASLt's workspace: both are
   * only used by work on st->stream, which runs one kernel's use after the
   * other's. */
  case ROUTE_DECODE:
    err = kiln_cuda_attention_decode_mma(a, op->dtype, st->sm_count, st->workspace,
                                         st->workspace_size, st->attn_counters, st->stream);
    break;
  case ROUTE_DECODE_SIMT:
    err = kiln_cuda_attention_decode(a, op->dtype, st->sm_count, st->workspace,
                                     st->workspace_size, st->stream);
    break;
  case ROUTE_MMA: err = kiln_cuda_attention_mma(a, op->dtype, st->stream); break;
  case ROUTE_MMA_F32: err = kiln_cuda_attention_mma_f32(a, st->stream); break;
  default: err = kiln_cuda_attention_general(a, op->dtype, st->stream); break;
  }
  return kiln_cuda_check(err, fn, "launching the attention kernel");
}

KILN_CUDA_OP(attention, kiln_cuda_attention, NULL);
