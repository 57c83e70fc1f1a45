/* A progress line on stderr while `kiln bench` runs, only when stderr is a
 * terminal (a pipe or a log file gets the table alone). */
#ifndef KILN_TOOL_PROGRESS_H
#define KILN_TOOL_PROGRESS_H

#include <stddef.h>

/* Case i (1-based) of n, named name, is starting. */
void progress_start(size_t i, size_t n, const char *name);

/* One more op or sample of the current case is done; redraws the line with
 * the elapsed time at most a few times a second. */
void progress_tick(void);

/* Erases the line, before the case's table row is printed. */
void progress_clear(void);

#endif
