// markup.h — text made safe inside HTML and SVG: the five characters with a meaning there escaped.
#pragma once
#include <string>

namespace sg::report {

inline std::string markup_escape(const std::string& s) {
  std::string o;
  for (char c : s) switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  return o;
}

}  // namespace sg::report
