// step_profile.cpp — op families of a training step (see step_profile.h).
#include "sgsf/step_profile.h"

#include <algorithm>
#include <cstdio>

namespace sg::sgsf {

std::string op_family(const std::string& name) {
  static const std::string kBackward = " backward";
  const bool bw = name.size() > kBackward.size() &&
                  name.compare(name.size() - kBackward.size(), kBackward.size(), kBackward) == 0;
  const std::string op = bw ? name.substr(0, name.size() - kBackward.size()) : name;
  if (op == "conv2d") return bw ? "conv backward (input + weight gradients)" : "conv forward";
  if (op == "batch_norm2d") return bw ? "batch norm backward" : "batch norm forward";
  if (op == "batch_norm2d + relu") return bw ? "batch norm + ReLU backward" : "batch norm + ReLU forward";
  if (op == "relu") return bw ? "ReLU backward" : "ReLU forward";
  if (op == "max_pool2d" || op == "upsample_bilinear2x" || op == "avg_pool2d") return "pooling, upsampling";
  if (op == "ssim" || op == "ssim_map") return "SSIM";
  if (op == "focal_loss" || op == "softmax") return "focal loss";
  if (op == "mse_loss") return "L2 loss";
  if (op == "concat" || op == "guided_concat" || op == "slice") return "concatenation";
  if (op == "perlin_noise" || op == "forge_anomalies") return "forging (Perlin noise, SAM)";
  if (op == "adam step" || op == "zero_grad") return "Adam";
  if (op == "autograd sweep") return "autograd bookkeeping";
  if (op == "leaf gradients" || op == "gradient sums") return "gradient accumulation";
  if (op == "data loading") return "data loading (waiting for the loader)";
  if (op == "other (outside ops)") return "other (outside ops)";
  return "other elementwise and reductions";
}

std::map<std::string, double> profile_by_family(const std::vector<profile::Entry>& entries, int64_t steps) {
  std::map<std::string, double> fam;
  for (const auto& e : entries) fam[op_family(e.name)] += e.ms / (double)std::max<int64_t>(1, steps);
  return fam;
}

std::string profile_table(const std::vector<profile::Entry>& entries, int64_t steps, bool per_op) {
  std::vector<std::pair<double, std::string>> rows;
  double total = 0;
  for (const auto& [k, v] : profile_by_family(entries, steps)) {
    rows.push_back({v, k});
    total += v;
  }
  std::sort(rows.rbegin(), rows.rend());
  std::string out;
  char line[160];
  std::snprintf(line, sizeof line, "%-42s %10s %7s\n", "op family", "ms/step", "share");
  out += line;
  for (const auto& [v, k] : rows) {
    std::snprintf(line, sizeof line, "%-42s %10.2f %6.1f%%\n", k.c_str(), v, total > 0 ? 100 * v / total : 0.0);
    out += line;
  }
  std::snprintf(line, sizeof line, "%-42s %10.2f\n", "total", total);
  out += line;
  if (per_op) {
    std::snprintf(line, sizeof line, "\n%-42s %10s %8s\n", "op", "ms/step", "calls");
    out += line;
    const double n = (double)std::max<int64_t>(1, steps);
    for (const auto& e : entries) {
      std::snprintf(line, sizeof line, "%-42s %10.2f %8.1f\n", e.name.c_str(), e.ms / n, (double)e.calls / n);
      out += line;
    }
  }
  return out;
}

}  // namespace sg::sgsf
