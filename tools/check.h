/* One way to report a failed kiln call from the command line tool. */
#ifndef KILN_TOOL_CHECK_H
#define KILN_TOOL_CHECK_H

#include <kiln.h>
#include <stdbool.h>

/* True when s is KILN_OK; otherwise prints "kiln: STATUS: detail" to stderr,
 * the detail being kiln_last_error() (which names the function; WHAT is
 * added in front when it does not), and returns false. */
bool tool_ok(kiln_status s, const char *what);

/* A command line the tool does not understand: prints "kiln COMMAND: " (or
 * "kiln: " when COMMAND is NULL) and the formatted complaint on one line,
 * then USAGE, all to stderr. Returns 2, the exit status for a usage error. */
int tool_usage_error(const char *usage, const char *command, const char *fmt, ...);

#endif
