/* The benchmark case list, bench/cases.tsv: one line, one case, read the
 * same way by `kiln bench` and bench/torch_side.py. */
#ifndef KILN_TOOL_CASES_H
#define KILN_TOOL_CASES_H

#include "ops.h"

#include <kiln.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* small: launch-bound; large: bandwidth or compute bound; gpu: like large,
 * but too slow to be worth running on a CPU. */
typedef enum bench_class { CLASS_SMALL, CLASS_LARGE, CLASS_GPU } bench_class;

typedef struct bench_case {
  char name[96];
  bench_op op;
  kiln_dtype dtype;
  int ndim;
  int64_t shape[KILN_MAX_DIMS]; /* as written; op_specs says what each dim is */
  char params[96];              /* as written in the file, for reports */
  float param[PARAM_COUNT];     /* every key, its fallback where not given */
  bench_class cls;
} bench_case;

typedef struct case_list {
  bench_case *items;
  size_t count;
} case_list;

/* The file to read when --cases is not given: $KILN_CASES, else the copy
 * installed under the executable's own prefix (../share/kiln/cases.tsv),
 * else the source tree's bench/cases.tsv (a kiln run from its build folder).
 * NULL when none exists. */
const char *cases_default_path(void);

/* Reads every case of path into *list. On a malformed line prints
 * "path:line: why" and returns false (nothing to free then). */
bool cases_load(const char *path, case_list *list);
void cases_free(case_list *list);

/* NULL or "" matches every case; otherwise a substring of the name or the
 * class ("small" selects every small case). */
bool case_matches(const bench_case *c, const char *filter);

const char *case_op_name(bench_op op);
const char *case_class_name(bench_class cls);

/* The case's tensors (geometry.c), from the role table of ops.c. */
const char *case_role_name(const bench_case *c, int role); /* NULL past the last */
int case_role_shape(const bench_case *c, int role, int64_t shape[KILN_MAX_DIMS]); /* ndim */
kiln_dtype case_role_dtype(const bench_case *c, int role);
bool case_is_gemm(const bench_case *c); /* rated in GFLOP/s rather than GB/s */
double case_bytes(const bench_case *c); /* every input read and output written once */
double case_flops(const bench_case *c); /* 0 for a bandwidth op */
/* Tokens of sequence b of an attention case: S, or for attention_varlen
 * minlen + (7919 b + 13) mod (S - minlen + 1) (bench/torch_cases.py has the
 * same formula). */
int64_t case_seq_len(const bench_case *c, int64_t b);

#endif
