/* Failed kiln calls are printed with the library's own explanation, so a
 * benchmark that cannot run says why instead of printing nothing. */
#include "check.h"

#include <stdio.h>

bool tool_ok(kiln_status s, const char *what) {
  if (s == KILN_OK)
    return true;
  fprintf(stderr, "kiln: %s: %s: %s\n", what, kiln_status_string(s), kiln_last_error());
  return false;
}
