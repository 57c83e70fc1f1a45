/* The CPU backend's table, its per-context state, and host memory. */
#include "cpu.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tensor memory and scratch start on a cache line, so vector loads of a row
 * start never straddle one. */
#define CPU_ALIGN 64

/* aligned_alloc wants a multiple of the alignment; 0 bytes still gets a
 * real block, so tensor data is never NULL. */
static void *aligned_block(size_t nbytes) {
  if (nbytes > SIZE_MAX - (CPU_ALIGN - 1))
    return NULL;
  size_t rounded = nbytes == 0 ? CPU_ALIGN : (nbytes + CPU_ALIGN - 1) / CPU_ALIGN * CPU_ALIGN;
  return aligned_alloc(CPU_ALIGN, rounded);
}

float *kiln_cpu_scratch(cpu_state *s, size_t nfloats, const char *fn) {
  if (s->scratch && nfloats <= s->scratch_floats)
    return s->scratch;
  float *grown = nfloats <= SIZE_MAX / sizeof(float) ? aligned_block(nfloats * sizeof(float))
                                                      : NULL;
  if (!grown) {
    kiln_fail(KILN_ERR_OUT_OF_MEMORY, "%s: could not allocate %zu floats of CPU scratch", fn,
              nfloats);
    return NULL;
  }
  free(s->scratch);
  s->scratch = grown;
  s->scratch_floats = nfloats;
  return grown;
}

kiln_status kiln_cpu_params_f32(cpu_state *s, kiln_dtype dtype, const kiln_tensor *const *params,
                           const float *fills, int count, size_t n, const float **out,
                           const char *fn) {
  float *dst = kiln_cpu_scratch(s, (size_t)count * n, fn);
  if (!dst)
    return KILN_ERR_OUT_OF_MEMORY;
  for (int i = 0; i < count; i++)
    out[i] = cpu_vector_f32(params[i], dtype, n, fills[i], dst + (size_t)i * n);
  return KILN_OK;
}

static int cpu_device_count(void) { return 1; }

static const char *blas_threading(void) {
  switch (openblas_get_parallel()) {
  case 0: return "sequential";
  case 1: return "pthread";
  case 2: return "OpenMP";
  }
  return "unknown threading";
}

/* openblas_get_config() reads "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ...";
 * its first two words are the name and version. */
static int name_and_version_length(const char *config) {
  const char *space = strchr(config, ' ');
  if (space)
    space = strchr(space + 1, ' ');
  return space ? (int)(space - config) : (int)strlen(config);
}

/* The thread count is the one the context's next op uses (OpenBLAS and
 * OpenMP alike, cpu_threads.c), so it is written when asked for. */
static void write_describe(cpu_state *s) {
  const char *config = openblas_get_config();
  const int n = kiln_cpu_threads_now(s);
  snprintf(s->describe, sizeof s->describe,
           "cpu: %.*s (%d thread%s, %s), OpenMP %d thread%s (%s), %s row kernels%s",
           name_and_version_length(config), config, n, n == 1 ? "" : "s", blas_threading(), n,
           n == 1 ? "" : "s", s->threads_set ? "set for this context" : "automatic",
           s->rows == &kiln_cpu_rows_base ? "baseline" : "AVX2",
           kiln_cpu_attention_wide(s) ? " (attention tiles, unary ops: AVX-512)" : "");
}

/* The row kernels for this machine: AVX2 and FMA where the CPU (and the
 * OS, which must save the wide registers; __builtin_cpu_supports checks
 * both) has them, else the x86-64-v2 baseline. KILN_CPU_ROWS=base forces the
 * baseline, so tests can cover it on any machine. Softmax and the norms give
 * the same bits from both; attention tiles use FMA in the AVX2 and AVX-512
 * builds, and agree with the baseline within rounding, not to the bit. */
static const cpu_row_kernels *select_row_kernels(void) {
#if CPU_HAVE_AVX2_VARIANT
  const char *force = getenv("KILN_CPU_ROWS");
  __builtin_cpu_init();
  if (!(force && strcmp(force, "base") == 0) && __builtin_cpu_supports("avx2") &&
      __builtin_cpu_supports("fma"))
    return &kiln_cpu_rows_avx2;
#endif
  return &kiln_cpu_rows_base;
}

static kiln_status cpu_create(int index, void **state) {
  (void)index; /* the core has checked it against device_count */
  cpu_state *s = calloc(1, sizeof *s);
  if (!s)
    return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "kiln_context_create: out of host memory");
  s->rows = select_row_kernels();
  s->matmul_nt = s->rows != &kiln_cpu_rows_base && kiln_cpu_matmul_nt_available();
  kiln_cpu_threads_init(s);
  *state = s;
  return KILN_OK;
}

static void cpu_destroy(void *state) {
  cpu_state *s = state;
  kiln_cpu_threads_release(s);
  free(s->scratch);
  free(s);
}

static const char *cpu_describe(void *state) {
  write_describe(state);
  return ((cpu_state *)state)->describe;
}

/* Every CPU op has finished by the time it returns; what is left to
 * report is a deferred error. */
static kiln_status cpu_sync(void *state) {
  return kiln_defer_report(&((cpu_state *)state)->defer);
}

/* TF32 is a GPU tensor-core format; the CPU always computes f32 in f32. */
static kiln_status cpu_set_tf32(void *state, bool allow) {
  (void)state;
  (void)allow;
  return KILN_OK;
}

static kiln_status cpu_alloc(void *state, size_t nbytes, void **ptr) {
  (void)state;
  *ptr = aligned_block(nbytes);
  if (!*ptr)
    return kiln_fail(KILN_ERR_OUT_OF_MEMORY,
                     "kiln_tensor_create: could not allocate %zu bytes on the CPU", nbytes);
  return KILN_OK;
}

static void cpu_free(void *state, void *ptr) {
  (void)state;
  free(ptr);
}

static kiln_status cpu_upload(void *state, void *dst, const void *src, size_t nbytes) {
  (void)state;
  memcpy(dst, src, nbytes);
  return KILN_OK;
}

/* A read reports a pending deferred error, after copying, as on the GPU. */
static kiln_status cpu_download(void *state, void *dst, const void *src, size_t nbytes) {
  memcpy(dst, src, nbytes);
  return kiln_defer_report(&((cpu_state *)state)->defer);
}

/* The user's function runs now, on this thread, like every CPU op. */
static kiln_status cpu_custom(void *state, const kiln_custom_op_args *op) {
  (void)state;
  kiln_status s = op->fn(NULL, op->tensors, op->ntensors, op->user);
  if (s == KILN_OK)
    return KILN_OK;
  return kiln_fail(s, "kiln_custom_op: the custom function returned %s", kiln_status_string(s));
}

KILN_CPU_OP(custom, cpu_custom, NULL);

/* The table: each kernel file defines its kind's entry (KILN_CPU_OP);
 * a kind without a CPU kernel would be KILN_OP_NONE(kiln_cpu_op_<member>)
 * here. */
#define CPU_DECLARE(kind, member, type) extern const kiln_op_impl kiln_cpu_op_##member;
KILN_OPS(CPU_DECLARE)
#define CPU_ROW(kind, member, type) [kind] = &kiln_cpu_op_##member,
static const kiln_op_impl *const cpu_ops[KILN_OP_COUNT] = {KILN_OPS(CPU_ROW)};

static const kiln_backend cpu_backend = {
    .name = "cpu",
    .device = KILN_DEVICE_CPU,
    .device_count = cpu_device_count,
    .create = cpu_create,
    .destroy = cpu_destroy,
    .describe = cpu_describe,
    .sync = cpu_sync,
    .set_tf32 = cpu_set_tf32,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_upload,
    .download = cpu_download,
    /* graph_* stay NULL: the core records and replays op lists itself.
     * stream stays NULL: CPU ops run on the calling thread. */
    .ops = cpu_ops,
    .op_begin = kiln_cpu_op_begin,
    .op_end = kiln_cpu_op_end,
    .set_threads = kiln_cpu_set_threads,
};

const kiln_backend *kiln_backend_cpu(void) { return &cpu_backend; }
