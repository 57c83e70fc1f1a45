/*
 * Graph capture on the context's stream: ops between begin and end are
 * recorded into a CUDA graph, instantiated once at end and replayed with a
 * single cudaGraphLaunch.
 *
 * Capture mode: cudaStreamCaptureModeThreadLocal. Global would make a
 * capture on one context break unrelated CUDA calls made meanwhile by
 * other threads (another kiln context, the application), which kiln's
 * contract allows to run in parallel; Relaxed would let this thread's own
 * unsafe calls through silently. ThreadLocal guards this thread only. Its
 * cost: end must be called from the thread that called begin.
 *
 * Nothing in the capture may allocate or free: the core refuses tensor
 * creation while capturing, and tensor frees asked for meanwhile are held
 * back until the capture ends (cuda_backend.cu).
 */
#include "cuda_backend.h"

#include <stdlib.h>

struct kiln_backend_graph {
  cudaGraphExec_t exec; /* NULL: nothing was captured, a replay does nothing */
};

kiln_status kiln_cuda_graph_begin(void *state) {
  kiln_cuda *st = (kiln_cuda *)state;
  const char *fn = "kiln_graph_begin";
  KILN_CUDA_TRY(kiln_cuda_enter(st, fn));
  KILN_CUDA_TRY(kiln_cuda_check(
      cudaStreamBeginCapture(st->stream, cudaStreamCaptureModeThreadLocal), fn,
      "cudaStreamBeginCapture"));
  st->capturing = true;
  return KILN_OK;
}

/* An executable graph of g, uploaded so the first replay does not pay for
 * it; *exec stays NULL for an empty graph. */
static kiln_status instantiate(kiln_cuda *st, cudaGraph_t g, cudaGraphExec_t *exec) {
  const char *fn = "kiln_graph_end";
  size_t nodes = 0;
  KILN_CUDA_TRY(kiln_cuda_check(cudaGraphGetNodes(g, NULL, &nodes), fn, "cudaGraphGetNodes"));
  if (nodes == 0)
    return KILN_OK;
  KILN_CUDA_TRY(kiln_cuda_check(cudaGraphInstantiate(exec, g, 0), fn, "cudaGraphInstantiate"));
  kiln_status s = kiln_cuda_check(cudaGraphUpload(*exec, st->stream), fn, "cudaGraphUpload");
  if (s != KILN_OK) {
    (void)cudaGraphExecDestroy(*exec);
    *exec = NULL;
  }
  return s;
}

kiln_status kiln_cuda_graph_end(void *state, kiln_backend_graph **graph) {
  kiln_cuda *st = (kiln_cuda *)state;
  const char *fn = "kiln_graph_end";
  *graph = NULL;
  KILN_CUDA_TRY(kiln_cuda_enter(st, fn));
  cudaGraph_t g = NULL;
  /* The capture ends here whether or not it succeeded (an invalidated
   * capture returns an error and no graph). */
  cudaError_t err = cudaStreamEndCapture(st->stream, &g);
  st->capturing = false;
  kiln_cuda_release_deferred(st);
  kiln_status s = kiln_cuda_check(err, fn, "cudaStreamEndCapture");
  cudaGraphExec_t exec = NULL;
  if (s == KILN_OK)
    s = instantiate(st, g, &exec);
  if (g)
    (void)cudaGraphDestroy(g); /* the executable graph keeps what it needs */
  if (s != KILN_OK)
    return s;
  kiln_backend_graph *out = (kiln_backend_graph *)malloc(sizeof *out);
  if (!out) {
    if (exec)
      (void)cudaGraphExecDestroy(exec);
    return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "%s: out of host memory", fn);
  }
  out->exec = exec;
  *graph = out;
  return KILN_OK;
}

kiln_status kiln_cuda_graph_run(void *state, kiln_backend_graph *graph) {
  kiln_cuda *st = (kiln_cuda *)state;
  const char *fn = "kiln_graph_run";
  if (!graph->exec)
    return KILN_OK;
  KILN_CUDA_TRY(kiln_cuda_enter(st, fn));
  return kiln_cuda_check(cudaGraphLaunch(graph->exec, st->stream), fn, "cudaGraphLaunch");
}

void kiln_cuda_graph_destroy(void *state, kiln_backend_graph *graph) {
  kiln_cuda *st = (kiln_cuda *)state;
  if (!graph)
    return;
  (void)kiln_cuda_enter(st, "kiln_graph_destroy");
  /* Safe while a replay is still running: the driver frees it afterwards. */
  if (graph->exec && cudaGraphExecDestroy(graph->exec) != cudaSuccess)
    (void)cudaGetLastError();
  free(graph);
}
