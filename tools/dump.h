/* `kiln bench --dump DIR`: the inputs and output of each case as raw files,
 * so that bench/agree.py can check kiln's results against a float64
 * reference. */
#ifndef KILN_TOOL_DUMP_H
#define KILN_TOOL_DUMP_H

#include "workload.h"

#include <stdbool.h>
#include <stdio.h>

/* Creates dir if needed and opens dir/manifest.tsv, writing its header;
 * NULL (after printing why) on failure. */
FILE *dump_open(const char *dir);

/* Runs w's op once on its first set and writes every tensor of that set to
 * dir/CASE.ROLE.bin (the tensor's dtype, little-endian, row-major), adding
 * one manifest line per file. */
bool dump_case(workload *w, const char *dir, FILE *manifest);

#endif
