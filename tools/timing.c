/* clock_gettime is POSIX, not C11: ask for it explicitly. */
#define _POSIX_C_SOURCE 200809L

#include "timing.h"

#include <stdlib.h>
#include <time.h>

double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int compare_doubles(const void *pa, const void *pb) {
  double a = *(const double *)pa, b = *(const double *)pb;
  return (a > b) - (a < b);
}

stats stats_of(double *samples, int n) {
  qsort(samples, (size_t)n, sizeof *samples, compare_doubles);
  /* Even counts take the mean of the middle two, as Python's statistics.median
   * does, so both sides of a comparison summarise alike. */
  double median = n % 2 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
  return (stats){.median = median, .min = samples[0], .max = samples[n - 1], .count = n};
}
