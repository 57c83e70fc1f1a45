/*
 * How the row ops (softmax, rms_norm, layer_norm, add_rms_norm) spread a
 * row over threads: the one table of configurations by row length, the
 * launch that goes with it, and the register slots a thread keeps its
 * share of the row in.
 *
 * A row that fits is read from memory once, into registers, with 16-byte
 * loads where every row starts 16-byte aligned (the base pointers are, and
 * cols * sizeof(T) is a multiple of 16); otherwise with coalesced scalar
 * loads, which is right for any width and alignment. Longer rows stream
 * through a block twice (see the op files).
 *
 * The choice per launch is a row_plan (choose_row_plan: the table by
 * width, then ROW_TUNING by card, kiln_cuda's row_card). KILN_CUDA_ROWS in the environment of a process
 * (read once, cuda_env.cu) forces a variant of it on softmax (unmasked)
 * and rms_norm rows of the tuning slots (1024, 4096, 32768 columns; f32
 * and bf16), for measuring: another threads x per-thread config, rows
 * kept as T, persistent blocks with the next row in flight, streaming
 * stores, the wide kernel and its copy groups. scripts/row_sweep.sh runs
 * the row tests and the large row cases under each one.
 */
#ifndef KILN_CUDA_ROWS_CUH
#define KILN_CUDA_ROWS_CUH

#include <cuda_pipeline_primitives.h>
#include <mutex>
#include <type_traits>

#include "cuda_backend.h"
#include "cuda_common.cuh"

namespace kiln_dev {

/* Rows up to max_cols elements: `threads` threads per row, `per_thread`
 * elements each in registers. threads == 32 is a warp per row, several
 * rows per block; more is a block per row. Per-thread shares of 16 and 32
 * elements keep a thread's loads in flight together (one memory round trip
 * per row) without pushing 1024-thread blocks past their 64 registers.
 * Rows of 513 to 1024 take four warps, not one: on the H100 a 128 x 1024
 * softmax took 1.5 us per graph node against 2.6 us with a warp per row
 * (one warp's 8 serial 16-byte loads per lane were the latency).
 * The first ROW_DEFAULTS entries are the table by width; the rest are
 * alternatives for the widths of the tuning slots (row_plan), compiled
 * only for the ops that tune (softmax, rms_norm). */
struct row_config {
  int max_cols, threads, per_thread;
};
constexpr row_config ROW_CONFIGS[] = {
    {128, 32, 4},    {256, 32, 8},     {512, 32, 16},     {1024, 128, 8},    {2048, 128, 16},
    {4096, 256, 16}, {8192, 512, 16},  {16384, 1024, 16}, {32768, 1024, 32},
    /* alternatives */
    {1024, 32, 32},  {1024, 64, 16},   {4096, 128, 32},   {4096, 512, 8},    {32768, 512, 64},
};
constexpr int ROW_DEFAULTS = 9;
constexpr int ROW_CONFIG_COUNT = (int)(sizeof ROW_CONFIGS / sizeof ROW_CONFIGS[0]);
constexpr int ROW_WIDEST = ROW_DEFAULTS - 1;
/* The widest rows at half the threads, two blocks an SM: the wide kernel
 * with 16-bit rows packed (row_words), a variant. */
constexpr int ROW_WIDE_HALF = ROW_CONFIG_COUNT - 1;
static_assert(ROW_CONFIGS[ROW_WIDE_HALF].max_cols == ROW_CONFIGS[ROW_WIDEST].max_cols &&
                  ROW_CONFIGS[ROW_WIDE_HALF].threads * 2 == ROW_CONFIGS[ROW_WIDEST].threads,
              "the half-threads wide config is the last alternative");
/* Longer rows stream: one block of STREAM_THREADS per row, two passes. */
constexpr int STREAM_THREADS = 1024;
/* Warp-per-row blocks hold at most this many rows. */
constexpr int MAX_ROWS_PER_BLOCK = 4;

/* The first config of the table that holds cols elements of esize bytes
 * in whole 16-byte vectors per thread; -1: stream. */
static inline int row_config_index(int64_t cols, size_t esize) {
  const int vw = 16 / (int)esize;
  for (int c = 0; c < ROW_DEFAULTS; c++)
    if (cols <= ROW_CONFIGS[c].max_cols && ROW_CONFIGS[c].per_thread % vw == 0)
      return c;
  return -1;
}

/* The tuning slots: row widths whose kernels come in variants (the large
 * benchmark shapes: 1024, 4096 and 32768 columns). -1: not a slot. */
constexpr int row_slot(int max_cols) {
  return max_cols == 1024 ? 0 : max_cols == 4096 ? 1 : max_cols == 32768 ? 2 : -1;
}

/* Whether config I has its variant kernels compiled for T in an op that
 * tunes: alternatives and slot widths, f32 and bf16 (f16 takes the
 * table's plain kernels), the widest alternative for 16-bit rows only. */
template <class T, int I> constexpr bool row_variants() {
  return !std::is_same<T, __half>::value && row_slot(ROW_CONFIGS[I].max_cols) >= 0 &&
         (sizeof(T) == 2 || ROW_CONFIGS[I].per_thread <= 32);
}
/* The next row fits beside this one in registers: at most 64 bytes. */
template <class T, int PT> constexpr bool row_prefetch_fits() { return PT * sizeof(T) <= 64; }

/* Calls f(index, threads, per_thread), each a std::integral_constant,
 * with config `index`, for a kernel template to be instantiated on. */
template <class T, bool TUNES, class F, int I = 0>
static cudaError_t with_row_config(int index, F &&f) {
  if constexpr (I == ROW_CONFIG_COUNT) {
    return cudaErrorInvalidValue;
  } else {
    if (index == I) {
      if constexpr (ROW_CONFIGS[I].per_thread % VW<T> == 0 &&
                    (I < ROW_DEFAULTS || (TUNES && row_variants<T, I>())))
        return f(std::integral_constant<int, I>{},
                 std::integral_constant<int, ROW_CONFIGS[I].threads>{},
                 std::integral_constant<int, ROW_CONFIGS[I].per_thread>{});
      else
        return cudaErrorInvalidValue;
    }
    return with_row_config<T, TUNES, F, I + 1>(index, static_cast<F &&>(f));
  }
}

/* How one launch runs its rows. */
struct row_plan {
  int config = -1;   /* ROW_CONFIGS index; -1: stream */
  bool wide = false; /* the persistent cp.async kernel (config ROW_WIDEST, vectorized) */
  int chunks = 1;    /* wide: the next row's copies in this many groups (1, 2, 4) */
  bool kept = false; /* softmax, 16-bit: row kept as T, exp2 recomputed at the store */
  bool pf = false;   /* persistent blocks; the next row's loads in flight in registers */
  bool cs = false;   /* streaming (evict-first) stores of the output */
};

/* A change to the plan of one tuning slot: 0 / -1 fields leave the
 * plan's as they are. The tuning table's rows and KILN_CUDA_ROWS both
 * take this form. */
struct row_variant {
  int threads, per_thread;         /* another config of the slot's width; 0: keep */
  int wide, chunks, kept, pf, cs;  /* -1: keep */
};

/* The ops that tune (row_kernels::TUNES), as ROW_TUNING names them. */
enum row_op { ROW_OP_NONE, ROW_OP_SOFTMAX, ROW_OP_RMS_NORM };

/* The tuning table by card: row_card (kiln_cuda), the op, the slot's
 * width, the element size, and the change to the width table's plan.
 * Cards and slots without a row keep the width table (measured on the
 * H100). */
struct row_tuning {
  int card;
  row_op op;
  int max_cols, esize;
  row_variant v;
};
/* H200 (row_card 1), from scripts/row_sweep.sh on 2026-12-01 (kiln bench
 * --quick, GB/s read + written, copy ceiling 4206-4217): the changes that
 * beat the width table by more than 3%, each in one or two runs.
 *   softmax f32 16384x4096: 512 x 8 with the next row in flight, 3210 -> 3674
 *     (256 x 16 with it: 3332);
 *   softmax bf16 16384x4096: 128 x 32 (four 16-byte loads a thread), 2831 -> 3136;
 *   softmax bf16 4096x32768: the next row in flight, 2457 -> 2604;
 *   rms_norm f32 4096x32768: streaming stores, 2878 -> 3335 (a guess at why: the
 *     output no longer evicts the weight from L2);
 *   rms_norm bf16 4096x32768: the row packed in 32-bit words, 3035 -> 3516;
 *   rms_norm bf16 65536x1024: the next row in flight, 2938 -> 3483.
 * Measured and not taken there: 16-bit softmax rows kept as T (1.5-1.8 TB/s),
 * streaming stores elsewhere (within 2%, softmax f32 32768 3740 -> 3614),
 * 512 x 8 without prefetch at 4096 (all four cases 8-30% slower). Not yet
 * measured (their columns were lost): the 1024-wide alternatives, the wide
 * kernel for 16-bit rows (also at half the threads) and its copy groups at
 * 32768. Rows of 2 bytes here are bf16: f16 keeps the width table (its
 * variant kernels are not compiled, choose_row_plan).
 * Second sweep (2026-12-01, after softmax's exponent went to the SFU alone,
 * copy ceiling 4227), the changes taken:
 *   softmax bf16 4096x32768: the wide kernel, 2915 -> 3531 (the next row in
 *     flight now no better than the table), its copies in 4 groups 3508 ->
 *     3602 in a third run (copy ceiling 4159);
 *   softmax bf16 65536x1024: a warp per row (32 x 32), 2981 -> 3575;
 *   rms_norm f32 4096x32768: the wide kernel's copies in 4 groups, 3323 -> 3722;
 *   rms_norm f32 65536x1024: 64 x 16, 3803 -> 3907. */
constexpr row_tuning ROW_TUNING[] = {
    {1, ROW_OP_SOFTMAX, 4096, 4, {512, 8, -1, -1, -1, 1, -1}},
    {1, ROW_OP_SOFTMAX, 4096, 2, {128, 32, -1, -1, -1, -1, -1}},
    {1, ROW_OP_SOFTMAX, 32768, 2, {0, 0, 1, 4, -1, -1, -1}},
    {1, ROW_OP_SOFTMAX, 1024, 2, {32, 32, -1, -1, -1, -1, -1}},
    {1, ROW_OP_RMS_NORM, 32768, 4, {0, 0, -1, 4, -1, -1, 1}},
    {1, ROW_OP_RMS_NORM, 32768, 2, {0, 0, -1, -1, 1, -1, -1}},
    {1, ROW_OP_RMS_NORM, 1024, 4, {64, 16, -1, -1, -1, -1, -1}},
    {1, ROW_OP_RMS_NORM, 1024, 2, {0, 0, -1, -1, -1, 1, -1}},
};

/* p changed by v, for rows of esize bytes; a config must be one that
 * with_row_config compiles for the op's variants. */
static inline void apply_row_variant(row_plan &p, const row_variant &v, size_t esize, bool vec) {
  if (v.threads > 0)
    for (int c = 0; c < ROW_CONFIG_COUNT; c++)
      if (ROW_CONFIGS[c].max_cols == ROW_CONFIGS[p.config].max_cols &&
          ROW_CONFIGS[c].threads == v.threads && ROW_CONFIGS[c].per_thread == v.per_thread &&
          ROW_CONFIGS[c].per_thread % (16 / (int)esize) == 0 &&
          (esize == 2 || ROW_CONFIGS[c].per_thread <= 32))
        p.config = c;
  if (v.wide >= 0) /* at half the threads: kept rows only (launch_rows_of) */
    p.wide = v.wide == 1 && (p.config == ROW_WIDEST || p.config == ROW_WIDE_HALF) && vec;
  else if (p.config != ROW_WIDEST)
    p.wide = false;
  if (v.chunks == 1 || v.chunks == 2 || v.chunks == 4)
    p.chunks = v.chunks;
  if (v.kept >= 0)
    p.kept = v.kept == 1 && esize == 2;
  if (v.pf >= 0)
    p.pf = v.pf == 1;
  if (v.cs >= 0)
    p.cs = v.cs == 1;
}

/* The plan for rows of cols elements of esize bytes: the width table (the
 * config; the persistent wide kernel for the widest f32 rows), then the
 * card's row of ROW_TUNING, then KILN_CUDA_ROWS, the last two only for an
 * op whose kernels come in the variants for this dtype. */
static inline row_plan choose_row_plan(row_op op, int64_t cols, size_t esize, bool vec, int card,
                                       bool variants) {
  row_plan p;
  p.config = row_config_index(cols, esize);
  p.wide = p.config == ROW_WIDEST && vec && esize == 4;
  if (!variants || p.config < 0)
    return p;
  const int max_cols = ROW_CONFIGS[p.config].max_cols, slot = row_slot(max_cols);
  if (slot < 0)
    return p;
  for (const row_tuning &t : ROW_TUNING)
    if (t.card == card && t.op == op && t.max_cols == max_cols && t.esize == (int)esize)
      apply_row_variant(p, t.v, esize, vec);
  const kiln_cuda_rows_variant *e = kiln_cuda_env_rows();
  if (e->set)
    apply_row_variant(p,
                      row_variant{e->threads[slot], e->per_thread[slot], e->wide, e->chunks,
                                  e->kept, e->pf, e->cs},
                      esize, vec);
  return p;
}

/* Grid and block for rows rows at `threads` threads per row. Warp-per-row
 * blocks shrink when rows are few, so that small inputs still spread over
 * every SM. false: more blocks than a grid holds. */
static inline bool row_geometry(int64_t rows, int threads, int sm_count, dim3 &grid,
                                dim3 &block) {
  int per_block = 1;
  if (threads == 32)
    per_block = rows >= 2LL * MAX_ROWS_PER_BLOCK * sm_count ? MAX_ROWS_PER_BLOCK
                : rows >= 4LL * sm_count                   ? 2
                                                           : 1;
  const int64_t blocks = (rows + per_block - 1) / per_block;
  if (blocks > INT32_MAX)
    return false;
  grid = dim3((unsigned)blocks);
  block = dim3((unsigned)(threads * per_block));
  return true;
}

/* Blocks of `kernel` an SM of the current device holds at once (at least
 * 1), asked of the runtime once per kernel, block, shared memory and
 * device: the persistent kernels size their grids by it on every launch. */
static inline int resident_blocks_of(const void *kernel, int block, size_t smem) {
  struct entry {
    const void *kernel;
    int block, device;
    size_t smem;
    int n;
  };
  static entry cache[64];
  static int used = 0;
  static std::mutex lock;
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess)
    (void)cudaGetLastError();
  std::lock_guard<std::mutex> hold(lock);
  for (int i = 0; i < used; i++)
    if (cache[i].kernel == kernel && cache[i].block == block && cache[i].smem == smem &&
        cache[i].device == device)
      return cache[i].n;
  int n = 0;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, kernel, block, smem) != cudaSuccess) {
    (void)cudaGetLastError();
    n = 1;
  }
  n = n < 1 ? 1 : n;
  if (used < 64)
    cache[used++] = entry{kernel, block, device, smem, n};
  return n;
}
template <class A> static int resident_blocks(void (*kernel)(A), int block, size_t smem) {
  return resident_blocks_of((const void *)kernel, block, smem);
}

/* What launch_rows needs of a row op besides its kernels; an op's struct
 * derives from this, overrides what differs, and adds
 *   template <class T, int THREADS, int PT> static auto rows_kernel();
 *   template <class T> static auto stream_kernel();
 * returning its kernel for a row in registers and for a streamed row. An
 * op that TUNES also has
 *   template <class T, int THREADS, int PT, bool KEPT, bool PF> static auto tuned_kernel();
 * (its args a field `cs`), and one that is WIDE
 *   template <class T, int CHUNKS, bool KEPT, int THREADS> static auto wide_kernel(); */
struct row_kernels {
  /* Rows longer than this stream even where a config would hold them: an
   * op that keeps more than the row in registers spills in the widest. */
  static constexpr int64_t REG_COLS = INT64_MAX;
  /* The op has wide_kernel (wide_rows) for the widest config. */
  static constexpr bool WIDE = false;
  /* The op's kernels come in the variants of row_plan; its name in ROW_TUNING. */
  static constexpr bool TUNES = false;
  static constexpr row_op OP = ROW_OP_NONE;
  /* The op has kept variants (the row packed in row_words). */
  static constexpr bool KEPT = false;
};

/* The widest config's rows, in a persistent block per SM. One
 * 1024-thread block fills an SM's registers (32 values a thread), so an SM
 * holds one row at a time, and with a block per row it idled through each
 * row's reductions and its launch. Here each block walks rows, and the
 * copies of its next row into shared memory (cp.async, each thread its own
 * slots) are in flight while it reduces and writes the current one. H100,
 * 4096 x 32768: softmax f32 2.27 -> 2.71 TB/s, rms_norm f32 2.48 -> 2.65;
 * but bf16 gained nothing in softmax (2.56 -> 2.58) and lost in rms_norm
 * (2.85 -> 2.56), so 16-bit rows keep a block per row there. */
constexpr int WIDE_THREADS = ROW_CONFIGS[ROW_WIDEST].threads;
constexpr int WIDE_PT = ROW_CONFIGS[ROW_WIDEST].per_thread;

/* A wide kernel over a.rows rows, as many blocks as the SMs hold, `bytes`
 * of shared memory for the row. Above 48 KiB a kernel must ask for its
 * shared memory; asking is a host-side attribute, set on every launch
 * because it is per device. */
template <int TH = WIDE_THREADS, class A>
static cudaError_t launch_wide(void (*kernel)(A), const A &a, size_t bytes, int sm_count,
                               cudaStream_t stream) {
  const cudaError_t err =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
  if (err != cudaSuccess)
    return err;
  const int64_t most = (int64_t)sm_count * resident_blocks(kernel, TH, bytes);
  const int64_t blocks = a.rows < most ? a.rows : most;
  return launch(kernel, dim3((unsigned)blocks), dim3(TH), bytes, stream, a);
}

/* A persistent rows kernel (PF): as many blocks as the SMs hold, each
 * walking rows (row_stride). */
template <int TH, class A>
static cudaError_t launch_persistent(void (*kernel)(A), const A &a, int sm_count,
                                     cudaStream_t stream) {
  const int groups = TH == 32 ? MAX_ROWS_PER_BLOCK : 1, block = TH * groups;
  const int64_t need = (a.rows + groups - 1) / groups;
  const int64_t most = (int64_t)sm_count * resident_blocks(kernel, block, 0);
  const int64_t blocks = need < most ? need : most;
  return launch(kernel, dim3((unsigned)blocks), dim3((unsigned)block), 0, stream, a);
}

/* An op that TUNES, at a config with variants: the plan's kernel. */
template <class K, class T, int TH, int PT, class A>
static cudaError_t launch_tuned(const A &a, const row_plan &p, int sm_count, cudaStream_t stream) {
  constexpr bool KEPT_OK = K::KEPT && sizeof(T) == 2, PF_OK = row_prefetch_fits<T, PT>();
  if constexpr (PF_OK) {
    if (p.pf) {
      if (p.kept && KEPT_OK)
        return launch_persistent<TH>(K::template tuned_kernel<T, TH, PT, KEPT_OK, true>(), a,
                                     sm_count, stream);
      return launch_persistent<TH>(K::template tuned_kernel<T, TH, PT, false, true>(), a,
                                   sm_count, stream);
    }
  }
  dim3 grid, block;
  if (!row_geometry(a.rows, TH, sm_count, grid, block))
    return cudaErrorInvalidConfiguration;
  if (p.kept && KEPT_OK)
    return launch(K::template tuned_kernel<T, TH, PT, KEPT_OK, false>(), grid, block, 0, stream, a);
  return launch(K::template tuned_kernel<T, TH, PT, false, false>(), grid, block, 0, stream, a);
}

/* Op K's kernel for a.rows rows of a.cols elements of T: in registers
 * under the plan's config, streamed where there is none. */
template <class K, class T, class A>
static cudaError_t launch_rows_of(const A &a_in, int sm_count, int card, cudaStream_t stream) {
  constexpr bool VARIANTS = K::TUNES && !std::is_same<T, __half>::value;
  const int64_t cols = a_in.cols;
  row_plan p = choose_row_plan(K::OP, cols, sizeof(T), a_in.vec, card, VARIANTS);
  if (cols > K::REG_COLS)
    p.config = -1;
  A a = a_in;
  if constexpr (K::TUNES)
    a.cs = p.cs;
  if (p.config < 0) {
    if (a.rows > INT32_MAX)
      return cudaErrorInvalidConfiguration;
    return launch(K::template stream_kernel<T>(), dim3((unsigned)a.rows), dim3(STREAM_THREADS), 0,
                  stream, a);
  }
  if constexpr (K::WIDE && !std::is_same<T, __half>::value) {
    if (p.wide && a.vec) {
      const size_t bytes = cols * sizeof(T);
      auto wide = [&](auto kept, auto threads) -> cudaError_t {
        constexpr bool KP = decltype(kept)::value;
        constexpr int TH = decltype(threads)::value;
        switch (p.chunks) {
        case 2:
          return launch_wide<TH>(K::template wide_kernel<T, 2, KP, TH>(), a, bytes, sm_count,
                                 stream);
        case 4:
          return launch_wide<TH>(K::template wide_kernel<T, 4, KP, TH>(), a, bytes, sm_count,
                                 stream);
        default:
          return launch_wide<TH>(K::template wide_kernel<T, 1, KP, TH>(), a, bytes, sm_count,
                                 stream);
        }
      };
      using full = std::integral_constant<int, WIDE_THREADS>;
      if constexpr (K::KEPT && sizeof(T) == 2) {
        if (p.kept && p.config == ROW_WIDE_HALF)
          return wide(std::true_type{}, std::integral_constant<int, WIDE_THREADS / 2>{});
        if (p.kept && p.config == ROW_WIDEST)
          return wide(std::true_type{}, full{});
      }
      if (p.config == ROW_WIDEST)
        return wide(std::false_type{}, full{});
    }
  }
  return with_row_config<T, K::TUNES>(p.config, [&](auto index, auto threads, auto per_thread) {
    constexpr int I = decltype(index)::value;
    constexpr int TH = decltype(threads)::value, PT = decltype(per_thread)::value;
    if constexpr (TH * PT > K::REG_COLS) {
      return cudaErrorInvalidValue; /* streamed instead (above); never compiled */
    } else {
      if constexpr (VARIANTS && row_variants<T, I>()) {
        return launch_tuned<K, T, TH, PT>(a, p, sm_count, stream);
      } else {
        dim3 grid, block;
        if (!row_geometry(a.rows, TH, sm_count, grid, block))
          return cudaErrorInvalidConfiguration;
        return launch(K::template rows_kernel<T, TH, PT>(), grid, block, 0, stream, a);
      }
    }
  });
}

/* launch_rows_of for the element type of dtype. */
template <class K, class A>
static cudaError_t launch_rows(kiln_dtype dtype, const A &a, int sm_count, int card,
                               cudaStream_t stream) {
  return with_dtype(dtype, [&](auto zero) {
    return launch_rows_of<K, decltype(zero)>(a, sm_count, card, stream);
  });
}

/* The host side every row op shares: whether its rows can move in 16-byte
 * vectors (cols a whole number of them, every base pointer 16-byte
 * aligned; a NULL operand is never loaded, so it cannot spoil that)... */
template <class... P>
static inline bool rows_vectorized(kiln_dtype dtype, int64_t cols, const P *...ptrs) {
  return cols % (16 / (int64_t)kiln_dtype_size(dtype)) == 0 && (aligned16(ptrs) && ...);
}

/* ...and its launch on the context's stream, a failure named after fn's
 * `what` kernel. */
template <class K, class A>
static kiln_status run_rows(kiln_cuda *st, const char *fn, const char *what, kiln_dtype dtype,
                            const A &a) {
  KILN_CUDA_TRY(kiln_cuda_enter(st, fn));
  return kiln_cuda_check(launch_rows<K>(dtype, a, st->sm_count, st->row_card, st->stream), fn,
                         what);
}

/* Launch bounds of a row kernel: its block size, with at least one block
 * per SM. Left to its own heuristic, ptxas holds small-block kernels to 32
 * registers and spills. */
template <int THREADS> constexpr int ROW_BLOCK = THREADS == 32 ? 32 * MAX_ROWS_PER_BLOCK : THREADS;
#define KILN_ROW_BOUNDS(THREADS) __launch_bounds__(ROW_BLOCK<THREADS>, 1)
/* The same with at least MIN threads per SM (when that is more than one
 * block): a register cap for a kernel whose compiler would rather hoist
 * loads into registers than keep blocks resident. */
#define KILN_ROW_BOUNDS_MIN(THREADS, MIN)                                                          \
  __launch_bounds__(ROW_BLOCK<THREADS>,                                                            \
                    (MIN) / ROW_BLOCK<THREADS> > 1 ? (MIN) / ROW_BLOCK<THREADS> : 1)

/* This thread's row and its rank within the row; false: no row left for
 * its warp (the last block of a warp-per-row grid). Warp-uniform. */
template <int THREADS> __device__ __forceinline__ bool row_of(int64_t rows, int64_t &row, int &r) {
  if (THREADS == 32) {
    row = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    r = threadIdx.x % 32;
  } else {
    row = blockIdx.x;
    r = threadIdx.x;
  }
  return row < rows;
}

/* The rows between one row of a thread group and its next in a
 * persistent grid (launch_persistent). */
template <int THREADS> __device__ __forceinline__ int64_t row_stride() {
  return THREADS == 32 ? (int64_t)gridDim.x * (blockDim.x / 32) : (int64_t)gridDim.x;
}

/* body(row, r) for this thread's row and its rank (row_of), where it has
 * one: every rows kernel starts here. */
template <int THREADS, class F> __device__ __forceinline__ void on_own_row(int64_t rows, F &&body) {
  int64_t row;
  int r;
  if (row_of<THREADS>(rows, row, r))
    body(row, r);
}

/* v reduced over the row's threads; every one of them gets the result.
 * Each reduction in a kernel needs its own scratch (one float per warp). */
template <int THREADS, class Op>
__device__ __forceinline__ float row_reduce(float v, Op op, float *scratch) {
  if (THREADS == 32)
    return warp_reduce(v, op);
  return block_reduce<THREADS>(v, op, scratch);
}

/* Rows whose f32 sums overflow (squares of entries above 1.8e19, f32 and
 * bf16 rows of 1e20) are summed again scaled by k = 2^-e, e the exponent of
 * the row's largest magnitude m, so every scaled entry is below 1 in
 * magnitude: the sum of squares then fits, and scaling by a power of two
 * is exact. Only rows whose first sum came out +inf take this path, so
 * ordinary rows pay nothing for it. m finite and > 0. */
__device__ __forceinline__ float pow2_scale_for(float m) {
  int e;
  frexpf(m, &e);
  return ldexpf(1.0f, -e);
}

/* 1 / sqrt(sum(v^2) / count + eps) for a row whose f32 sum of squares
 * overflowed, v(s) the value in slot s (0 past the row's end): the sum
 * again with v scaled as above, then the scale divided back out. A row
 * holding +-inf gives 0 (NaN at the infinities, zeros elsewhere, as the
 * plain formula does). Every thread of the row calls it (two reductions),
 * each with scratch of its own. */
template <int THREADS, int PT, class F>
__device__ __forceinline__ float rescaled_inv_rms(F value, float count, float eps,
                                               float *scratch_max, float *scratch_sum) {
  float m = 0.0f;
#pragma unroll
  for (int s = 0; s < PT; s++)
    m = fmaxf(m, fabsf(value(s)));
  m = row_reduce<THREADS>(m, op_max{}, scratch_max);
  if (!(m < INFINITY))
    return 0.0f;
  const float k = pow2_scale_for(m);
  float squares = 0.0f;
#pragma unroll
  for (int s = 0; s < PT; s++) {
    const float t = value(s) * k;
    squares = fmaf(t, t, squares);
  }
  squares = row_reduce<THREADS>(squares, op_sum{}, scratch_sum);
  return rsqrtf(squares / count + eps * k * k) * k;
}

/* The same for a streamed row: each_value(f) calls f(v) for every value of
 * this thread's share of the row (a pass over it, so two more passes for
 * a row that needs this, and none for any other). */
template <class Each>
__device__ __forceinline__ float rescaled_inv_rms_stream(Each each_value, float count, float eps,
                                                      float *scratch_max, float *scratch_sum) {
  float m = 0.0f;
  each_value([&](float v) { m = fmaxf(m, fabsf(v)); });
  m = block_reduce<STREAM_THREADS>(m, op_max{}, scratch_max);
  if (!(m < INFINITY))
    return 0.0f;
  const float k = pow2_scale_for(m);
  float squares = 0.0f;
  each_value([&](float v) {
    const float t = v * k;
    squares = fmaf(t, t, squares);
  });
  squares = block_reduce<STREAM_THREADS>(squares, op_sum{}, scratch_sum);
  return rsqrtf(squares / count + eps * k * k) * k;
}

/* 1 / sqrt(squares / count + eps), squares this thread's part of the sum
 * of a row's squares: reduced over the row, and summed again scaled where
 * it overflowed (value(s), slot s's value, as rescaled_inv_rms takes it).
 * scratch: three sets, one float per warp each. Every thread of the row
 * calls it. */
template <int THREADS, int PT, class F>
__device__ __forceinline__ float row_inv_rms(float squares, F value, float count, float eps,
                                             float (*scratch)[32]) {
  squares = row_reduce<THREADS>(squares, op_sum{}, scratch[0]);
  float inv = rsqrtf(squares / count + eps);
  if (squares == INFINITY) /* rare: entries above 1.8e19 (rescaled_inv_rms) */
    inv = rescaled_inv_rms<THREADS, PT>(value, count, eps, scratch[1], scratch[2]);
  return inv;
}

/* The same for a streamed row, each_value as rescaled_inv_rms_stream
 * takes it. */
template <class Each>
__device__ __forceinline__ float stream_inv_rms(float squares, Each each_value, float count,
                                                float eps, float (*scratch)[32]) {
  squares = block_reduce<STREAM_THREADS>(squares, op_sum{}, scratch[0]);
  float inv = rsqrtf(squares / count + eps);
  if (squares == INFINITY) /* rare: entries above 1.8e19 (rescaled_inv_rms) */
    inv = rescaled_inv_rms_stream(each_value, count, eps, scratch[1], scratch[2]);
  return inv;
}

/* One thread's walk over a streamed row (the two-pass kernels, a block of
 * STREAM_THREADS per row): chunks of `width` elements (a 16-byte vector, or
 * one element where the rows are not vectorized) starting at `first`, one
 * block-wide step apart. */
template <class T> struct stream_row {
  static constexpr int V = VW<T>;
  bool vec;
  int width;
  int64_t first, step;

  __device__ __forceinline__ explicit stream_row(bool vectorized)
      : vec(vectorized), width(vectorized ? V : 1),
        first(vectorized ? (int64_t)threadIdx.x * V : threadIdx.x),
        step(vectorized ? (int64_t)STREAM_THREADS * V : STREAM_THREADS) {}

  /* f(c) for the first column c of each chunk this thread owns. */
  template <class F> __device__ __forceinline__ void each(int64_t cols, F &&f) const {
    for (int64_t c = first; c < cols; c += step)
      f(c);
  }
  /* The chunk at c of row p as f32 (y[0 .. width)). */
  __device__ __forceinline__ void load(const T *p, int64_t c, float (&y)[V]) const {
    if (vec)
      load16(p + c, y);
    else
      y[0] = to_f32(p[c]);
  }
  /* The same through the read-only cache (a weight every row reads). */
  __device__ __forceinline__ void load_ro(const T *p, int64_t c, float (&y)[V]) const {
    if (vec)
      load16_ro(p + c, y);
    else
      y[0] = to_f32(__ldg(p + c));
  }
  __device__ __forceinline__ void store(T *p, int64_t c, const float (&y)[V]) const {
    if (vec)
      store16(p + c, y);
    else
      p[c] = from_f32<T>(y[0]);
  }
  /* f(v) for every value of this thread's share of row p, as f32. */
  template <class F> __device__ __forceinline__ void each_value(const T *p, int64_t cols, F &&f) const {
    each(cols, [&](int64_t c) {
      float y[V];
      load(p, c, y);
      for (int u = 0; u < width; u++)
        f(y[u]);
    });
  }
};

/* store16, or with a streaming hint (st.global.cs: evict first, for
 * output no one reads soon). */
template <class T>
__device__ __forceinline__ void store16_hint(T *p, const float (&in)[VW<T>], bool cs) {
  if (!cs) {
    store16(p, in);
    return;
  }
  vec16<T> v;
#pragma unroll
  for (int u = 0; u < VW<T>; u++)
    v.e[u] = from_f32<T>(in[u]);
  uint4 raw;
  memcpy(&raw, &v, sizeof raw);
  __stcs(reinterpret_cast<uint4 *>(p), raw);
}

/* A thread's PT elements of one row, kept as S: float, or T itself where
 * the values are only read back (half the registers for f16/bf16). With
 * 16-byte loads, slot s holds column ((s / V) * THREADS + r) * V + s % V:
 * lane r's vectors sit side by side across the warp, so every load is
 * coalesced. With scalar loads, slot s holds column s * THREADS + r. */
template <class T, int THREADS, int PT, class S = float> struct row_regs {
  static constexpr int V = VW<T>;
  S v[PT];

  __device__ __forceinline__ static int col(bool vec, int r, int s) {
    return vec ? ((s / V) * THREADS + r) * V + s % V : s * THREADS + r;
  }
  __device__ __forceinline__ static S kept(T x) {
    if constexpr (std::is_same<S, float>::value)
      return to_f32(x);
    else
      return x;
  }
  __device__ __forceinline__ float at(int s) const { return to_f32(v[s]); }

  /* Slots past the row's end get fill. READ_ONLY: through the read-only
   * path, for data no thread of the kernel writes. */
  template <bool READ_ONLY = false>
  __device__ __forceinline__ void load(const T *row, int cols, bool vec, int r, float fill) {
    const S fill_s = kept(from_f32<T>(fill));
    if (vec) {
#pragma unroll
      for (int j = 0; j < PT / V; j++) {
        const int c = (j * THREADS + r) * V;
        vec16<T> part;
        if (c < cols)
          part = READ_ONLY ? load_vec16_ro(row + c) : *reinterpret_cast<const vec16<T> *>(row + c);
#pragma unroll
        for (int u = 0; u < V; u++)
          v[j * V + u] = c < cols ? kept(part.e[u]) : fill_s;
      }
    } else {
#pragma unroll
      for (int s = 0; s < PT; s++) {
        const int c = s * THREADS + r;
        v[s] = c < cols ? kept(READ_ONLY ? __ldg(row + c) : row[c]) : fill_s;
      }
    }
  }

  /* row[col] = value(s) for each slot s, rounded once; SCALED: value(s) *
   * mul * scale[col]. scale is read-only for the kernel (it never aliases
   * the output), and slots past the row's end read column 0 of it, so its
   * loads carry no branch and issue together. cs: streaming stores
   * (vectors only). */
  template <bool SCALED = false, class F>
  __device__ __forceinline__ static void store_with(T *row, int cols, bool vec, int r, bool cs,
                                                    F value, float mul = 1.0f,
                                                    const T *scale = nullptr) {
    if (vec) {
#pragma unroll
      for (int j = 0; j < PT / V; j++) {
        const int c = (j * THREADS + r) * V;
        float sc[V], out[V];
        if constexpr (SCALED)
          load16_ro(scale + (c < cols ? c : 0), sc);
#pragma unroll
        for (int u = 0; u < V; u++) {
          if constexpr (SCALED)
            out[u] = value(j * V + u) * mul * sc[u];
          else
            out[u] = value(j * V + u);
        }
        if (c < cols)
          store16_hint(row + c, out, cs);
      }
    } else {
#pragma unroll
      for (int s = 0; s < PT; s++) {
        const int c = s * THREADS + r;
        if constexpr (SCALED) {
          const float sc = to_f32(__ldg(scale + (c < cols ? c : 0)));
          if (c < cols)
            row[c] = from_f32<T>(value(s) * mul * sc);
        } else if (c < cols) {
          row[c] = from_f32<T>(value(s));
        }
      }
    }
  }

  /* row[col] = v, rounded once. */
  __device__ __forceinline__ void store(T *row, int cols, bool vec, int r, bool cs = false) const {
    store_with(row, cols, vec, r, cs, [&](int s) { return at(s); });
  }

  /* Slots of vectors [j0, j1) from buf, where this thread's copies put
   * them (prefetch_row); the wide kernels' rows are vectorized. */
  __device__ __forceinline__ void load_vectors(const T *buf, int cols, int r, float fill, int j0,
                                               int j1) {
    const S fill_s = kept(from_f32<T>(fill));
#pragma unroll
    for (int j = 0; j < PT / V; j++) {
      if (j < j0 || j >= j1)
        continue;
      const int c = (j * THREADS + r) * V;
      vec16<T> part;
      if (c < cols)
        part = *reinterpret_cast<const vec16<T> *>(buf + c);
#pragma unroll
      for (int u = 0; u < V; u++)
        v[j * V + u] = c < cols ? kept(part.e[u]) : fill_s;
    }
  }
};

/* A thread's PT elements of T in the slot layout of row_regs, packed in
 * 32-bit words, two 16-bit elements to a word: ptxas gives each 16-bit
 * value a register of its own, so a row_regs of T saves nothing over
 * floats, and this holds the row in half the registers. For the variants
 * that keep rows as T (row_plan's kept, the next row of pf). */
template <class T, int THREADS, int PT> struct row_words {
  static constexpr int V = VW<T>, W = PT * (int)sizeof(T) / 4;
  static_assert(PT * sizeof(T) % 16 == 0, "whole 16-byte vectors");
  uint32_t w[W];

  __device__ __forceinline__ T elem(int s) const {
    T e[4 / sizeof(T)];
    memcpy(e, &w[s * (int)sizeof(T) / 4], 4);
    return e[s % (4 / (int)sizeof(T))];
  }
  __device__ __forceinline__ float at(int s) const { return to_f32(elem(s)); }

  /* As row_regs::load. */
  __device__ __forceinline__ void load(const T *row, int cols, bool vec, int r, float fill) {
    const T fill_t = from_f32<T>(fill);
    if (vec) {
#pragma unroll
      for (int j = 0; j < PT / V; j++) {
        const int c = (j * THREADS + r) * V;
        uint4 q;
        if (c < cols) {
          q = *reinterpret_cast<const uint4 *>(row + c);
        } else {
          vec16<T> f;
#pragma unroll
          for (int u = 0; u < V; u++)
            f.e[u] = fill_t;
          memcpy(&q, &f, sizeof q);
        }
        w[4 * j] = q.x;
        w[4 * j + 1] = q.y;
        w[4 * j + 2] = q.z;
        w[4 * j + 3] = q.w;
      }
    } else {
      T e[PT];
#pragma unroll
      for (int s = 0; s < PT; s++) {
        const int c = s * THREADS + r;
        e[s] = c < cols ? row[c] : fill_t;
      }
      memcpy(w, e, sizeof w);
    }
  }

  /* Slots of vectors [j0, j1) from buf, where this thread's copies put
   * them (prefetch_row). */
  __device__ __forceinline__ void load_vectors(const T *buf, int cols, int r, float fill, int j0,
                                               int j1) {
    vec16<T> f;
#pragma unroll
    for (int u = 0; u < V; u++)
      f.e[u] = from_f32<T>(fill);
    uint4 fq;
    memcpy(&fq, &f, sizeof fq);
#pragma unroll
    for (int j = 0; j < PT / V; j++) {
      if (j < j0 || j >= j1)
        continue;
      const int c = (j * THREADS + r) * V;
      const uint4 q = c < cols ? *reinterpret_cast<const uint4 *>(buf + c) : fq;
      w[4 * j] = q.x;
      w[4 * j + 1] = q.y;
      w[4 * j + 2] = q.z;
      w[4 * j + 3] = q.w;
    }
  }

  /* Makes the words opaque to the compiler, as if just loaded: zero is 0
   * at run time, unknown to the compiler (a kernel argument; ptxas sees
   * through an empty asm). A kernel that reads the row in several passes,
   * recomputing rather than keeping what it derived, calls this between
   * passes: otherwise the compiler keeps each pass's floats for the next,
   * twice the registers. */
  __device__ __forceinline__ void touch(uint32_t zero) {
#pragma unroll
    for (int i = 0; i < W; i++)
      w[i] ^= zero;
  }
};

/* The walk of the rows kernels that read their row once (softmax,
 * rms_norm, layer_norm): body(row, r, x, set) for this thread's row, x its
 * share of it (R, a row_regs or row_words; slots past the row's end hold
 * fill) and set one of scratch's sets. PF: a persistent grid
 * (launch_persistent) whose thread groups walk rows with the next row's
 * loads in flight, packed (row_words), while they work on this one; the
 * sets alternate from row to row, so a fast warp's next row cannot
 * overwrite what a slow one has yet to read. */
template <class T, int THREADS, int PT, class R, bool PF, class A, class S, class F>
__device__ __forceinline__ void rows_in_regs(const A &a, float fill, S &scratch, F &&body) {
  on_own_row<THREADS>(a.rows, [&](int64_t row, int r) {
    const int cols = (int)a.cols;
    const T *x0 = (const T *)a.x;
    if constexpr (!PF) {
      R x;
      x.load(x0 + row * a.cols, cols, a.vec, r, fill);
      body(row, r, x, scratch[0]);
    } else {
      const int64_t stride = row_stride<THREADS>();
      row_words<T, THREADS, PT> next;
      next.load(x0 + row * a.cols, cols, a.vec, r, fill);
      for (int it = 0; row < a.rows; row += stride, it ^= 1) {
        R x;
        if constexpr (std::is_same<R, row_words<T, THREADS, PT>>::value) {
          x = next;
        } else {
#pragma unroll
          for (int s = 0; s < PT; s++)
            x.v[s] = R::kept(next.elem(s));
        }
        if (row + stride < a.rows)
          next.load(x0 + (row + stride) * a.cols, cols, a.vec, r, fill);
        body(row, r, x, scratch[it]);
      }
    }
  });
}

/* Starts the copies of this thread's vectors [j0, j1) of row (cols
 * elements; none where row is NULL) into the same places of buf, as one
 * commit group; TH threads, PT elements each. */
template <int TH, int PT, class T>
__device__ __forceinline__ void prefetch_row(T *buf, const T *row, int cols, int r, int j0,
                                             int j1) {
  constexpr int V = VW<T>;
  if (row) {
#pragma unroll
    for (int j = 0; j < PT / V; j++) {
      const int c = (j * TH + r) * V;
      if (j >= j0 && j < j1 && c < cols)
        __pipeline_memcpy_async(buf + c, row + c, 16);
    }
  }
  __pipeline_commit();
}

/* Calls body(row, x) for the rows of this block, rows blockIdx.x,
 * blockIdx.x + gridDim.x, ..., with x (R: a row_regs or row_words of TH
 * threads, PT elements each) loaded from the shared copy (slots past cols
 * hold fill). Each thread reads back only the slots it copied, so its own
 * wait orders its reads; the copies come in CHUNKS groups, and as each
 * group of this row reaches registers the same group of the next row
 * starts, so copies stay in flight while a row is read back. The barrier
 * after the first group keeps the body's scratch behind the last row's
 * reductions. */
template <class T, class R, int TH, int PT, int CHUNKS, class F>
__device__ __forceinline__ void wide_rows(const T *x, int64_t rows, int cols, float fill, F &&body) {
  extern __shared__ __align__(16) unsigned char wide_buffer[];
  constexpr int J = PT / VW<T>; /* vectors per thread */
  static_assert(J % CHUNKS == 0, "whole vectors per chunk");
  T *buf = reinterpret_cast<T *>(wide_buffer);
  const int r = threadIdx.x;
  int64_t row = blockIdx.x;
  if (row >= rows)
    return;
#pragma unroll
  for (int k = 0; k < CHUNKS; k++)
    prefetch_row<TH, PT>(buf, x + row * cols, cols, r, k * J / CHUNKS, (k + 1) * J / CHUNKS);
  for (; row < rows; row += gridDim.x) {
    const T *next = row + gridDim.x < rows ? x + (row + gridDim.x) * cols : nullptr;
    R v;
#pragma unroll
    for (int k = 0; k < CHUNKS; k++) {
      __pipeline_wait_prior(CHUNKS - 1);
      v.load_vectors(buf, cols, r, fill, k * J / CHUNKS, (k + 1) * J / CHUNKS);
      if (k == 0)
        __syncthreads();
      prefetch_row<TH, PT>(buf, next, cols, r, k * J / CHUNKS, (k + 1) * J / CHUNKS);
    }
    body(row, v);
  }
}

} // namespace kiln_dev

#endif /* KILN_CUDA_ROWS_CUH */
