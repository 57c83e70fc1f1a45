/*
 * Marks for compute-sanitizer: memory a vendor library wrote in a way the
 * sanitizer does not observe, declared written through NVTX (header-only;
 * with no tool attached a call is one test of a function pointer).
 *
 * Why: on the H200, initcheck reported every read of a cuBLASLt f16/bf16
 * output by kiln's next kernel as a read of uninitialized memory (513,513
 * of them in test_embed), while the values were right: cuBLASLt's Hopper
 * kernels store in a way initcheck does not see. initcheck reads these
 * marks with --nvtx true (scripts/gpu_check.sh).
 */
#include "cuda_marks.h"

#include <nvtx3/nvToolsExtMemCudaRt.h>

void kiln_cuda_mark_written(cudaStream_t stream, const void *ptr, size_t bytes) {
  static const nvtxDomainHandle_t domain = nvtxDomainCreateA("kiln");
  if (bytes == 0)
    return;
  nvtxMemVirtualRangeDesc_t range;
  range.ptr = ptr;
  range.size = bytes;
  nvtxMemMarkInitializedBatch_t desc = {};
  desc.extCompatID = NVTX_EXT_COMPATID_MEM;
  desc.structSize = sizeof desc;
  desc.regionType = NVTX_MEM_TYPE_VIRTUAL_ADDRESS;
  desc.regionDescCount = 1;
  desc.regionDescElementSize = sizeof range;
  desc.regionDescElements = &range;
  nvtxMemCudaMarkInitialized(domain, stream, 0, &desc);
}
