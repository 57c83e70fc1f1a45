/* The row kernels for the baseline instruction set the library is built
 * for (see cpu_rows.h). */
#define CPU_ROWS_TABLE kiln_cpu_rows_base
#include "cpu_rows.h"
