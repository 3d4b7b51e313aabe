// colormap.h — the colour map the plots, overlays and the report's gallery share.
#pragma once
#include <algorithm>
#include <cmath>

namespace sg::report {

// The jet colour map: t in [0, 1] (clipped) -> blue, cyan, green, yellow, red.
inline void jet(float t, float& r, float& g, float& b) {
  t = std::clamp(t, 0.f, 1.f);
  r = std::clamp(1.5f - std::fabs(4.f * t - 3.f), 0.f, 1.f);
  g = std::clamp(1.5f - std::fabs(4.f * t - 2.f), 0.f, 1.f);
  b = std::clamp(1.5f - std::fabs(4.f * t - 1.f), 0.f, 1.f);
}

}  // namespace sg::report
