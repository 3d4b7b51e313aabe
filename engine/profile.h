// profile.h — where the time of a training step goes: wall time per op and per region, off unless
// asked for (`sgsf_train --profile`, `bench_train --profile`).
//
//   profile::start(Device::CPU);             // from this thread on, scopes record
//   { SG_PROFILE_OP("conv2d"); ... }         // inside an op: counted once, at the outermost op
//   { profile::Region r("adam step"); ... }  // around a phase: its time minus the ops inside it
//   for (const auto& e : profile::entries()) ...   // name, milliseconds, calls; largest first
//
// An op that calls other ops (ssim_loss, the backward of mul, ...) is charged with all of its time:
// only the outermost op scope records, so every millisecond is counted once. A backward function
// is an op scope named "<op> backward". A region records its own time less that of the op scopes
// and regions inside it, so "autograd sweep" is the bookkeeping of the reverse pass alone.
//
// On a GPU each scope ends with a device synchronisation while profiling (so the time is the
// kernel's, not the launch's); that changes what is measured from a free-running step, and the
// profile is for finding where time goes, not for the step's speed. Only the thread that called
// start() records (the loader's workers do not); when profiling is off a scope costs one test.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/device.h"

namespace sg::profile {

void start(Device device);  // clear the table and record on the calling thread
void stop();
bool active();              // recording, on this thread
struct Entry {
  std::string name;
  double ms = 0;
  int64_t calls = 0;
};
std::vector<Entry> entries();  // largest time first

class OpScope {
 public:
  explicit OpScope(const char* name, bool backward = false) {
    if (active()) begin(name, backward);
  }
  ~OpScope() {
    if (name_) end();
  }
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;

 private:
  void begin(const char* name, bool backward);
  void end();
  const char* name_ = nullptr;
  bool backward_ = false, outermost_ = false;
  std::chrono::steady_clock::time_point t0_;
};

class Region {
 public:
  explicit Region(const char* name) {
    if (active()) begin(name);
  }
  ~Region() {
    if (name_) end();
  }
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;

 private:
  friend class OpScope;  // an op adds its time to the region it runs in
  void begin(const char* name);
  void end();
  const char* name_ = nullptr;
  double inner_ms_ = 0;
  Region* parent_ = nullptr;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace sg::profile

#define SG_PROFILE_CAT2(a, b) a##b
#define SG_PROFILE_CAT(a, b) SG_PROFILE_CAT2(a, b)
#define SG_PROFILE_OP(name) ::sg::profile::OpScope SG_PROFILE_CAT(sg_profile_op_, __LINE__)(name)
