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
 *    Nothing in the library prints, asserts or aborts on bad input. Work
 *    that fails after its call has returned (GPU kernels, graph replays:
 *    see kiln_graph_run) is reported by the next kiln_sync or
 *    kiln_tensor_read on the context instead.
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

/* For code built on kiln (custom ops, and kiln's own embedder and tokenizer,
 * which are written against this header alone): records a failure as this
 * thread's kiln_last_error() and returns status, so a layer above the ops
 * reports errors the way kiln's functions do. fmt is printf-style; the text
 * is cut at 511 bytes. */
KILN_API kiln_status kiln_set_error(kiln_status status, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* "0.1.0" */
KILN_API const char *kiln_version(void);

/* ------------------------------------------------------- dtypes, devices */

/* KILN_I32 holds token ids (kiln_embedding); every other op takes only the
 * float dtypes and answers KILN_ERR_DTYPE for an i32 tensor.
 * KILN_DTYPE_COUNT is not a dtype: it counts them. */
typedef enum kiln_dtype { KILN_F32, KILN_F16, KILN_BF16, KILN_I32, KILN_DTYPE_COUNT } kiln_dtype;
typedef enum kiln_device { KILN_DEVICE_AUTO, KILN_DEVICE_CPU, KILN_DEVICE_CUDA } kiln_device;

/* Bytes per element (4 or 2); 0 for a value outside the enum. */
KILN_API size_t kiln_dtype_size(kiln_dtype dtype);
/* "f32", "f16", "bf16", "i32"; "?" for a value outside the enum. */
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
 *   "cpu: OpenBLAS 0.3.21 (8 threads, pthread), OpenMP 8 threads (automatic),
 *    AVX2 row kernels (attention tiles: AVX-512)"
 *   "cuda:0: NVIDIA H100 80GB HBM3, sm_90, 132 SMs, CUDA runtime 13.0, cuBLASLt 13.0.0" */
KILN_API const char *kiln_context_describe(const kiln_context *ctx);
/* Waits until all work enqueued on ctx has finished. Reports the failures
 * of that work: errors of the device, and checks only a kernel could make
 * (an embedding id or an attention length found bad in device memory),
 * each reported once, by this call or by kiln_tensor_read, whichever comes
 * first; kiln_last_error() names the op and the bad element. */
KILN_API KILN_NODISCARD kiln_status kiln_sync(kiln_context *ctx);

/* f32 matmul is true f32 by default. allow = 1 lets the GPU use TF32 tensor
 * cores for f32 products (about 10 mantissa bits per operand, several times
 * faster); allow = 0 turns it off again. The CPU ignores the switch. */
KILN_API KILN_NODISCARD kiln_status kiln_context_allow_tf32(kiln_context *ctx, int allow);

/* enable = 1 (the default) runs each fused op (kiln_lora_linear,
 * kiln_add_rms_norm, kiln_add_layer_norm, kiln_attention, kiln_mean_pool)
 * as one kernel where the backend has one. enable = 0
 * runs every fused op as its composite of basic ops: for tests and for
 * debugging a suspected fused kernel. Both give the documented result; they
 * may differ in the last bits of f16/bf16 outputs (see each op). */
KILN_API KILN_NODISCARD kiln_status kiln_context_use_fused(kiln_context *ctx, int enable);

/* How many threads the context's CPU work uses: kiln's own OpenMP loops
 * and OpenBLAS alike, and a custom function's OpenMP code on the CPU.
 * threads >= 1 sets the count for this context; 0 (the default) is
 * automatic: KILN_NUM_THREADS if set, else OpenMP's count on the thread
 * that created the context (OMP_NUM_THREADS), divided by the number of CPU
 * contexts alive in the process (at least 1). So one context gets every
 * core, and four contexts used side by side from four threads get a
 * quarter each instead of oversubscribing the machine.
 * The count is applied around each op on the calling thread and the
 * caller's OpenMP setting is restored after, so your own OpenMP code is
 * not affected. OpenBLAS has one count for the whole process: kiln sets it
 * before each op of a context that wants another one, so contexts used at
 * the same time should want the same count (the automatic one does).
 * kiln_context_describe shows the count the next op will use. GPU contexts
 * accept the call and have nothing to set. threads must be 0 to 4096. */
KILN_API KILN_NODISCARD kiln_status kiln_context_set_threads(kiln_context *ctx, int threads);

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
 * nbytes must equal kiln_tensor_nbytes(t). Like kiln_sync, reports a
 * failure of that work (after copying). */
KILN_API KILN_NODISCARD kiln_status kiln_tensor_read(const kiln_tensor *t, void *dst,
                                                     size_t nbytes);

/* Host conversions between f32 and the 16-bit dtypes, rounding to nearest
 * even (NaN stays NaN, overflow goes to inf). n elements each. */
KILN_API void kiln_f32_to_f16(const float *src, uint16_t *dst, size_t n);
KILN_API void kiln_f16_to_f32(const uint16_t *src, float *dst, size_t n);
KILN_API void kiln_f32_to_bf16(const float *src, uint16_t *dst, size_t n);
KILN_API void kiln_bf16_to_f32(const uint16_t *src, float *dst, size_t n);

/* ------------------------------------------------------------------- ops */

/* What kiln_matmul applies to each element of its result, last. */
typedef enum kiln_activation {
  KILN_ACTIVATION_NONE = 0,  /* the product as it is */
  KILN_ACTIVATION_GELU,      /* kiln_gelu's erf form: x Phi(x) */
  KILN_ACTIVATION_GELU_TANH, /* kiln_gelu's tanh approximation */
} kiln_activation;

/* out = act(alpha * op(a) @ op(b) + beta * out (+ bias[n] on every row)).
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
 * beta 0, no bias, no activation. alpha and beta must be finite.
 *
 * act (activation) is applied to the f32 sum before its one rounding to
 * out's dtype where the backend fuses it into the product. Otherwise, and
 * under kiln_context_use_fused(ctx, 0), the product is rounded into out
 * and kiln_gelu then runs on out in place. The two agree to one rounding
 * of the dtype.
 *
 * On the GPU a large product (2 M N K times the batch at least 2^34
 * flops, beta 0) times a few cuBLASLt algorithms on its first call per
 * shape in a context (milliseconds, once; it syncs the stream) and keeps
 * the fastest; inside a graph capture, and for other products, the
 * library's first pick is kept without timing. Candidates that time alike
 * may be picked differently by another process, whose results can then
 * differ in their last bits. */
typedef struct kiln_matmul_params {
  int transpose_a, transpose_b;
  float alpha, beta;
  const kiln_tensor *bias;    /* optional, [N] */
  kiln_activation activation; /* KILN_ACTIVATION_NONE (0) unless set */
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
 * otherwise it must not overlap x. p NULL means scale 1, no mask.
 *
 * mask (optional): an additive mask in x's dtype, added to scale * x before
 * the row max, so -inf masks an entry (a padding mask) and finite values
 * bias it (ALiBi-style). Its shape is [Sk] (one mask for every row) or
 * [B, Sk] with B = x's first dim and x of 2 dims or more (one mask per
 * sequence: row r of the flattened x uses mask row r / (rows / B)). It
 * combines with causal. mask must not overlap out.
 *
 * At the edges (every backend, every dtype):
 *  - A logit of +inf (x = +inf, or scale * x + mask overflowing f32) is
 *    the limit of growing logits: the row's +inf entries share 1 equally
 *    and every other entry is 0. Without a mask the row max is subtracted
 *    before scaling, so finite x never overflows: softmax([1, 2]) with
 *    scale 3e38 is [0, 1] with or without an all-zero mask.
 *  - A NaN among a row's visible entries, with either sign bit, makes the
 *    whole row NaN (causally hidden columns too). A NaN that the causal
 *    mask hides counts for nothing. */
typedef struct kiln_softmax_params {
  float scale;
  int causal;
  const kiln_tensor *mask; /* optional; last, so older initializers still compile */
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
 * overlap x or weight.
 *
 * Rows whose sum of squares overflows f32 (f32 and bf16 entries above
 * about 1.8e19) are summed again without overflow (in double on the CPU,
 * rescaled by a power of two on the GPU), so a row of 1e20 gives weight,
 * not 0; results keep f32 accuracy while the row's rms is below 2^126
 * (8.5e37). A row holding +-inf gives NaN at the infinities and zeros (of
 * x's sign) elsewhere; a NaN makes the row NaN. kiln_add_rms_norm and
 * kiln_layer_norm (its variance) follow the same rules. */
KILN_API KILN_NODISCARD kiln_status kiln_rms_norm(kiln_context *ctx, const kiln_tensor *x,
                                                  const kiln_tensor *weight, float eps,
                                                  kiln_tensor *out);

/* ------------------------------------------------------ transformer ops
 *
 * Every op below takes f32, f16 and bf16 (all its float tensors one dtype;
 * i32 only for embedding ids), works on rows of any length, computes in f32
 * (reductions in f32 lanes summed in double on the CPU) and rounds once into
 * the output dtype. "out may be x" means in place is allowed; any other
 * overlap between an output and an input is KILN_ERR_INVALID_ARGUMENT. */

/* LoRA linear layer, PyTorch/PEFT layouts:
 *
 *   out = x @ w^T (+ bias) + scale * (x @ a^T) @ b^T
 *
 *   x:    [..., in]     any number of rows (leading dims flattened)
 *   w:    [out, in]     the frozen base weight (nn.Linear layout)
 *   bias: [out]         optional (NULL)
 *   a:    [r, in]       lora_A.weight
 *   b:    [out, r]      lora_B.weight
 *   out:  [..., out]    x's leading dims
 *
 * scale is PEFT's lora_alpha / r (finite). Any rank r >= 1 works. Each
 * backend fuses the shapes where one kernel beats three (on the GPU: few
 * rows of x, a small rank and a w small enough that launches cost more
 * than reading it) and runs the composite elsewhere, where the base GEMM
 * dominates anyway. The composite (kiln_context_use_fused(ctx, 0),
 * or a backend without a fused kernel) is three matmuls: out = x w^T + bias,
 * t = x a^T, out += scale * t b^T, with t [rows, r] held in a scratch tensor
 * the context owns (grown once to the largest rows * r seen, never freed
 * before the context: a captured graph may use it). For f16/bf16 the
 * composite rounds t and the base product to the dtype; the fused paths
 * keep both in f32 and round once, so the two differ by a few units in the
 * last place of the dtype. out must not overlap any input. */
KILN_API KILN_NODISCARD kiln_status kiln_lora_linear(kiln_context *ctx, const kiln_tensor *x,
                                                     const kiln_tensor *w,
                                                     const kiln_tensor *bias,
                                                     const kiln_tensor *a, const kiln_tensor *b,
                                                     float scale, kiln_tensor *out);

/* Residual add fused with RMSNorm, the pre-norm transformer step:
 *
 *   h_out = x + residual                 (rounded to the dtype)
 *   out   = rms_norm(h_out, weight, eps) (of the rounded h, as kiln_rms_norm)
 *
 *   x, residual, h_out, out: [..., H]    weight: [H]
 *
 * out is computed from h as stored, so fused and composite (kiln_add, then
 * kiln_rms_norm) agree to the last f32 rounding in every dtype. h_out may be
 * x or residual (in place, the usual case: the residual stream). out must
 * not overlap x, residual, h_out or weight: the next layer needs h. eps
 * finite and > 0. */
KILN_API KILN_NODISCARD kiln_status kiln_add_rms_norm(kiln_context *ctx, const kiln_tensor *x,
                                                      const kiln_tensor *residual,
                                                      const kiln_tensor *weight, float eps,
                                                      kiln_tensor *h_out, kiln_tensor *out);

/* LayerNorm over the last axis:
 *
 *   out = (x - mean) / sqrt(var + eps) * weight + bias
 *
 *   x, out: [..., H]   weight, bias: [H], each optional (NULL: 1 and 0)
 *
 * var is the biased (population) variance, as in PyTorch, computed in two
 * passes over the row (mean first, then the squared deviations), so rows
 * with a large mean lose nothing to cancellation. eps finite and > 0.
 * out may be x. Squared deviations that overflow f32 are summed as
 * kiln_rms_norm does, so [1e20, -1e20, ...] gives +-1 (times weight, plus
 * bias). Rows whose sum or deviations from the mean exceed FLT_MAX are
 * beyond this promise; rows holding +-inf or NaN give NaN. */
KILN_API KILN_NODISCARD kiln_status kiln_layer_norm(kiln_context *ctx, const kiln_tensor *x,
                                                    const kiln_tensor *weight,
                                                    const kiln_tensor *bias, float eps,
                                                    kiln_tensor *out);

/* Residual add fused with LayerNorm, the post-norm (BERT) step:
 *
 *   h_out = x + residual                          (rounded to the dtype)
 *   out   = layer_norm(h_out, weight, bias, eps)  (of the rounded h, as kiln_layer_norm)
 *
 *   x, residual, h_out, out: [..., H]   weight, bias: [H], each optional (NULL: 1 and 0)
 *
 * The contract of kiln_add_rms_norm with kiln_layer_norm's normalization:
 * out is computed from h as stored, by the same two-pass statistics and
 * edge rules as kiln_layer_norm (huge rows, +-inf and NaN), so fused and
 * composite (kiln_add, then kiln_layer_norm) agree to the last f32
 * rounding in every dtype. h_out may be x or residual (in place); out must
 * not overlap x, residual, h_out, weight or bias. eps finite and > 0. A
 * post-norm model that needs only out still gets h_out written: pass x or
 * residual (whichever is dead) as h_out. */
KILN_API KILN_NODISCARD kiln_status kiln_add_layer_norm(kiln_context *ctx, const kiln_tensor *x,
                                                        const kiln_tensor *residual,
                                                        const kiln_tensor *weight,
                                                        const kiln_tensor *bias, float eps,
                                                        kiln_tensor *h_out, kiln_tensor *out);

/* Elementwise activations; x and out the same shape (any), out may be x.
 *   gelu:  x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))            tanh_approx = 0
 *          0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))     tanh_approx = 1
 *   silu:  x * sigmoid(x)
 *   scale: s * x (s finite)
 * At the infinities gelu (both forms) and silu give their limits: -inf
 * gives -0 and +inf gives +inf; NaN stays NaN. */
KILN_API KILN_NODISCARD kiln_status kiln_gelu(kiln_context *ctx, const kiln_tensor *x,
                                              kiln_tensor *out, int tanh_approx);
KILN_API KILN_NODISCARD kiln_status kiln_silu(kiln_context *ctx, const kiln_tensor *x,
                                              kiln_tensor *out);
KILN_API KILN_NODISCARD kiln_status kiln_scale(kiln_context *ctx, const kiln_tensor *x, float s,
                                               kiln_tensor *out);

/* SwiGLU: out = silu(gate) * up, computed in f32 and rounded once (the
 * composite kiln_silu then kiln_mul rounds silu(gate) to the dtype first).
 * gate, up, out: the same shape; out may be gate or up. silu(-inf) is -0,
 * so a gate of -inf gives -0 * up (+-0 for finite up). */
KILN_API KILN_NODISCARD kiln_status kiln_swiglu(kiln_context *ctx, const kiln_tensor *gate,
                                                const kiln_tensor *up, kiln_tensor *out);

/* out = a + b, out = a * b, with b broadcast over a's leading dims:
 *
 *   a, out: [d0, ..., dn]   b: a suffix of a's shape: [dn], [d(n-1), dn], ... or a's
 *
 * (a bias [D] on activations [B, S, D], a positional table [S, D] on
 * [B, S, D]). out may be a; out may be b only when b has a's shape; no
 * other overlap. */
KILN_API KILN_NODISCARD kiln_status kiln_add(kiln_context *ctx, const kiln_tensor *a,
                                             const kiln_tensor *b, kiln_tensor *out);
KILN_API KILN_NODISCARD kiln_status kiln_mul(kiln_context *ctx, const kiln_tensor *a,
                                             const kiln_tensor *b, kiln_tensor *out);

/* Rotary position embedding.
 *
 *   seq_axis -2 (or 0): x, out [..., S, D]     (PyTorch SDPA's [B, H, S, D])
 *   seq_axis -3:        x, out [..., S, H, D]  (HF/llama.cpp q, k before the
 *                                               transpose: [B, S, H, D])
 *
 * A row (D elements) at index s along the sequence axis has position
 * p = position_offset + s (decoding one token at offset n: S = 1). Its first
 * rotary_dims elements (0: all of D; even, <= D) are rotated; the rest are
 * copied. For i < rotary_dims / 2:
 *   inv_freq_i = 1 / base^(2i / rotary_dims),  angle = p * inv_freq_i,
 *   rotate-half (NeoX, Llama; interleaved = 0): pairs (i, i + rotary_dims/2)
 *   interleaved (GPT-J; interleaved = 1):      pairs (2i, 2i + 1)
 *   (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin).
 * Precision matches Hugging Face transformers: inv_freq and the angle are
 * f32 (the f32 product of the position and inv_freq), and cos/sin of that
 * f32 angle are evaluated accurately (no fast approximate sin on the GPU).
 * inv_freq_i is computed in double and rounded once to f32, so every
 * backend gets the same bits: at position 1e5 one ulp of inv_freq moves
 * the angle by a few thousandths of a radian.
 * Positions are exact up to 2^24 (rounded to f32 beyond, as in
 * transformers). base finite and > 0 (10000 typical), position_offset >= 0,
 * and the last position, position_offset + S - 1, at most INT64_MAX, else
 * KILN_ERR_INVALID_ARGUMENT on every backend. p NULL: base 10000, offset 0, rotate-half, all of
 * D, seq_axis -2. out may be x. */
typedef struct kiln_rope_params {
  float base;
  int64_t position_offset;
  int interleaved;
  int rotary_dims;
  int seq_axis;
} kiln_rope_params;
KILN_API KILN_NODISCARD kiln_status kiln_rope(kiln_context *ctx, const kiln_tensor *x,
                                              kiln_tensor *out, const kiln_rope_params *p);

/* Embedding lookup: out[i, :] = table[ids[i], :].
 *
 *   table: [V, D] (f32/f16/bf16)   ids: i32 [...]   out: [..., D] (ids' shape + D,
 *                                                       table's dtype)
 *
 * An id outside [0, V): on the CPU the call fails with
 * KILN_ERR_INVALID_ARGUMENT before anything is written ("kiln_embedding:
 * ids[3] is 50000, outside the table's 30522 rows"). On the GPU the ids are
 * device memory, so the kernel checks them and the failure is reported by
 * the next kiln_sync or kiln_tensor_read on the context; out's rows for bad
 * ids are then zeros. Inside a graph replay both backends do as the GPU
 * does (see kiln_graph_run). ids's ndim must be below KILN_MAX_DIMS. */
KILN_API KILN_NODISCARD kiln_status kiln_embedding(kiln_context *ctx, const kiln_tensor *table,
                                                   const kiln_tensor *ids, kiln_tensor *out);

/* ---------------------------------------------------------------- attention */

/* Options of kiln_attention and kiln_attention_packed. Zero-initialized
 * means: scale 1/sqrt(D), no causal mask, no additive mask, padded layout.
 *
 * Causal alignment: per sequence, with Sq queries and Sk keys, key j is
 * masked for query i when j > i + (Sk - Sq) (the last query sees every key,
 * as in kiln_softmax; with Sq > Sk the first Sq - Sk queries see none). Sk is
 * the sequence's key count: the padded Sk, or its cu_seqlens_k length, or
 * seqlens_k[b] when seqlens_k is given (a KV cache filled to seqlens_k[b]
 * holds the queries' own keys at its end, as FlashAttention's cache_seqlens).
 *
 * seqlens_k, cu_seqlens_q and cu_seqlens_k are i32 tensors in the context's
 * memory. Their contents are checked (seqlens_k[b] in [0, Sk]; cu_seqlens
 * starting at 0, never decreasing, ending at T, no length above
 * max_seqlen): on the CPU before anything is written, with
 * KILN_ERR_INVALID_ARGUMENT naming the bad entry ("kiln_attention:
 * cu_seqlens_q[3] is 40 but cu_seqlens_q[2] is 57"); on the GPU by the
 * kernel, which then writes nothing, reported by the next kiln_sync or
 * kiln_tensor_read. */
typedef struct kiln_attention_params {
  float scale;                      /* 0: 1/sqrt(D); else finite */
  int causal;                       /* key j is masked for query i when j > i + (Sk - Sq),
                                       bottom-right aligned as in kiln_softmax */
  const kiln_tensor *mask;          /* optional additive mask, q's dtype, broadcast over
                                       [B, Hq, Sq, Sk]: shape [Sq, Sk], [B, 1, Sq, Sk],
                                       [B, Hq, Sq, Sk] or [B, 1, 1, Sk]; padded layout only */
  const kiln_tensor *seqlens_k;     /* optional i32 [B]: keys j >= seqlens_k[b] are masked
                                       (key padding, and a KV cache's filled length) */
  const kiln_tensor *cu_seqlens_q;  /* optional i32 [B + 1]: the varlen layout, see below */
  const kiln_tensor *cu_seqlens_k;  /* i32 [B + 1]; NULL: the same as cu_seqlens_q */
  int64_t max_seqlen_q, max_seqlen_k; /* varlen only: upper bounds, given by the caller */
} kiln_attention_params;

/* out = softmax(scale * q k^T + mask) v, per batch and head.
 * Padded layout: q [B, Sq, Hq, D], k and v [B, Sk, Hkv, D], out [B, Sq, Hq, D].
 * Varlen layout (cu_seqlens_q given): q [Tq, Hq, D], k and v [Tk, Hkv, D], out [Tq, Hq, D];
 * sequence b holds rows cu_seqlens[b] .. cu_seqlens[b+1]-1; no padding anywhere.
 * Hq is a multiple of Hkv (multi-query and grouped-query attention). D from 1 to 256.
 * A query row whose keys are all masked gives zeros. params NULL: scale 1/sqrt(D), no mask.
 *
 * f32, f16 and bf16; every tensor but the i32 lengths in q's dtype; 16-bit
 * inputs are accumulated in f32. In the varlen layout max_seqlen_q and
 * max_seqlen_k must be > 0 (bounds on the sequences' lengths) and mask is
 * not taken; in the padded layout they must be 0. out overlaps no input.
 * An empty out is fine (nothing is done); with no keys (Sk = 0, or an empty
 * sequence of keys) the rows are zeros. The composite path
 * (kiln_context_use_fused(ctx, 0)) runs matmul, softmax and matmul per
 * sequence and head: a test oracle and a fallback, slow, and not capturable
 * in a graph (it reads the lengths on the host).
 *
 * On the GPU, long 16-bit sequences may run on cuDNN's fused kernel: the
 * first call of each such shape in a context builds cuDNN's plans and
 * keeps the fastest on that call's tensors (a second or two, once; it
 * syncs the stream); later calls of the shape reuse it (another process
 * may pick another plan, as kiln_matmul may). Inside a graph capture
 * nothing is built: an unseen shape runs on kiln's own kernels. */
KILN_API KILN_NODISCARD kiln_status kiln_attention(kiln_context *ctx, const kiln_tensor *q,
                                                   const kiln_tensor *k, const kiln_tensor *v,
                                                   kiln_tensor *out,
                                                   const kiln_attention_params *params);

/* The same, with q, k and v packed the way one fused QKV linear produces them:
 * qkv [B, S, Hq + 2*Hkv, D] (padded) or [T, Hq + 2*Hkv, D] (varlen), heads in the order
 * q heads, k heads, v heads; out [B, S, Hq, D] or [T, Hq, D]. Hq is read from out.
 * Hkv = (qkv's head count - Hq) / 2 must be a whole number >= 1 that divides Hq;
 * Sq = Sk = S (padded), Tq = Tk = T (varlen). */
KILN_API KILN_NODISCARD kiln_status kiln_attention_packed(kiln_context *ctx,
                                                          const kiln_tensor *qkv,
                                                          kiln_tensor *out,
                                                          const kiln_attention_params *params);

/* ---------------------------------------------------------------- pooling */

/* Mean pooling over each sequence's token rows, the sentence-embedding
 * step, optionally followed by L2 normalization, in one kernel:
 *
 *   out[b, :] = mean of the rows of sequence b          (normalize = 0)
 *   out[b, :] = that mean / its L2 norm                 (normalize = 1)
 *
 * Two layouts, told apart by x's rank:
 *   varlen: x [T, H], lengths = cu_seqlens i32 [B + 1] (required): sequence
 *           b is rows cu_seqlens[b] .. cu_seqlens[b+1]-1, kiln_attention's
 *           varlen layout (no padding anywhere).
 *   padded: x [B, S, H], lengths = seqlens i32 [B] or NULL: sequence b is
 *           its first seqlens[b] rows (all S when NULL); the rest is padding
 *           and never read.
 *   out: [B, H], x's dtype (f32, f16 or bf16).
 *
 * Sums are f32 (in double on the CPU) over the sequence's rows, divided by
 * its length, normalized in f32 and rounded once into out. An empty
 * sequence gives a row of zeros, and so does a zero mean when normalized
 * (0 / 0 is taken as 0). The lengths' contents are checked as kiln_attention
 * checks its cu_seqlens (cu_seqlens[0] = 0, never decreasing,
 * cu_seqlens[B] = T; 0 <= seqlens[b] <= S): on the CPU before anything is
 * written, with KILN_ERR_INVALID_ARGUMENT naming the bad entry; on the GPU
 * by the kernel, which then writes nothing, reported by the next kiln_sync
 * or kiln_tensor_read. normalize is 0 or 1; out overlaps no input.
 *
 * Edges: a column holding +inf (and no -inf or NaN) has mean +inf; +inf
 * beside -inf, or a NaN, gives NaN. Normalized, a mean holding +-inf gives
 * NaN at the infinities and zeros elsewhere (as kiln_rms_norm), and a NaN
 * makes the row NaN. A mean whose sum of squares overflows f32 is
 * normalized without overflow (rescaled), so a mean of 1e20s gives unit
 * vectors, and so does a mean of 1e-25s (whose squares underflow). Column
 * sums beyond FLT_MAX are beyond this promise on the GPU.
 *
 * The composite path (kiln_context_use_fused(ctx, 0)) reads the lengths on
 * the host and runs, per sequence, a matmul of a row of ones by its rows
 * (alpha = 1 / length), then kiln_rms_norm and kiln_scale for the L2 step:
 * a test oracle, not capturable in a graph; for f16/bf16 it rounds the mean
 * to the dtype before normalizing, so the two paths differ in the last
 * bits, and rms_norm's eps (FLT_MIN) leaves means whose squares sum below
 * about 1e-37 short of unit length. The GPU takes H up to 49152 in one
 * kernel and runs the composite above that. */
KILN_API KILN_NODISCARD kiln_status kiln_mean_pool(kiln_context *ctx, const kiln_tensor *x,
                                                   const kiln_tensor *lengths, int normalize,
                                                   kiln_tensor *out);

/* ---------------------------------------------------------------- interop */

/* The tensor's memory: a host pointer on the CPU, a device pointer on the
 * GPU (usable with cudaMemcpyAsync or a kernel on kiln_context_stream).
 * Valid until the tensor is destroyed; NULL for a NULL tensor. Work enqueued
 * on the context may still be writing it: order your access on the stream
 * or call kiln_sync first. */
KILN_API void *kiln_tensor_data(const kiln_tensor *t);

/* The context's cudaStream_t, as void *, on the GPU (every kiln op on ctx
 * runs on it, in order); NULL on the CPU or for a NULL ctx. */
KILN_API void *kiln_context_stream(const kiln_context *ctx);

/* A tensor over memory the caller owns, without a copy: host memory for a
 * CPU context, device memory of ctx's GPU for a CUDA one. kiln never frees
 * it: kiln_tensor_destroy frees only the wrapper, and data must outlive it.
 * data must be aligned to the element size (2 or 4 bytes), else
 * KILN_ERR_INVALID_ARGUMENT; it may be NULL only for an empty shape. Shape
 * rules are those of kiln_tensor_create. */
KILN_API KILN_NODISCARD kiln_status kiln_tensor_wrap(kiln_context *ctx, kiln_dtype dtype,
                                                     int ndim, const int64_t *shape, void *data,
                                                     kiln_tensor **out);

/* ---------------------------------------------------------------- DLPack
 *
 * DLPack (https://dmlc.github.io/dlpack) is the ABI NumPy, PyTorch, JAX,
 * CuPy and others use to hand tensors to each other without a copy. Both of
 * its managed forms are taken and given: the legacy DLManagedTensor and the
 * versioned DLManagedTensorVersioned of DLPack 1.x (with a version and
 * flags). They are declared here only by name, so a program may include its
 * own dlpack.h beside kiln.h. */
struct DLManagedTensor;
struct DLManagedTensorVersioned;

/* A kiln tensor over a DLPack tensor's memory, without a copy.
 *
 * src must be dense and row-major: strides NULL, or the compact row-major
 * strides (a dimension of extent 1 may have any stride; an empty tensor any
 * strides); byte_offset is honoured. Its dtype must be float32, float16,
 * bfloat16 or int32 (one lane), ndim 1 to KILN_MAX_DIMS, and its memory on
 * ctx's device: kDLCPU or kDLCUDAHost for a CPU context; kDLCUDA or
 * kDLCUDAManaged with ctx's device index for a CUDA one. The first element
 * must be aligned to the element size.
 *
 * On success kiln owns src: kiln_tensor_destroy (once any DLPack export of
 * the new tensor is gone too) calls src's deleter. The versioned form's
 * major version must be 1 (else KILN_ERR_UNSUPPORTED); its read-only flag
 * makes a tensor that ops refuse as an output and kiln_tensor_write refuses
 * (KILN_ERR_INVALID_ARGUMENT). On failure src is untouched and still the
 * caller's (its deleter is not called), *out is NULL, and the status says
 * what did not fit: KILN_ERR_DEVICE (memory elsewhere), KILN_ERR_DTYPE,
 * KILN_ERR_SHAPE (ndim), KILN_ERR_UNSUPPORTED (strides that are not
 * row-major, or DLPack 2.x), KILN_ERR_INVALID_ARGUMENT (NULLs, alignment,
 * ctx capturing a graph). */
KILN_API KILN_NODISCARD kiln_status kiln_tensor_from_dlpack(kiln_context *ctx,
                                                            struct DLManagedTensor *src,
                                                            kiln_tensor **out);
KILN_API KILN_NODISCARD kiln_status kiln_tensor_from_dlpack_versioned(
    kiln_context *ctx, struct DLManagedTensorVersioned *src, kiln_tensor **out);

/* 1 when t was imported read-only (see above), else 0. */
KILN_API int kiln_tensor_is_readonly(const kiln_tensor *t);

/* t as a DLPack tensor over the same memory, without a copy: device kDLCPU
 * (0) or kDLCUDA (the context's index), its dtype, shape and compact strides
 * (always written), byte_offset 0. The versioned form is DLPack 1.0 with the
 * read-only flag set when t is read-only; the legacy form cannot say
 * read-only, so it refuses such a t (KILN_ERR_INVALID_ARGUMENT).
 *
 * Lifetime: the export holds a reference to t's memory and to its context.
 * Destroying t, or the context, while an export is held only drops the
 * caller's handle: the memory (and the context's device state) is freed
 * when the export's deleter is called, which the consumer must do exactly
 * once. Calling the deleter counts as a use of t's context (one thread at a
 * time, see the top of this file). Work enqueued on the context may still be
 * writing t on the GPU: the consumer orders its reads with kiln_stream_wait
 * or kiln_sync. */
KILN_API KILN_NODISCARD kiln_status kiln_tensor_to_dlpack(kiln_tensor *t,
                                                          struct DLManagedTensor **out);
KILN_API KILN_NODISCARD kiln_status kiln_tensor_to_dlpack_versioned(
    kiln_tensor *t, struct DLManagedTensorVersioned **out);

/* Calls m's deleter, if it has one: how a consumer without its own
 * dlpack.h hands back a DLPack tensor it will not import (any producer's,
 * kiln's included). NULL is fine. */
KILN_API void kiln_dlpack_delete(struct DLManagedTensor *m);
KILN_API void kiln_dlpack_delete_versioned(struct DLManagedTensorVersioned *m);

/* Makes work enqueued later on stream wait for all work enqueued on ctx so
 * far, without blocking the host: DLPack's stream handshake. stream is a
 * cudaStream_t of ctx's device, as void *, or one of CUDA's special handles
 * (1: the legacy default stream, 2: the per-thread default stream). On the
 * CPU ops finish before they return, so there is nothing to wait for: KILN_OK.
 * Fails with KILN_ERR_INVALID_ARGUMENT while ctx captures a graph. */
KILN_API KILN_NODISCARD kiln_status kiln_stream_wait(kiln_context *ctx, void *stream);

/* Custom ops: a function of yours run in stream order with kiln tensors.
 * stream is the context's cudaStream_t on the GPU (enqueue your work on it;
 * inside kiln_graph_begin/_end your launches are captured into the graph)
 * and NULL on the CPU (work synchronously, on the calling thread).
 * tensors: the array given to kiln_custom_op (kiln_tensor_data gives the
 * memory). Return KILN_OK or an error status. */
#define KILN_CUSTOM_MAX_TENSORS 8
typedef kiln_status (*kiln_custom_fn)(void *stream, kiln_tensor *const *tensors, int ntensors,
                                      void *user);
/* Runs fn(stream, tensors, ntensors, user) on ctx's backend, ordered after
 * the work enqueued before it and before the work enqueued after it.
 * ntensors 0..KILN_CUSTOM_MAX_TENSORS (tensors may be NULL when 0), each a
 * tensor of ctx. A non-OK status from fn is returned as it is, with
 * kiln_last_error() saying that fn returned it. While capturing,
 * fn is not called now but at every kiln_graph_run on the CPU, and once,
 * to record its launches, on the GPU; the tensor pointers (not the array)
 * are copied, and user must stay valid as long as the graph. */
KILN_API KILN_NODISCARD kiln_status kiln_custom_op(kiln_context *ctx, kiln_custom_fn fn,
                                                   kiln_tensor *const *tensors, int ntensors,
                                                   void *user);

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
/* Enqueues one replay of graph on ctx, the context it was captured on.
 *
 * Its own arguments (NULL, another context's graph, ctx capturing) are
 * checked before anything runs, and a failing check changes nothing. The
 * ops were checked when they were captured; what can still fail in a
 * replay is data or your code: an embedding id out of range, or (on the
 * CPU, where custom functions run at every replay) a custom function's
 * error. A replay is not atomic, and on every backend it goes the same way:
 * every op of the graph runs, in order; an embedding's rows for bad ids are
 * zeros and its other rows are written; a custom function's outputs are
 * what it left. kiln_graph_run still returns KILN_OK (on the GPU it has
 * returned before the replay runs), and the next kiln_sync or
 * kiln_tensor_read on ctx reports the first failure, once, with
 * kiln_last_error() naming the op ("kiln_embedding: ids[3] is 50000, ...").
 * Such a read has copied the data into dst all the same. */
KILN_API KILN_NODISCARD kiln_status kiln_graph_run(kiln_context *ctx, const kiln_graph *graph);
/* NULL is fine. */
KILN_API void kiln_graph_destroy(kiln_graph *graph);

/* -------------------------------------------------------------- tokenizer
 *
 * BERT's WordPiece tokenizer (the uncased one of all-MiniLM-L6-v2 and other
 * BERT-family encoders), giving the ids of Hugging Face's fast tokenizer for
 * the same files on any input: the text is cleaned (NUL, U+FFFD and control
 * characters dropped, whitespace made spaces), CJK ideographs spaced,
 * accents stripped (NFD, then nonspacing marks dropped) and the text
 * lowercased when the model says so, split on whitespace and punctuation,
 * and each word cut into the longest vocabulary pieces from its start
 * ("##" marks a piece inside a word); a word over 100 characters or with a
 * part no piece matches becomes [UNK]. The special tokens ([CLS], [SEP],
 * [UNK], [PAD], [MASK]) written in the text are kept as those tokens.
 * Invalid UTF-8 is replaced by U+FFFD, which cleaning then drops, as
 * Python's errors="replace" followed by the fast tokenizer would. Time is
 * linear in the text, and encoding stops reading once max_length is reached.
 * A tokenizer is read-only once loaded: one may be used from many threads.
 */
typedef struct kiln_tokenizer kiln_tokenizer;

/* Loads the tokenizer of the model in model_dir, which holds vocab.txt (one
 * token per line, the id is the line number from 0) and, when present,
 * tokenizer_config.json (do_lower_case, strip_accents,
 * tokenize_chinese_chars, the special tokens, model_max_length),
 * sentence_bert_config.json (max_seq_length; its do_lower_case turns
 * lowercasing on, where sentence-transformers would call Python's
 * str.lower() first: the two differ on a word-final capital sigma, and
 * where Python's Unicode version maps a letter differently) and
 * config.json (max_position_embeddings). The maximum length is
 * max_seq_length, else model_max_length, at most max_position_embeddings
 * (512 when nothing says).
 * A missing folder or vocab.txt, an empty vocabulary, one without the
 * special tokens, or a JSON file that does not parse or holds a setting of
 * the wrong type gives KILN_ERR_INVALID_ARGUMENT naming the file; *out is
 * then NULL. */
KILN_API KILN_NODISCARD kiln_status kiln_tokenizer_load(const char *model_dir,
                                                        kiln_tokenizer **out);
/* NULL is fine. */
KILN_API void kiln_tokenizer_destroy(kiln_tokenizer *tok);
/* Lines of vocab.txt: every id is in [0, vocab size). */
KILN_API int64_t kiln_tokenizer_vocab_size(const kiln_tokenizer *tok);
/* The most ids one text gives, [CLS] and [SEP] included (256 for
 * all-MiniLM-L6-v2). */
KILN_API int64_t kiln_tokenizer_max_length(const kiln_tokenizer *tok);
/* The id of a vocabulary entry ("[CLS]", "##ing"); -1 when it is not one. */
KILN_API int32_t kiln_tokenizer_token_id(const kiln_tokenizer *tok, const char *token);
/* The text of id as vocab.txt spells it; NULL for an id out of range. */
KILN_API const char *kiln_tokenizer_token(const kiln_tokenizer *tok, int32_t id);

/* Encodes len bytes of UTF-8 text (no terminating NUL needed; text may be
 * NULL when len is 0) as [CLS] pieces [SEP], the pieces cut so that the
 * whole is at most max_length ids (0: the tokenizer's own maximum; else at
 * least 2). Writes the ids into ids[0 .. *n_ids) (ids has room for capacity
 * entries). When capacity is less than the count the text needs, nothing is
 * written, *n_ids gets that count and the status is
 * KILN_ERR_INVALID_ARGUMENT; capacity >= max_length always suffices. */
KILN_API KILN_NODISCARD kiln_status kiln_tokenizer_encode(const kiln_tokenizer *tok,
                                                          const char *text, size_t len,
                                                          int64_t max_length, int32_t *ids,
                                                          int64_t capacity, int64_t *n_ids);

/* ------------------------------------------------------ sentence embeddings
 *
 * A BERT-family sentence encoder (all-MiniLM-L6-v2, bge-small, e5-small,
 * MiniLM-L12: BertModel's layout) run on kiln's ops: texts in, one
 * L2-normalized float32 vector per text out, the mean of the last hidden
 * states over the text's tokens ([CLS] and [SEP] included), as
 * sentence-transformers computes it.
 *
 * A model folder holds config.json (hidden_size, num_hidden_layers,
 * num_attention_heads, intermediate_size, vocab_size,
 * max_position_embeddings, type_vocab_size, layer_norm_eps, hidden_act),
 * vocab.txt and model.safetensors with BertModel's tensor names (an
 * optional "bert." prefix is accepted). scripts/fetch_model.sh puts
 * all-MiniLM-L6-v2 into kiln's cache. */
typedef struct kiln_embedder kiln_embedder;

/* Loads the tokenizer and the model from model_dir onto ctx's device,
 * every weight converted once to dtype (KILN_F32, KILN_F16 or KILN_BF16;
 * f16/bf16 run every op in that dtype with f32 accumulation). Fails, *out
 * NULL and nothing leaked, with KILN_ERR_INVALID_ARGUMENT for a missing,
 * unreadable or damaged file (naming it and what is wrong: a truncated
 * file, a header that is not JSON, offsets outside the data, a missing
 * tensor), KILN_ERR_SHAPE for a tensor whose shape does not match
 * config.json or a vocab.txt with more tokens than the word embeddings
 * have rows, KILN_ERR_DTYPE for a weight that is not F32/F16/BF16/F64 or a
 * dtype that is not a float one, KILN_ERR_UNSUPPORTED for a config kiln
 * does not run (another model_type, hidden_act or position embedding). The
 * embedder uses ctx until it is destroyed, and with it the context's one
 * thread at a time rule. */
KILN_API KILN_NODISCARD kiln_status kiln_embedder_load(kiln_context *ctx, const char *model_dir,
                                                       kiln_dtype dtype, kiln_embedder **out);
/* NULL is fine. Destroy embedders before their context. */
KILN_API void kiln_embedder_destroy(kiln_embedder *e);
/* The length of each vector (hidden_size: 384 for all-MiniLM-L6-v2). */
KILN_API int64_t kiln_embedder_dim(const kiln_embedder *e);
/* The embedder's tokenizer, owned by it (for kiln_tokenizer_encode). */
KILN_API const kiln_tokenizer *kiln_embedder_tokenizer(const kiln_embedder *e);
/* The most tokens one text gives, [CLS] and [SEP] included: the smaller of
 * the tokenizer's maximum length and max_position_embeddings. Longer texts
 * are truncated to it. */
KILN_API int64_t kiln_embedder_max_length(const kiln_embedder *e);

/* out[i, :] = the embedding of texts[i], i < n, out [n, dim] row-major.
 * lens NULL: every text is NUL-terminated; else texts[i] has lens[i] bytes
 * (and may be NULL when lens[i] is 0). Texts are UTF-8 (invalid bytes are
 * replaced, as the tokenizer does); an empty text is a valid input. The
 * texts are sorted by length and run in batches of a token budget in the
 * varlen layout, so no work goes into padding; each row still lands at its
 * input's index. Results do not depend on which texts share a batch beyond
 * the last bits of f16/bf16. n < 1, NULL texts, a NULL text with a nonzero
 * length, or NULL out: KILN_ERR_INVALID_ARGUMENT and out untouched. */
KILN_API KILN_NODISCARD kiln_status kiln_embedder_encode(kiln_embedder *e,
                                                         const char *const *texts,
                                                         const size_t *lens, int64_t n,
                                                         float *out);

/* The same from token ids already made: text i is the lengths[i] ids
 * starting at ids[lengths[0] + ... + lengths[i-1]], [CLS] and [SEP]
 * included where the model expects them. Each length 1 to
 * kiln_embedder_max_length, each id in [0, vocab_size): else
 * KILN_ERR_INVALID_ARGUMENT naming the text and out untouched. */
KILN_API KILN_NODISCARD kiln_status kiln_embedder_encode_ids(kiln_embedder *e,
                                                             const int32_t *ids,
                                                             const int64_t *lengths, int64_t n,
                                                             float *out);

/* Tokens (including [CLS] and [SEP]) that the last successful
 * kiln_embedder_encode or _encode_ids ran through the model. */
KILN_API int64_t kiln_embedder_last_tokens(const kiln_embedder *e);

#ifdef __cplusplus
}
#endif

#endif /* KILN_H */
