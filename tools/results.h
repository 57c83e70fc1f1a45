/* What bench keeps about each case, for the table, the JSON and the dump. */
#ifndef KILN_TOOL_RESULTS_H
#define KILN_TOOL_RESULTS_H

#include "cases.h"
#include "measure.h"

typedef enum case_state { CASE_DONE, CASE_SKIPPED, CASE_FAILED } case_state;

typedef struct case_result {
  const bench_case *c;
  case_state state;
  char note[512]; /* why skipped or failed */
  int sets;       /* tensor sets rotated through */
  mode_result modes[MODE_COUNT];
} case_result;

/* GB/s (bandwidth ops) or GFLOP/s (matmul, lora_linear) at the median of the primary
 * mode; *unit receives "GB/s" or "GFLOP/s". */
double result_rate(const case_result *r, const char **unit);

/* Prints the column titles, then one row per call. */
void table_header(void);
void table_row(const case_result *r);

/* After the rows: how many cases ran, were skipped and failed, and each
 * distinct reason for a skip with its count. */
void table_summary(const case_result *r, size_t n);

#endif
