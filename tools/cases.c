/* Parsing bench/cases.tsv. Every field is checked, and an unknown op, dtype,
 * class or parameter stops the run: a typo must not silently drop a case or
 * benchmark something else than the PyTorch side does. */
/* readlink is POSIX, not C11. */
#define _POSIX_C_SOURCE 200809L

#include "cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { LINE_MAX_LEN = 1024, FIELDS = 6 };

static bool readable(const char *path) {
  FILE *f = fopen(path, "r");
  if (f)
    fclose(f);
  return f != NULL;
}

/* DIR/KILN_DATA_FROM_BIN/cases.tsv, DIR being the folder of the running
 * executable: an installed kiln finds the list under its own prefix,
 * wherever that prefix was put. */
static bool beside_executable(char *path, size_t len) {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0)
    return false;
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (!slash)
    return false;
  *slash = '\0';
  int written = snprintf(path, len, "%s/%s/cases.tsv", exe, KILN_DATA_FROM_BIN);
  return written > 0 && (size_t)written < len && readable(path);
}

const char *cases_default_path(void) {
  static char path[8192];
  const char *env = getenv("KILN_CASES");
  if (env && *env)
    return env;
  if (beside_executable(path, sizeof path))
    return path;
  /* A kiln run from its build folder reads the source tree's list. */
  if (readable(KILN_SOURCE_DIR "/bench/cases.tsv"))
    return KILN_SOURCE_DIR "/bench/cases.tsv";
  return NULL;
}

const char *case_op_name(bench_op op) {
  return op < BENCH_OP_COUNT ? op_specs[op].name : "?";
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
  for (bench_op o = 0; o < BENCH_OP_COUNT; o++)
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
  return c->ndim >= op_specs[c->op].min_dims && c->ndim <= op_specs[c->op].max_dims;
}

static bool param_fits(param_kind kind, double v) {
  switch (kind) {
  case KIND_FLAG: return v == 0 || v == 1;
  case KIND_POSITIVE: return v > 0;
  case KIND_COUNT: return v >= 1 && v <= 1e6 && v == (double)(int)v;
  }
  return false;
}

/* One key=value pair; a key the op does not take is an error, so a
 * misplaced key is caught. *given collects the keys seen. */
static bool parse_param(const char *key, const char *value, bench_case *c, unsigned *given) {
  char *end;
  double v = strtod(value, &end);
  if (end == value || *end)
    return false;
  for (param_id p = 0; p < PARAM_COUNT; p++)
    if (strcmp(key, param_specs[p].key) == 0) {
      if (!(op_specs[c->op].params & PARAM_BIT(p)) || !param_fits(param_specs[p].kind, v))
        return false;
      c->param[p] = (float)v;
      *given |= PARAM_BIT(p);
      return true;
    }
  return false;
}

static bool parse_params(const char *s, bench_case *c) {
  for (param_id p = 0; p < PARAM_COUNT; p++)
    c->param[p] = param_specs[p].fallback;
  snprintf(c->params, sizeof c->params, "%s", s);
  unsigned given = 0;
  char buf[sizeof c->params];
  snprintf(buf, sizeof buf, "%s", s);
  for (char *item = strcmp(s, "-") == 0 ? NULL : buf; item;) {
    char *next = strchr(item, ',');
    if (next)
      *next++ = '\0';
    char *eq = strchr(item, '=');
    if (!eq)
      return false;
    *eq = '\0';
    if (!parse_param(item, eq + 1, c, &given))
      return false;
    item = next;
  }
  unsigned required = op_specs[c->op].required;
  return (given & required) == required;
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

static const char *parse_line(char *line, bench_case *c, char *why, size_t why_len) {
  char *f[FIELDS];
  if (split_tabs(line, f) != FIELDS)
    return "expected 6 tab-separated fields: name op dtype shape params class";
  memset(c, 0, sizeof *c);
  if (strlen(f[0]) == 0 || strlen(f[0]) >= sizeof c->name)
    return "name is empty or too long";
  snprintf(c->name, sizeof c->name, "%s", f[0]);
  if (!parse_op(f[1], &c->op))
    return "unknown op (tools/ops.c lists them)";
  if (!parse_dtype(f[2], &c->dtype))
    return "dtype must be f32, f16 or bf16";
  if (!parse_shape(f[3], c)) {
    snprintf(why, why_len, "bad shape for %s: positive comma-separated dims, %s",
             op_specs[c->op].name, op_specs[c->op].shape_help);
    return why;
  }
  if (strlen(f[4]) >= sizeof c->params || !parse_params(f[4], c)) {
    snprintf(why, why_len, "bad params for %s: '-' or key=value,... of", op_specs[c->op].name);
    for (param_id p = 0; p < PARAM_COUNT; p++)
      if (op_specs[c->op].params & PARAM_BIT(p))
        snprintf(why + strlen(why), why_len - strlen(why), " %s%s", param_specs[p].key,
                 op_specs[c->op].required & PARAM_BIT(p) ? " (required)" : "");
    if (!op_specs[c->op].params)
      snprintf(why, why_len, "bad params for %s: it takes none, so '-'", op_specs[c->op].name);
    return why;
  }
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
  char detail[256];
  int lineno = 0;
  while (!why && fgets(line, sizeof line, f)) {
    lineno++;
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] == '#' || line[strspn(line, " \t")] == '\0')
      continue;
    bench_case c;
    why = parse_line(line, &c, detail, sizeof detail);
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
