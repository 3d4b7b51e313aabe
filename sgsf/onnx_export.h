// onnx_export.h — a trained SGSF network as an ONNX graph (opset 17), written with a small
// protobuf encoder of our own (onnx.proto's messages, field numbers and wire types; no ONNX or
// protobuf library needed).
//
// The graph (batch size symbolic, "N"):
//   inputs   image     float32 (N, 3, s, s)  RGB, values in [0, 1] (8-bit values / 255), planar
//            guidance  float32 (N, 3, s, s)  the guidance image, the same way
//   outputs  anomaly_map  float32 (N, 1, s, s)  softmax channel 1 of the segmentation logits (for a
//                                               run with test_flip, averaged with the mirror
//                                               image's, mirrored back)
//            score        float32 (N)           max of the k x k mean-pooled map (k the run's score
//                                               pool, stride 1, zero padding k / 2 counted), as
//                                               sgsf_test's image score
// Batch normalisation is in inference form (running statistics). The guidance look-up stays
// outside: the guidance image is the run's guidance/NNNNN.png whose row of guidance.safetensors
// "features" has the largest dot product with the image's features; the features graph
// (image -> features (N, 8w): the mean over positions of the deepest autoencoder encoder block's
// output, not normalised; the argmax does not change) computes them.
#pragma once
#include <string>

namespace sg::sgsf {

class SGSFModel;

constexpr int kOnnxOpset = 17;

// The whole network (image, guidance -> anomaly_map, score) as ONNX bytes; `size` is s, `pool` the
// score's mean-pooling window (score_pool_size of the run), `flip` the run's test_flip (the graph
// then also runs the mirror image and averages the maps).
std::string onnx_model_bytes(SGSFModel& model, int size, int pool, bool flip);
// The features network (image -> features) as ONNX bytes.
std::string onnx_features_bytes(SGSFModel& model, int size);

}  // namespace sg::sgsf
