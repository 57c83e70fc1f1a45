/* The benchmark case list, bench/cases.tsv: one line, one case, read the
 * same way by `kiln bench` and bench/torch_side.py. */
#ifndef KILN_TOOL_CASES_H
#define KILN_TOOL_CASES_H

#include <kiln.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum bench_op { BENCH_MATMUL, BENCH_SOFTMAX, BENCH_RMS_NORM } bench_op;

/* small: launch-bound; large: bandwidth or compute bound; gpu: like large,
 * but too slow to be worth running on a CPU. */
typedef enum bench_class { CLASS_SMALL, CLASS_LARGE, CLASS_GPU } bench_class;

typedef struct bench_case {
  char name[96];
  bench_op op;
  kiln_dtype dtype;
  int ndim;
  int64_t shape[KILN_MAX_DIMS]; /* matmul: M, N, K; otherwise the tensor's dims */
  char params[96];              /* as written in the file, for reports */
  int causal, transpose_b;
  float scale, eps;
  bench_class cls;
} bench_case;

typedef struct case_list {
  bench_case *items;
  size_t count;
} case_list;

/* The file to read when --cases is not given: $KILN_CASES, else the source
 * tree's bench/cases.tsv, else the installed copy. NULL when none exists. */
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
int64_t case_numel(const bench_case *c); /* elements of x (softmax, rms_norm) */
double case_bytes(const bench_case *c);  /* bytes read + written once */
double case_flops(const bench_case *c);  /* 2*M*N*K for matmul, else 0 */

#endif
