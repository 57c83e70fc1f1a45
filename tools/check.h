/* One way to report a failed kiln call from the command line tool. */
#ifndef KILN_TOOL_CHECK_H
#define KILN_TOOL_CHECK_H

#include <kiln.h>
#include <stdbool.h>

/* True when s is KILN_OK; otherwise prints "kiln: WHAT: STATUS: detail" to
 * stderr, the detail being kiln_last_error(), and returns false. */
bool tool_ok(kiln_status s, const char *what);

#endif
