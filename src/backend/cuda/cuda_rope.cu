/*
 * kiln_rope on the GPU: rotate-half (NeoX, Llama) and interleaved (GPT-J)
 * pairs of each row of D elements; dims past rotary_dims are copied when
 * out is not x. x is [outer, seq, inner, d] flattened, and row (o, s, i)
 * has position position_offset + s.
 *
 * The angle is the CPU's (cpu_rope.c), as Hugging Face computes it: the
 * f32 inverse frequency 1 / base^(2i / rotary_dims), times the position as
 * f32, in f32; then accurate sincosf of that f32 angle (not __sinf, whose
 * error grows with the angle). A thread keeps one pair index i across the
 * rows it walks, so the inverse frequency is computed once per thread.
 */
#include "cuda_backend.h"
#include "cuda_common.cuh"

using namespace kiln_dev;

namespace {

constexpr int THREADS = 256;

struct rope_args {
  const void *x;
  void *out; /* may be x */
  int64_t rows, seq, inner, d;
  int64_t half;  /* rotary_dims / 2: pairs per row */
  int64_t items; /* per row: half pairs, then the copied tail when out != x */
  int64_t position_offset;
  float base;
  int rotary_dims;
};

/* The CPU's formula (kiln_rope_inv_freq): computed in double, rounded once,
 * so both backends get the same bits; an ulp of inv_freq is an ulp of the
 * angle at every position. */
__device__ __forceinline__ float inv_freq(const rope_args &a, int64_t i) {
  return (float)(1.0 / pow((double)a.base, (double)(2 * i) / (double)a.rotary_dims));
}

/* Element offsets of pair i within a row. */
template <bool INTERLEAVED> __device__ __forceinline__ int64_t first_of(int64_t i) {
  return INTERLEAVED ? 2 * i : i;
}
template <bool INTERLEAVED>
__device__ __forceinline__ int64_t second_of(int64_t i, int64_t half) {
  return INTERLEAVED ? 2 * i + 1 : i + half;
}

/* threadIdx.x and blockIdx.x pick the item of a row (a pair, or a tail
 * element to copy); y walks the rows. Each pair is read before either of
 * its elements is written, so out may be x. */
template <class T, bool INTERLEAVED>
__global__ void __launch_bounds__(THREADS) rope_kernel(rope_args a) {
  KILN_KERNEL_BEGIN();
  const int64_t item = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (item >= a.items)
    return;
  const T *x = (const T *)a.x;
  T *out = (T *)a.out;
  const int64_t step = (int64_t)gridDim.y * blockDim.y;
  int64_t row = (int64_t)blockIdx.y * blockDim.y + threadIdx.y;
  if (item >= a.half) { /* a dim past rotary_dims: copied */
    const int64_t c = 2 * a.half + (item - a.half);
    for (; row < a.rows; row += step)
      out[row * a.d + c] = x[row * a.d + c];
    return;
  }
  const float freq = inv_freq(a, item);
  const int64_t c1 = first_of<INTERLEAVED>(item), c2 = second_of<INTERLEAVED>(item, a.half);
  for (; row < a.rows; row += step) {
    const int64_t s = (row / a.inner) % a.seq;
    float sn, cs;
    sincosf((float)(a.position_offset + s) * freq, &sn, &cs);
    const float v1 = to_f32(x[row * a.d + c1]), v2 = to_f32(x[row * a.d + c2]);
    out[row * a.d + c1] = from_f32<T>(v1 * cs - v2 * sn);
    out[row * a.d + c2] = from_f32<T>(v2 * cs + v1 * sn);
  }
}

template <class T>
cudaError_t launch_rope(const rope_args &a, bool interleaved, int sm_count, cudaStream_t stream) {
  int tx = 32;
  while (tx < THREADS && tx < a.items)
    tx *= 2;
  const int ty = THREADS / tx;
  const int64_t gx = (a.items + tx - 1) / tx;
  /* Enough row blocks to fill the GPU about twice; the rows loop covers
   * the rest. The y dimension holds at most 65535. */
  int64_t gy = (a.rows + ty - 1) / ty;
  const int64_t want = ((int64_t)sm_count * 2 * (2048 / THREADS) + gx - 1) / gx;
  gy = gy < want ? gy : want;
  gy = gy < 65535 ? (gy > 0 ? gy : 1) : 65535;
  if (gx > INT32_MAX)
    return cudaErrorInvalidConfiguration;
  const dim3 grid((unsigned)gx, (unsigned)gy), block(tx, ty);
  return interleaved ? launch(rope_kernel<T, true>, grid, block, 0, stream, a)
                     : launch(rope_kernel<T, false>, grid, block, 0, stream, a);
}

} // namespace

static kiln_status kiln_cuda_rope(void *state, const kiln_rope_op *op) {
  kiln_cuda *st = (kiln_cuda *)state;
  const char *fn = "kiln_rope";
  KILN_CUDA_TRY(kiln_cuda_enter(st, fn));
  rope_args a;
  a.x = op->x->data;
  a.out = op->out->data;
  a.rows = op->outer * op->seq * op->inner;
  a.seq = op->seq;
  a.inner = op->inner;
  a.d = op->d;
  a.half = op->rotary_dims / 2;
  a.items = a.half + (a.out != a.x ? op->d - op->rotary_dims : 0);
  a.position_offset = op->position_offset;
  a.base = op->base;
  a.rotary_dims = (int)op->rotary_dims;
  if (a.items == 0)
    return KILN_OK;
  cudaError_t err = with_dtype(op->dtype, [&](auto zero) {
    return launch_rope<decltype(zero)>(a, op->interleaved, st->sm_count, st->stream);
  });
  return kiln_cuda_check(err, fn, "launching the rope kernel");
}

KILN_CUDA_OP(rope, kiln_cuda_rope, NULL);
