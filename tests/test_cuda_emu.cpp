// test_cuda_emu.cpp — the emulated CUDA device (engine/cuda_emu) is as strict as a GPU: launch
// limits, pointer arguments, copy directions and bounds, poisoned shared memory, barriers that
// matter, shuffled block order, deferred asynchronous copies, and a fault when host code touches
// device memory. Only built into the emulated build (-DSGSF_CUDA_EMULATION=ON); elsewhere this
// file has no test cases.
#include "tests/test_util.h"

#ifdef SGSF_CUDA_EMULATION
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "engine/cuda_check.h"

using namespace sg;

namespace {

constexpr int kThreads = 256;

__global__ void write_index(int* out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = i;
}

// out[i] = in[i + 1] of the block's tile, through shared memory: needs the barrier.
template <bool kBarrier>
__global__ void shift_left(const float* in, float* out) {
  __shared__ float tile[kThreads];
  int t = threadIdx.x, base = blockIdx.x * kThreads;
  tile[t] = in[base + t];
  if (kBarrier) __syncthreads();
  out[base + t] = tile[(t + 1) % kThreads];
}

// Reads shared memory nobody wrote: the poison.
__global__ void read_unwritten_shared(float* out) {
  __shared__ float never_written[4];
  out[threadIdx.x] = never_written[threadIdx.x];
}

__global__ void count_odd(int* out) {
  int c = __syncthreads_count(threadIdx.x % 2 == 1);
  if (threadIdx.x == 0) out[blockIdx.x] = c;
}

// Which position in the run order each block had.
__global__ void block_order(int* counter, int* order) {
  if (threadIdx.x == 0) order[blockIdx.x] = atomicAdd(counter, 1);
}

// More static shared memory than a block may have (48 KiB).
template <int N>
__global__ void too_much_shared(float* out) {
  __shared__ float big[N];
  big[threadIdx.x] = 1.f;
  __syncthreads();
  out[threadIdx.x] = big[N - 1 - threadIdx.x];
}

__global__ void divergent_barrier(int* out) {
  if (threadIdx.x % 2 == 0) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1;
}

struct DeviceInts {
  int* p = nullptr;
  explicit DeviceInts(size_t n) { SG_CUDA_CHECK(cudaMalloc(&p, n * sizeof(int))); }
  ~DeviceInts() { cudaFree(p); }
};

std::vector<int> to_host(const int* d, size_t n) {
  std::vector<int> h(n);
  SG_CUDA_CHECK(cudaMemcpy(h.data(), d, n * sizeof(int), cudaMemcpyDeviceToHost));
  return h;
}

}  // namespace

TEST_CASE("emulated CUDA: launches a GPU rejects are errors through SG_KERNEL_CHECK" * doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  DeviceInts out(4096);
  SG_LAUNCH(write_index, 4, 1024, 0, 0)(out.p, 4096);
  SG_KERNEL_CHECK();
  std::vector<int> h = to_host(out.p, 4096);
  for (int i = 0; i < 4096; ++i) REQUIRE(h[(size_t)i] == i);

  auto launch_fails = [&](dim3 grid, dim3 block, size_t shared, const char* why) {
    SG_LAUNCH(write_index, grid, block, shared, 0)(out.p, 1);
    CHECK_THROWS_WITH_AS(SG_KERNEL_CHECK(), doctest::Contains(why), sg::Error);
    CHECK(cudaGetLastError() == cudaSuccess);  // reading the error cleared it
  };
  launch_fails(1, 2048, 0, "2048 threads per block");
  launch_fails(1, dim3(32, 32, 2), 0, "2048 threads per block");
  launch_fails(1, dim3(1, 1, 65), 0, "per-dimension limits");
  launch_fails(dim3(1, 65536), 32, 0, "exceeds the limits");
  launch_fails(dim3(1, 1, 65536), 32, 0, "exceeds the limits");
  launch_fails(0, 32, 0, "empty grid");
  launch_fails(1, dim3(0, 1), 0, "empty block");
  launch_fails(1, 32, 64 << 10, "dynamic shared memory");
  float* f = reinterpret_cast<float*>(out.p);
  SG_LAUNCH(too_much_shared<12 * 1024 + 1>, 1, 32, 0, 0)(f);
  CHECK_THROWS_WITH_AS(SG_KERNEL_CHECK(), doctest::Contains("49156 bytes of static shared memory"), sg::Error);
  SG_LAUNCH(too_much_shared<12 * 1024>, 1, 32, 0, 0)(f);  // exactly 48 KiB: fine
  SG_KERNEL_CHECK();
  // The message names the kernel and the launch site.
  SG_LAUNCH(write_index, 1, 2048, 0, 0)(out.p, 1);
  CHECK_THROWS_WITH_AS(SG_KERNEL_CHECK(), doctest::Contains("launch of write_index at"), sg::Error);
}

TEST_CASE("emulated CUDA: kernel arguments must be device or page-locked memory" * doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  std::vector<int> host(64);
  SG_LAUNCH(write_index, 1, 64, 0, 0)(host.data(), 64);
  CHECK_THROWS_WITH_AS(SG_KERNEL_CHECK(), doctest::Contains("argument 0"), sg::Error);
  SG_LAUNCH(write_index, 1, 64, 0, 0)(host.data(), 64);
  CHECK_THROWS_WITH_AS(SG_KERNEL_CHECK(), doctest::Contains("is host memory"), sg::Error);
  CHECK(host == std::vector<int>(64, 0));  // the kernel did not run
  int* freed = nullptr;
  SG_CUDA_CHECK(cudaMalloc(&freed, 64 * sizeof(int)));
  SG_CUDA_CHECK(cudaFree(freed));
  SG_LAUNCH(write_index, 1, 64, 0, 0)(freed, 64);
  CHECK_THROWS_WITH_AS(SG_KERNEL_CHECK(), doctest::Contains("not allocated"), sg::Error);
  // Page-locked host memory is mapped into the device's address space: a kernel may write it.
  int* pinned = nullptr;
  SG_CUDA_CHECK(cudaMallocHost(&pinned, 64 * sizeof(int)));
  SG_LAUNCH(write_index, 1, 64, 0, 0)(pinned, 64);
  SG_KERNEL_CHECK();
  CHECK(pinned[63] == 63);
  SG_CUDA_CHECK(cudaFreeHost(pinned));
}

TEST_CASE("emulated CUDA: copies check direction and bounds; fresh memory is NaN" * doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  float *d = nullptr, *d2 = nullptr;
  SG_CUDA_CHECK(cudaMalloc(&d, 10 * sizeof(float)));
  SG_CUDA_CHECK(cudaMalloc(&d2, 10 * sizeof(float)));
  std::vector<float> h(10, 1.f);
  SG_CUDA_CHECK(cudaMemcpy(h.data(), d, 10 * sizeof(float), cudaMemcpyDeviceToHost));
  for (float v : h) CHECK(std::isnan(v));  // as a GPU's memory is garbage
  CHECK(cudaMemcpy(h.data(), d, 4, cudaMemcpyHostToDevice) == cudaErrorInvalidMemcpyDirection);
  CHECK(std::string(cudaGetErrorString(cudaErrorInvalidMemcpyDirection)).find("the destination") != std::string::npos);
  CHECK(cudaMemcpy(d, d2, 4, cudaMemcpyHostToDevice) == cudaErrorInvalidMemcpyDirection);
  CHECK(std::string(cudaGetErrorString(cudaErrorInvalidMemcpyDirection)).find("source") != std::string::npos);
  CHECK(cudaMemcpy(d, h.data(), 4, cudaMemcpyDeviceToDevice) == cudaErrorInvalidMemcpyDirection);
  CHECK(cudaMemcpy(d, d2, 4, cudaMemcpyHostToHost) == cudaErrorInvalidMemcpyDirection);
  CHECK(cudaMemcpy(d, h.data(), 11 * sizeof(float), cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
  CHECK(std::string(cudaGetErrorString(cudaErrorInvalidValue)).find("run past the end") != std::string::npos);
  CHECK(cudaMemcpy(d + 5, h.data(), 6 * sizeof(float), cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
  CHECK(cudaMemsetAsync(d2, 0, 11 * sizeof(float)) == cudaErrorInvalidValue);
  CHECK(cudaMemcpy(d + 5, h.data(), 5 * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess);
  CHECK(cudaMemcpy(d2, d, 10 * sizeof(float), cudaMemcpyDefault) == cudaSuccess);
  CHECK(cudaFree(h.data()) == cudaErrorInvalidValue);
  CHECK(cudaFree(d + 1) == cudaErrorInvalidValue);
  cudaGetLastError();
  SG_CUDA_CHECK(cudaFree(d));
  SG_CUDA_CHECK(cudaFree(d2));
  CHECK(cudaFree(d) == cudaErrorInvalidValue);  // twice
  cudaGetLastError();
}

TEST_CASE("emulated CUDA: shared memory starts poisoned and a missing barrier gives wrong results" *
          doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  const int blocks = 8, n = blocks * kThreads;
  std::vector<float> in((size_t)n);
  for (int i = 0; i < n; ++i) in[(size_t)i] = (float)i;
  float *din = nullptr, *dout = nullptr;
  SG_CUDA_CHECK(cudaMalloc(&din, n * sizeof(float)));
  SG_CUDA_CHECK(cudaMalloc(&dout, n * sizeof(float)));
  SG_CUDA_CHECK(cudaMemcpy(din, in.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  std::vector<float> expect((size_t)n), got((size_t)n);
  for (int i = 0; i < n; ++i) expect[(size_t)i] = (float)(i / kThreads * kThreads + (i % kThreads + 1) % kThreads);

  SG_LAUNCH(shift_left<true>, blocks, kThreads, 0, 0)(din, dout);
  SG_KERNEL_CHECK();
  SG_CUDA_CHECK(cudaMemcpy(got.data(), dout, n * sizeof(float), cudaMemcpyDeviceToHost));
  CHECK(got == expect);

  SG_LAUNCH(shift_left<false>, blocks, kThreads, 0, 0)(din, dout);
  SG_KERNEL_CHECK();
  SG_CUDA_CHECK(cudaMemcpy(got.data(), dout, n * sizeof(float), cudaMemcpyDeviceToHost));
  int nan = 0;
  for (float v : got) nan += std::isnan(v);
  MESSAGE("without the barrier, " << nan << " of " << n << " threads read an unwritten (NaN) element");
  CHECK(nan > n / 4);  // about half: each thread runs before or after its neighbour

  SG_LAUNCH(read_unwritten_shared, 1, 4, 0, 0)(dout);
  SG_KERNEL_CHECK();
  SG_CUDA_CHECK(cudaMemcpy(got.data(), dout, 4 * sizeof(float), cudaMemcpyDeviceToHost));
  for (int i = 0; i < 4; ++i) CHECK(std::isnan(got[(size_t)i]));
  SG_CUDA_CHECK(cudaFree(din));
  SG_CUDA_CHECK(cudaFree(dout));
}

TEST_CASE("emulated CUDA: __syncthreads_count, atomics, shuffled block order, divergent barriers" *
          doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  DeviceInts out(1024), counter(1);
  SG_LAUNCH(count_odd, 3, 250, 0, 0)(out.p);
  SG_KERNEL_CHECK();
  CHECK(to_host(out.p, 3) == std::vector<int>{125, 125, 125});

  const int blocks = 1000;
  SG_CUDA_CHECK(cudaMemset(counter.p, 0, sizeof(int)));
  SG_LAUNCH(block_order, blocks, 32, 0, 0)(counter.p, out.p);
  SG_KERNEL_CHECK();
  std::vector<int> order = to_host(out.p, blocks), sorted = order;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < blocks; ++i) REQUIRE(sorted[(size_t)i] == i);  // every block ran once
  int in_place = 0;
  for (int i = 0; i < blocks; ++i) in_place += order[(size_t)i] == i;
  CHECK(in_place < 20);  // not in index order
  CHECK(to_host(counter.p, 1)[0] == blocks);

  SG_LAUNCH(divergent_barrier, 1, 64, 0, 0)(out.p);
  CHECK_THROWS_WITH_AS(SG_KERNEL_CHECK(), doctest::Contains("wait at different barriers"), sg::Error);
}

TEST_CASE("emulated CUDA: asynchronous copies from page-locked memory complete only at a wait" *
          doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  float* staging = nullptr;
  SG_CUDA_CHECK(cudaMallocHost(&staging, 4 * sizeof(float)));
  float* d = nullptr;
  SG_CUDA_CHECK(cudaMalloc(&d, 4 * sizeof(float)));
  cudaEvent_t copied;
  SG_CUDA_CHECK(cudaEventCreateWithFlags(&copied, cudaEventDisableTiming));
  for (int i = 0; i < 4; ++i) staging[i] = 1.f;
  SG_CUDA_CHECK(cudaMemcpyAsync(d, staging, 4 * sizeof(float), cudaMemcpyHostToDevice, 0));
  SG_CUDA_CHECK(cudaEventRecord(copied, 0));
  // Refilling the buffer without waiting for the event: the copy may not have read it yet (here it
  // has not), so the device gets the new values, as it may on a GPU.
  for (int i = 0; i < 4; ++i) staging[i] = 2.f;
  SG_CUDA_CHECK(cudaEventSynchronize(copied));
  std::vector<float> h(4);
  SG_CUDA_CHECK(cudaMemcpy(h.data(), d, 4 * sizeof(float), cudaMemcpyDeviceToHost));
  CHECK(h == std::vector<float>(4, 2.f));
  // With the wait, the buffer is free to refill.
  SG_CUDA_CHECK(cudaMemcpyAsync(d, staging, 4 * sizeof(float), cudaMemcpyHostToDevice, 0));
  SG_CUDA_CHECK(cudaEventRecord(copied, 0));
  SG_CUDA_CHECK(cudaEventSynchronize(copied));
  for (int i = 0; i < 4; ++i) staging[i] = 3.f;
  SG_CUDA_CHECK(cudaMemcpy(h.data(), d, 4 * sizeof(float), cudaMemcpyDeviceToHost));
  CHECK(h == std::vector<float>(4, 2.f));
  float ms = 0;
  CHECK(cudaEventElapsedTime(&ms, copied, copied) == cudaErrorInvalidResourceHandle);  // no timing
  SG_CUDA_CHECK(cudaEventDestroy(copied));
  CHECK(cudaEventRecord(copied, 0) == cudaErrorInvalidResourceHandle);  // destroyed
  cudaGetLastError();
  SG_CUDA_CHECK(cudaFree(d));
  SG_CUDA_CHECK(cudaFreeHost(staging));
}

TEST_CASE("emulated CUDA: host code that dereferences device memory faults with a message" *
          doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  Tensor t = Tensor::ones({16}, Device::CUDA);
  int err[2];
  REQUIRE(pipe(err) == 0);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {  // the child reads a device float on the host and must die of SIGSEGV
    dup2(err[1], 1);
    dup2(err[1], 2);
    signal(SIGSEGV, SIG_DFL);           // no doctest report from the child: the default action
    cuda_emu::install_fault_handler();  // and the emulator's message in front of it
    volatile float v = t.data()[3];
    (void)v;
    _exit(0);
  }
  close(err[1]);
  std::string text;
  char buf[256];
  for (ssize_t k; (k = read(err[0], buf, sizeof buf)) > 0;) text.append(buf, (size_t)k);
  close(err[0]);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGSEGV);
  CHECK(text.find("host code read or wrote device memory") != std::string::npos);
  CHECK(t.to_vector() == std::vector<float>(16, 1.f));  // through a copy it is fine
}
#endif
