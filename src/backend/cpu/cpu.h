/*
 * Shared pieces of the CPU backend: its per-context state and the helpers
 * its op files have in common. Nothing outside src/backend/cpu includes it.
 */
#ifndef KILN_BACKEND_CPU_H
#define KILN_BACKEND_CPU_H

#include "attention_lengths.h"
#include "float_bits.h"
#include "internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Elements of a row handled at once by softmax and rms_norm: 16-bit rows
 * are widened into a stack buffer this long, so a row of any length needs
 * no heap memory. */
#define CPU_BLOCK 256

/* Parallel row loops pay for their fork and join only above this many
 * elements; below it they run on the calling thread. */
#define CPU_PARALLEL_MIN 32768

/* Independent partial sums per reduction: enough to fill two SSE or one AVX
 * register, and fixed so results do not depend on the vector width. */
#define CPU_LANES 8

/* Most rows of x that kiln_cpu_gemv_nt takes: up to here dot products beat a
 * GEMM (no packing, 16-bit weights widened in registers, not memory). */
#define CPU_GEMV_MAX_ROWS 4

/* Most rows of an f32 x that go to kiln's own x w^T kernel
 * (cpu_matmul_nt.c) rather than the BLAS: up to here reading the weights
 * where they lie beats packing them (1.2-1.9x at 8 to 32 rows on BERT's
 * shapes, one thread); from 48 rows on OpenBLAS's packed kernel wins. */
#define CPU_NT_MAX_ROWS 32

/* f32 BLAS products are split over the context's threads (one BLAS call
 * each) from this many multiply-adds (m * n * k) on. */
#define CPU_SPLIT_MIN (1 << 18)

/* Fused attention tiles (cpu_attention_tile.h): at most CPU_ATTN_ROWS query
 * rows (heads of one kv group times queries) against key blocks of
 * CPU_ATTN_KEYS, so a tile's work area stays in L2 for D up to 256. */
#define CPU_ATTN_ROWS 64
#define CPU_ATTN_KEYS 64

/* One tile: heads h0 .. h0 + nh - 1 (all reading kv head g) times queries
 * i0 .. i0 + qn - 1 of sequence b; nh * qn <= CPU_ATTN_ROWS. work holds
 * cpu_attention_work_floats(op->d) floats of the running thread's own. */
typedef struct cpu_attention_tile {
  const kiln_attention_op *op;
  kiln_attention_seq seq;
  int64_t b, g, h0, nh, i0, qn;
  float *work;
} cpu_attention_tile;

static inline size_t cpu_attention_work_floats(int64_t d) {
  const size_t dd = (size_t)d, keys = CPU_ATTN_KEYS, rows = CPU_ATTN_ROWS;
  return 2 * rows * dd + 2 * dd * keys + rows * keys + (dd > keys ? dd : keys);
}

/* The hot row loops (cpu_rows.h), one table per instruction-set variant. */
typedef struct cpu_row_kernels {
  /* Softmax row r of op; z is op->cols floats of the calling thread's
   * scratch, needed (non-NULL) for 16-bit or masked rows only. */
  void (*softmax_row)(const kiln_softmax_op *op, int64_t r, float *z);
  /* One RMSNorm row: out = x * inv_rms * weight, weight as f32. x and out
   * may be the same row. Shared with the fused add_rms_norm, so the fused
   * op normalizes exactly as the basic one does. */
  void (*rms_norm_row)(kiln_dtype dtype, const void *x, void *out, int64_t cols, float eps,
                       const float *weight);
  /* y[r * ldy] += alpha * x[r, :] . w, r < rows <= CPU_GEMV_MAX_ROWS: one
   * weight row w of k elements in dtype against rows of x (f32, ld ldx). */
  void (*gemv_row)(kiln_dtype dtype, int64_t rows, int64_t k, float alpha, const float *x,
                   int64_t ldx, const void *w, float *y, int64_t ldy);
  /* d[j] = f(v[j]) / a[j] op b[j] for one block of n <= CPU_BLOCK f32
   * values (cpu_elementwise.c); d may be v or a. */
  void (*unary_block)(const kiln_unary_op *op, const float *v, float *d, size_t n);
  void (*binary_block)(kiln_binary_kind kind, const float *a, const float *b, float *d, size_t n);
  /* One fused-attention tile, its output rows written (cpu_attention.c). */
  void (*attention_tile)(const cpu_attention_tile *tile);
} cpu_row_kernels;

/* An AVX2 build of the row kernels, chosen at run time where the CPU has
 * AVX2, exists for x86 GCC and clang (their target attribute and
 * __builtin_cpu_supports); elsewhere only the baseline does. */
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define CPU_HAVE_AVX2_VARIANT 1
#else
#define CPU_HAVE_AVX2_VARIANT 0
#endif

extern const cpu_row_kernels kiln_cpu_rows_base;
#if CPU_HAVE_AVX2_VARIANT
extern const cpu_row_kernels kiln_cpu_rows_avx2;
/* Only its attention_tile is used (cpu_attention.c). */
extern const cpu_row_kernels kiln_cpu_rows_avx512;
#endif

typedef struct cpu_state {
  char describe[200];
  int threads_set;     /* kiln_context_set_threads; 0: automatic */
  int threads_machine; /* KILN_NUM_THREADS or OpenMP's count at creation */
  const cpu_row_kernels *rows; /* the variant for this machine */
  bool matmul_nt;              /* kiln_cpu_matmul_nt runs here (AVX-512) */
  /* Grown on demand and kept for the context's life, so an op whose shape
   * has been seen before (a replayed graph, a training loop) allocates
   * nothing. Only one thread uses a context at a time. */
  float *scratch;
  size_t scratch_floats;
  /* A kernel's deferred error (backend.h), reported by the next sync or
   * download. CPU kernels that can check before writing fail at once
   * instead; this is for checks that only make sense mid-run. */
  kiln_defer defer;
} cpu_state;

/* At least nfloats floats of the context's scratch, 64-byte aligned; NULL
 * after kiln_fail(KILN_ERR_OUT_OF_MEMORY) naming fn when it cannot grow. */
float *kiln_cpu_scratch(cpu_state *s, size_t nfloats, const char *fn);

/* count per-column parameter vectors of n elements (a norm's weight and
 * bias) as f32 in out[]: f32 ones where they lie, 16-bit ones widened once
 * into scratch rather than once per row, absent (NULL) ones filled with
 * fills[i]. Uses the scratch from its start. */
kiln_status kiln_cpu_params_f32(cpu_state *s, kiln_dtype dtype, const kiln_tensor *const *params,
                           const float *fills, int count, size_t n, const float **out,
                           const char *fn);

/* y[r, j] (ld ldy) += alpha * sum_p x[r, p] w[j, p] for r < rows <=
 * CPU_GEMV_MAX_ROWS, j < n: x f32 (ld ldx), w [n, k] in dtype (ld ldw).
 * Accumulates in f32. One f32 row goes to BLAS's sgemv, so there n, k and
 * ldw must fit its int. */
void kiln_cpu_gemv_nt(const cpu_state *s, kiln_dtype dtype, int64_t rows, int64_t n, int64_t k,
                 float alpha, const float *x, int64_t ldx, const void *w, int64_t ldw, float *y,
                 int64_t ldy);

/* One LayerNorm row (out may be x; weight and bias f32, as
 * kiln_cpu_params_f32 gives them; cpu_layer_norm.c), for kiln_cpu_norm. */
void kiln_cpu_layer_norm_row(kiln_dtype dtype, const void *x, void *out, int64_t cols, float eps,
                             const float *weight, const float *bias);

/* The four norm ops (rms_norm, add_rms_norm, layer_norm, add_layer_norm)
 * as one loop over rows (cpu_norm.c): out = norm(x), or for the fused ops
 * (residual non-NULL) h = x + residual rounded into h (h may be x or
 * residual) and out = norm(h as stored), each row by the plain op's own
 * row kernel, so fused and composite agree to the bit. LayerNorm where
 * layer (weight and bias may be NULL: 1 and 0), else RMSNorm (weight, no
 * bias). fn names the op in a failure. */
typedef struct cpu_norm {
  const kiln_tensor *x, *residual, *weight, *bias;
  kiln_tensor *h, *out;
  kiln_dtype dtype;
  int64_t rows, cols;
  float eps;
  bool layer;
  const char *fn;
} cpu_norm;
kiln_status kiln_cpu_norm(cpu_state *s, const cpu_norm *n);

/* out[i, j] (ld ldo) += alpha * sum_p x[i, p] w[j, p] for i < rows, j < n,
 * all f32, x [rows, k] (ld ldx), w [n, k] (ld ldw), over the OpenMP threads
 * (cpu_matmul_nt.c). Only where kiln_cpu_matmul_nt_available() (AVX-512);
 * xt is kiln_cpu_matmul_nt_scratch(rows, k) floats, 64-byte aligned. */
bool kiln_cpu_matmul_nt_available(void);
int64_t kiln_cpu_matmul_nt_scratch(int64_t rows, int64_t k);
void kiln_cpu_matmul_nt(int64_t rows, int64_t n, int64_t k, float alpha, const float *x,
                        int64_t ldx, const float *w, int64_t ldw, float *out, int64_t ldo,
                        float *xt);

/* A fused matmul's activation (cpu_elementwise.c): rows x cols f32 values
 * of out (row stride ldo) replaced by act of themselves, by the calling
 * thread, with the unary ops' kernels; KILN_ACTIVATION_NONE does nothing. */
void kiln_cpu_activate(const cpu_state *s, kiln_activation act, float *out, int64_t rows,
                       int64_t cols, int64_t ldo);

/* The f16/bf16 matmul (cpu_matmul_tiled.c), for cpu_matmul.c. */
kiln_status kiln_cpu_matmul_tiled(cpu_state *s, const kiln_matmul_op *op);

/* Threads per op (cpu_threads.c): counting live contexts, the count an op
 * of s uses now, and applying it around each op. */
void kiln_cpu_threads_init(cpu_state *s);
void kiln_cpu_threads_release(cpu_state *s);
int kiln_cpu_threads_now(const cpu_state *s);
kiln_status kiln_cpu_set_threads(void *state, int threads);
int kiln_cpu_op_begin(void *state);
void kiln_cpu_op_end(void *state, int saved);
/* Whether attention tiles run the AVX-512 build: the CPU has AVX-512F and VL
 * and the context does not use the baseline (KILN_CPU_ROWS=base). */
bool kiln_cpu_attention_wide(const cpu_state *s);

/* Defines the CPU's ops-table entry for one kind, kiln_cpu_op_<member>
 * (backend.h, KILN_OP_IMPL), after the kernel in its own file:
 *   static kiln_status softmax(void *state, const kiln_softmax_op *op) {...}
 *   KILN_CPU_OP(softmax, softmax, NULL); */
#define KILN_CPU_OP(member, kernel, supports_fn)                                             \
  KILN_OP_IMPL(kiln_cpu_op_##member, member, kernel, supports_fn)

/* Byte offset of row `row` in a dense matrix of `cols` columns. */
static inline size_t cpu_row_offset(kiln_dtype dtype, int64_t row, int64_t cols) {
  return (size_t)row * (size_t)cols * kiln_dtype_size(dtype);
}

/* Whether kernels compute on dtype's elements where they lie (f32) or
 * widen them into f32 first (the dtype table's widen). */
static inline bool cpu_in_place(kiln_dtype dtype) {
  return kiln_dtypes[dtype].widen == KILN_WIDEN_NONE;
}

/* 16-bit float words to f32 and back, inline (float_bits.h), so the row
 * kernels' AVX2 build (cpu_rows.h) converts at its own vector width. Only
 * 16-bit float dtypes reach them; the others leave dst untouched. */
static inline void cpu_widen(kiln_dtype dtype, const uint16_t *src, float *dst, size_t n) {
  switch (kiln_dtypes[dtype].widen) {
  case KILN_WIDEN_HALF:
    for (size_t i = 0; i < n; i++)
      dst[i] = kiln_half_widen(src[i]);
    return;
  case KILN_WIDEN_BF16:
    for (size_t i = 0; i < n; i++)
      dst[i] = kiln_bf16_widen(src[i]);
    return;
  case KILN_WIDEN_NONE:
  case KILN_WIDEN_NEVER:
    return;
  }
}

static inline void cpu_narrow(kiln_dtype dtype, const float *src, uint16_t *dst, size_t n) {
  switch (kiln_dtypes[dtype].widen) {
  case KILN_WIDEN_HALF:
    for (size_t i = 0; i < n; i++)
      dst[i] = kiln_half_narrow(src[i]);
    return;
  case KILN_WIDEN_BF16:
    for (size_t i = 0; i < n; i++)
      dst[i] = kiln_bf16_narrow(src[i]);
    return;
  case KILN_WIDEN_NONE:
  case KILN_WIDEN_NEVER:
    return;
  }
}

/* How many of a row's first len elements the block starting at j0 holds. */
static inline size_t cpu_block_length(int64_t len, int64_t j0) {
  return (size_t)(len - j0 < CPU_BLOCK ? len - j0 : CPU_BLOCK);
}

/* Elements [j0, j0 + n) of a row as f32: f32 rows are read where they lie,
 * 16-bit rows are widened into buf. */
static inline const float *cpu_load(kiln_dtype dtype, const void *row, int64_t j0, size_t n,
                                    float *buf) {
  if (cpu_in_place(dtype))
    return (const float *)row + j0;
  cpu_widen(dtype, (const uint16_t *)row + j0, buf, n);
  return buf;
}

/* Where to compute elements [j0, j0 + n) of an output row: in place for
 * f32, in buf for 16-bit rows, which cpu_commit then rounds into the row. */
static inline float *cpu_target(kiln_dtype dtype, void *row, int64_t j0, float *buf) {
  return cpu_in_place(dtype) ? (float *)row + j0 : buf;
}

static inline void cpu_commit(kiln_dtype dtype, void *row, int64_t j0, const float *buf,
                              size_t n) {
  if (!cpu_in_place(dtype))
    cpu_narrow(dtype, buf, (uint16_t *)row + j0, n);
}

/* Element j of a row becomes a quiet NaN of the dtype. */
static inline void cpu_store_nan(kiln_dtype dtype, void *row, int64_t j) {
  if (dtype == KILN_F32)
    ((float *)row)[j] = NAN;
  else
    ((uint16_t *)row)[j] = dtype == KILN_F16 ? 0x7e00u : 0x7fc0u;
}

/* A per-column parameter vector of n elements as f32: t's own memory when
 * it is f32, else widened into dst; dst filled with `fill` when t is NULL
 * (an absent weight or bias). dst holds n floats. */
static inline const float *cpu_vector_f32(const kiln_tensor *t, kiln_dtype dtype, size_t n,
                                          float fill, float *dst) {
  if (t && cpu_in_place(dtype))
    return t->data;
  if (t)
    cpu_widen(dtype, t->data, dst, n);
  else
    for (size_t i = 0; i < n; i++)
      dst[i] = fill;
  return dst;
}

#endif /* KILN_BACKEND_CPU_H */
