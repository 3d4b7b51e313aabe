// traffic.h — the traffic model of the hand-written kernels: what each launch moves and computes.
//
// Every CUDA launcher declares, next to its launch, the bytes its kernel reads and writes once each
// (the least DRAM traffic it can have) and the floating-point operations it does:
//
//   SG_TRAFFIC("batchnorm: normalise + relu", 8.0 * n, 4.0 * n);
//   SG_LAUNCH(...)(...);
//
// Nothing is recorded unless a recording runs (traffic::start; bench_kernels --traffic): then each
// launch adds its numbers to its kernel's row, and with `timed` each launch also waits for the
// device before and after, so its time is its own (for the fraction of the copy bandwidth it
// reaches). per_parameter marks a kernel whose traffic scales with the parameters (Adam), not with
// the images: bench_kernels scales the others when it records a smaller step than it reports.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace sg::kernels::traffic {

struct Entry {
  std::string kernel;
  int64_t calls = 0;
  double bytes = 0, flops = 0, seconds = 0;  // totals over the calls
  bool per_parameter = false;
};

void start(bool timed);  // clear the rows and record from now on
void stop();
bool recording();
std::vector<Entry> entries();  // in order of first launch

class Scope {
 public:
  Scope(const char* kernel, double bytes, double flops, bool per_parameter = false);
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  const char* kernel_ = nullptr;
  double bytes_ = 0, flops_ = 0, t0_ = 0;
  bool per_parameter_ = false, active_ = false;
};

}  // namespace sg::kernels::traffic

#define SG_TRAFFIC_CAT2(a, b) a##b
#define SG_TRAFFIC_CAT(a, b) SG_TRAFFIC_CAT2(a, b)
// Declares the launch that follows it in the same scope (see above).
#define SG_TRAFFIC(kernel, bytes, flops) \
  ::sg::kernels::traffic::Scope SG_TRAFFIC_CAT(sg_traffic_, __LINE__)((kernel), (bytes), (flops))
#define SG_TRAFFIC_PARAMS(kernel, bytes, flops) \
  ::sg::kernels::traffic::Scope SG_TRAFFIC_CAT(sg_traffic_, __LINE__)((kernel), (bytes), (flops), true)
