/*
 * Every kiln op as a Python function: tensors positional, parameters
 * keyword-only, an optional out= (a new tensor of the right shape when it
 * is not given). The C library validates everything; the binding only
 * computes the shape of a new output (and, when the inputs are too wrong to
 * have one, makes a [1] placeholder so that the C call reports what is wrong
 * with the inputs themselves).
 */
#include "_kiln.h"

#include <string.h>

/* o as a tensor argument; None gives NULL when optional. */
static int arg_tensor(PyObject *o, const char *fn, const char *name, int optional,
                      kiln_tensor **t) {
  if (o == NULL || o == Py_None) {
    if (optional) {
      *t = NULL;
      return 0;
    }
    PyErr_Format(PyExc_TypeError, "kiln.%s: %s must be a kiln.Tensor, not None", fn, name);
    return -1;
  }
  if (!KP_IS_TENSOR(o)) {
    PyErr_Format(PyExc_TypeError,
                 "kiln.%s: %s must be a kiln.Tensor, not %.100s (make one with kiln.tensor() or "
                 "kiln.from_dlpack())", fn, name, Py_TYPE(o)->tp_name);
    return -1;
  }
  *t = ((TensorObject *)o)->t;
  return 0;
}

#define CTX_OF(o) (((TensorObject *)(o))->ctx)
#define OR_NONE(o) ((o) ? (o) : Py_None)

/* The output: out_arg itself (a new reference) or a new tensor of shape. */
static PyObject *prepare_out(PyObject *out_arg, const char *fn, const char *name,
                             ContextObject *ctx, kiln_dtype dtype, int ndim, const int64_t *shape,
                             kiln_tensor **t) {
  if (out_arg && out_arg != Py_None) {
    if (arg_tensor(out_arg, fn, name, 0, t) < 0)
      return NULL;
    Py_INCREF(out_arg);
    return out_arg;
  }
  static const int64_t placeholder[1] = {1};
  if (ndim < 1 || ndim > KILN_MAX_DIMS) {
    ndim = 1;
    shape = placeholder;
  }
  for (int i = 0; i < ndim; i++)
    if (shape[i] < 0) {
      ndim = 1;
      shape = placeholder;
    }
  PyObject *o = kp_tensor_new(ctx, dtype, ndim, shape);
  if (o)
    *t = ((TensorObject *)o)->t;
  return o;
}

/* After the C call: the result, or the exception with the C message (the
 * new output dropped). While ctx captures a graph, the graph keeps every
 * tensor the op recorded. */
static PyObject *finish(kiln_status s, ContextObject *ctx, PyObject *result, PyObject *const *used,
                        int n) {
  if (s != KILN_OK) {
    Py_DECREF(result);
    return kp_raise(s);
  }
  if (ctx->capture && kp_graph_keep(ctx->capture, used, n) < 0) {
    Py_DECREF(result);
    return NULL;
  }
  return result;
}

static void copy_shape(const kiln_tensor *t, int64_t *shape) {
  for (int i = 0; i < kiln_tensor_ndim(t); i++)
    shape[i] = kiln_tensor_dim(t, i);
}

/* out has x's shape and dtype: the elementwise and row ops. */
/* An output named name shaped like x: the argument, or a new tensor. */
static PyObject *named_like(PyObject *out_arg, const char *fn, const char *name, PyObject *x,
                            kiln_tensor **t) {
  const kiln_tensor *xt = ((TensorObject *)x)->t;
  int64_t shape[KILN_MAX_DIMS];
  copy_shape(xt, shape);
  return prepare_out(out_arg, fn, name, CTX_OF(x), kiln_tensor_dtype(xt), kiln_tensor_ndim(xt),
                     shape, t);
}

static PyObject *out_like(PyObject *out_arg, const char *fn, PyObject *x, kiln_tensor **t) {
  return named_like(out_arg, fn, "out", x, t);
}

/* finish for the add-norm ops' two outputs (both references consumed):
 * the pair (h, out), or NULL with the error raised. */
static PyObject *finish_pair(kiln_status s, ContextObject *ctx, PyObject *h, PyObject *res,
                             PyObject *const *used, int n) {
  PyObject *pair = NULL;
  if (s != KILN_OK)
    kp_raise(s);
  else if (!ctx->capture || kp_graph_keep(ctx->capture, used, n) >= 0)
    pair = PyTuple_Pack(2, h, res);
  Py_DECREF(h);
  Py_DECREF(res);
  return pair;
}

/* ------------------------------------------------------------------ ops */

/* matmul's activation: None, "gelu" or "gelu_tanh". */
static int parse_activation(PyObject *o, kiln_activation *act) {
  *act = KILN_ACTIVATION_NONE;
  if (!o || o == Py_None)
    return 0;
  const char *s = PyUnicode_Check(o) ? PyUnicode_AsUTF8(o) : NULL;
  if (!s) {
    if (!PyErr_Occurred())
      PyErr_Format(PyExc_TypeError, "kiln.matmul: activation must be None or a str, not %.100s",
                   Py_TYPE(o)->tp_name);
    return -1;
  }
  if (strcmp(s, "gelu") == 0)
    *act = KILN_ACTIVATION_GELU;
  else if (strcmp(s, "gelu_tanh") == 0)
    *act = KILN_ACTIVATION_GELU_TANH;
  else {
    kp_raise_msg(KILN_ERR_INVALID_ARGUMENT,
                 "kiln.matmul: activation is '%s'; it must be None, 'gelu' or 'gelu_tanh'", s);
    return -1;
  }
  return 0;
}

static PyObject *py_matmul(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
  (void)m;
  static const char *const names[] = {"a", "b", "transpose_a", "transpose_b", "alpha", "beta",
                                      "bias", "out", "activation", NULL};
  static kp_params P = {"matmul", names, 2, 2};
  PyObject *v[9];
  kiln_matmul_params p = {.alpha = 1.0f};
  if (kp_parse(&P, args, nargs, kwnames, v) < 0 || kp_bool(v[2], &p.transpose_a) < 0 ||
      kp_bool(v[3], &p.transpose_b) < 0 || kp_float(v[4], &p.alpha) < 0 ||
      kp_float(v[5], &p.beta) < 0 || parse_activation(v[8], &p.activation) < 0)
    return NULL;
  PyObject *a = v[0], *b = v[1], *bias = OR_NONE(v[6]), *out = OR_NONE(v[7]);
  kiln_tensor *at, *bt, *biast, *ot;
  if (arg_tensor(a, "matmul", "a", 0, &at) < 0 || arg_tensor(b, "matmul", "b", 0, &bt) < 0 ||
      arg_tensor(bias, "matmul", "bias", 1, &biast) < 0)
    return NULL;
  if (p.beta != 0.0f && out == Py_None)
    return kp_raise_msg(KILN_ERR_INVALID_ARGUMENT,
                        "kiln.matmul: beta is not 0 but out is not given; beta scales out's "
                        "old contents");
  p.bias = biast;
  int64_t shape[KILN_MAX_DIMS];
  int an = kiln_tensor_ndim(at), bn = kiln_tensor_ndim(bt), nd = 0;
  if (an >= 2 && bn >= 2) {
    copy_shape(at, shape);
    shape[an - 2] = kiln_tensor_dim(at, p.transpose_a ? -1 : -2);
    shape[an - 1] = kiln_tensor_dim(bt, p.transpose_b ? -2 : -1);
    nd = an;
  }
  PyObject *res = prepare_out(out, "matmul", "out", CTX_OF(a), kiln_tensor_dtype(at), nd, shape,
                              &ot);
  if (!res)
    return NULL;
  kiln_status s = kiln_matmul(CTX_OF(a)->ctx, at, bt, ot, &p);
  PyObject *used[] = {a, b, bias, res};
  return finish(s, CTX_OF(a), res, used, 4);
}

static PyObject *py_softmax(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
  (void)m;
  static const char *const names[] = {"x", "scale", "causal", "mask", "out", NULL};
  static kp_params P = {"softmax", names, 1, 1};
  PyObject *v[5];
  kiln_softmax_params p = {1.0f, 0, NULL};
  if (kp_parse(&P, args, nargs, kwnames, v) < 0 || kp_float(v[1], &p.scale) < 0 ||
      kp_bool(v[2], &p.causal) < 0)
    return NULL;
  PyObject *x = v[0], *mask = OR_NONE(v[3]), *out = OR_NONE(v[4]);
  kiln_tensor *xt, *maskt, *ot;
  if (arg_tensor(x, "softmax", "x", 0, &xt) < 0 ||
      arg_tensor(mask, "softmax", "mask", 1, &maskt) < 0)
    return NULL;
  p.mask = maskt;
  PyObject *res = out_like(out, "softmax", x, &ot);
  if (!res)
    return NULL;
  kiln_status s = kiln_softmax(CTX_OF(x)->ctx, xt, ot, &p);
  PyObject *used[] = {x, mask, res};
  return finish(s, CTX_OF(x), res, used, 3);
}

static PyObject *py_rms_norm(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
  (void)m;
  static const char *const names[] = {"x", "weight", "eps", "out", NULL};
  static kp_params P = {"rms_norm", names, 2, 2};
  PyObject *v[4];
  float eps = 1e-6f;
  if (kp_parse(&P, args, nargs, kwnames, v) < 0 || kp_float(v[2], &eps) < 0)
    return NULL;
  PyObject *x = v[0], *w = v[1], *out = OR_NONE(v[3]);
  kiln_tensor *xt, *wt, *ot;
  if (arg_tensor(x, "rms_norm", "x", 0, &xt) < 0 || arg_tensor(w, "rms_norm", "weight", 0, &wt) < 0)
    return NULL;
  PyObject *res = out_like(out, "rms_norm", x, &ot);
  if (!res)
    return NULL;
  kiln_status s = kiln_rms_norm(CTX_OF(x)->ctx, xt, wt, eps, ot);
  PyObject *used[] = {x, w, res};
  return finish(s, CTX_OF(x), res, used, 3);
}

static PyObject *py_lora_linear(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
  (void)m;
  static const char *const names[] = {"x", "w", "a", "b", "scale", "bias", "out", NULL};
  static kp_params P = {"lora_linear", names, 4, 4};
  PyObject *v[7];
  float scale = 1.0f;
  if (kp_parse(&P, args, nargs, kwnames, v) < 0 || kp_float(v[4], &scale) < 0)
    return NULL;
  PyObject *x = v[0], *w = v[1], *a = v[2], *b = v[3], *bias = OR_NONE(v[5]),
           *out = OR_NONE(v[6]);
  kiln_tensor *xt, *wt, *at, *bt, *biast, *ot;
  if (arg_tensor(x, "lora_linear", "x", 0, &xt) < 0 ||
      arg_tensor(w, "lora_linear", "w", 0, &wt) < 0 ||
      arg_tensor(a, "lora_linear", "a", 0, &at) < 0 ||
      arg_tensor(b, "lora_linear", "b", 0, &bt) < 0 ||
      arg_tensor(bias, "lora_linear", "bias", 1, &biast) < 0)
    return NULL;
  int64_t shape[KILN_MAX_DIMS];
  int nd = kiln_tensor_ndim(xt);
  copy_shape(xt, shape);
  shape[nd - 1] = kiln_tensor_dim(wt, 0);
  PyObject *res = prepare_out(out, "lora_linear", "out", CTX_OF(x), kiln_tensor_dtype(xt), nd,
                              shape, &ot);
  if (!res)
    return NULL;
  kiln_status s = kiln_lora_linear(CTX_OF(x)->ctx, xt, wt, biast, at, bt, scale, ot);
  PyObject *used[] = {x, w, a, b, bias, res};
  return finish(s, CTX_OF(x), res, used, 6);
}

static PyObject *py_add_rms_norm(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
  (void)m;
  static const char *const names[] = {"x", "residual", "weight", "eps", "h_out", "out", NULL};
  static kp_params P = {"add_rms_norm", names, 3, 3};
  PyObject *v[6];
  float eps = 1e-6f;
  if (kp_parse(&P, args, nargs, kwnames, v) < 0 || kp_float(v[3], &eps) < 0)
    return NULL;
  PyObject *x = v[0], *r = v[1], *w = v[2], *h_out = OR_NONE(v[4]), *out = OR_NONE(v[5]);
  kiln_tensor *xt, *rt, *wt, *ht, *ot;
  if (arg_tensor(x, "add_rms_norm", "x", 0, &xt) < 0 ||
      arg_tensor(r, "add_rms_norm", "residual", 0, &rt) < 0 ||
      arg_tensor(w, "add_rms_norm", "weight", 0, &wt) < 0)
    return NULL;
  PyObject *h = named_like(h_out, "add_rms_norm", "h_out", x, &ht);
  if (!h)
    return NULL;
  PyObject *res = out_like(out, "add_rms_norm", x, &ot);
  if (!res) {
    Py_DECREF(h);
    return NULL;
  }
  kiln_status s = kiln_add_rms_norm(CTX_OF(x)->ctx, xt, rt, wt, eps, ht, ot);
  PyObject *used[] = {x, r, w, h, res};
  return finish_pair(s, CTX_OF(x), h, res, used, 5);
}

static PyObject *py_layer_norm(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
  (void)m;
  static const char *const names[] = {"x", "weight", "bias", "eps", "out", NULL};
  static kp_params P = {"layer_norm", names, 3, 1};
  PyObject *v[5];
  float eps = 1e-5f;
  if (kp_parse(&P, args, nargs, kwnames, v) < 0 || kp_float(v[3], &eps) < 0)
    return NULL;
  PyObject *x = v[0], *w = OR_NONE(v[1]), *b = OR_NONE(v[2]), *out = OR_NONE(v[4]);
  kiln_tensor *xt, *wt, *bt, *ot;
  if (arg_tensor(x, "layer_norm", "x", 0, &xt) < 0 ||
      arg_tensor(w, "layer_norm", "weight", 1, &wt) < 0 ||
      arg_tensor(b, "layer_norm", "bias", 1, &bt) < 0)
    return NULL;
  PyObject *res = out_like(out, "layer_norm", x, &ot);
  if (!res)
    return NULL;
  kiln_status s = kiln_layer_norm(CTX_OF(x)->ctx, xt, wt, bt, eps, ot);
  PyObject *used[] = {x, w, b, res};
  return finish(s, CTX_OF(x), res, used, 4);
}

static PyObject *py_add_layer_norm(PyObject *m, PyObject *const *args, Py_ssize_t nargs,
                                   PyObject *kwnames) {
  (void)m;
  static const char *const names[] = {"x", "residual", "weight", "bias", "eps", "h_out", "out",
                                      NULL};
  static kp_params P = {"add_layer_norm", names, 4, 2};
  PyObject *v[7];
  float eps = 1e-5f;
  if (kp_parse(&P, args, nargs, kwnames, v) < 0 || kp_float(v[4], &eps) < 0)
    return NULL;
  PyObject *x = v[0], *r = v[1], *w = OR_NONE(v[2]), *b = OR_NONE(v[3]), *h_out = OR_NONE(v[5]),
           *out = OR_NONE(v[6]);
  kiln_tensor *xt, *rt, *wt, *bt, *ht, *ot;
  if (arg_tensor(x, "add_layer_norm", "x", 0, &xt) < 0 ||
      arg_tensor(r, "add_layer_norm", "residual", 0, &rt) < 0 ||
      arg_tensor(w, "add_layer_norm", "weight", 1, &wt) < 0 ||
      arg_tensor(b, "add_layer_norm", "bias", 1, &bt) < 0)
    return NULL;
  PyObject *h = named_like(h_out, "add_layer_norm", "h_out", x, &ht);
  if (!h)
    return NULL;
  PyObject *res = out_like(out, "add_layer_norm", x, &ot);
  if (!res) {
    Py_DECREF(h);
    return NULL;
  }
  kiln_status s = kiln_add_layer_norm(CTX_OF(x)->ctx, xt, rt, wt, bt, eps, ht, ot);
  PyObject *used[] = {x, r, w, b, h, res};
  return finish_pair(s, CTX_OF(x), h, res, used, 6);
}

static PyObject *py_mean_pool(PyObject *m, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames) {
  (void)m;
  static const char *const names[] = {"x", "lengths", "normalize", "out", NULL};
  static kp_params P = {"mean_pool", names, 2, 1};
  PyObject *v[4];
  int normalize = 0;
  if (kp_parse(&P, args, nargs, kwnames, v) < 0 || kp_bool(v[2], &normalize) < 0)
    return NULL;
  PyObject *x = v[0], *len = OR_NONE(v[1]), *out = OR_NONE(v[3]);
  kiln_tensor *xt, *lt, *ot;
  if (arg_tensor(x, "mean_pool", "x", 0, &xt) < 0 ||
      arg_tensor(len, "mean_pool", "lengths", 1, &lt) < 0)
    return NULL;
  /* out [B, H]: B from cu_seqlens (varlen, x [T, H]) or x (padded, [B, S, H]);
   * anything else gets the placeholder and the C call's message. */
  const int nd = kiln_tensor_ndim(xt);
  int64_t shape[2] = {-1, kiln_tensor_dim(xt, -1)};
  if (nd == 3)
    shape[0] = kiln_tensor_dim(xt, 0);
  else if (nd == 2 && lt && kiln_tensor_ndim(lt) == 1)
    shape[0] = kiln_tensor_dim(lt, 0) - 1;
  PyObject *res = prepare_out(out, "mean_pool", "out", CTX_OF(x), kiln_tensor_dtype(xt), 2, shape,
                              &ot);
  if (!res)
    return NULL;
  kiln_status s = kiln_mean_pool(CTX_OF(x)->ctx, xt, lt, normalize, ot);
  PyObject *used[] = {x, len, res};
  return finish(s, CTX_OF(x), res, used, 3);
}

static PyObject *py_gelu(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
  (void)m;
  static const char *const names[] = {"x", "approximate", "out", NULL};
  static kp_params P = {"gelu", names, 1, 1};
  PyObject *v[3];
  if (kp_parse(&P, args, nargs, kwnames, v) < 0)
    return NULL;
  PyObject *x = v[0], *out = OR_NONE(v[2]);
  const char *approx = "none";
  if (v[1]) {
    if (!PyUnicode_Check(v[1]))
      return PyErr_Format(PyExc_TypeError, "kiln.gelu: approximate must be a str, not %.100s",
                          Py_TYPE(v[1])->tp_name);
    if (!(approx = PyUnicode_AsUTF8(v[1])))
      return NULL;
  }
  int tanh_approx;
  if (strcmp(approx, "none") == 0)
    tanh_approx = 0;
  else if (strcmp(approx, "tanh") == 0)
    tanh_approx = 1;
  else
    return kp_raise_msg(KILN_ERR_INVALID_ARGUMENT,
                        "kiln.gelu: approximate is '%s'; it must be 'none' or 'tanh'", approx);
  kiln_tensor *xt, *ot;
  if (arg_tensor(x, "gelu", "x", 0, &xt) < 0)
    return NULL;
  PyObject *res = out_like(out, "gelu", x, &ot);
  if (!res)
    return NULL;
  kiln_status s = kiln_gelu(CTX_OF(x)->ctx, xt, ot, tanh_approx);
  PyObject *used[] = {x, res};
  return finish(s, CTX_OF(x), res, used, 2);
}

static PyObject *py_silu(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
  (void)m;
  static const char *const names[] = {"x", "out", NULL};
  static kp_params P = {"silu", names, 1, 1};
  PyObject *v[2];
  if (kp_parse(&P, args, nargs, kwnames, v) < 0)
    return NULL;
  PyObject *x = v[0], *out = OR_NONE(v[1]);
  kiln_tensor *xt, *ot;
  if (arg_tensor(x, "silu", "x", 0, &xt) < 0)
    return NULL;
  PyObject *res = out_like(out, "silu", x, &ot);
  if (!res)
    return NULL;
  kiln_status s = kiln_silu(CTX_OF(x)->ctx, xt, ot);
  PyObject *used[] = {x, res};
  return finish(s, CTX_OF(x), res, used, 2);
}

static PyObject *py_scale(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
  (void)m;
  static const char *const names[] = {"x", "s", "out", NULL};
  static kp_params P = {"scale", names, 2, 2};
  PyObject *v[3];
  float sc = 1.0f;
  if (kp_parse(&P, args, nargs, kwnames, v) < 0 || kp_float(v[1], &sc) < 0)
    return NULL;
  PyObject *x = v[0], *out = OR_NONE(v[2]);
  kiln_tensor *xt, *ot;
  if (arg_tensor(x, "scale", "x", 0, &xt) < 0)
    return NULL;
  PyObject *res = out_like(out, "scale", x, &ot);
  if (!res)
    return NULL;
  kiln_status s = kiln_scale(CTX_OF(x)->ctx, xt, sc, ot);
  PyObject *used[] = {x, res};
  return finish(s, CTX_OF(x), res, used, 2);
}

typedef kiln_status (*binary_fn)(kiln_context *, const kiln_tensor *, const kiln_tensor *,
                                 kiln_tensor *);

static PyObject *binary(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                        kp_params *P, binary_fn f) {
  PyObject *v[3];
  if (kp_parse(P, args, nargs, kwnames, v) < 0)
    return NULL;
  const char *fn = P->fn;
  const char *const *kwlist = P->names;
  PyObject *a = v[0], *b = v[1], *out = OR_NONE(v[2]);
  kiln_tensor *at, *bt, *ot;
  if (arg_tensor(a, fn, kwlist[0], 0, &at) < 0 || arg_tensor(b, fn, kwlist[1], 0, &bt) < 0)
    return NULL;
  PyObject *res = out_like(out, fn, a, &ot);
  if (!res)
    return NULL;
  kiln_status s = f(CTX_OF(a)->ctx, at, bt, ot);
  PyObject *used[] = {a, b, res};
  return finish(s, CTX_OF(a), res, used, 3);
}

static PyObject *py_add(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
  (void)m;
  static const char *const names[] = {"a", "b", "out", NULL};
  static kp_params P = {"add", names, 2, 2};
  return binary(args, nargs, kwnames, &P, kiln_add);
}

static PyObject *py_mul(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
  (void)m;
  static const char *const names[] = {"a", "b", "out", NULL};
  static kp_params P = {"mul", names, 2, 2};
  return binary(args, nargs, kwnames, &P, kiln_mul);
}

static PyObject *py_swiglu(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
  (void)m;
  static const char *const names[] = {"gate", "up", "out", NULL};
  static kp_params P = {"swiglu", names, 2, 2};
  return binary(args, nargs, kwnames, &P, kiln_swiglu);
}

static PyObject *py_rope(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
  (void)m;
  static const char *const names[] = {"x", "base", "position_offset", "interleaved",
                                      "rotary_dims", "seq_axis", "out", NULL};
  static kp_params P = {"rope", names, 1, 1};
  PyObject *v[7];
  kiln_rope_params p = {10000.0f, 0, 0, 0, -2};
  long long offset = 0;
  if (kp_parse(&P, args, nargs, kwnames, v) < 0 || kp_float(v[1], &p.base) < 0 ||
      kp_ll(v[2], &offset) < 0 || kp_bool(v[3], &p.interleaved) < 0 ||
      kp_int(v[4], &p.rotary_dims) < 0 || kp_int(v[5], &p.seq_axis) < 0)
    return NULL;
  PyObject *x = v[0], *out = OR_NONE(v[6]);
  p.position_offset = offset;
  kiln_tensor *xt, *ot;
  if (arg_tensor(x, "rope", "x", 0, &xt) < 0)
    return NULL;
  PyObject *res = out_like(out, "rope", x, &ot);
  if (!res)
    return NULL;
  kiln_status s = kiln_rope(CTX_OF(x)->ctx, xt, ot, &p);
  PyObject *used[] = {x, res};
  return finish(s, CTX_OF(x), res, used, 2);
}

static PyObject *py_embedding(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
  (void)m;
  static const char *const names[] = {"table", "ids", "out", NULL};
  static kp_params P = {"embedding", names, 2, 2};
  PyObject *v[3];
  if (kp_parse(&P, args, nargs, kwnames, v) < 0)
    return NULL;
  PyObject *table = v[0], *ids = v[1], *out = OR_NONE(v[2]);
  kiln_tensor *tt, *it, *ot;
  if (arg_tensor(table, "embedding", "table", 0, &tt) < 0 ||
      arg_tensor(ids, "embedding", "ids", 0, &it) < 0)
    return NULL;
  int64_t shape[KILN_MAX_DIMS + 1];
  int nd = kiln_tensor_ndim(it);
  if (nd < KILN_MAX_DIMS) {
    copy_shape(it, shape);
    shape[nd] = kiln_tensor_dim(tt, 1);
    nd++;
  } else {
    nd = 0; /* too many dims: the placeholder, and C says why */
  }
  PyObject *res = prepare_out(out, "embedding", "out", CTX_OF(table), kiln_tensor_dtype(tt), nd,
                              shape, &ot);
  if (!res)
    return NULL;
  kiln_status s = kiln_embedding(CTX_OF(table)->ctx, tt, it, ot);
  PyObject *used[] = {table, ids, res};
  return finish(s, CTX_OF(table), res, used, 3);
}

/* The parameters kiln_attention and kiln_attention_packed share; scale
 * None means kiln's default, 1/sqrt(D). */
static int attention_params(PyObject *scale_obj, PyObject *mask, PyObject *seqlens_k,
                            PyObject *cu_q, PyObject *cu_k, const char *fn,
                            kiln_attention_params *p) {
  if (scale_obj != Py_None) {
    double v = PyFloat_AsDouble(scale_obj);
    if (v == -1.0 && PyErr_Occurred())
      return -1;
    p->scale = (float)v;
    if (p->scale == 0.0f) {
      kp_raise_msg(KILN_ERR_INVALID_ARGUMENT,
                   "kiln.%s: scale is 0; pass None for the default 1/sqrt(D)", fn);
      return -1;
    }
  }
  kiln_tensor *t;
  if (arg_tensor(mask, fn, "mask", 1, &t) < 0)
    return -1;
  p->mask = t;
  if (arg_tensor(seqlens_k, fn, "seqlens_k", 1, &t) < 0)
    return -1;
  p->seqlens_k = t;
  if (arg_tensor(cu_q, fn, "cu_seqlens_q", 1, &t) < 0)
    return -1;
  p->cu_seqlens_q = t;
  if (arg_tensor(cu_k, fn, "cu_seqlens_k", 1, &t) < 0)
    return -1;
  p->cu_seqlens_k = t;
  return 0;
}

static PyObject *py_attention(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
  (void)m;
  static const char *const names[] = {"q", "k", "v", "scale", "causal", "mask", "seqlens_k",
                                      "cu_seqlens_q", "cu_seqlens_k", "max_seqlen_q",
                                      "max_seqlen_k", "out", NULL};
  static kp_params P = {"attention", names, 3, 3};
  PyObject *a[12];
  kiln_attention_params p = {0};
  long long mq = 0, mk = 0;
  if (kp_parse(&P, args, nargs, kwnames, a) < 0 || kp_bool(a[4], &p.causal) < 0 ||
      kp_ll(a[9], &mq) < 0 || kp_ll(a[10], &mk) < 0)
    return NULL;
  PyObject *q = a[0], *k = a[1], *v = a[2], *scale = OR_NONE(a[3]), *mask = OR_NONE(a[5]),
           *sk = OR_NONE(a[6]), *cq = OR_NONE(a[7]), *ck = OR_NONE(a[8]), *out = OR_NONE(a[11]);
  kiln_tensor *qt, *kt, *vt, *ot;
  if (arg_tensor(q, "attention", "q", 0, &qt) < 0 || arg_tensor(k, "attention", "k", 0, &kt) < 0 ||
      arg_tensor(v, "attention", "v", 0, &vt) < 0 ||
      attention_params(scale, mask, sk, cq, ck, "attention", &p) < 0)
    return NULL;
  p.max_seqlen_q = mq;
  p.max_seqlen_k = mk;
  PyObject *res = out_like(out, "attention", q, &ot); /* out has q's shape */
  if (!res)
    return NULL;
  kiln_status s = kiln_attention(CTX_OF(q)->ctx, qt, kt, vt, ot, &p);
  PyObject *used[] = {q, k, v, mask, sk, cq, ck, res};
  return finish(s, CTX_OF(q), res, used, 8);
}

static PyObject *py_attention_packed(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
  (void)m;
  static const char *const names[] = {"qkv", "num_heads", "scale", "causal", "mask",
                                      "seqlens_k", "cu_seqlens_q", "cu_seqlens_k",
                                      "max_seqlen_q", "max_seqlen_k", "out", NULL};
  static kp_params P = {"attention_packed", names, 1, 1};
  PyObject *a[11];
  kiln_attention_params p = {0};
  long long mq = 0, mk = 0;
  if (kp_parse(&P, args, nargs, kwnames, a) < 0 || kp_bool(a[3], &p.causal) < 0 ||
      kp_ll(a[8], &mq) < 0 || kp_ll(a[9], &mk) < 0)
    return NULL;
  PyObject *qkv = a[0], *heads = OR_NONE(a[1]), *scale = OR_NONE(a[2]), *mask = OR_NONE(a[4]),
           *sk = OR_NONE(a[5]), *cq = OR_NONE(a[6]), *ck = OR_NONE(a[7]), *out = OR_NONE(a[10]);
  kiln_tensor *qt, *ot;
  if (arg_tensor(qkv, "attention_packed", "qkv", 0, &qt) < 0 ||
      attention_params(scale, mask, sk, cq, ck, "attention_packed", &p) < 0)
    return NULL;
  p.max_seqlen_q = mq;
  p.max_seqlen_k = mk;
  int64_t shape[KILN_MAX_DIMS];
  int nd = kiln_tensor_ndim(qt);
  if (out == Py_None) {
    if (heads == Py_None)
      return kp_raise_msg(KILN_ERR_INVALID_ARGUMENT,
                          "kiln.attention_packed: give num_heads= (the query heads) or out=");
    long long h = PyLong_AsLongLong(heads);
    if (h == -1 && PyErr_Occurred())
      return NULL;
    copy_shape(qt, shape);
    if (nd >= 2)
      shape[nd - 2] = h;
    else
      nd = 0; /* the placeholder; C names qkv's shape */
  }
  PyObject *res = prepare_out(out, "attention_packed", "out", CTX_OF(qkv), kiln_tensor_dtype(qt),
                              nd, shape, &ot);
  if (!res)
    return NULL;
  if (heads != Py_None && out != Py_None &&
      PyLong_AsLongLong(heads) != kiln_tensor_dim(ot, -2)) {
    Py_DECREF(res);
    if (PyErr_Occurred())
      return NULL;
    return kp_raise_msg(KILN_ERR_SHAPE,
                        "kiln.attention_packed: num_heads is %R but out has %lld heads", heads,
                        (long long)kiln_tensor_dim(ot, -2));
  }
  kiln_status s = kiln_attention_packed(CTX_OF(qkv)->ctx, qt, ot, &p);
  PyObject *used[] = {qkv, mask, sk, cq, ck, res};
  return finish(s, CTX_OF(qkv), res, used, 6);
}

#define OP(name, doc) {#name, (PyCFunction)(void (*)(void))py_##name, METH_FASTCALL | METH_KEYWORDS, doc}

PyMethodDef kp_op_methods[] = {
    OP(matmul, "matmul(a, b, *, transpose_a=False, transpose_b=False, alpha=1.0, beta=0.0, "
               "bias=None, out=None, activation=None) -> Tensor\n\n"
               "out = act(alpha * op(a) @ op(b) + beta * out (+ bias on every row)).\n"
               "a: [..., M, K] ([..., K, M] with transpose_a); b: [K, N] or [..., K, N] "
               "([N, K] with transpose_b, a torch Linear weight); out: [..., M, N]; bias: [N]. "
               "beta != 0 needs out. activation: None, 'gelu' (erf) or 'gelu_tanh', applied "
               "before the rounding to the dtype where the backend fuses it."),
    OP(softmax, "softmax(x, *, scale=1.0, causal=False, mask=None, out=None) -> Tensor\n\n"
                "Softmax over the last axis of scale * x (+ mask, an additive [Sk] or [B, Sk] "
                "mask). causal masks column j of row i when j > i + (Sk - Sq)."),
    OP(rms_norm, "rms_norm(x, weight, *, eps=1e-6, out=None) -> Tensor\n\n"
                 "x / sqrt(mean(x^2, last axis) + eps) * weight; x: [..., H], weight: [H]."),
    OP(lora_linear, "lora_linear(x, w, a, b, *, scale=1.0, bias=None, out=None) -> Tensor\n\n"
                    "x @ w.T (+ bias) + scale * (x @ a.T) @ b.T, PEFT layouts: x [..., in], "
                    "w [out, in], a [r, in], b [out, r], bias [out]; scale = lora_alpha / r."),
    OP(add_rms_norm, "add_rms_norm(x, residual, weight, *, eps=1e-6, h_out=None, out=None) -> "
                     "tuple[Tensor, Tensor]\n\n"
                     "h = x + residual, out = rms_norm(h, weight, eps); returns (h, out). "
                     "h_out may be x or residual (in place)."),
    OP(layer_norm, "layer_norm(x, weight=None, bias=None, *, eps=1e-5, out=None) -> Tensor\n\n"
                   "(x - mean) / sqrt(var + eps) * weight + bias over the last axis."),
    OP(add_layer_norm, "add_layer_norm(x, residual, weight=None, bias=None, *, eps=1e-5, "
                       "h_out=None, out=None) -> tuple[Tensor, Tensor]\n\n"
                       "h = x + residual, out = layer_norm(h, weight, bias, eps); returns "
                       "(h, out). h_out may be x or residual (in place): the post-norm step."),
    OP(mean_pool, "mean_pool(x, lengths=None, *, normalize=False, out=None) -> Tensor\n\n"
                  "The mean of each sequence's rows, divided by its L2 norm with normalize. "
                  "Varlen: x [T, H] with lengths = cu_seqlens (i32 [B + 1]); padded: x "
                  "[B, S, H] with lengths = seqlens (i32 [B]) or None (all S). out [B, H]."),
    OP(gelu, "gelu(x, *, approximate='none', out=None) -> Tensor\n\n"
             "x * Phi(x) (approximate='none', erf) or the tanh approximation ('tanh')."),
    OP(silu, "silu(x, *, out=None) -> Tensor\n\nx * sigmoid(x)."),
    OP(scale, "scale(x, s, *, out=None) -> Tensor\n\ns * x."),
    OP(swiglu, "swiglu(gate, up, *, out=None) -> Tensor\n\nsilu(gate) * up, rounded once."),
    OP(add, "add(a, b, *, out=None) -> Tensor\n\na + b, b a suffix of a's shape (broadcast over "
            "a's leading dims)."),
    OP(mul, "mul(a, b, *, out=None) -> Tensor\n\na * b, b a suffix of a's shape."),
    OP(rope, "rope(x, *, base=10000.0, position_offset=0, interleaved=False, rotary_dims=0, "
             "seq_axis=-2, out=None) -> Tensor\n\n"
             "Rotary position embedding. seq_axis -2: x [..., S, D]; -3: x [..., S, H, D]. "
             "rotary_dims 0 rotates all of D; interleaved picks GPT-J pairs over NeoX halves."),
    OP(embedding, "embedding(table, ids, *, out=None) -> Tensor\n\n"
                  "out[..., :] = table[ids[...], :]; table [V, D], ids i32 of any shape up to "
                  "3 dims; out: ids' shape + [D]."),
    OP(attention, "attention(q, k, v, *, scale=None, causal=False, mask=None, seqlens_k=None, "
                  "cu_seqlens_q=None, cu_seqlens_k=None, max_seqlen_q=0, max_seqlen_k=0, "
                  "out=None) -> Tensor\n\n"
                  "softmax(scale * q k^T + mask) v per batch and head (scale None: 1/sqrt(D)).\n"
                  "Padded: q [B, Sq, Hq, D], k, v [B, Sk, Hkv, D], out [B, Sq, Hq, D]. Varlen "
                  "(cu_seqlens_q, i32 [B + 1], with max_seqlen_q/_k): q [Tq, Hq, D], k, v "
                  "[Tk, Hkv, D]. Hq a multiple of Hkv (GQA). causal is bottom-right aligned; "
                  "seqlens_k (i32 [B]) masks keys j >= seqlens_k[b]."),
    OP(attention_packed, "attention_packed(qkv, *, num_heads=None, scale=None, causal=False, "
                         "mask=None, seqlens_k=None, cu_seqlens_q=None, cu_seqlens_k=None, "
                         "max_seqlen_q=0, max_seqlen_k=0, out=None) -> Tensor\n\n"
                         "attention over one fused QKV projection: qkv [B, S, Hq + 2 Hkv, D] "
                         "(or [T, ..., D] varlen), heads q, then k, then v. num_heads is Hq "
                         "(needed without out=); out [B, S, Hq, D]."),
    {NULL, NULL, 0, NULL}};
