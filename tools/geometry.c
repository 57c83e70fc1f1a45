/* A case's tensors, worked out from the role table of ops.c: their shapes
 * and dtypes, and the bytes and flops that rates are computed from. */
#include "cases.h"

const char *case_role_name(const bench_case *c, int role) {
  return role >= 0 && role < OP_MAX_ROLES ? op_specs[c->op].roles[role].name : NULL;
}

int64_t case_seq_len(const bench_case *c, int64_t b) {
  const int64_t s = c->shape[1];
  if (c->op != BENCH_ATTENTION_VARLEN)
    return s;
  int64_t lo = (int64_t)c->param[P_MINLEN];
  lo = lo < 1 ? 1 : lo > s ? s : lo;
  return lo + (b * 7919 + 13) % (s - lo + 1);
}

/* Attention's key count and key/value heads: the parameters, or S and H. */
static int64_t keys_of(const bench_case *c) {
  return c->param[P_SK] > 0 ? (int64_t)c->param[P_SK] : c->shape[1];
}

static int64_t kv_heads_of(const bench_case *c) {
  return c->param[P_HKV] > 0 ? (int64_t)c->param[P_HKV] : c->shape[2];
}

/* Keys attended by lq queries against lk keys, causal bottom-right. */
static int64_t pairs(int64_t lq, int64_t lk, bool causal) {
  if (!causal)
    return lq * lk;
  int64_t n = 0;
  for (int64_t i = 0; i < lq; i++) {
    int64_t visible = i + lk - lq + 1;
    n += visible < 0 ? 0 : visible > lk ? lk : visible;
  }
  return n;
}

static int64_t attention_dim(const bench_case *c, char letter) {
  const int64_t batch = c->shape[0];
  int64_t n = 0;
  switch (letter) {
  case 'k': return c->op == BENCH_ATTENTION_VARLEN ? c->shape[1] : keys_of(c);
  case 'h': return kv_heads_of(c);
  case '+': return batch + 1;
  case 'T':
    for (int64_t b = 0; b < batch; b++)
      n += case_seq_len(c, b);
    return n;
  case 'P':
    for (int64_t b = 0; b < batch; b++) {
      const int64_t lq = case_seq_len(c, b);
      n += pairs(lq, c->op == BENCH_ATTENTION_VARLEN ? lq : keys_of(c), c->param[P_CAUSAL] != 0);
    }
    return n;
  }
  return 0;
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
    } else if (*l == 'k' || *l == 'h' || *l == '+' || *l == 'T' || *l == 'P') {
      shape[n++] = attention_dim(c, *l);
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
  fill_kind f = op_specs[c->op].roles[role].fill;
  return f == FILL_IDS || f == FILL_CU ? KILN_I32 : c->dtype;
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
