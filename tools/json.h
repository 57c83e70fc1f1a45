/* The --json output of `kiln bench`, read by bench/report.py. */
#ifndef KILN_TOOL_JSON_H
#define KILN_TOOL_JSON_H

#include "results.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct run_info {
  const char *device;      /* "cpu" or "cuda" */
  const char *description; /* kiln_context_describe() */
  const char *cases_path;
  const char *filter; /* may be NULL */
  bool quick;
} run_info;

/* Writes every number of every case to path; false (after printing why)
 * when the file cannot be written. */
bool json_write(const char *path, const run_info *info, const case_result *results, size_t n);

#endif
