/* DLPack's stream handshake: a consumer's stream waits for the work on
 * ours through an event, so neither host thread blocks. */
#include "cuda_backend.h"

kiln_status kiln_cuda_stream_wait(void *state, void *stream) {
  kiln_cuda *st = (kiln_cuda *)state;
  const char *fn = "kiln_stream_wait";
  KILN_CUDA_TRY(kiln_cuda_enter(st, fn));
  if ((cudaStream_t)stream == st->stream)
    return KILN_OK; /* the same stream is already in order */
  cudaEvent_t ev;
  KILN_CUDA_TRY(kiln_cuda_check(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming), fn,
                                "cudaEventCreateWithFlags"));
  kiln_status s = kiln_cuda_check(cudaEventRecord(ev, st->stream), fn, "cudaEventRecord");
  if (s == KILN_OK)
    s = kiln_cuda_check(cudaStreamWaitEvent((cudaStream_t)stream, ev, 0), fn,
                        "cudaStreamWaitEvent");
  /* Destroying an event another stream waits on is allowed: the wait
   * keeps what it needs. */
  (void)cudaEventDestroy(ev);
  return s;
}
