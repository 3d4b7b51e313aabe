// step_profile.h — the profile of a training step (engine/profile.h) summed by op family, as
// `sgsf_train --profile` and `bench_train --profile` print it.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/profile.h"

namespace sg::sgsf {

// The family of an op or region name: "conv forward", "batch norm backward", "SSIM", "Adam", ...
std::string op_family(const std::string& name);
// Milliseconds per step of each family over `steps` steps.
std::map<std::string, double> profile_by_family(const std::vector<profile::Entry>& entries, int64_t steps);
// The table: families largest first with their share; with per_op, every op too, with its calls.
std::string profile_table(const std::vector<profile::Entry>& entries, int64_t steps, bool per_op);

}  // namespace sg::sgsf
