/* A case's tensors, worked out from the role table of ops.c: their shapes
 * and dtypes, and the bytes and flops that rates are computed from. */
#include "cases.h"

const char *case_role_name(const bench_case *c, int role) {
  return role >= 0 && role < OP_MAX_ROLES ? op_specs[c->op].roles[role].name : NULL;
}

/* The dims a string of role_spec letters stands for; returns their count. */
static int eval_dims(const bench_case *c, const char *letters, int64_t shape[KILN_MAX_DIMS]) {
  int n = 0;
  for (const char *l = letters; *l && n < KILN_MAX_DIMS; l++) {
    if (*l == '*') {
      for (int i = 0; i < c->ndim && n < KILN_MAX_DIMS; i++)
        shape[n++] = c->shape[i];
    } else if (*l == 'L') {
      shape[n++] = c->shape[c->ndim - 1];
    } else if (*l == 'r') {
      shape[n++] = (int64_t)c->param[P_RANK];
    } else {
      int i = *l - '0';
      shape[n++] = i >= 0 && i < c->ndim ? c->shape[i] : 0;
    }
  }
  return n;
}

int case_role_shape(const bench_case *c, int role, int64_t shape[KILN_MAX_DIMS]) {
  if (!case_role_name(c, role))
    return 0;
  const role_spec *r = &op_specs[c->op].roles[role];
  return eval_dims(c, r->dims_tb && c->param[P_TB] != 0 ? r->dims_tb : r->dims, shape);
}

kiln_dtype case_role_dtype(const bench_case *c, int role) {
  return op_specs[c->op].roles[role].fill == FILL_IDS ? KILN_I32 : c->dtype;
}

static double product(const bench_case *c, const char *letters) {
  int64_t dims[KILN_MAX_DIMS];
  int n = eval_dims(c, letters, dims);
  double p = 1;
  for (int i = 0; i < n; i++)
    p *= (double)dims[i];
  return p;
}

double case_bytes(const bench_case *c) {
  double bytes = 0;
  for (int r = 0; case_role_name(c, r); r++) {
    const role_spec *s = &op_specs[c->op].roles[r];
    int64_t shape[KILN_MAX_DIMS];
    int n = case_role_shape(c, r, shape);
    double counted = s->counted ? product(c, s->counted) : 1;
    for (int i = 0; !s->counted && i < n; i++)
      counted *= (double)shape[i];
    bytes += counted * (double)kiln_dtype_size(case_role_dtype(c, r));
  }
  return bytes;
}

bool case_is_gemm(const bench_case *c) {
  return op_specs[c->op].flop_terms[0] != NULL;
}

double case_flops(const bench_case *c) {
  double flops = 0;
  for (int i = 0; i < OP_MAX_FLOP_TERMS && op_specs[c->op].flop_terms[i]; i++)
    flops += 2.0 * product(c, op_specs[c->op].flop_terms[i]);
  return flops;
}
