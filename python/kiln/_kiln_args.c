/*
 * Argument parsing for the op functions, on the vectorcall convention
 * (METH_FASTCALL | METH_KEYWORDS): positional arguments arrive as an array
 * and keyword names as a tuple of (usually interned) strings, matched here
 * by pointer first. PyArg_ParseTupleAndKeywords looks every keyword up by
 * name in a dict instead, which made a call with out= cost several hundred
 * nanoseconds more than one without (BENCHMARKS.md).
 */
#include "_kiln.h"

#include <limits.h>

static int intern_names(kp_params *p) {
  int n = 0;
  while (p->names[n]) {
    if (n == KP_MAX_PARAMS) {
      PyErr_Format(PyExc_SystemError, "kiln.%s: too many parameters", p->fn);
      return -1;
    }
    p->interned[n] = PyUnicode_InternFromString(p->names[n]);
    if (!p->interned[n])
      return -1;
    n++;
  }
  p->count = n;
  return 0;
}

static int find_name(const kp_params *p, PyObject *key) {
  for (int j = 0; j < p->count; j++)
    if (p->interned[j] == key)
      return j;
  for (int j = 0; j < p->count; j++) /* a name built at run time, not interned */
    if (PyUnicode_Check(key) && PyUnicode_Compare(p->interned[j], key) == 0)
      return j;
  return -1;
}

int kp_parse(kp_params *p, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
             PyObject **slot) {
  if (!p->count && intern_names(p) < 0)
    return -1;
  for (int i = 0; i < p->count; i++)
    slot[i] = NULL;
  if (nargs > p->npos) {
    PyErr_Format(PyExc_TypeError, "kiln.%s() takes at most %d positional argument%s (%zd given); "
                 "the others are keyword-only", p->fn, p->npos, p->npos == 1 ? "" : "s", nargs);
    return -1;
  }
  for (Py_ssize_t i = 0; i < nargs; i++)
    slot[i] = args[i];
  Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  for (Py_ssize_t k = 0; k < nkw; k++) {
    PyObject *key = PyTuple_GET_ITEM(kwnames, k);
    int j = find_name(p, key);
    if (j < 0) {
      PyErr_Format(PyExc_TypeError, "kiln.%s() got an unexpected keyword argument '%S'", p->fn,
                   key);
      return -1;
    }
    if (slot[j]) {
      PyErr_Format(PyExc_TypeError, "kiln.%s() got multiple values for argument '%s'", p->fn,
                   p->names[j]);
      return -1;
    }
    slot[j] = args[nargs + k];
  }
  for (int i = 0; i < p->nreq; i++)
    if (!slot[i]) {
      PyErr_Format(PyExc_TypeError, "kiln.%s() missing required argument '%s' (pos %d)", p->fn,
                   p->names[i], i + 1);
      return -1;
    }
  return 0;
}

int kp_float(PyObject *o, float *v) {
  if (!o)
    return 0;
  double d = PyFloat_AsDouble(o);
  if (d == -1.0 && PyErr_Occurred())
    return -1;
  *v = (float)d;
  return 0;
}

int kp_bool(PyObject *o, int *v) {
  if (!o)
    return 0;
  int b = PyObject_IsTrue(o);
  if (b < 0)
    return -1;
  *v = b;
  return 0;
}

int kp_ll(PyObject *o, long long *v) {
  if (!o)
    return 0;
  long long x = PyLong_AsLongLong(o);
  if (x == -1 && PyErr_Occurred())
    return -1;
  *v = x;
  return 0;
}

int kp_int(PyObject *o, int *v) {
  long long x = *v;
  if (kp_ll(o, &x) < 0)
    return -1;
  if (x < INT_MIN || x > INT_MAX) {
    PyErr_SetString(PyExc_OverflowError, "kiln: an int argument is out of C int's range");
    return -1;
  }
  *v = (int)x;
  return 0;
}
