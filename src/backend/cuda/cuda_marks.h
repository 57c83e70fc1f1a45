/* Marks for compute-sanitizer (cuda_marks.cu). */
#ifndef KILN_CUDA_MARKS_H
#define KILN_CUDA_MARKS_H

#include <cuda_runtime.h>
#include <stddef.h>

/* Tells compute-sanitizer that [ptr, ptr + bytes) was written by work on
 * stream that it cannot observe (a vendor library's kernels). */
void kiln_cuda_mark_written(cudaStream_t stream, const void *ptr, size_t bytes);

#endif /* KILN_CUDA_MARKS_H */
