/*
 * Choosing among a library's candidates (cuBLASLt algorithms, cuDNN
 * plans) by timing them on the call's own operands, once, when a plan is
 * built: vendors' heuristics rank candidates well but not always first.
 */
#ifndef KILN_CUDA_TUNE_CUH
#define KILN_CUDA_TUNE_CUH

#include <cuda_runtime.h>
#include <math.h>

namespace kiln_dev {

constexpr int TUNE_RUNS = 3;   /* back to back per timing */
constexpr int TUNE_ROUNDS = 2; /* interleaved, so no candidate is always timed first */
constexpr int TUNE_MAX = 8;    /* candidates at most */

/* The fastest of n candidates: run(i) enqueues candidate i once on stream
 * and says whether it could. Each is run once to warm up, then timed in
 * TUNE_ROUNDS rounds of TUNE_RUNS runs, its best round kept (ms[i], per
 * run; INFINITY for one that failed). n is at most TUNE_MAX. Returns 0
 * when nothing could be timed. Syncs the stream. */
template <class Run> int tune_fastest(int n, cudaStream_t stream, Run &&run, float *ms) {
  cudaEvent_t ev[2] = {nullptr, nullptr};
  bool events = cudaEventCreate(&ev[0]) == cudaSuccess && cudaEventCreate(&ev[1]) == cudaSuccess;
  bool ok[TUNE_MAX];
  n = n < TUNE_MAX ? n : TUNE_MAX;
  for (int i = 0; i < n; i++) {
    ms[i] = INFINITY;
    ok[i] = events && run(i);
  }
  for (int round = 0; round < TUNE_ROUNDS; round++)
    for (int i = 0; i < n; i++) {
      bool good = ok[i] && cudaEventRecord(ev[0], stream) == cudaSuccess;
      for (int r = 0; good && r < TUNE_RUNS; r++)
        good = run(i);
      float t = 0.0f;
      good = good && cudaEventRecord(ev[1], stream) == cudaSuccess &&
             cudaEventSynchronize(ev[1]) == cudaSuccess &&
             cudaEventElapsedTime(&t, ev[0], ev[1]) == cudaSuccess;
      ok[i] = good;
      if (good && t / TUNE_RUNS < ms[i])
        ms[i] = t / TUNE_RUNS;
    }
  for (cudaEvent_t e : ev)
    if (e)
      (void)cudaEventDestroy(e);
  (void)cudaGetLastError(); /* a failed event call is not the caller's error */
  int best = 0;
  for (int i = 1; i < n; i++)
    if (ms[i] < ms[best])
      best = i;
  return best;
}

} // namespace kiln_dev

#endif
