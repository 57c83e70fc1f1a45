/* Linked in place of the CUDA backend when the build has no CUDA compiler. */
#include "backend.h"

const kiln_backend *kiln_backend_cuda(void) { return 0; }
