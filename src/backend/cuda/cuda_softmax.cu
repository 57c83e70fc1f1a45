/*
 * kiln_softmax on the GPU: softmax over the last axis of scale * x, with
 * the causal mask fused in, and the additive mask (a template flag, so the
 * unmasked kernels carry none of its code). Rows that fit are held in registers and read
 * once (cuda_rows.cuh has the table of configs by width); longer rows
 * stream through one block in two passes, an online max-and-sum, then the
 * write. Math in f32 for every dtype, in base 2: each element costs one
 * exp2 of (logit - max) * k, with k = scale * log2(e) and the logit x
 * itself (scale > 0 keeps the argmax), or k = log2(e) and the logit
 * scale * x + mask. The streamed rows subtract before scaling; rows in
 * registers take y * k - max * k in one fma (softmax_row): the rounding of
 * max * k puts up to |max * k| * 2^-24 into the exponent, which the f32
 * bound allows for.
 *
 * Masked and -inf entries become 0; a row with nothing left (all masked or
 * all -inf) becomes all zeros rather than 0/0. A +inf logit is the row
 * max, and e(+inf) = 1 where (inf - inf) * k would be NaN: the row's +inf
 * entries share it, every finite one gets exp2f(-inf) = 0. A NaN logit
 * (fmaxf skips it in the max) makes the sum NaN, and 1 / NaN every entry.
 * k is at most FLT_MAX: scale * log2(e) overflows for scale above 2.4e38,
 * and 0 * inf would turn the row max's own entry into NaN.
 */
#include "cuda_backend.h"
#include "cuda_rows.cuh"

#include <cfloat>
#include <cmath>

using namespace kiln_dev;

namespace {

struct softmax_args {
  const void *x;
  void *out; /* may be x */
  int64_t rows, cols;
  int64_t sq; /* causal: rows per [Sq, Sk] matrix */
  bool causal;
  bool vec; /* rows (and mask rows) start 16-byte aligned: vector loads */
  float k;  /* the exponent's factor, see the top */
  float scale;
  const void *mask;   /* masked kernels only: [rows / mask_group, cols] */
  int64_t mask_group; /* row r uses mask row r / mask_group */
  bool cs;            /* streaming stores (row_plan) */
};

/* The last unmasked column of row: i + (Sk - Sq) for row i of its matrix. */
__device__ __forceinline__ int64_t last_visible(const softmax_args &a, int64_t row) {
  return a.causal ? row % a.sq + (a.cols - a.sq) : a.cols;
}

/* The logit of x at col, m its mask value (unused without MASK). */
template <bool MASK>
__device__ __forceinline__ float logit(const softmax_args &a, float x, float m, int64_t col,
                                       int64_t last) {
  return col > last ? -INFINITY : MASK ? fmaf(a.scale, x, m) : x;
}

template <class T> __device__ __forceinline__ const T *mask_row(const softmax_args &a,
                                                                 int64_t row) {
  return (const T *)a.mask + row / a.mask_group * a.cols;
}

/* The max to subtract: a row with nothing visible has max -inf, and
 * -inf - -inf would be NaN; subtracting 0 instead leaves exp2f(-inf) = 0
 * everywhere, a zero sum, and a row of zeros. */
__device__ __forceinline__ float visible_max(float mx) { return mx == -INFINITY ? 0.0f : mx; }

/* exp2((y - max) * k), 1 for y = +inf (then max is +inf too; see the top).
 * On the SFU alone (exp2_sfu): 16-bit rows are bound by instructions, not
 * bytes, and an exponent under -126 is a probability 2^-126 below the
 * row's largest, which a flush to 0 changes by nothing the dtype holds. */
__device__ __forceinline__ float shifted_exp(float y, float max, float k) {
  return y == INFINITY ? 1.0f : exp2_sfu((y - max) * k);
}

/* 1 / sum; 0 for an empty row (all zeros), NaN for a NaN sum. */
__device__ __forceinline__ float inverse_sum(float sum) {
  return sum == 0.0f ? 0.0f : 1.0f / sum;
}

/* The softmax of one row, loaded into x (-inf past its end), into out. */
template <class T, int THREADS, int PT, bool MASK>
__device__ __forceinline__ void softmax_row(const softmax_args &a, int64_t row, int r,
                                            row_regs<T, THREADS, PT> &x, float (&scratch)[2][32]) {
  const int cols = (int)a.cols;
  const int64_t last = last_visible(a, row);
  float mx = -INFINITY;
  /* Unmasked and not causal, the logits are x as loaded (-inf past the
   * row's end): no per-element column test, which bf16 rows, bound by
   * instructions, paid for. */
  if constexpr (MASK) {
    /* Kept as T, and never written by the kernel (no overlap with out). */
    row_regs<T, THREADS, PT, T> m;
    m.template load<true>(mask_row<T>(a, row), cols, a.vec, r, 0.0f);
#pragma unroll
    for (int s = 0; s < PT; s++)
      x.v[s] = logit<true>(a, x.v[s], m.at(s), x.col(a.vec, r, s), last);
  } else if (a.causal) {
#pragma unroll
    for (int s = 0; s < PT; s++)
      x.v[s] = logit<false>(a, x.v[s], 0.0f, x.col(a.vec, r, s), last);
  }
#pragma unroll
  for (int s = 0; s < PT; s++)
    mx = fmaxf(mx, x.v[s]);
  const float base = visible_max(row_reduce<THREADS>(mx, op_max{}, scratch[0]));
  float sum = 0.0f;
  /* base * k finite (every row but a +inf max or a k near FLT_MAX): one
   * fma per exponent, y * k - base * k, whose rounding of base * k costs
   * at most |base * k| * 2^-24 in the exponent, within the f32 softmax
   * bound (tests/tolerance.c); no +inf entry can exist below a finite max. */
  const float bk = base * a.k;
  if (isfinite(bk)) {
#pragma unroll
    for (int s = 0; s < PT; s++) {
      x.v[s] = exp2_sfu(fmaf(x.v[s], a.k, -bk));
      sum += x.v[s];
    }
  } else {
#pragma unroll
    for (int s = 0; s < PT; s++) {
      x.v[s] = shifted_exp(x.v[s], base, a.k);
      sum += x.v[s];
    }
  }
  sum = row_reduce<THREADS>(sum, op_sum{}, scratch[1]);
  const float inv = inverse_sum(sum);
#pragma unroll
  for (int s = 0; s < PT; s++)
    x.v[s] *= inv;
  x.store((T *)a.out + row * a.cols, cols, a.vec, r, a.cs);
}

/* Blocks per SM to ask ptxas for: the plain kernel is left free (one
 * block); PF exists to hold the next row too, so its registers are capped
 * at what the two rows need plus 32. */
template <class T, int THREADS, int PT, bool PF> constexpr int softmax_min_blocks() {
  if (!PF)
    return 1;
  const int block = ROW_BLOCK<THREADS>;
  const int regs = PT + PT * (int)sizeof(T) / 4 + 32;
  const int by_regs = 65536 / (regs * block), by_threads = 2048 / block;
  const int n = by_regs < by_threads ? by_regs : by_threads;
  return n < 1 ? 1 : n;
}

/* Rows in registers, a block or a warp per row; the masked rows, or the
 * variant of the unmasked kernel (row_plan) PF, a persistent grid whose
 * thread groups walk rows with the next row's loads in flight
 * (rows_in_regs). Keeping the row itself as 16-bit T (exp2 recomputed at
 * the store, half the registers) was measured and dropped: on the H200 it
 * ran at 1.5-1.8 TB/s against 2.5-2.8 for floats (2026-12-01,
 * scripts/row_sweep.sh). */
template <class T, int THREADS, int PT, bool MASK, bool PF>
__global__ void __launch_bounds__(ROW_BLOCK<THREADS>, (softmax_min_blocks<T, THREADS, PT, PF>()))
    softmax_rows_kernel(softmax_args a) {
  static_assert(!(MASK && PF), "the masked rows have no variants");
  KILN_KERNEL_BEGIN();
  __shared__ float scratch[PF ? 2 : 1][2][32];
  rows_in_regs<T, THREADS, PT, row_regs<T, THREADS, PT>, PF>(
      a, -INFINITY, scratch, [&](int64_t row, int r, auto &x, auto &set) {
        softmax_row<T, THREADS, PT, MASK>(a, row, r, x, set);
      });
}

/* The widest rows with the next row's copies in flight (wide_rows). */
template <class T, int CHUNKS>
__global__ void __launch_bounds__(WIDE_THREADS, 1) softmax_wide_kernel(softmax_args a) {
  KILN_KERNEL_BEGIN();
  using R = row_regs<T, WIDE_THREADS, WIDE_PT>;
  __shared__ float scratch[2][32];
  wide_rows<T, R, WIDE_THREADS, WIDE_PT, CHUNKS>(
      (const T *)a.x, a.rows, (int)a.cols, -INFINITY, [&](int64_t row, R &x) {
        softmax_row<T, WIDE_THREADS, WIDE_PT, false>(a, row, threadIdx.x, x, scratch);
      });
}

/* Running (max, sum of exp2((y - max) * k)) over the logits seen so far. */
struct online {
  float max = -INFINITY, sum = 0.0f;
  __device__ __forceinline__ void add(const float *y, int n, float k) {
    float m = max;
    bool nan = false;
    for (int u = 0; u < n; u++) {
      m = fmaxf(m, y[u]); /* fmaxf drops NaN, */
      nan |= isnan(y[u]);
    }
    if (nan) /* so a NaN logit poisons the sum instead: the whole row is NaN */
      sum = NAN;
    if (m == -INFINITY) /* nothing visible yet */
      return;
    if (m != max) /* max == -inf: sum is 0 and stays 0; m == max == +inf: kept */
      sum *= exp2f((max - m) * k);
    max = m;
    for (int u = 0; u < n; u++)
      sum += shifted_exp(y[u], m, k);
  }
};

/* The logits of the chunk of the row at column c: V of them (vec) or one. */
template <class T, bool MASK>
__device__ __forceinline__ void load_logits(const softmax_args &a, const T *x, const T *mask,
                                            int64_t c, int64_t last, float (&y)[VW<T>]) {
  constexpr int V = VW<T>;
  float m[V] = {};
  if (a.vec) {
    load16(x + c, y);
    if constexpr (MASK)
      load16_ro(mask + c, m);
  } else {
    y[0] = to_f32(x[c]);
    if constexpr (MASK)
      m[0] = to_f32(__ldg(mask + c));
  }
#pragma unroll /* a constant bound, so y and m stay in registers */
  for (int u = 0; u < V; u++)
    if (a.vec || u == 0)
      y[u] = logit<MASK>(a, y[u], m[u], c + u, last);
}

/* A row too long for registers: pass one folds it into (max, sum), pass
 * two reads it again and writes. */
template <class T, bool MASK>
__global__ void __launch_bounds__(STREAM_THREADS) softmax_stream_kernel(softmax_args a) {
  KILN_KERNEL_BEGIN();
  constexpr int V = VW<T>;
  __shared__ float scratch[2][32];
  const int64_t row = blockIdx.x, last = last_visible(a, row);
  const T *x = (const T *)a.x + row * a.cols;
  T *out = (T *)a.out + row * a.cols;
  const T *mask = MASK ? mask_row<T>(a, row) : nullptr;
  const stream_row<T> s(a.vec);

  online acc;
  s.each(a.cols, [&](int64_t c) {
    float y[V];
    load_logits<T, MASK>(a, x, mask, c, last, y);
    acc.add(y, s.width, a.k);
  });
  const float mx = visible_max(block_reduce<STREAM_THREADS>(acc.max, op_max{}, scratch[0]));
  /* With max -inf nothing was added: sum is 0, or NaN after a NaN logit. */
  const float mine = acc.max == -INFINITY ? acc.sum
                     : acc.max == mx        ? acc.sum
                                            : acc.sum * exp2f((acc.max - mx) * a.k);
  const float sum = block_reduce<STREAM_THREADS>(mine, op_sum{}, scratch[1]);
  const float inv = inverse_sum(sum);

  s.each(a.cols, [&](int64_t c) {
    float y[V];
    load_logits<T, MASK>(a, x, mask, c, last, y);
    for (int u = 0; u < s.width; u++)
      y[u] = shifted_exp(y[u], mx, a.k) * inv;
    s.store(out, c, y);
  });
}

/* The kernels launch_rows (cuda_rows.cuh) picks from. */
template <bool MASK> struct softmax_kernels : row_kernels {
  /* Masked rows longer than this stream: the 1024 x 32 config has no
   * registers left for the mask beside the row and spills. */
  static constexpr int64_t REG_COLS = MASK ? 16384 : row_kernels::REG_COLS;
  template <class T, int THREADS, int PT> static auto rows_kernel() {
    return softmax_rows_kernel<T, THREADS, PT, MASK, false>;
  }
  template <class T> static auto stream_kernel() { return softmax_stream_kernel<T, MASK>; }
  static constexpr bool WIDE = !MASK;
  static constexpr bool TUNES = !MASK;
  static constexpr row_op OP = ROW_OP_SOFTMAX;
  /* No kept variant (row_kernels::KEPT, see softmax_rows_kernel): KEPT_
   * is always false and TH WIDE_THREADS here. */
  template <class T, int THREADS, int PT, bool KEPT_, bool PF> static auto tuned_kernel() {
    return softmax_rows_kernel<T, THREADS, PT, false, PF>;
  }
  template <class T, int CHUNKS, bool KEPT_, int TH> static auto wide_kernel() {
    return softmax_wide_kernel<T, CHUNKS>;
  }
};

} // namespace

/* The op's fields, and the mask where there is one. */
static kiln_status kiln_cuda_softmax(void *state, const kiln_softmax_op *op) {
  const float log2e = 1.4426950408889634f;
  softmax_args a;
  a.x = op->x->data;
  a.out = op->out->data;
  a.rows = op->rows;
  a.cols = op->cols;
  a.sq = op->sq;
  a.causal = op->causal;
  a.scale = op->scale;
  a.mask = op->mask ? op->mask->data : NULL;
  a.mask_group = op->mask ? op->mask_group : 1;
  a.k = op->mask ? log2e : (float)fmin((double)op->scale * log2e, FLT_MAX);
  a.vec = rows_vectorized(op->dtype, op->cols, a.x, a.out, a.mask);
  a.cs = false;
  kiln_cuda *st = (kiln_cuda *)state;
  const char *fn = "kiln_softmax", *what = "launching the softmax kernel";
  return a.mask ? run_rows<softmax_kernels<true>>(st, fn, what, op->dtype, a)
                : run_rows<softmax_kernels<false>>(st, fn, what, op->dtype, a);
}

KILN_CUDA_OP(softmax, kiln_cuda_softmax, NULL);
