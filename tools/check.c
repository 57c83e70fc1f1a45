/* Failed kiln calls are printed with the library's own explanation, so a
 * benchmark that cannot run says why instead of printing nothing. */
#include "check.h"

#include <stdio.h>
#include <string.h>

bool tool_ok(kiln_status s, const char *what) {
  if (s == KILN_OK)
    return true;
  /* The library's messages already start with the function's name; naming
   * it again would print it twice. */
  const char *detail = kiln_last_error();
  size_t n = strlen(what);
  if (strncmp(detail, what, n) == 0 && detail[n] == ':')
    fprintf(stderr, "kiln: %s: %s\n", kiln_status_string(s), detail);
  else
    fprintf(stderr, "kiln: %s: %s: %s\n", what, kiln_status_string(s), detail);
  return false;
}
