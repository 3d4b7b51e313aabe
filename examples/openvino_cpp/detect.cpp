// detect.cpp — run sgsf_export's one ONNX file on image files from C++, with OpenVINO's runtime.
//
//   openvino_detect MODEL.onnx IMAGE...
//
// Prints, per image: its path, ok or defect, the score, the normalised score (0.5 at the threshold)
// and the anomaly map's largest value. The model holds everything: the network, the guidance bank
// and its look-up, the score pooling and the run's threshold. Images are decoded with stb_image and
// resized to the model's input size with a triangle (antialiased bilinear) filter, in 8 bits, as
// apps/onnx_example.py does with Pillow; results agree with sgsf_test within about 1e-3.
// Builds against the headers and libraries in PyPI's `openvino` wheel (see CMakeLists.txt).
#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include <stb_image_resize.h>

#include <openvino/openvino.hpp>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL.onnx IMAGE...\n", argv[0]);
    return 2;
  }
  try {
    ov::Core core;
    std::shared_ptr<ov::Model> model = core.read_model(argv[1]);
    const int s = (int)model->input("image").get_partial_shape()[2].get_length();  // image is (N, 3, s, s)
    ov::CompiledModel compiled = core.compile_model(model, "CPU", ov::hint::inference_precision(ov::element::f32));
    const size_t n = (size_t)argc - 2, plane = (size_t)s * s;
    ov::Tensor input(ov::element::f32, {n, 3, (size_t)s, (size_t)s});
    float* x = input.data<float>();
    std::vector<unsigned char> small(plane * 3);
    for (size_t i = 0; i < n; ++i) {
      int w = 0, h = 0, c = 0;
      unsigned char* rgb = stbi_load(argv[i + 2], &w, &h, &c, 3);
      if (!rgb) throw std::runtime_error(std::string(argv[i + 2]) + ": " + stbi_failure_reason());
      const int ok = stbir_resize_uint8_generic(rgb, w, h, 0, small.data(), s, s, 0, 3, STBIR_ALPHA_CHANNEL_NONE, 0,
                                                STBIR_EDGE_CLAMP, STBIR_FILTER_TRIANGLE, STBIR_COLORSPACE_LINEAR, nullptr);
      stbi_image_free(rgb);
      if (!ok) throw std::runtime_error(std::string(argv[i + 2]) + ": cannot resize");
      for (size_t p = 0; p < plane; ++p)  // planar RGB, 8-bit values / 255
        for (size_t ch = 0; ch < 3; ++ch) x[(i * 3 + ch) * plane + p] = small[p * 3 + ch] / 255.0f;
    }
    ov::InferRequest request = compiled.create_infer_request();
    request.set_tensor("image", input);
    request.infer();
    const float* maps = request.get_tensor("anomaly_map").data<float>();
    const float* score = request.get_tensor("score").data<float>();
    const float* normalized = request.get_tensor("normalized_score").data<float>();
    const bool* decision = request.get_tensor("decision").data<bool>();
    for (size_t i = 0; i < n; ++i)
      std::printf("%s\t%s\tscore %.6f\tnormalised %.6f\tmap max %.4f\n", argv[i + 2], decision[i] ? "defect" : "ok",
                  score[i], normalized[i], *std::max_element(maps + i * plane, maps + (i + 1) * plane));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", argv[0], e.what());
    return 1;
  }
}
