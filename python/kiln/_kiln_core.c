/*
 * kiln._kiln: the CPython binding's types (Context, Tensor, Graph), its
 * exceptions, and the plumbing the op functions share. Written against
 * include/kiln.h only, like any user of the library.
 *
 * Every call runs with the GIL held: kiln's contexts are used by one thread
 * at a time, and holding the GIL is what guarantees that from Python (a
 * small op costs less than releasing and retaking it would).
 */
#include "_kiln.h"

#include <string.h>

/* ----------------------------------------------------------- exceptions */

PyObject *kp_error_base;
static PyObject *status_class[8]; /* by kiln_status; 0 (OK) unused */

/* Raises the exception class of status s with message msg (a str, not
 * consumed), its `status` attribute set to the status's name; returns NULL. */
static PyObject *raise_status(kiln_status s, PyObject *msg) {
  PyObject *cls = (s > 0 && s < 8 && status_class[s]) ? status_class[s] : kp_error_base;
  PyObject *exc = PyObject_CallOneArg(cls, msg);
  if (!exc)
    return NULL;
  PyObject *name = PyUnicode_FromString(kiln_status_string(s));
  if (name) {
    PyObject_SetAttrString(exc, "status", name);
    Py_DECREF(name);
  }
  PyErr_SetObject(cls, exc);
  Py_DECREF(exc);
  return NULL;
}

/* Raises the exception for s with kiln_last_error()'s text; returns NULL. */
PyObject *kp_raise(kiln_status s) {
  const char *text = kiln_last_error();
  PyObject *msg = PyUnicode_FromString(text && *text ? text : kiln_status_string(s));
  if (!msg)
    return NULL;
  raise_status(s, msg);
  Py_DECREF(msg);
  return NULL;
}

PyObject *kp_none_or_raise(kiln_status s) {
  if (s != KILN_OK)
    return kp_raise(s);
  Py_RETURN_NONE;
}

/* Raises the exception class of status s with a message of the binding's
 * own (argument errors found before any C call). */
PyObject *kp_raise_msg(kiln_status s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  PyObject *msg = PyUnicode_FromFormatV(fmt, ap);
  va_end(ap);
  if (!msg)
    return NULL;
  raise_status(s, msg);
  Py_DECREF(msg);
  return NULL;
}

static int add_exception(PyObject *m, const char *name, kiln_status s, PyObject *builtin,
                         const char *doc) {
  char qual[64];
  snprintf(qual, sizeof qual, "kiln.%s", name);
  PyObject *bases = builtin ? PyTuple_Pack(2, kp_error_base, builtin) : NULL;
  if (builtin && !bases)
    return -1;
  PyObject *cls = PyErr_NewExceptionWithDoc(qual, doc, bases ? bases : kp_error_base, NULL);
  Py_XDECREF(bases);
  if (!cls)
    return -1;
  status_class[s] = cls;
  Py_INCREF(cls);
  return PyModule_AddObject(m, name, cls) < 0 ? (Py_DECREF(cls), -1) : 0;
}

int kp_init_exceptions(PyObject *m) {
  kp_error_base = PyErr_NewExceptionWithDoc(
      "kiln.Error", "Base of every kiln error. .status is the C status name (\"KILN_ERR_SHAPE\"); "
      "str(e) is kiln_last_error()'s message.", PyExc_Exception, NULL);
  if (!kp_error_base)
    return -1;
  Py_INCREF(kp_error_base);
  if (PyModule_AddObject(m, "Error", kp_error_base) < 0)
    return -1;
  return add_exception(m, "InvalidArgumentError", KILN_ERR_INVALID_ARGUMENT, PyExc_ValueError,
                       "KILN_ERR_INVALID_ARGUMENT: a bad value, flag, NULL or aliasing.") ||
                 add_exception(m, "ShapeError", KILN_ERR_SHAPE, PyExc_ValueError,
                               "KILN_ERR_SHAPE: dimensions that do not fit together.") ||
                 add_exception(m, "DTypeError", KILN_ERR_DTYPE, PyExc_TypeError,
                               "KILN_ERR_DTYPE: a dtype mismatch or one the op does not take.") ||
                 add_exception(m, "DeviceError", KILN_ERR_DEVICE, PyExc_RuntimeError,
                               "KILN_ERR_DEVICE: no such device, or tensors of another context.") ||
                 add_exception(m, "OutOfMemoryError", KILN_ERR_OUT_OF_MEMORY, PyExc_MemoryError,
                               "KILN_ERR_OUT_OF_MEMORY.") ||
                 add_exception(m, "UnsupportedError", KILN_ERR_UNSUPPORTED,
                               PyExc_NotImplementedError,
                               "KILN_ERR_UNSUPPORTED: a valid request this backend cannot do.") ||
                 add_exception(m, "BackendError", KILN_ERR_BACKEND, PyExc_RuntimeError,
                               "KILN_ERR_BACKEND: the driver or a vendor library failed.")
             ? -1
             : 0;
}

/* ---------------------------------------------------------------- dtypes */

static const struct {
  const char *name;
  kiln_dtype dtype;
} dtype_names[] = {
    {"f32", KILN_F32},      {"float32", KILN_F32}, {"f16", KILN_F16},      {"float16", KILN_F16},
    {"half", KILN_F16},     {"bf16", KILN_BF16},   {"bfloat16", KILN_BF16}, {"i32", KILN_I32},
    {"int32", KILN_I32},    {"float", KILN_F32},
};

static int dtype_from_name(const char *s, kiln_dtype *out) {
  for (size_t i = 0; i < sizeof dtype_names / sizeof dtype_names[0]; i++)
    if (strcmp(s, dtype_names[i].name) == 0) {
      *out = dtype_names[i].dtype;
      return 0;
    }
  return -1;
}

/* A str ("f32", "float16", "bf16", ...) or anything numpy.dtype() takes
 * (numpy.float32, "int32", ml_dtypes.bfloat16). */
int kp_parse_dtype(PyObject *o, kiln_dtype *out) {
  if (PyUnicode_Check(o)) {
    const char *s = PyUnicode_AsUTF8(o);
    if (!s)
      return -1;
    if (dtype_from_name(s, out) == 0)
      return 0;
  } else if (o != Py_None) {
    PyObject *np = PyImport_ImportModule("numpy");
    PyObject *d = np ? PyObject_CallMethod(np, "dtype", "O", o) : NULL;
    Py_XDECREF(np);
    PyObject *name = d ? PyObject_GetAttrString(d, "name") : NULL;
    Py_XDECREF(d);
    if (!name) {
      PyErr_Clear();
    } else {
      const char *s = PyUnicode_AsUTF8(name);
      int found = s && dtype_from_name(s, out) == 0;
      Py_DECREF(name);
      if (found)
        return 0;
    }
  }
  kp_raise_msg(KILN_ERR_DTYPE, "kiln: dtype %R is not one of kiln's: 'f32', 'f16', 'bf16', 'i32'",
               o);
  return -1;
}

PyObject *kp_dtype_str(kiln_dtype d) { return PyUnicode_FromString(kiln_dtype_name(d)); }

/* --------------------------------------------------------------- Context */

static PyObject *device_string(const ContextObject *c) {
  if (kiln_context_device(c->ctx) == KILN_DEVICE_CUDA)
    return PyUnicode_FromFormat("cuda:%d", c->index);
  return PyUnicode_FromString("cpu");
}

static int parse_device(PyObject *dev, int index_arg, kiln_device *device, int *index) {
  const char *s = PyUnicode_Check(dev) ? PyUnicode_AsUTF8(dev) : NULL;
  if (!s) {
    if (!PyErr_Occurred())
      PyErr_Format(PyExc_TypeError, "kiln.Context: device must be a str, not %.100s",
                   Py_TYPE(dev)->tp_name);
    return -1;
  }
  *index = index_arg < 0 ? 0 : index_arg;
  if (strcmp(s, "auto") == 0) {
    *device = KILN_DEVICE_AUTO;
  } else if (strcmp(s, "cpu") == 0) {
    *device = KILN_DEVICE_CPU;
  } else if (strncmp(s, "cuda", 4) == 0 && (s[4] == '\0' || s[4] == ':')) {
    *device = KILN_DEVICE_CUDA;
    if (s[4] == ':') {
      char *end = NULL;
      long v = strtol(s + 5, &end, 10);
      if (end == s + 5 || *end != '\0' || v < 0 || v > 1 << 20) {
        kp_raise_msg(KILN_ERR_DEVICE, "kiln.Context: device %R is not 'cuda:N'", dev);
        return -1;
      }
      if (index_arg >= 0 && index_arg != v) {
        kp_raise_msg(KILN_ERR_INVALID_ARGUMENT,
                     "kiln.Context: device %R and index=%d disagree", dev, index_arg);
        return -1;
      }
      *index = (int)v;
    }
  } else {
    kp_raise_msg(KILN_ERR_DEVICE,
                 "kiln.Context: device %R is not one of 'auto', 'cpu', 'cuda', 'cuda:N'", dev);
    return -1;
  }
  return 0;
}

static int Context_init(ContextObject *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"device", "index", NULL};
  PyObject *dev = NULL;
  int index = -1;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|Oi:Context", kwlist, &dev, &index))
    return -1;
  if (self->ctx) {
    PyErr_SetString(PyExc_RuntimeError, "kiln.Context: already initialized");
    return -1;
  }
  kiln_device device = KILN_DEVICE_AUTO;
  int idx = 0;
  if (dev) {
    if (parse_device(dev, index, &device, &idx) < 0)
      return -1;
  } else {
    idx = index < 0 ? 0 : index;
  }
  kiln_context *ctx = NULL;
  kiln_status s = kiln_context_create(device, idx, &ctx);
  if (s != KILN_OK) {
    kp_raise(s);
    return -1;
  }
  self->ctx = ctx;
  self->index = kiln_context_device(ctx) == KILN_DEVICE_CUDA ? idx : 0;
  return 0;
}

static void Context_dealloc(ContextObject *self) {
  /* Tensors and graphs hold a reference to their context, so nothing of
   * this context is alive in Python now; a DLPack export still held by a
   * consumer keeps the C side until its deleter runs. */
  if (self->ctx)
    kiln_context_destroy(self->ctx);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static int check_ctx(const ContextObject *self) {
  if (self->ctx)
    return 0;
  PyErr_SetString(PyExc_RuntimeError, "kiln.Context was not initialized");
  return -1;
}

static PyObject *Context_get_device(ContextObject *self, void *closure) {
  (void)closure;
  return check_ctx(self) < 0 ? NULL : device_string(self);
}

static PyObject *Context_get_description(ContextObject *self, void *closure) {
  (void)closure;
  return check_ctx(self) < 0 ? NULL : PyUnicode_FromString(kiln_context_describe(self->ctx));
}

static PyObject *Context_get_stream(ContextObject *self, void *closure) {
  (void)closure;
  if (check_ctx(self) < 0)
    return NULL;
  void *s = kiln_context_stream(self->ctx);
  if (!s)
    Py_RETURN_NONE;
  return PyLong_FromVoidPtr(s);
}

static PyObject *Context_sync(ContextObject *self, PyObject *unused) {
  (void)unused;
  return check_ctx(self) < 0 ? NULL : kp_none_or_raise(kiln_sync(self->ctx));
}

/* A context switch set from a Python truth value. */
static PyObject *set_flag(ContextObject *self, PyObject *arg,
                          kiln_status (*set)(kiln_context *, int)) {
  int on = PyObject_IsTrue(arg);
  if (on < 0 || check_ctx(self) < 0)
    return NULL;
  return kp_none_or_raise(set(self->ctx, on));
}

static PyObject *Context_allow_tf32(ContextObject *self, PyObject *arg) {
  return set_flag(self, arg, kiln_context_allow_tf32);
}

static PyObject *Context_use_fused(ContextObject *self, PyObject *arg) {
  return set_flag(self, arg, kiln_context_use_fused);
}

static PyObject *Context_set_threads(ContextObject *self, PyObject *arg) {
  long v = PyLong_AsLong(arg);
  if ((v == -1 && PyErr_Occurred()) || check_ctx(self) < 0)
    return NULL;
  /* Out of int's range: the nearest int, which the C check then names. */
  int n = v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int)v;
  return kp_none_or_raise(kiln_context_set_threads(self->ctx, n));
}

static PyObject *Context_capture(ContextObject *self, PyObject *unused) {
  (void)unused;
  if (check_ctx(self) < 0)
    return NULL;
  GraphObject *g = PyObject_GC_New(GraphObject, &kp_GraphType);
  if (!g)
    return NULL;
  g->graph = NULL;
  g->state = KP_GRAPH_NEW;
  g->keep = PyList_New(0);
  Py_INCREF(self);
  g->ctx = self;
  PyObject_GC_Track(g);
  if (!g->keep) {
    Py_DECREF(g);
    return NULL;
  }
  return (PyObject *)g;
}

static PyObject *Context_repr(ContextObject *self) {
  if (!self->ctx)
    return PyUnicode_FromString("kiln.Context(<uninitialized>)");
  PyObject *dev = device_string(self);
  if (!dev)
    return NULL;
  PyObject *r = PyUnicode_FromFormat("kiln.Context(%R)", dev);
  Py_DECREF(dev);
  return r;
}

static PyMethodDef Context_methods[] = {
    {"sync", (PyCFunction)Context_sync, METH_NOARGS,
     "sync() -> None\n\nWait until all work enqueued on this context has finished."},
    {"allow_tf32", (PyCFunction)Context_allow_tf32, METH_O,
     "allow_tf32(allow: bool) -> None\n\nLet the GPU use TF32 tensor cores for f32 matmuls."},
    {"use_fused", (PyCFunction)Context_use_fused, METH_O,
     "use_fused(enable: bool) -> None\n\nRun fused ops as one kernel (True, the default) or as "
     "their composite of basic ops (False)."},
    {"set_threads", (PyCFunction)Context_set_threads, METH_O,
     "set_threads(n: int) -> None\n\nThreads of the context's CPU work (0: automatic, the "
     "default). GPU contexts accept it and have nothing to set."},
    {"capture", (PyCFunction)Context_capture, METH_NOARGS,
     "capture() -> Graph\n\nA graph to record ops into: `with ctx.capture() as g: ...`, then "
     "g.run() replays them. Inside the block every output must be given with out=, since no "
     "tensor can be created while capturing."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Context_getset[] = {
    {"device", (getter)Context_get_device, NULL, "'cpu' or 'cuda:N'", NULL},
    {"description", (getter)Context_get_description, NULL,
     "One line describing the device and backend.", NULL},
    {"stream", (getter)Context_get_stream, NULL,
     "The context's cudaStream_t as an int (None on the CPU).", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

PyTypeObject kp_ContextType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kiln.Context",
    .tp_basicsize = sizeof(ContextObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Context(device='auto', index=None)\n\n"
              "Everything expensive for one device: its stream, BLAS handles, scratch and "
              "cached plans. device is 'auto' (GPU 0 when there is one, else the CPU), 'cpu', "
              "'cuda' or 'cuda:N'. Make one and keep it; tensors keep their context alive.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Context_init,
    .tp_dealloc = (destructor)Context_dealloc,
    .tp_repr = (reprfunc)Context_repr,
    .tp_methods = Context_methods,
    .tp_getset = Context_getset,
};

/* ---------------------------------------------------------------- Tensor */

PyObject *kp_tensor_wrap(ContextObject *ctx, kiln_tensor *t) {
  TensorObject *o = PyObject_New(TensorObject, &kp_TensorType);
  if (!o) {
    kiln_tensor_destroy(t);
    return NULL;
  }
  o->t = t;
  Py_INCREF(ctx);
  o->ctx = ctx;
  return (PyObject *)o;
}

PyObject *kp_tensor_new(ContextObject *ctx, kiln_dtype dtype, int ndim, const int64_t *shape) {
  kiln_tensor *t = NULL;
  kiln_status s = kiln_tensor_create(ctx->ctx, dtype, ndim, shape, &t);
  if (s != KILN_OK)
    return kp_raise(s);
  return kp_tensor_wrap(ctx, t);
}

static void Tensor_dealloc(TensorObject *self) {
  kiln_tensor_destroy(self->t);
  Py_XDECREF(self->ctx);
  PyObject_Free(self);
}

static PyObject *shape_tuple(const kiln_tensor *t) {
  int n = kiln_tensor_ndim(t);
  PyObject *tup = PyTuple_New(n);
  if (!tup)
    return NULL;
  for (int i = 0; i < n; i++) {
    PyObject *d = PyLong_FromLongLong(kiln_tensor_dim(t, i));
    if (!d) {
      Py_DECREF(tup);
      return NULL;
    }
    PyTuple_SET_ITEM(tup, i, d);
  }
  return tup;
}

static PyObject *Tensor_get_shape(TensorObject *self, void *c) {
  (void)c;
  return shape_tuple(self->t);
}
static PyObject *Tensor_get_dtype(TensorObject *self, void *c) {
  (void)c;
  return kp_dtype_str(kiln_tensor_dtype(self->t));
}
static PyObject *Tensor_get_ndim(TensorObject *self, void *c) {
  (void)c;
  return PyLong_FromLong(kiln_tensor_ndim(self->t));
}
static PyObject *Tensor_get_size(TensorObject *self, void *c) {
  (void)c;
  return PyLong_FromLongLong(kiln_tensor_numel(self->t));
}
static PyObject *Tensor_get_nbytes(TensorObject *self, void *c) {
  (void)c;
  return PyLong_FromSize_t(kiln_tensor_nbytes(self->t));
}
static PyObject *Tensor_get_device(TensorObject *self, void *c) {
  (void)c;
  return device_string(self->ctx);
}
static PyObject *Tensor_get_context(TensorObject *self, void *c) {
  (void)c;
  Py_INCREF(self->ctx);
  return (PyObject *)self->ctx;
}
static PyObject *Tensor_get_data_ptr(TensorObject *self, void *c) {
  (void)c;
  return PyLong_FromVoidPtr(kiln_tensor_data(self->t));
}
static PyObject *Tensor_get_readonly(TensorObject *self, void *c) {
  (void)c;
  return PyBool_FromLong(kiln_tensor_is_readonly(self->t));
}

static Py_ssize_t Tensor_len(TensorObject *self) {
  return (Py_ssize_t)kiln_tensor_dim(self->t, 0);
}

static PyObject *Tensor_repr(TensorObject *self) {
  PyObject *shape = shape_tuple(self->t), *dev = device_string(self->ctx);
  PyObject *r = shape && dev ? PyUnicode_FromFormat("kiln.Tensor(shape=%R, dtype='%s', device=%R)",
                                                    shape, kiln_dtype_name(kiln_tensor_dtype(self->t)),
                                                    dev)
                             : NULL;
  Py_XDECREF(shape);
  Py_XDECREF(dev);
  return r;
}

/* kiln._host does the NumPy side (dtype conversions, bf16 widening). */
static PyObject *host_helper(const char *name) {
  PyObject *mod = PyImport_ImportModule("kiln._host");
  if (!mod)
    return NULL;
  PyObject *fn = PyObject_GetAttrString(mod, name);
  Py_DECREF(mod);
  return fn;
}

static PyObject *Tensor_numpy(TensorObject *self, PyObject *unused) {
  (void)unused;
  PyObject *shape = shape_tuple(self->t);
  PyObject *dtype = kp_dtype_str(kiln_tensor_dtype(self->t));
  PyObject *empty = host_helper("empty_raw");
  PyObject *raw = shape && dtype && empty ? PyObject_CallFunctionObjArgs(empty, shape, dtype, NULL)
                                          : NULL;
  Py_XDECREF(shape);
  Py_XDECREF(empty);
  if (!raw) {
    Py_XDECREF(dtype);
    return NULL;
  }
  Py_buffer view;
  if (PyObject_GetBuffer(raw, &view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
    Py_DECREF(raw);
    Py_DECREF(dtype);
    return NULL;
  }
  kiln_status s = kiln_tensor_read(self->t, view.buf, (size_t)view.len);
  PyBuffer_Release(&view);
  if (s != KILN_OK) {
    Py_DECREF(raw);
    Py_DECREF(dtype);
    return kp_raise(s);
  }
  PyObject *finish = host_helper("from_raw");
  PyObject *r = finish ? PyObject_CallFunctionObjArgs(finish, raw, dtype, NULL) : NULL;
  Py_XDECREF(finish);
  Py_DECREF(raw);
  Py_DECREF(dtype);
  return r;
}

static PyObject *Tensor_write(TensorObject *self, PyObject *data) {
  PyObject *shape = shape_tuple(self->t);
  PyObject *dtype = kp_dtype_str(kiln_tensor_dtype(self->t));
  PyObject *conv = host_helper("to_raw");
  PyObject *raw = shape && dtype && conv
                      ? PyObject_CallFunctionObjArgs(conv, data, dtype, shape, NULL)
                      : NULL;
  Py_XDECREF(shape);
  Py_XDECREF(dtype);
  Py_XDECREF(conv);
  if (!raw)
    return NULL;
  Py_buffer view;
  if (PyObject_GetBuffer(raw, &view, PyBUF_C_CONTIGUOUS) < 0) {
    Py_DECREF(raw);
    return NULL;
  }
  kiln_status s = kiln_tensor_write(self->t, view.buf, (size_t)view.len);
  PyBuffer_Release(&view);
  Py_DECREF(raw);
  return kp_none_or_raise(s);
}

static PyMethodDef Tensor_methods[] = {
    {"numpy", (PyCFunction)Tensor_numpy, METH_NOARGS,
     "numpy() -> numpy.ndarray\n\nA copy of the tensor on the host, after the work that "
     "writes it has finished. f32, f16, i32 come back as float32, float16, int32; bf16 as "
     "float32 (exactly: every bf16 value is a float32). numpy.from_dlpack(t) shares a CPU "
     "tensor's memory instead."},
    {"write", (PyCFunction)Tensor_write, METH_O,
     "write(data) -> None\n\nCopy host data (anything numpy.asarray takes, of exactly this "
     "shape) into the tensor, converting to its dtype (bf16 and f16 round to nearest even). "
     "A uint16 array is taken as raw f16/bf16 bits. The tensor is unchanged if this fails."},
    {"__dlpack__", (PyCFunction)(void (*)(void))kp_tensor_dlpack, METH_VARARGS | METH_KEYWORDS,
     "__dlpack__(*, stream=None, max_version=None, dl_device=None, copy=None) -> PyCapsule\n\n"
     "The tensor as a DLPack capsule over the same memory (the Python array API's protocol). "
     "max_version >= (1, 0) gives a versioned capsule, else a legacy one. On CUDA, stream is "
     "the consumer's stream (None: the legacy default stream, -1: no ordering), which is made "
     "to wait for kiln's work. copy=True and other devices are refused (BufferError)."},
    {"__dlpack_device__", (PyCFunction)kp_tensor_dlpack_device, METH_NOARGS,
     "__dlpack_device__() -> tuple[int, int]\n\n(1, 0) on the CPU, (2, N) on cuda:N."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Tensor_getset[] = {
    {"shape", (getter)Tensor_get_shape, NULL, "tuple of ints, outermost first", NULL},
    {"dtype", (getter)Tensor_get_dtype, NULL, "'f32', 'f16', 'bf16' or 'i32'", NULL},
    {"ndim", (getter)Tensor_get_ndim, NULL, "number of dimensions", NULL},
    {"size", (getter)Tensor_get_size, NULL, "number of elements", NULL},
    {"nbytes", (getter)Tensor_get_nbytes, NULL, "bytes of memory", NULL},
    {"device", (getter)Tensor_get_device, NULL, "'cpu' or 'cuda:N'", NULL},
    {"context", (getter)Tensor_get_context, NULL, "the kiln.Context the tensor belongs to", NULL},
    {"data_ptr", (getter)Tensor_get_data_ptr, NULL,
     "address of the first element (host or device), as an int", NULL},
    {"readonly", (getter)Tensor_get_readonly, NULL,
     "True when imported from a read-only DLPack tensor (never an op's output)", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PySequenceMethods Tensor_as_sequence = {.sq_length = (lenfunc)Tensor_len};

PyTypeObject kp_TensorType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kiln.Tensor",
    .tp_basicsize = sizeof(TensorObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A dense row-major kiln tensor on its context's device. Make one with "
              "kiln.tensor(), kiln.empty() or kiln.from_dlpack(); ops return new ones or "
              "write out=.",
    .tp_dealloc = (destructor)Tensor_dealloc,
    .tp_repr = (reprfunc)Tensor_repr,
    .tp_as_sequence = &Tensor_as_sequence,
    .tp_methods = Tensor_methods,
    .tp_getset = Tensor_getset,
};

/* ----------------------------------------------------------------- Graph */

static int Graph_traverse(GraphObject *self, visitproc visit, void *arg) {
  Py_VISIT(self->keep);
  Py_VISIT(self->ctx);
  return 0;
}

static int Graph_clear(GraphObject *self) {
  Py_CLEAR(self->keep);
  return 0;
}

static void Graph_dealloc(GraphObject *self) {
  PyObject_GC_UnTrack(self);
  if (self->state == KP_GRAPH_CAPTURING && self->ctx && self->ctx->capture == self) {
    /* Dropped inside its with-block (a generator abandoned, say): end the
     * capture so the context is usable again. */
    kiln_graph *g = NULL;
    if (kiln_graph_end(self->ctx->ctx, &g) == KILN_OK)
      kiln_graph_destroy(g);
    self->ctx->capture = NULL;
  }
  kiln_graph_destroy(self->graph);
  Py_CLEAR(self->keep);
  Py_CLEAR(self->ctx);
  PyObject_GC_Del(self);
}

static PyObject *Graph_enter(GraphObject *self, PyObject *unused) {
  (void)unused;
  if (self->state != KP_GRAPH_NEW)
    return kp_raise_msg(KILN_ERR_INVALID_ARGUMENT,
                        "kiln.Graph: this graph has already been captured; make a new one with "
                        "ctx.capture()");
  kiln_status s = kiln_graph_begin(self->ctx->ctx);
  if (s != KILN_OK)
    return kp_raise(s);
  self->state = KP_GRAPH_CAPTURING;
  self->ctx->capture = self;
  Py_INCREF(self);
  return (PyObject *)self;
}

static PyObject *Graph_exit(GraphObject *self, PyObject *args) {
  PyObject *exc_type = Py_None;
  if (PyTuple_GET_SIZE(args) > 0)
    exc_type = PyTuple_GET_ITEM(args, 0);
  if (self->state != KP_GRAPH_CAPTURING)
    Py_RETURN_FALSE;
  self->ctx->capture = NULL;
  kiln_graph *g = NULL;
  kiln_status s = kiln_graph_end(self->ctx->ctx, &g);
  if (exc_type != Py_None) {
    /* The block raised: what was recorded is incomplete; drop it. */
    kiln_graph_destroy(g);
    self->state = KP_GRAPH_FAILED;
    Py_RETURN_FALSE;
  }
  if (s != KILN_OK) {
    self->state = KP_GRAPH_FAILED;
    return kp_raise(s);
  }
  self->graph = g;
  self->state = KP_GRAPH_READY;
  Py_RETURN_FALSE;
}

static PyObject *Graph_run(GraphObject *self, PyObject *unused) {
  (void)unused;
  if (self->state != KP_GRAPH_READY)
    return kp_raise_msg(KILN_ERR_INVALID_ARGUMENT,
                        "kiln.Graph.run: the graph is %s; run it after its with-block ends",
                        self->state == KP_GRAPH_NEW         ? "not captured yet"
                        : self->state == KP_GRAPH_CAPTURING ? "still capturing"
                                                            : "empty: its capture failed");
  return kp_none_or_raise(kiln_graph_run(self->ctx->ctx, self->graph));
}

/* The tensors an op recorded into a graph must outlive the graph. */
int kp_graph_keep(GraphObject *g, PyObject *const *objs, int n) {
  for (int i = 0; i < n; i++)
    if (objs[i] && objs[i] != Py_None && PyList_Append(g->keep, objs[i]) < 0)
      return -1;
  return 0;
}

static PyMethodDef Graph_methods[] = {
    {"__enter__", (PyCFunction)Graph_enter, METH_NOARGS, "Begin capturing ops on the context."},
    {"__exit__", (PyCFunction)Graph_exit, METH_VARARGS,
     "End the capture (dropped if the block raised)."},
    {"run", (PyCFunction)Graph_run, METH_NOARGS,
     "run() -> None\n\nReplay the captured ops, reading the tensors' current contents."},
    {NULL, NULL, 0, NULL}};

PyTypeObject kp_GraphType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kiln.Graph",
    .tp_basicsize = sizeof(GraphObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A captured sequence of ops (a CUDA graph on the GPU, a recorded op list on the "
              "CPU), made by Context.capture(). It keeps every tensor it recorded alive.",
    .tp_dealloc = (destructor)Graph_dealloc,
    .tp_traverse = (traverseproc)Graph_traverse,
    .tp_clear = (inquiry)Graph_clear,
    .tp_methods = Graph_methods,
};
