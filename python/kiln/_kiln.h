/* The binding's shared declarations: object layouts and helpers used by
 * _kiln_core.c (types, exceptions), _kiln_ops.c (op functions),
 * _kiln_dlpack.c (capsules) and _kiln_module.c (the module). */
#ifndef KILN_PY_KILN_H
#define KILN_PY_KILN_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "kiln.h"

typedef struct GraphObject GraphObject;

typedef struct {
  PyObject_HEAD
  kiln_context *ctx;
  int index;            /* the device index (0 on the CPU) */
  GraphObject *capture; /* the graph capturing on this context (borrowed), or NULL */
} ContextObject;

typedef struct {
  PyObject_HEAD
  kiln_tensor *t;
  ContextObject *ctx; /* strong: a tensor keeps its context alive */
} TensorObject;

enum { KP_GRAPH_NEW, KP_GRAPH_CAPTURING, KP_GRAPH_READY, KP_GRAPH_FAILED };

struct GraphObject {
  PyObject_HEAD
  ContextObject *ctx;
  kiln_graph *graph;
  int state;
  PyObject *keep; /* list of every tensor an op recorded into the graph */
};

extern PyTypeObject kp_ContextType, kp_TensorType, kp_GraphType, kp_TokenizerType,
    kp_EmbedderType;
extern PyObject *kp_error_base;

#define KP_IS_TENSOR(o) (Py_TYPE(o) == &kp_TensorType)

int kp_init_exceptions(PyObject *m);
/* Raise the exception of status s with kiln_last_error(); return NULL. */
PyObject *kp_raise(kiln_status s);
/* None when s is KILN_OK, else kp_raise(s). */
PyObject *kp_none_or_raise(kiln_status s);
/* Raise the exception class of s with a message of the binding's own. */
PyObject *kp_raise_msg(kiln_status s, const char *fmt, ...);

int kp_parse_dtype(PyObject *o, kiln_dtype *out);
PyObject *kp_dtype_str(kiln_dtype d);

/* A new Python tensor owning t (destroyed on failure). */
PyObject *kp_tensor_wrap(ContextObject *ctx, kiln_tensor *t);
/* A new uninitialized tensor on ctx. */
PyObject *kp_tensor_new(ContextObject *ctx, kiln_dtype dtype, int ndim, const int64_t *shape);

int kp_graph_keep(GraphObject *g, PyObject *const *objs, int n);

/* DLPack (_kiln_dlpack.c). */
PyObject *kp_tensor_dlpack(PyObject *self, PyObject *args, PyObject *kw);
PyObject *kp_tensor_dlpack_device(PyObject *self, PyObject *unused);
PyObject *kp_from_dlpack(PyObject *module, PyObject *args, PyObject *kw);

/* Vectorcall argument parsing (_kiln_args.c). A function's parameters:
 * names (NULL-terminated), the first npos of which may come positionally,
 * the first nreq of which are required; the rest keyword-only. kp_parse
 * fills slot[i] with a borrowed reference, or NULL when not given. */
#define KP_MAX_PARAMS 16
typedef struct kp_params {
  const char *fn;
  const char *const *names;
  int npos, nreq;
  int count; /* 0 until the names are interned, on first use */
  PyObject *interned[KP_MAX_PARAMS];
} kp_params;
int kp_parse(kp_params *p, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
             PyObject **slot);
/* Convert a slot when given (o non-NULL); leave *v (its default) otherwise. */
int kp_float(PyObject *o, float *v);
int kp_bool(PyObject *o, int *v);
int kp_int(PyObject *o, int *v);
int kp_ll(PyObject *o, long long *v);

/* The op functions (_kiln_ops.c), for the module's method table. */
extern PyMethodDef kp_op_methods[];

#endif /* KILN_PY_KILN_H */
