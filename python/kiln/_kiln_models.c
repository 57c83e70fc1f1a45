/*
 * The model-level parts of kiln.h from Python: kiln.Tokenizer (the
 * WordPiece tokenizer of BERT-family encoders).
 */
#include "_kiln.h"

typedef struct {
  PyObject_HEAD
  kiln_tokenizer *tok;
} TokenizerObject;

static int Tokenizer_init(TokenizerObject *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"model_dir", NULL};
  PyObject *path;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O&:Tokenizer", kwlist, PyUnicode_FSConverter,
                                   &path))
    return -1;
  kiln_tokenizer *tok = NULL;
  kiln_status s = kiln_tokenizer_load(PyBytes_AS_STRING(path), &tok);
  Py_DECREF(path);
  if (s != KILN_OK) {
    kp_raise(s);
    return -1;
  }
  kiln_tokenizer_destroy(self->tok); /* __init__ called again */
  self->tok = tok;
  return 0;
}

static void Tokenizer_dealloc(TokenizerObject *self) {
  kiln_tokenizer_destroy(self->tok);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static int ready(const TokenizerObject *self) {
  if (self->tok)
    return 0;
  PyErr_SetString(PyExc_RuntimeError, "kiln.Tokenizer was not initialized");
  return -1;
}

static PyObject *Tokenizer_encode(TokenizerObject *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"text", "max_length", NULL};
  const char *text;
  Py_ssize_t len;
  long long max_length = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "s#|$L:encode", kwlist, &text, &len, &max_length) ||
      ready(self) < 0)
    return NULL;
  int64_t cap = max_length > 0 ? max_length : kiln_tokenizer_max_length(self->tok);
  if (cap < 2)
    cap = 2;
  int32_t stack[512], *ids = cap <= 512 ? stack : PyMem_Malloc((size_t)cap * sizeof *ids);
  if (!ids)
    return PyErr_NoMemory();
  int64_t n = 0;
  kiln_status s = kiln_tokenizer_encode(self->tok, text, (size_t)len, max_length, ids, cap, &n);
  PyObject *list = NULL;
  if (s != KILN_OK) {
    kp_raise(s);
  } else if ((list = PyList_New((Py_ssize_t)n))) {
    for (int64_t i = 0; i < n; i++) {
      PyObject *v = PyLong_FromLong(ids[i]);
      if (!v) {
        Py_CLEAR(list);
        break;
      }
      PyList_SET_ITEM(list, (Py_ssize_t)i, v);
    }
  }
  if (ids != stack)
    PyMem_Free(ids);
  return list;
}

static PyObject *Tokenizer_token_id(TokenizerObject *self, PyObject *arg) {
  const char *s = PyUnicode_AsUTF8(arg);
  if (!s || ready(self) < 0)
    return NULL;
  int32_t id = kiln_tokenizer_token_id(self->tok, s);
  if (id < 0)
    Py_RETURN_NONE;
  return PyLong_FromLong(id);
}

static PyObject *Tokenizer_token(TokenizerObject *self, PyObject *arg) {
  long id = PyLong_AsLong(arg);
  if ((id == -1 && PyErr_Occurred()) || ready(self) < 0)
    return NULL;
  const char *s = id >= INT32_MIN && id <= INT32_MAX ? kiln_tokenizer_token(self->tok, (int32_t)id)
                                                     : NULL;
  if (!s)
    Py_RETURN_NONE;
  return PyUnicode_FromString(s);
}

static PyObject *Tokenizer_get_vocab_size(TokenizerObject *self, void *c) {
  (void)c;
  return ready(self) < 0 ? NULL : PyLong_FromLongLong(kiln_tokenizer_vocab_size(self->tok));
}

static PyObject *Tokenizer_get_max_length(TokenizerObject *self, void *c) {
  (void)c;
  return ready(self) < 0 ? NULL : PyLong_FromLongLong(kiln_tokenizer_max_length(self->tok));
}

static PyMethodDef Tokenizer_methods[] = {
    {"encode", (PyCFunction)(void (*)(void))Tokenizer_encode, METH_VARARGS | METH_KEYWORDS,
     "encode(text: str | bytes, *, max_length=0) -> list[int]\n\n"
     "[CLS] pieces [SEP], cut to at most max_length ids (0: the model's maximum), the ids "
     "Hugging Face's fast tokenizer gives for the same files."},
    {"token_id", (PyCFunction)Tokenizer_token_id, METH_O,
     "token_id(token: str) -> int | None: the id of a vocabulary entry"},
    {"token", (PyCFunction)Tokenizer_token, METH_O,
     "token(id: int) -> str | None: the vocabulary entry of an id"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Tokenizer_getset[] = {
    {"vocab_size", (getter)Tokenizer_get_vocab_size, NULL, "entries of vocab.txt", NULL},
    {"max_length", (getter)Tokenizer_get_max_length, NULL,
     "the most ids one text gives, [CLS] and [SEP] included", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

PyTypeObject kp_TokenizerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kiln.Tokenizer",
    .tp_basicsize = sizeof(TokenizerObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Tokenizer(model_dir)\n\nThe WordPiece tokenizer of a BERT-family model folder "
              "(vocab.txt, and tokenizer_config.json etc. when present). Read-only once loaded.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Tokenizer_init,
    .tp_dealloc = (destructor)Tokenizer_dealloc,
    .tp_methods = Tokenizer_methods,
    .tp_getset = Tokenizer_getset,
};
