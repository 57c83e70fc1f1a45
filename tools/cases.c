/* Parsing bench/cases.tsv. Every field is checked, and an unknown op, dtype,
 * class or parameter stops the run: a typo must not silently drop a case or
 * benchmark something else than the PyTorch side does. */
#include "cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { LINE_MAX_LEN = 1024, FIELDS = 6 };

const char *cases_default_path(void) {
  static char path[4096];
  const char *env = getenv("KILN_CASES");
  if (env && *env)
    return env;
  const char *candidates[] = {KILN_SOURCE_DIR "/bench/cases.tsv", KILN_DATA_DIR "/cases.tsv"};
  for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++) {
    FILE *f = fopen(candidates[i], "r");
    if (f) {
      fclose(f);
      snprintf(path, sizeof path, "%s", candidates[i]);
      return path;
    }
  }
  return NULL;
}

const char *case_op_name(bench_op op) {
  switch (op) {
  case BENCH_MATMUL: return "matmul";
  case BENCH_SOFTMAX: return "softmax";
  case BENCH_RMS_NORM: return "rms_norm";
  }
  return "?";
}

const char *case_class_name(bench_class cls) {
  switch (cls) {
  case CLASS_SMALL: return "small";
  case CLASS_LARGE: return "large";
  case CLASS_GPU: return "gpu";
  }
  return "?";
}

static bool parse_op(const char *s, bench_op *op) {
  for (bench_op o = BENCH_MATMUL; o <= BENCH_RMS_NORM; o++)
    if (strcmp(s, case_op_name(o)) == 0) {
      *op = o;
      return true;
    }
  return false;
}

static bool parse_class(const char *s, bench_class *cls) {
  for (bench_class c = CLASS_SMALL; c <= CLASS_GPU; c++)
    if (strcmp(s, case_class_name(c)) == 0) {
      *cls = c;
      return true;
    }
  return false;
}

static bool parse_dtype(const char *s, kiln_dtype *dtype) {
  const kiln_dtype all[] = {KILN_F32, KILN_F16, KILN_BF16};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++)
    if (strcmp(s, kiln_dtype_name(all[i])) == 0) {
      *dtype = all[i];
      return true;
    }
  return false;
}

static bool parse_shape(const char *s, bench_case *c) {
  c->ndim = 0;
  while (*s) {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || v <= 0 || c->ndim == KILN_MAX_DIMS || (*end && *end != ','))
      return false;
    c->shape[c->ndim++] = v;
    s = *end ? end + 1 : end;
  }
  return c->op == BENCH_MATMUL ? c->ndim == 3 : c->ndim >= 1;
}

/* One key=value pair; each key belongs to one op, so a misplaced key is caught. */
static bool parse_param(const char *key, const char *value, bench_case *c) {
  char *end;
  double v = strtod(value, &end);
  if (end == value || *end || v < 0)
    return false;
  if (strcmp(key, "causal") == 0 && c->op == BENCH_SOFTMAX && (v == 0 || v == 1))
    c->causal = (int)v;
  else if (strcmp(key, "scale") == 0 && c->op == BENCH_SOFTMAX && v > 0)
    c->scale = (float)v;
  else if (strcmp(key, "tb") == 0 && c->op == BENCH_MATMUL && (v == 0 || v == 1))
    c->transpose_b = (int)v;
  else if (strcmp(key, "eps") == 0 && c->op == BENCH_RMS_NORM && v > 0)
    c->eps = (float)v;
  else
    return false;
  return true;
}

static bool parse_params(const char *s, bench_case *c) {
  c->scale = 1.0f;
  c->eps = 1e-5f; /* PyTorch's usual RMSNorm eps; torch_side.py uses the same default */
  snprintf(c->params, sizeof c->params, "%s", s);
  if (strcmp(s, "-") == 0)
    return true;
  char buf[sizeof c->params];
  snprintf(buf, sizeof buf, "%s", s);
  for (char *item = buf; item;) {
    char *next = strchr(item, ',');
    if (next)
      *next++ = '\0';
    char *eq = strchr(item, '=');
    if (!eq)
      return false;
    *eq = '\0';
    if (!parse_param(item, eq + 1, c))
      return false;
    item = next;
  }
  return true;
}

/* Splits line on tabs in place; returns the number of fields found. */
static int split_tabs(char *line, char *fields[FIELDS]) {
  int n = 0;
  for (char *p = line; p && n < FIELDS + 1; n++) {
    if (n < FIELDS)
      fields[n] = p;
    p = strchr(p, '\t');
    if (p)
      *p++ = '\0';
  }
  return n;
}

static const char *parse_line(char *line, bench_case *c) {
  char *f[FIELDS];
  if (split_tabs(line, f) != FIELDS)
    return "expected 6 tab-separated fields: name op dtype shape params class";
  memset(c, 0, sizeof *c);
  if (strlen(f[0]) == 0 || strlen(f[0]) >= sizeof c->name)
    return "name is empty or too long";
  snprintf(c->name, sizeof c->name, "%s", f[0]);
  if (!parse_op(f[1], &c->op))
    return "op must be matmul, softmax or rms_norm";
  if (!parse_dtype(f[2], &c->dtype))
    return "dtype must be f32, f16 or bf16";
  if (!parse_shape(f[3], c))
    return "bad shape: positive comma-separated dims (matmul: M,N,K)";
  if (strlen(f[4]) >= sizeof c->params || !parse_params(f[4], c))
    return "bad params: '-' or key=value,... (softmax: causal, scale; matmul: tb; rms_norm: eps)";
  if (!parse_class(f[5], &c->cls))
    return "class must be small, large or gpu";
  return NULL;
}

static bool is_duplicate(const case_list *list, const char *name) {
  for (size_t i = 0; i < list->count; i++)
    if (strcmp(list->items[i].name, name) == 0)
      return true;
  return false;
}

static bool append(case_list *list, const bench_case *c) {
  bench_case *grown = realloc(list->items, (list->count + 1) * sizeof *grown);
  if (!grown)
    return false;
  list->items = grown;
  list->items[list->count++] = *c;
  return true;
}

bool cases_load(const char *path, case_list *list) {
  *list = (case_list){0};
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "kiln: cannot open %s\n", path);
    return false;
  }
  char line[LINE_MAX_LEN];
  const char *why = NULL;
  int lineno = 0;
  while (!why && fgets(line, sizeof line, f)) {
    lineno++;
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] == '#' || line[strspn(line, " \t")] == '\0')
      continue;
    bench_case c;
    why = parse_line(line, &c);
    if (!why && is_duplicate(list, c.name))
      why = "a case of this name comes earlier";
    if (!why && !append(list, &c))
      why = "out of memory";
  }
  fclose(f);
  if (why) {
    fprintf(stderr, "kiln: %s:%d: %s\n", path, lineno, why);
    cases_free(list);
    return false;
  }
  return true;
}

void cases_free(case_list *list) {
  free(list->items);
  *list = (case_list){0};
}

bool case_matches(const bench_case *c, const char *filter) {
  return !filter || !*filter || strstr(c->name, filter) ||
         strstr(case_class_name(c->cls), filter);
}

int64_t case_numel(const bench_case *c) {
  int64_t n = 1;
  for (int i = 0; i < c->ndim; i++)
    n *= c->shape[i];
  return n;
}

double case_bytes(const bench_case *c) {
  double size = (double)kiln_dtype_size(c->dtype);
  if (c->op == BENCH_MATMUL) {
    double m = (double)c->shape[0], n = (double)c->shape[1], k = (double)c->shape[2];
    return size * (m * k + k * n + m * n);
  }
  double bytes = 2.0 * (double)case_numel(c) * size;
  if (c->op == BENCH_RMS_NORM)
    bytes += (double)c->shape[c->ndim - 1] * size; /* the weight */
  return bytes;
}

double case_flops(const bench_case *c) {
  if (c->op != BENCH_MATMUL)
    return 0;
  return 2.0 * (double)c->shape[0] * (double)c->shape[1] * (double)c->shape[2];
}
