/* The kiln._kiln extension module: its types, exceptions, the op functions
 * and the few helpers the pure-Python part of the package calls. */
#include "_kiln.h"

#include <string.h>

static PyObject *py_empty(PyObject *m, PyObject *args, PyObject *kw) {
  (void)m;
  static char *kwlist[] = {"shape", "dtype", "ctx", NULL};
  PyObject *shape_obj, *dtype_obj;
  ContextObject *ctx;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "OOO!:_empty", kwlist, &shape_obj, &dtype_obj,
                                   &kp_ContextType, &ctx))
    return NULL;
  kiln_dtype dtype;
  if (kp_parse_dtype(dtype_obj, &dtype) < 0)
    return NULL;
  PyObject *seq = PySequence_Fast(shape_obj, "kiln.empty: shape must be a sequence of ints");
  if (!seq)
    return NULL;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  if (n < 1 || n > KILN_MAX_DIMS) {
    Py_DECREF(seq);
    return kp_raise_msg(KILN_ERR_SHAPE, "kiln.empty: shape %R has %zd dims; kiln tensors have 1 "
                        "to %d", shape_obj, n, KILN_MAX_DIMS);
  }
  int64_t shape[KILN_MAX_DIMS];
  for (Py_ssize_t i = 0; i < n; i++) {
    shape[i] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(seq, i));
    if (shape[i] == -1 && PyErr_Occurred()) {
      Py_DECREF(seq);
      return NULL;
    }
  }
  Py_DECREF(seq);
  if (!ctx->ctx) {
    PyErr_SetString(PyExc_RuntimeError, "kiln.Context was not initialized");
    return NULL;
  }
  return kp_tensor_new(ctx, dtype, (int)n, shape);
}

/* kiln's own f32 -> bf16 rounding for NumPy arrays (src float32, dst
 * uint16, the same number of elements). */
static PyObject *py_f32_to_bf16(PyObject *m, PyObject *args) {
  (void)m;
  Py_buffer src, dst;
  if (!PyArg_ParseTuple(args, "y*w*:_f32_to_bf16", &src, &dst))
    return NULL;
  PyObject *r = NULL;
  if (src.len % 4 != 0 || dst.len * 2 != src.len) {
    PyErr_SetString(PyExc_ValueError, "kiln._f32_to_bf16: buffer sizes do not match");
  } else {
    kiln_f32_to_bf16((const float *)src.buf, (uint16_t *)dst.buf, (size_t)src.len / 4);
    Py_INCREF(Py_None);
    r = Py_None;
  }
  PyBuffer_Release(&src);
  PyBuffer_Release(&dst);
  return r;
}

static PyObject *py_device_count(PyObject *m, PyObject *arg) {
  (void)m;
  const char *s = PyUnicode_AsUTF8(arg);
  if (!s)
    return NULL;
  kiln_device d = strcmp(s, "cpu") == 0 ? KILN_DEVICE_CPU
                  : strcmp(s, "cuda") == 0 ? KILN_DEVICE_CUDA
                                           : KILN_DEVICE_AUTO;
  if (d == KILN_DEVICE_AUTO)
    return kp_raise_msg(KILN_ERR_DEVICE, "kiln.device_count: device %R is not 'cpu' or 'cuda'",
                        arg);
  return PyLong_FromLong(kiln_device_count(d));
}

static PyObject *py_version(PyObject *m, PyObject *unused) {
  (void)m;
  (void)unused;
  return PyUnicode_FromString(kiln_version());
}

static PyMethodDef extra_methods[] = {
    {"_empty", (PyCFunction)(void (*)(void))py_empty, METH_VARARGS | METH_KEYWORDS,
     "_empty(shape, dtype, ctx) -> Tensor (uninitialized)"},
    {"_from_dlpack", (PyCFunction)(void (*)(void))kp_from_dlpack, METH_VARARGS | METH_KEYWORDS,
     "_from_dlpack(obj, ctx) -> Tensor over obj's memory"},
    {"_f32_to_bf16", (PyCFunction)py_f32_to_bf16, METH_VARARGS, "_f32_to_bf16(src, dst)"},
    {"device_count", (PyCFunction)py_device_count, METH_O,
     "device_count(device: str) -> int\n\nDevices of this kind ('cpu' or 'cuda') this build and "
     "machine have."},
    {"version", (PyCFunction)py_version, METH_NOARGS, "version() -> str: the C library's version"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "kiln._kiln",
    "kiln's C binding. Use the kiln package, which re-exports everything here.", -1, NULL,
    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__kiln(void) {
  if (PyType_Ready(&kp_ContextType) < 0 || PyType_Ready(&kp_TensorType) < 0 ||
      PyType_Ready(&kp_GraphType) < 0 || PyType_Ready(&kp_TokenizerType) < 0 ||
      PyType_Ready(&kp_EmbedderType) < 0)
    return NULL;
  PyObject *m = PyModule_Create(&module_def);
  if (!m)
    return NULL;
  if (PyModule_AddFunctions(m, kp_op_methods) < 0 || PyModule_AddFunctions(m, extra_methods) < 0 ||
      kp_init_exceptions(m) < 0)
    goto fail;
  Py_INCREF(&kp_ContextType);
  if (PyModule_AddObject(m, "Context", (PyObject *)&kp_ContextType) < 0)
    goto fail;
  Py_INCREF(&kp_TensorType);
  if (PyModule_AddObject(m, "Tensor", (PyObject *)&kp_TensorType) < 0)
    goto fail;
  Py_INCREF(&kp_GraphType);
  if (PyModule_AddObject(m, "Graph", (PyObject *)&kp_GraphType) < 0)
    goto fail;
  Py_INCREF(&kp_TokenizerType);
  if (PyModule_AddObject(m, "Tokenizer", (PyObject *)&kp_TokenizerType) < 0)
    goto fail;
  Py_INCREF(&kp_EmbedderType);
  if (PyModule_AddObject(m, "Embedder", (PyObject *)&kp_EmbedderType) < 0)
    goto fail;
  if (PyModule_AddIntConstant(m, "MAX_DIMS", KILN_MAX_DIMS) < 0)
    goto fail;
  return m;
fail:
  Py_DECREF(m);
  return NULL;
}
