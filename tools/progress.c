/* The progress line: "[3/40] matmul_large_bf16  2.4 s". A large
 * case on a slow CPU runs for up to ten seconds before its row appears; the
 * line says which case it is and that it is moving. */
#define _POSIX_C_SOURCE 200809L

#include "progress.h"
#include "timing.h"

#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

static struct {
  bool on, shown;
  size_t i, n;
  const char *name;
  double start, drawn;
} line;

static void draw(double now) {
  fprintf(stderr, "\r\033[K[%zu/%zu] %s  %.1f s", line.i, line.n, line.name, now - line.start);
  fflush(stderr);
  line.drawn = now;
  line.shown = true;
}

void progress_start(size_t i, size_t n, const char *name) {
  static int tty = -1;
  if (tty < 0)
    tty = isatty(STDERR_FILENO);
  line.on = tty == 1;
  if (!line.on)
    return;
  line.i = i;
  line.n = n;
  line.name = name;
  line.start = now_seconds();
  draw(line.start);
}

void progress_tick(void) {
  if (!line.on)
    return;
  double now = now_seconds();
  if (now - line.drawn >= 0.25)
    draw(now);
}

void progress_clear(void) {
  if (line.on && line.shown)
    fputs("\r\033[K", stderr);
  line.on = line.shown = false;
}
