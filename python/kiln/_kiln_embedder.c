/*
 * kiln.Embedder: sentence embeddings (kiln_embedder_*) from Python, texts
 * in, a float32 NumPy array out.
 */
#include "_kiln.h"

typedef struct {
  PyObject_HEAD
  kiln_embedder *e;
  ContextObject *ctx; /* strong: the embedder runs on it, so it goes first */
} EmbedderObject;

static int Embedder_init(EmbedderObject *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"model_dir", "ctx", "dtype", NULL};
  PyObject *path, *ctx_obj = Py_None, *dtype_obj = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|$OO:Embedder", kwlist, PyUnicode_FSConverter,
                                   &path, &ctx_obj, &dtype_obj))
    return -1;
  if (ctx_obj == Py_None) {
    PyObject *mod = PyImport_ImportModule("kiln");
    ctx_obj = mod ? PyObject_CallMethod(mod, "default_context", NULL) : NULL;
    Py_XDECREF(mod);
  } else {
    Py_INCREF(ctx_obj);
  }
  if (!ctx_obj || !PyObject_TypeCheck(ctx_obj, &kp_ContextType) ||
      !((ContextObject *)ctx_obj)->ctx) {
    if (ctx_obj && !PyErr_Occurred())
      PyErr_Format(PyExc_TypeError, "kiln.Embedder: ctx must be a kiln.Context, not %.100s",
                   Py_TYPE(ctx_obj)->tp_name);
    Py_XDECREF(ctx_obj);
    Py_DECREF(path);
    return -1;
  }
  ContextObject *ctx = (ContextObject *)ctx_obj;
  /* Like `kiln embed`: f16 on the GPU, f32 on the CPU, unless told. */
  kiln_dtype dtype = kiln_context_device(ctx->ctx) == KILN_DEVICE_CUDA ? KILN_F16 : KILN_F32;
  if (dtype_obj != Py_None && kp_parse_dtype(dtype_obj, &dtype) < 0) {
    Py_DECREF(ctx_obj);
    Py_DECREF(path);
    return -1;
  }
  kiln_embedder *e = NULL;
  kiln_status s = kiln_embedder_load(ctx->ctx, PyBytes_AS_STRING(path), dtype, &e);
  Py_DECREF(path);
  if (s != KILN_OK) {
    Py_DECREF(ctx_obj);
    kp_raise(s);
    return -1;
  }
  kiln_embedder_destroy(self->e); /* __init__ called again */
  Py_XDECREF(self->ctx);
  self->e = e;
  self->ctx = ctx;
  return 0;
}

static void Embedder_dealloc(EmbedderObject *self) {
  kiln_embedder_destroy(self->e);
  Py_XDECREF(self->ctx);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static int ready(const EmbedderObject *self) {
  if (self->e)
    return 0;
  PyErr_SetString(PyExc_RuntimeError, "kiln.Embedder was not initialized");
  return -1;
}

/* encode(texts): a str gives [dim], a sequence of str [n, dim]. */
static PyObject *Embedder_encode(EmbedderObject *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"texts", NULL};
  PyObject *texts;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O:encode", kwlist, &texts) || ready(self) < 0)
    return NULL;
  int single = PyUnicode_Check(texts);
  PyObject *seq = single ? PyTuple_Pack(1, texts)
                         : PySequence_Fast(texts, "kiln.Embedder.encode: texts must be a str or "
                                                  "a sequence of str");
  if (!seq)
    return NULL;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  int64_t dim = kiln_embedder_dim(self->e);
  PyObject *np = PyImport_ImportModule("numpy"), *out = NULL;
  const char **ptrs = PyMem_Calloc((size_t)n + 1, sizeof *ptrs);
  size_t *lens = PyMem_Calloc((size_t)n + 1, sizeof *lens);
  if (!np || !ptrs || !lens) {
    if (!PyErr_Occurred())
      PyErr_NoMemory();
    goto done;
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *t = PySequence_Fast_GET_ITEM(seq, i);
    Py_ssize_t len;
    if (!PyUnicode_Check(t)) {
      PyErr_Format(PyExc_TypeError, "kiln.Embedder.encode: texts[%zd] is %.100s, not str", i,
                   Py_TYPE(t)->tp_name);
      goto done;
    }
    /* UTF-8 cached in the str, valid while seq holds it. */
    ptrs[i] = PyUnicode_AsUTF8AndSize(t, &len);
    if (!ptrs[i])
      goto done;
    lens[i] = (size_t)len;
  }
  out = PyObject_CallMethod(np, "empty", "((nL)s)", n, (long long)dim, "float32");
  if (!out || n == 0)
    goto done;
  Py_buffer view;
  if (PyObject_GetBuffer(out, &view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
    Py_CLEAR(out);
    goto done;
  }
  kiln_status s = kiln_embedder_encode(self->e, ptrs, lens, (int64_t)n, (float *)view.buf);
  PyBuffer_Release(&view);
  if (s != KILN_OK) {
    Py_CLEAR(out);
    kp_raise(s);
    goto done;
  }
  if (single) {
    PyObject *row = PySequence_GetItem(out, 0);
    Py_SETREF(out, row);
  }
done:
  PyMem_Free(ptrs);
  PyMem_Free(lens);
  Py_XDECREF(np);
  Py_DECREF(seq);
  return out;
}

static PyObject *Embedder_get_dim(EmbedderObject *self, void *c) {
  (void)c;
  return ready(self) < 0 ? NULL : PyLong_FromLongLong(kiln_embedder_dim(self->e));
}

static PyObject *Embedder_get_max_length(EmbedderObject *self, void *c) {
  (void)c;
  return ready(self) < 0 ? NULL : PyLong_FromLongLong(kiln_embedder_max_length(self->e));
}

static PyObject *Embedder_get_last_tokens(EmbedderObject *self, void *c) {
  (void)c;
  return ready(self) < 0 ? NULL : PyLong_FromLongLong(kiln_embedder_last_tokens(self->e));
}

static PyObject *Embedder_get_context(EmbedderObject *self, void *c) {
  (void)c;
  if (ready(self) < 0)
    return NULL;
  Py_INCREF(self->ctx);
  return (PyObject *)self->ctx;
}

static PyMethodDef Embedder_methods[] = {
    {"encode", (PyCFunction)(void (*)(void))Embedder_encode, METH_VARARGS | METH_KEYWORDS,
     "encode(texts: str | Sequence[str]) -> numpy.ndarray\n\n"
     "L2-normalized mean-pooled sentence embeddings, float32: [dim] for one str, [n, dim] for "
     "a sequence (rows in input order). Texts longer than max_length tokens are truncated."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Embedder_getset[] = {
    {"dim", (getter)Embedder_get_dim, NULL, "length of each vector (hidden_size)", NULL},
    {"max_length", (getter)Embedder_get_max_length, NULL,
     "the most tokens one text gives; longer texts are truncated", NULL},
    {"last_tokens", (getter)Embedder_get_last_tokens, NULL,
     "tokens the last encode ran through the model", NULL},
    {"context", (getter)Embedder_get_context, NULL, "the kiln.Context it runs on", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

PyTypeObject kp_EmbedderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kiln.Embedder",
    .tp_basicsize = sizeof(EmbedderObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Embedder(model_dir, *, ctx=None, dtype=None)\n\n"
              "A BERT-family sentence encoder (all-MiniLM-L6-v2 and its kin) on kiln's ops. "
              "ctx: default kiln.default_context(); dtype: default f16 on the GPU, f32 on the "
              "CPU. It holds its context alive and uses it (one thread at a time).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Embedder_init,
    .tp_dealloc = (destructor)Embedder_dealloc,
    .tp_methods = Embedder_methods,
    .tp_getset = Embedder_getset,
};
