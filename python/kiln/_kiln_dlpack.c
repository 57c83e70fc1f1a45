/*
 * The DLPack protocol of the Python array API: Tensor.__dlpack__ and
 * __dlpack_device__ export kiln memory as a capsule; _from_dlpack imports
 * another library's. The C library does the work (kiln.h's DLPack
 * section); this file speaks capsules: "dltensor" (legacy) and
 * "dltensor_versioned" (DLPack 1.x), renamed "used_..." by whoever
 * consumes them, so that exactly one side calls the deleter.
 */
#include "_kiln.h"

#include <string.h>

static const char LEGACY[] = "dltensor", VERSIONED[] = "dltensor_versioned";
static const char USED_LEGACY[] = "used_dltensor", USED_VERSIONED[] = "used_dltensor_versioned";

enum { DL_CPU = 1, DL_CUDA = 2 };

/* A capsule nobody consumed still owns its tensor: hand it back. */
static void legacy_capsule_destructor(PyObject *cap) {
  if (PyCapsule_IsValid(cap, LEGACY))
    kiln_dlpack_delete((struct DLManagedTensor *)PyCapsule_GetPointer(cap, LEGACY));
}

static void versioned_capsule_destructor(PyObject *cap) {
  if (PyCapsule_IsValid(cap, VERSIONED))
    kiln_dlpack_delete_versioned(
        (struct DLManagedTensorVersioned *)PyCapsule_GetPointer(cap, VERSIONED));
}

static PyObject *device_tuple(const TensorObject *t) {
  int cuda = kiln_context_device(t->ctx->ctx) == KILN_DEVICE_CUDA;
  return Py_BuildValue("(ii)", cuda ? DL_CUDA : DL_CPU, cuda ? t->ctx->index : 0);
}

PyObject *kp_tensor_dlpack_device(PyObject *self, PyObject *unused) {
  (void)unused;
  return device_tuple((TensorObject *)self);
}

/* The stream handshake: on CUDA the consumer's stream waits for kiln's
 * work. None is the legacy default stream (1), -1 asks for no ordering,
 * 0 is ambiguous and refused, as the protocol says. */
static int order_for_consumer(TensorObject *t, PyObject *stream) {
  if (kiln_context_device(t->ctx->ctx) != KILN_DEVICE_CUDA)
    return 0; /* CPU ops have finished when they return */
  long long handle = 1;
  if (stream != Py_None) {
    handle = PyLong_AsLongLong(stream);
    if (handle == -1 && PyErr_Occurred())
      return -1;
    if (handle == 0) {
      PyErr_SetString(PyExc_ValueError,
                      "kiln.Tensor.__dlpack__: stream 0 is ambiguous on CUDA; pass 1 (legacy "
                      "default), 2 (per-thread default) or a stream handle");
      return -1;
    }
    if (handle == -1)
      return 0;
  }
  kiln_status s = kiln_stream_wait(t->ctx->ctx, (void *)(intptr_t)handle);
  if (s != KILN_OK) {
    kp_raise(s);
    return -1;
  }
  return 0;
}

PyObject *kp_tensor_dlpack(PyObject *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"stream", "max_version", "dl_device", "copy", NULL};
  PyObject *stream = Py_None, *max_version = Py_None, *dl_device = Py_None, *copy = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|$OOOO:__dlpack__", kwlist, &stream, &max_version,
                                   &dl_device, &copy))
    return NULL;
  TensorObject *t = (TensorObject *)self;
  if (dl_device != Py_None) {
    PyObject *mine = device_tuple(t);
    int same = mine ? PyObject_RichCompareBool(mine, dl_device, Py_EQ) : -1;
    Py_XDECREF(mine);
    if (same < 0)
      return NULL;
    if (!same) {
      PyErr_Format(PyExc_BufferError,
                   "kiln.Tensor.__dlpack__: dl_device %R is not the tensor's device; kiln does "
                   "not copy between devices on export", dl_device);
      return NULL;
    }
  }
  if (copy != Py_None) {
    int c = PyObject_IsTrue(copy);
    if (c < 0)
      return NULL;
    if (c) {
      PyErr_SetString(PyExc_BufferError,
                      "kiln.Tensor.__dlpack__: copy=True: kiln exports without copying; copy on "
                      "the consumer's side, or use Tensor.numpy()");
      return NULL;
    }
  }
  int versioned = 0;
  if (max_version != Py_None) {
    if (!PyTuple_Check(max_version) || PyTuple_GET_SIZE(max_version) < 1) {
      PyErr_Format(PyExc_TypeError,
                   "kiln.Tensor.__dlpack__: max_version must be a (major, minor) tuple, not %R",
                   max_version);
      return NULL;
    }
    long major = PyLong_AsLong(PyTuple_GET_ITEM(max_version, 0));
    if (major == -1 && PyErr_Occurred())
      return NULL;
    versioned = major >= 1;
  }
  if (order_for_consumer(t, stream) < 0)
    return NULL;
  if (versioned) {
    struct DLManagedTensorVersioned *m = NULL;
    kiln_status s = kiln_tensor_to_dlpack_versioned(t->t, &m);
    if (s != KILN_OK)
      return kp_raise(s);
    PyObject *cap = PyCapsule_New(m, VERSIONED, versioned_capsule_destructor);
    if (!cap)
      kiln_dlpack_delete_versioned(m);
    return cap;
  }
  struct DLManagedTensor *m = NULL;
  kiln_status s = kiln_tensor_to_dlpack(t->t, &m);
  if (s != KILN_OK) {
    if (s == KILN_ERR_INVALID_ARGUMENT && kiln_tensor_is_readonly(t->t)) {
      /* The protocol's word for "cannot export this way". */
      PyErr_SetString(PyExc_BufferError, kiln_last_error());
      return NULL;
    }
    return kp_raise(s);
  }
  PyObject *cap = PyCapsule_New(m, LEGACY, legacy_capsule_destructor);
  if (!cap)
    kiln_dlpack_delete(m);
  return cap;
}

/* obj.__dlpack__(...), asking for a versioned capsule (and, on CUDA, for
 * the producer's work to be ordered before kiln's stream); a producer that
 * predates max_version is asked again without it. */
static PyObject *capsule_from(PyObject *obj, ContextObject *ctx) {
  PyObject *method = PyObject_GetAttrString(obj, "__dlpack__");
  if (!method) {
    PyErr_Clear();
    PyErr_Format(PyExc_TypeError,
                 "kiln.from_dlpack: %.100s has no __dlpack__ and is not a DLPack capsule",
                 Py_TYPE(obj)->tp_name);
    return NULL;
  }
  PyObject *kw = PyDict_New(), *empty = PyTuple_New(0), *cap = NULL;
  void *stream = kiln_context_stream(ctx->ctx);
  if (!kw || !empty)
    goto done;
  if (stream) {
    PyObject *s = PyLong_FromVoidPtr(stream);
    if (!s || PyDict_SetItemString(kw, "stream", s) < 0) {
      Py_XDECREF(s);
      goto done;
    }
    Py_DECREF(s);
  }
  PyObject *version = Py_BuildValue("(ii)", 1, 1);
  if (!version || PyDict_SetItemString(kw, "max_version", version) < 0) {
    Py_XDECREF(version);
    goto done;
  }
  Py_DECREF(version);
  cap = PyObject_Call(method, empty, kw);
  if (!cap && PyErr_ExceptionMatches(PyExc_TypeError)) {
    PyErr_Clear();
    if (PyDict_DelItemString(kw, "max_version") == 0)
      cap = PyObject_Call(method, empty, kw);
  }
done:
  Py_XDECREF(kw);
  Py_XDECREF(empty);
  Py_DECREF(method);
  return cap;
}

PyObject *kp_from_dlpack(PyObject *module, PyObject *args, PyObject *kwds) {
  (void)module;
  static char *kwlist[] = {"obj", "ctx", NULL};
  PyObject *obj;
  ContextObject *ctx;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO!:_from_dlpack", kwlist, &obj, &kp_ContextType,
                                   &ctx))
    return NULL;
  if (!ctx->ctx) {
    PyErr_SetString(PyExc_RuntimeError, "kiln.Context was not initialized");
    return NULL;
  }
  PyObject *cap;
  if (PyCapsule_CheckExact(obj)) {
    Py_INCREF(obj);
    cap = obj;
  } else {
    cap = capsule_from(obj, ctx);
    if (!cap)
      return NULL;
    if (!PyCapsule_CheckExact(cap)) {
      PyErr_Format(PyExc_TypeError, "kiln.from_dlpack: __dlpack__ returned %.100s, not a capsule",
                   Py_TYPE(cap)->tp_name);
      Py_DECREF(cap);
      return NULL;
    }
  }
  const char *name = PyCapsule_GetName(cap);
  kiln_tensor *t = NULL;
  kiln_status s;
  if (name && strcmp(name, VERSIONED) == 0) {
    s = kiln_tensor_from_dlpack_versioned(
        ctx->ctx, (struct DLManagedTensorVersioned *)PyCapsule_GetPointer(cap, VERSIONED), &t);
    if (s == KILN_OK)
      PyCapsule_SetName(cap, USED_VERSIONED);
  } else if (name && strcmp(name, LEGACY) == 0) {
    s = kiln_tensor_from_dlpack(ctx->ctx,
                                (struct DLManagedTensor *)PyCapsule_GetPointer(cap, LEGACY), &t);
    if (s == KILN_OK)
      PyCapsule_SetName(cap, USED_LEGACY);
  } else {
    PyErr_Format(PyExc_ValueError,
                 "kiln.from_dlpack: the capsule is named %s; a DLPack capsule not yet consumed "
                 "is named 'dltensor' or 'dltensor_versioned'", name ? name : "NULL");
    Py_DECREF(cap);
    return NULL;
  }
  /* Consumed: renamed, so its destructor leaves the tensor to kiln. Refused:
   * left as it was, so its destructor hands it back to the producer. */
  Py_DECREF(cap);
  if (s != KILN_OK)
    return kp_raise(s);
  return kp_tensor_wrap(ctx, t);
}
