// Images: binary PPM (P6, 8-bit) files.
#pragma once

#include <string>
#include <vector>

namespace natx {

struct Image {
  int width = 0, height = 0;
  std::vector<float> rgb;  // HWC, 0..255
};

// A binary PPM (P6) with maxval <= 255, scaled to 0..255; fails on other files.
Image readPpm(const std::string& path);

}  // namespace natx
