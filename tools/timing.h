/* Wall clock and the summary statistics every benchmark mode reports. */
#ifndef KILN_TOOL_TIMING_H
#define KILN_TOOL_TIMING_H

/* Seconds on CLOCK_MONOTONIC: immune to clock adjustments. */
double now_seconds(void);

typedef struct stats {
  double median, min, max;
  int count;
} stats;

/* Median, min and max of n > 0 samples; sorts the samples in place. */
stats stats_of(double *samples, int n);

#endif
