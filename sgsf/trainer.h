// trainer.h — SGSF training (sgsf/README.md, 'Contrast sets', 'Losses', 'Training schedule'):
// warm-up of the autoencoder, contrast sets, SAM forging on the training device, the joint loss,
// Adam with a multi-step schedule, logs and checkpoints.
#pragma once
#include <atomic>
#include <string>

#include "engine/tensor.h"
#include "sgsf/config.h"

namespace sg {
class Adam;
}

namespace sg::sgsf {

// Exit codes of a training run (also those of sgsf_train): 130 after SIGINT (Ctrl-C) and 143 after
// SIGTERM, each once the checkpoint is saved (128 + the signal's number, as a shell reports a
// process that a signal ended); 3 when the loss diverged. Errors exit with 1.
enum TrainStatus { kTrainOk = 0, kTrainInterrupted = 130, kTrainTerminated = 143, kTrainDiverged = 3 };

// What training reports back (for the app's summary and for tests).
struct TrainResult {
  TrainStatus status = kTrainOk;
  int64_t iterations_done = 0;
  double seconds = 0, images_per_second = 0;
  float last_loss = 0, first_loss = 0;   // mean loss over the first / last logging window
  std::string checkpoint;                // path of the last checkpoint written
};

// Train per `config`, writing into config.out: checkpoint.safetensors (model + optimiser +
// contrast sets + config metadata), config.json, train_log.jsonl, and forged/*.png on request.
// With `resume`, continue from config.out/checkpoint.safetensors (same result as not stopping).
// `stop` set to a signal's number (SIGINT, SIGTERM; any non-zero value), or reaching
// config.stop_at_iteration, makes it save a checkpoint and return kTrainTerminated for SIGTERM,
// kTrainInterrupted otherwise. A failed write of a log line or preview image also saves the
// checkpoint (when the disk allows) before the error is thrown.
TrainResult train(const TrainConfig& config, bool resume, const std::atomic<int>* stop = nullptr,
                  bool progress = true);

class SGSFModel;

// The loss of one training iteration (sgsf/README.md, 'Losses'), in the model's current mode:
//   warm-up:  the autoencoder alone reconstructs `image` (the training image A):
//             L = lambda (L2(R, A) + SSIM(R, A));
//   after:    the autoencoder reconstructs `guidance` (C) and its features guide the segmentation of
//             `image` (the forged sample I) against `mask` (M):
//             L = lambda (L2(R, C) + SSIM(R, C)) + focal(O, M; gamma).
// `focal` is undefined during warm-up. The trainer and the PyTorch parity check both call this.
struct StepLosses {
  Tensor loss, l2, ssim, focal;
};
StepLosses training_losses(SGSFModel& model, const Tensor& image, const Tensor& guidance, const Tensor& mask,
                           bool warm, float lambda, float gamma);

// One joint training step (after the warm-up) on a batch already on the model's device, as train()
// runs it: Perlin noise, forging (SAM with cfg's a, b, alphas and forge probability), the losses,
// backward and the Adam update; `seed` keys the noise and the forging. For the benchmarks and tests
// that count, time or trace a step (train() itself also saves forged previews in between).
StepLosses joint_step(SGSFModel& model, Adam& opt, const Tensor& image, const Tensor& saliency, const Tensor& aux,
                      const Tensor& guidance, const TrainConfig& cfg, uint64_t seed);

// The file names inside a run folder.
std::string checkpoint_path(const std::string& out_dir);
std::string config_path(const std::string& out_dir);

}  // namespace sg::sgsf
