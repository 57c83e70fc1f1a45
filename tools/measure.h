/* Timing one case: the modes, and how each is measured (see measure.c). */
#ifndef KILN_TOOL_MEASURE_H
#define KILN_TOOL_MEASURE_H

#include "timing.h"
#include "workload.h"

#include <stdbool.h>

typedef enum bench_mode {
  MODE_BACK_TO_BACK, /* small: N ops issued back to back, one sync, per op */
  MODE_SYNCED,       /* small: one op then a sync, per op */
  MODE_GRAPH,        /* small: per op inside a replayed graph of GRAPH_OPS ops */
  MODE_LARGE,        /* large and gpu: one op then a sync */
  MODE_COUNT
} bench_mode;

typedef struct mode_result {
  bool present;
  stats us;            /* microseconds per op */
  long ops_per_sample; /* ops averaged into one sample */
} mode_result;

/* "back_to_back", "synced", "graph", "large": the JSON keys on both sides. */
const char *mode_name(bench_mode mode);

/* The mode a case is summarised by: back_to_back for small, else large. */
bench_mode primary_mode(const bench_case *c);

/* Fills the modes of w's class. --quick (quick = true) cuts repeats for a
 * smoke test; the method stays the same. */
kiln_status measure_case(workload *w, bool quick, mode_result modes[MODE_COUNT]);

#endif
