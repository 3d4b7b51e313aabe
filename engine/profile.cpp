// profile.cpp — the table behind profile.h: one map from name to (time, calls), filled by the
// thread that started profiling.
#include "engine/profile.h"

#include <algorithm>
#include <map>
#include <thread>

namespace sg::profile {

namespace {

struct State {
  bool on = false;
  std::thread::id owner;
  Device device = Device::CPU;
  std::map<std::string, Entry> table;
};
State& state() {
  static State s;
  return s;
}
thread_local int t_op_depth = 0;
thread_local Region* t_region = nullptr;

double elapsed_ms(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
void settle() {
  if (state().device != Device::CPU) synchronize(state().device);
}
void record(const std::string& name, double ms) {
  Entry& e = state().table[name];
  e.name = name;
  e.ms += ms;
  e.calls += 1;
}

}  // namespace

void start(Device device) {
  State& s = state();
  s.table.clear();
  s.device = device;
  s.owner = std::this_thread::get_id();
  s.on = true;
}
void stop() { state().on = false; }
bool active() { return state().on && state().owner == std::this_thread::get_id(); }

std::vector<Entry> entries() {
  std::vector<Entry> v;
  for (const auto& kv : state().table) v.push_back(kv.second);
  std::sort(v.begin(), v.end(), [](const Entry& a, const Entry& b) { return a.ms > b.ms; });
  return v;
}

void OpScope::begin(const char* name, bool backward) {
  outermost_ = t_op_depth++ == 0;
  name_ = name;
  backward_ = backward;
  if (outermost_) {
    settle();
    t0_ = std::chrono::steady_clock::now();
  }
}
void OpScope::end() {
  --t_op_depth;
  if (!outermost_) return;
  settle();
  const double ms = elapsed_ms(t0_);
  record(backward_ ? std::string(name_) + " backward" : std::string(name_), ms);
  if (t_region) t_region->inner_ms_ += ms;
}

void Region::begin(const char* name) {
  name_ = name;
  parent_ = t_region;
  t_region = this;
  settle();
  t0_ = std::chrono::steady_clock::now();
}
void Region::end() {
  settle();
  const double ms = elapsed_ms(t0_);
  record(name_, ms - inner_ms_);
  t_region = parent_;
  if (parent_) parent_->inner_ms_ += ms;
}

}  // namespace sg::profile
