/* Products of dimensions, checked: the one place the library multiplies
 * sizes together, so no shape (an empty tensor's other dims may be as
 * large as int64_t allows) can overflow into undefined behaviour. */
#include "internal.h"

bool kiln_dims_product(const int64_t *dims, int n, int64_t *out) {
  for (int i = 0; i < n; i++)
    if (dims[i] == 0) { /* an empty product: the others do not matter */
      *out = 0;
      return true;
    }
  int64_t p = 1;
  for (int i = 0; i < n; i++) {
    if (dims[i] < 0 || p > INT64_MAX / dims[i])
      return false;
    p *= dims[i];
  }
  *out = p;
  return true;
}
