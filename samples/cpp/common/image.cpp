#include "image.h"

#include <cctype>
#include <cstdlib>

#include "error.h"
#include "files.h"

namespace natx {

Image readPpm(const std::string& path) {
  std::vector<char> data = readFile(path, "image");
  size_t p = 0;
  auto token = [&]() -> std::string {
    while (p < data.size()) {
      if (data[p] == '#') {
        while (p < data.size() && data[p] != '\n') ++p;
      } else if (std::isspace(static_cast<unsigned char>(data[p]))) {
        ++p;
      } else {
        break;
      }
    }
    std::string t;
    while (p < data.size() && !std::isspace(static_cast<unsigned char>(data[p]))) t += data[p++];
    return t;
  };
  if (token() != "P6")
    fail(path + " is not a binary PPM (P6); convert it (e.g. `convert cat.jpg cat.ppm`) or pass a raw float32 tensor");
  Image img;
  img.width = std::atoi(token().c_str());
  img.height = std::atoi(token().c_str());
  int maxval = std::atoi(token().c_str());
  ++p;  // the single whitespace after maxval
  if (img.width <= 0 || img.height <= 0 || maxval <= 0 || maxval > 255)
    fail(path + ": unsupported PPM header (needs 8-bit P6)");
  size_t n = static_cast<size_t>(img.width) * img.height * 3;
  if (data.size() < p + n) fail(path + ": truncated PPM data");
  img.rgb.resize(n);
  for (size_t i = 0; i < n; ++i) img.rgb[i] = static_cast<unsigned char>(data[p + i]) * (255.0f / maxval);
  return img;
}

}  // namespace natx
