// onnx_export.h — a trained SGSF run as ONNX (opset 17), written with a small protobuf encoder of
// our own (onnx.proto's messages, field numbers and wire types; no ONNX or protobuf library needed).
//
// The one graph (sgsf_export's default; batch size symbolic, "N"):
//   input    image             float32 (N, 3, s, s)  RGB, values in [0, 1] (8-bit values / 255), planar
//   outputs  anomaly_map       float32 (N, 1, s, s)  softmax channel 1 of the segmentation logits (for a
//                                                    run with test_flip, averaged with the mirror
//                                                    image's, mirrored back)
//            score             float32 (N)           max of the k x k mean-pooled map (k the run's score
//                                                    pool, stride 1, zero padding k / 2 counted)
//            normalized_score  float32 (N)           0.5 s / t for s <= t, else 0.5 + 0.5 (s - t) / (1 - t),
//                                                    clipped to [0, 1] (calibration.h), t the threshold
//            decision          bool (N)              true (1) = defect: score > t
// The guidance look-up is inside: the image's features (the mean over positions of the deepest
// autoencoder encoder block's output), their cosine similarity to every bank row computed in double
// precision as GuidanceBank::lookup does (dot / sqrt(|q|^2 |b|^2), 0 where either is 0), ArgMax
// (the first of equal maxima), then Gather of that guidance image. The bank is two initializers:
// guidance_features float32 (M, 8w) and guidance_images uint8 (M, 3, s, s), cast and / 255 after
// the Gather. The threshold t is a constant of the graph (and the model's metadata "threshold"):
// the run's calibrated one, or sgsf_export --threshold, without which a run lacking calibration.json
// is refused (the outputs stay the same for every run, so that code and configs using them do too).
//
// Size: the network's weights plus, per bank image (M = the run's guidance images: the training
// images less those held out for calibration), 3 s^2 bytes (its image) + 8w * 4 bytes (its
// features): 12,544 bytes at the tiny preset (s 64, w 8; the built-in dataset's 72 bank images make
// 0.9 MB of the 2.2 MB file), 50,176 at small (128, 32), 200,704 at paper (256, 128), so 1,000 bank
// images at 256 px add 201 MB. A protobuf file cannot exceed 2 GiB (kOnnxMaxBytes; export refuses
// beyond it). Past that, or past what a deployment should carry (a few hundred MB), export the two
// graphs (--split, below), whose size does not grow with the bank, or train on fewer normal images.
//
// The split graphs (sgsf_export --split):
//   model.onnx           image, guidance float32 (N, 3, s, s) -> anomaly_map, score (as above)
//   model.features.onnx  image -> features float32 (N, 8w), not normalised (the argmax is the same)
// with the look-up left to the caller: the row of guidance.safetensors "features" most similar to
// the image's features selects guidance/NNNNN.png.
//
// Batch normalisation is in inference form (running statistics).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace sg::sgsf {

class SGSFModel;
struct GuidanceBank;

constexpr int kOnnxOpset = 17;
// The largest protobuf message (2 GiB - 1): ONNX files above it cannot be read.
constexpr uint64_t kOnnxMaxBytes = 2147483647ull;

// An input or output of a graph: name, element type ("float32", "bool"), dims (-1 = the batch N).
struct OnnxTensorInfo {
  std::string name, type;
  std::vector<int64_t> dims;
};
// The one graph's inputs and outputs for input size s.
std::vector<OnnxTensorInfo> onnx_one_graph_inputs(int size);
std::vector<OnnxTensorInfo> onnx_one_graph_outputs(int size);

// Bytes the guidance bank adds to the one graph: count * (3 s^2 + dim * 4).
uint64_t onnx_bank_bytes(int count, int size, int dim);

// The one graph (image -> anomaly_map, score, normalized_score, decision) as ONNX bytes; `size` is
// s, `pool` the score's mean-pooling window (score_pool_size of the run), `flip` the run's
// test_flip, `bank` the run's guidance bank (images 8-bit as read from the run), `threshold` in
// [0, 1]; `metadata` goes into the model's metadata_props (key, value).
std::string onnx_one_graph_bytes(SGSFModel& model, int size, int pool, bool flip, const GuidanceBank& bank,
                                 float threshold, const std::vector<std::pair<std::string, std::string>>& metadata);

// The split network (image, guidance -> anomaly_map, score) as ONNX bytes.
std::string onnx_model_bytes(SGSFModel& model, int size, int pool, bool flip);
// The features network (image -> features) as ONNX bytes.
std::string onnx_features_bytes(SGSFModel& model, int size);

// A Triton Inference Server model configuration (config.pbtxt) for the one graph: platform
// onnxruntime_onnx, max_batch_size, dynamic batching, and every input and output with its data
// type and dims without the batch dimension; an output of shape (N) is declared dims [ 1 ] with
// reshape { shape: [ ] }, as Triton requires for tensors the batch dimension alone describes.
std::string triton_config(const std::string& name, int size, int max_batch_size);

}  // namespace sg::sgsf
