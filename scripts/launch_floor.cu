// The GPU's floor for small ops, measured in the same run as kiln's numbers:
// an empty kernel launched back to back from the host, launched and waited
// for, and replayed as nodes of a CUDA graph. Prints one line per mode and,
// with a file argument, writes the three numbers there as JSON.
//   nvcc -O3 -arch=sm_90 -o launch_floor launch_floor.cu && ./launch_floor floor.json
#include <chrono>
#include <cstdio>
#include <cuda_runtime.h>

#define CHECK(call)                                                                       \
  do {                                                                                    \
    cudaError_t err_ = (call);                                                            \
    if (err_ != cudaSuccess) {                                                            \
      std::fprintf(stderr, "%s: %s\n", #call, cudaGetErrorString(err_));                  \
      return 1;                                                                           \
    }                                                                                     \
  } while (0)

__global__ void empty_kernel() {}

static double seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int main(int argc, char **argv) {
  cudaStream_t stream;
  CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  const int warmup = 200, launches = 20000, synced = 2000, nodes = 500, replays = 40;

  for (int i = 0; i < warmup; i++)
    empty_kernel<<<1, 32, 0, stream>>>();
  CHECK(cudaStreamSynchronize(stream));

  // Back to back: the host's cost per launch once the queue is full.
  double t0 = seconds();
  for (int i = 0; i < launches; i++)
    empty_kernel<<<1, 32, 0, stream>>>();
  CHECK(cudaStreamSynchronize(stream));
  const double back_to_back = (seconds() - t0) / launches * 1e6;

  // Launch and wait: the best round trip.
  double best = 1e9;
  for (int i = 0; i < synced; i++) {
    double t = seconds();
    empty_kernel<<<1, 32, 0, stream>>>();
    CHECK(cudaStreamSynchronize(stream));
    double d = seconds() - t;
    best = d < best ? d : best;
  }
  const double launch_sync = best * 1e6;

  // In a graph: the cost per node of a replayed chain of empty kernels.
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < nodes; i++)
    empty_kernel<<<1, 32, 0, stream>>>();
  CHECK(cudaStreamEndCapture(stream, &graph));
  CHECK(cudaGraphInstantiate(&exec, graph, 0));
  CHECK(cudaGraphLaunch(exec, stream));
  CHECK(cudaStreamSynchronize(stream));
  t0 = seconds();
  for (int i = 0; i < replays; i++)
    CHECK(cudaGraphLaunch(exec, stream));
  CHECK(cudaStreamSynchronize(stream));
  const double per_node = (seconds() - t0) / ((double)replays * nodes) * 1e6;
  CHECK(cudaGraphExecDestroy(exec));
  CHECK(cudaGraphDestroy(graph));
  CHECK(cudaGetLastError());

  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("launch floor on %s: empty kernel back-to-back %.2f us/launch, "
              "launch+sync (min) %.2f us, in a graph %.2f us/node\n",
              prop.name, back_to_back, launch_sync, per_node);
  if (argc > 1) {
    FILE *f = std::fopen(argv[1], "w");
    if (!f)
      return 1;
    std::fprintf(f,
                 "{\"device\": \"%s\", \"empty_back_to_back_us\": %.3f, "
                 "\"empty_launch_sync_us\": %.3f, \"empty_graph_node_us\": %.3f}\n",
                 prop.name, back_to_back, launch_sync, per_node);
    std::fclose(f);
  }
  CHECK(cudaStreamDestroy(stream));
  return 0;
}
