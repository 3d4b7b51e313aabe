// optim.h — the Adam optimiser and the multi-step learning-rate schedule of SGSF training
// (Adam beta = (0.9, 0.999), eps = 1e-8, lr x0.1 at 50/70/90 % of training; see sgsf/README.md,
// 'Adam' and 'Training schedule').
//
//   Adam opt(model.named_parameters(), 1e-4f);
//   MultiStepLR sched = MultiStepLR::at_fractions(1e-4f, total_iters, {0.5, 0.7, 0.9});
//   for (it = 0; it < total_iters; ++it) {
//     opt.set_lr(sched.lr(it)); opt.zero_grad(); loss(...).backward(); opt.step();
//   }
//
// The optimiser's whole state (step count and both moments) is exposed as named tensors, so a
// checkpoint that stores model.state() and opt.state() and loads both back resumes bit for bit.
#pragma once
#include <string>
#include <vector>

#include "engine/named_tensors.h"

namespace sg {

class Adam {
 public:
  // Parameters named by their module names (state: "m.<name>", "v.<name>", "step").
  Adam(const NamedTensors& params, float lr, float beta1 = 0.9f, float beta2 = 0.999f,
       float eps = 1e-8f);
  // Unnamed parameters are called "0", "1", ... in the state.
  Adam(const std::vector<Tensor>& params, float lr, float beta1 = 0.9f, float beta2 = 0.999f,
       float eps = 1e-8f);

  // One update of every parameter that has a gradient (those without one are left as they are,
  // moments and step count included). Each parameter counts its own steps, as in PyTorch. Runs on
  // each parameter's device
  // (moments follow a parameter that was moved since).
  void step();
  void zero_grad();  // drop the gradients of all parameters
  void set_lr(float lr);
  float lr() const { return lr_; }
  int64_t step_count() const;  // the most steps any parameter has taken

  // Handles to the state: "step" (one count per parameter, in order; exact up to 2^24),
  // then "m.<name>" and "v.<name>" per parameter, each shaped like its parameter. Writing into
  // these (e.g. load_into from a checkpoint) restores the optimiser.
  NamedTensors state() const;
  const NamedTensors& params() const { return params_; }

 private:
  NamedTensors params_;
  std::vector<Tensor> m_, v_;
  Tensor step_;  // (number of parameters), CPU: steps taken by each
  float lr_, beta1_, beta2_, eps_;
};

// lr(iteration) = base_lr * gamma^(number of milestones <= iteration): with milestones {10, 20},
// iterations 0..9 get base_lr, 10..19 base_lr * gamma, from 20 on base_lr * gamma^2.
class MultiStepLR {
 public:
  MultiStepLR(float base_lr, std::vector<int64_t> milestones, float gamma = 0.1f);
  // Milestones at round(f * total_iterations) for each fraction f (SGSF: {0.5, 0.7, 0.9}).
  static MultiStepLR at_fractions(float base_lr, int64_t total_iterations,
                                  const std::vector<double>& fractions, float gamma = 0.1f);
  float lr(int64_t iteration) const;
  const std::vector<int64_t>& milestones() const { return milestones_; }

 private:
  float base_lr_, gamma_;
  std::vector<int64_t> milestones_;
};

}  // namespace sg
