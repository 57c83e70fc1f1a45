/*
 * kiln.h — fast transformer primitives for the CPU and NVIDIA GPUs.
 *
 * The whole public API lives in this header. It is C11 and holds no CUDA
 * types, so any C or C++ program can include it whatever backends the
 * library was built with.
 *
 * Conventions that hold for every function below:
 *
 *  - Tensors are dense and row-major. Shapes are written outermost first:
 *    a tensor of shape [B, M, K] has K contiguous elements per row.
 *  - All tensors given to one op share one dtype and one context.
 *  - f16 and bf16 ops accumulate in f32 and round to nearest even once, at
 *    the end.
 *  - Ops are asynchronous on the GPU: they enqueue work and return. Only
 *    kiln_tensor_read and kiln_sync wait for it.
 *  - A failing call changes nothing the caller can see: no output is written,
 *    nothing leaks, *out is set to NULL where there is one, and
 *    kiln_last_error() names the function, the argument and the shapes.
 *    Nothing in the library prints, asserts or aborts on bad input.
 *  - A context is used by one thread at a time; different contexts may be
 *    used from different threads at once.
 */
#ifndef KILN_H
#define KILN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KILN_VERSION_MAJOR 0
#define KILN_VERSION_MINOR 1
#define KILN_VERSION_PATCH 0

#if defined(__GNUC__) || defined(__clang__)
#define KILN_NODISCARD __attribute__((warn_unused_result))
#else
#define KILN_NODISCARD
#endif

#if defined(_WIN32) && defined(KILN_SHARED_BUILD)
#define KILN_API __declspec(dllexport)
#elif defined(__GNUC__) || defined(__clang__)
#define KILN_API __attribute__((visibility("default")))
#else
#define KILN_API
#endif

/* ---------------------------------------------------------------- status */

typedef enum kiln_status {
  KILN_OK = 0,
  KILN_ERR_INVALID_ARGUMENT, /* NULL where a value is required, bad flag, eps <= 0, aliasing */
  KILN_ERR_SHAPE,            /* dimensions that do not fit together */
  KILN_ERR_DTYPE,            /* dtype mismatch or a dtype this op does not take */
  KILN_ERR_DEVICE,           /* no such device, or tensors from another context */
  KILN_ERR_OUT_OF_MEMORY,
  KILN_ERR_UNSUPPORTED,      /* a valid request this backend cannot do */
  KILN_ERR_BACKEND           /* the driver or a vendor library failed */
} kiln_status;

/* A fixed English name for a status ("KILN_ERR_SHAPE"); never NULL. */
KILN_API const char *kiln_status_string(kiln_status s);

/* This thread's last failure, with detail, for example
 *   "kiln_matmul: a is [64, 32] but b is [16, 8]: inner dimensions 32 and 16 differ".
 * Empty ("") when no call on this thread has failed yet. The text stays
 * valid until this thread's next failing kiln call. */
KILN_API const char *kiln_last_error(void);

/* "0.1.0" */
KILN_API const char *kiln_version(void);

/* ------------------------------------------------------- dtypes, devices */

typedef enum kiln_dtype { KILN_F32, KILN_F16, KILN_BF16 } kiln_dtype;
typedef enum kiln_device { KILN_DEVICE_AUTO, KILN_DEVICE_CPU, KILN_DEVICE_CUDA } kiln_device;

/* Bytes per element (4 or 2); 0 for a value outside the enum. */
KILN_API size_t kiln_dtype_size(kiln_dtype dtype);
/* "f32", "f16", "bf16"; "?" for a value outside the enum. */
KILN_API const char *kiln_dtype_name(kiln_dtype dtype);

/* How many devices of this kind this build and this machine have: 1 for the
 * CPU, the number of visible GPUs for CUDA (0 in a build without CUDA or on
 * a machine without a GPU). */
KILN_API int kiln_device_count(kiln_device device);

/* --------------------------------------------------------------- context */

typedef struct kiln_context kiln_context;

/* A context owns everything expensive for one device: on the GPU its
 * stream, cuBLASLt handle, workspace and cached matmul plans; on the CPU its
 * scratch buffers. Make one and keep it.
 * device KILN_DEVICE_AUTO picks GPU 0 when there is one, else the CPU.
 * index: which device of that kind (0 for the CPU). A device this build or
 * this machine lacks gives KILN_ERR_DEVICE. */
KILN_API KILN_NODISCARD kiln_status kiln_context_create(kiln_device device, int index,
                                                        kiln_context **out);
/* Waits for the context's pending work, then frees it. NULL is fine.
 * Destroy its tensors and graphs first. */
KILN_API void kiln_context_destroy(kiln_context *ctx);
/* KILN_DEVICE_CPU or KILN_DEVICE_CUDA (never AUTO). */
KILN_API kiln_device kiln_context_device(const kiln_context *ctx);
/* One line describing the device and backend, for logs:
 *   "cpu: OpenBLAS 0.3.21 (8 threads), OpenMP 8 threads"
 *   "cuda:0: NVIDIA H100 80GB HBM3, sm_90, 132 SMs, CUDA 13.0" */
KILN_API const char *kiln_context_describe(const kiln_context *ctx);
/* Waits until all work enqueued on ctx has finished. */
KILN_API KILN_NODISCARD kiln_status kiln_sync(kiln_context *ctx);

/* f32 matmul is true f32 by default. allow = 1 lets the GPU use TF32 tensor
 * cores for f32 products (about 10 mantissa bits per operand, several times
 * faster); allow = 0 turns it off again. The CPU ignores the switch. */
KILN_API KILN_NODISCARD kiln_status kiln_context_allow_tf32(kiln_context *ctx, int allow);

/* ---------------------------------------------------------------- tensor */

#define KILN_MAX_DIMS 4 /* at least 4; never more than 8 */

typedef struct kiln_tensor kiln_tensor;

/* A new tensor of ndim (1..KILN_MAX_DIMS) dimensions, its memory on the
 * context's device and uninitialized. Dimensions may be 0 (an empty tensor);
 * a negative one gives KILN_ERR_SHAPE, an unknown dtype KILN_ERR_DTYPE, a
 * total size that overflows size_t KILN_ERR_SHAPE. */
KILN_API KILN_NODISCARD kiln_status kiln_tensor_create(kiln_context *ctx, kiln_dtype dtype,
                                                       int ndim, const int64_t *shape,
                                                       kiln_tensor **out);
/* Frees the tensor after any pending work that uses it. NULL is fine. */
KILN_API void kiln_tensor_destroy(kiln_tensor *t);
KILN_API int kiln_tensor_ndim(const kiln_tensor *t);
/* Size of one axis; a negative axis counts from the end (-1 is the last).
 * An axis out of range gives 0. */
KILN_API int64_t kiln_tensor_dim(const kiln_tensor *t, int axis);
KILN_API kiln_dtype kiln_tensor_dtype(const kiln_tensor *t);
KILN_API int64_t kiln_tensor_numel(const kiln_tensor *t);
KILN_API size_t kiln_tensor_nbytes(const kiln_tensor *t);
KILN_API kiln_context *kiln_tensor_context(const kiln_tensor *t);

/* Copy host data in the tensor's own dtype (f16/bf16 as raw 16-bit words)
 * into t. nbytes must equal kiln_tensor_nbytes(t), else
 * KILN_ERR_INVALID_ARGUMENT. src may be reused as soon as this returns. */
KILN_API KILN_NODISCARD kiln_status kiln_tensor_write(kiln_tensor *t, const void *src,
                                                      size_t nbytes);
/* Wait for pending work on t's context, then copy t into host memory.
 * nbytes must equal kiln_tensor_nbytes(t). */
KILN_API KILN_NODISCARD kiln_status kiln_tensor_read(const kiln_tensor *t, void *dst,
                                                     size_t nbytes);

/* Host conversions between f32 and the 16-bit dtypes, rounding to nearest
 * even (NaN stays NaN, overflow goes to inf). n elements each. */
KILN_API void kiln_f32_to_f16(const float *src, uint16_t *dst, size_t n);
KILN_API void kiln_f16_to_f32(const uint16_t *src, float *dst, size_t n);
KILN_API void kiln_f32_to_bf16(const float *src, uint16_t *dst, size_t n);
KILN_API void kiln_bf16_to_f32(const uint16_t *src, float *dst, size_t n);

/* ------------------------------------------------------------------- ops */

/* out = alpha * op(a) @ op(b) + beta * out (+ bias[n] on every row).
 *
 *   a:    [..., M, K]   ([..., K, M] with transpose_a)
 *   b:    [K, N]        shared by every batch, or
 *         [..., K, N]   with exactly a's batch dims
 *                       (transpose_b: [N, K] / [..., N, K], the layout of a
 *                        PyTorch Linear weight)
 *   out:  [..., M, N]   with a's batch dims
 *   bias: [N]           optional
 *
 * a and b have 2 to KILN_MAX_DIMS dims. With beta == 0 the old contents of
 * out are not read (NaN in out does not leak through). out must not overlap
 * a, b or bias. p NULL means a plain product: no transposes, alpha 1,
 * beta 0, no bias. alpha and beta must be finite. */
typedef struct kiln_matmul_params {
  int transpose_a, transpose_b;
  float alpha, beta;
  const kiln_tensor *bias; /* optional, [N] */
} kiln_matmul_params;
KILN_API KILN_NODISCARD kiln_status kiln_matmul(kiln_context *ctx, const kiln_tensor *a,
                                                const kiln_tensor *b, kiln_tensor *out,
                                                const kiln_matmul_params *p);

/* Softmax over the last axis of scale * x.
 *
 *   x, out: [..., S]          (causal: [..., Sq, Sk])
 *
 * causal: column j of row i (i counted within its [Sq, Sk] matrix) is
 * masked when j > i + (Sk - Sq), so the last query row sees every key
 * (bottom-right aligned, as in decoding with a KV cache). scale must be
 * finite and > 0. Entries of -inf count as masked. A row with every entry
 * masked or -inf gives all zeros (not NaN). out may be x (in place);
 * otherwise it must not overlap x. p NULL means scale 1, no mask. */
typedef struct kiln_softmax_params {
  float scale;
  int causal;
} kiln_softmax_params;
KILN_API KILN_NODISCARD kiln_status kiln_softmax(kiln_context *ctx, const kiln_tensor *x,
                                                 kiln_tensor *out,
                                                 const kiln_softmax_params *p);

/* out = x / sqrt(mean(x^2 over the last axis) + eps) * weight
 *
 *   x, out: [..., H]
 *   weight: [H]
 *
 * eps must be finite and > 0. out may be x (in place); otherwise it must not
 * overlap x or weight. */
KILN_API KILN_NODISCARD kiln_status kiln_rms_norm(kiln_context *ctx, const kiln_tensor *x,
                                                  const kiln_tensor *weight, float eps,
                                                  kiln_tensor *out);

/* ----------------------------------------------------------------- graphs */

/* Capture a sequence of ops once, replay it many times at a fraction of the
 * per-op launch cost. On the GPU this is a CUDA graph; on the CPU a recorded
 * list of the same ops. Between begin and end, ops on ctx are recorded, not
 * run; kiln_tensor_create, _write, _read and kiln_sync on ctx fail with
 * KILN_ERR_INVALID_ARGUMENT. A replay reads the tensors' current contents,
 * so writing new data into the inputs and running the graph again gives the
 * new results. Every tensor an op recorded must outlive the graph. An op
 * that fails while capturing is not recorded and capture goes on. */
typedef struct kiln_graph kiln_graph;
KILN_API KILN_NODISCARD kiln_status kiln_graph_begin(kiln_context *ctx);
/* Ends the capture begun on ctx; *graph receives the result. */
KILN_API KILN_NODISCARD kiln_status kiln_graph_end(kiln_context *ctx, kiln_graph **graph);
/* Enqueues one replay of graph on ctx, the context it was captured on. */
KILN_API KILN_NODISCARD kiln_status kiln_graph_run(kiln_context *ctx, const kiln_graph *graph);
/* NULL is fine. */
KILN_API void kiln_graph_destroy(kiln_graph *graph);

#ifdef __cplusplus
}
#endif

#endif /* KILN_H */
