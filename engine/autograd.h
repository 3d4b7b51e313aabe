// autograd.h — dynamic reverse-mode differentiation, micrograd-style.
//
// Every differentiable op, when some input requires a gradient and grad mode is on, attaches a
// Node to its output: the inputs it read and a backward function mapping the output's gradient
// to one gradient per input (an undefined Tensor where an input gets none). Tensor::backward()
// orders the nodes topologically, runs each backward function once, accumulates gradients with +=,
// stores the sums of leaves in .grad(), and frees every node's saved tensors as it goes.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace sg {

using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_out)>;

struct Node {
  std::string op;              // for error messages: "conv2d", "add", ...
  std::vector<Tensor> inputs;  // the tensors this op read (edges of the graph)
  BackwardFn backward;         // null once run (the graph is freed)
};

// Whether ops record the graph (on by default; off inside NoGradGuard and inside backward).
bool grad_enabled();

// Scope in which no graph is recorded: inference, optimiser updates, metrics.
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// For op authors: if grad mode is on and any input requires a gradient, make `out` a non-leaf
// produced by a node holding `inputs` and `fn`. Returns `out`.
Tensor attach_grad(Tensor out, const char* op, std::vector<Tensor> inputs, BackwardFn fn);

// The sweep behind Tensor::backward().
void run_backward(const Tensor& root, const Tensor& grad_root);

}  // namespace sg
