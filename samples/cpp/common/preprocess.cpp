#include "preprocess.h"

#include <algorithm>
#include <cmath>

namespace natx {
namespace {

// Bicubic kernel (a = -0.5, as Pillow and torchvision's PIL path use).
double cubic(double x) {
  const double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

// Resample one axis with the bicubic filter widened by the downscale factor (antialiased,
// as Pillow resizes). `in` is [outer][inSize][3] with stride; returns [outer][outSize][3].
std::vector<float> resampleAxis(const std::vector<float>& in, int outer, int inSize, int outSize, bool rowsAreOuter,
                                int otherSize) {
  const double scale = static_cast<double>(inSize) / outSize;
  const double filterScale = std::max(scale, 1.0);
  const double support = 2.0 * filterScale;
  std::vector<float> out(static_cast<size_t>(outer) * outSize * 3);
  for (int o = 0; o < outSize; ++o) {
    const double center = (o + 0.5) * scale;
    const int lo = std::max(0, static_cast<int>(center - support + 0.5));
    const int hi = std::min(inSize, static_cast<int>(center + support + 0.5));
    std::vector<double> w(hi - lo);
    double sum = 0.0;
    for (int i = lo; i < hi; ++i) sum += (w[i - lo] = cubic((i - center + 0.5) / filterScale));
    for (double& x : w) x /= (sum != 0.0 ? sum : 1.0);
    for (int r = 0; r < outer; ++r) {
      for (int c = 0; c < 3; ++c) {
        double acc = 0.0;
        for (int i = lo; i < hi; ++i) {
          size_t idx = rowsAreOuter ? (static_cast<size_t>(r) * inSize + i) * 3 + c
                                    : (static_cast<size_t>(i) * otherSize + r) * 3 + c;
          acc += w[i - lo] * in[idx];
        }
        size_t od = rowsAreOuter ? (static_cast<size_t>(r) * outSize + o) * 3 + c
                                 : (static_cast<size_t>(o) * otherSize + r) * 3 + c;
        out[od] = static_cast<float>(std::min(255.0, std::max(0.0, std::round(acc))));  // 8-bit like Pillow
      }
    }
  }
  return out;
}

}  // namespace

Image resize(const Image& img, int w, int h) {
  Image out = img;
  if (w != img.width) {  // horizontal pass: outer = rows
    out.rgb = resampleAxis(out.rgb, out.height, out.width, w, true, 0);
    out.width = w;
  }
  if (h != img.height) {  // vertical pass: outer = columns
    out.rgb = resampleAxis(out.rgb, out.width, out.height, h, false, out.width);
    out.height = h;
  }
  return out;
}

// Pillow's convert("L") of 8-bit RGB, fixed point: L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16, kept in
// all three channels so that resizing stays per channel.
Image toGray(const Image& img) {
  Image out = img;
  for (size_t i = 0; i + 2 < out.rgb.size(); i += 3) {
    const long r = std::lround(img.rgb[i]), g = std::lround(img.rgb[i + 1]), b = std::lround(img.rgb[i + 2]);
    const float l = static_cast<float>((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16);
    out.rgb[i] = out.rgb[i + 1] = out.rgb[i + 2] = l;
  }
  return out;
}

std::vector<float> preprocess(const Image& input, int cropH, int cropW, const Preprocessing& pp) {
  const Image img = pp.channels == 1 ? toGray(input) : input;
  int shorter = pp.resizeShorterSide > 0 ? pp.resizeShorterSide
                                         : static_cast<int>(std::nearbyint(std::min(cropH, cropW) / 0.875));
  int w, h;
  if (pp.exactResize) {
    w = cropW;
    h = cropH;
  } else if (img.width <= img.height) {
    w = shorter;
    h = static_cast<int>(static_cast<long long>(shorter) * img.height / img.width);
  } else {
    h = shorter;
    w = static_cast<int>(static_cast<long long>(shorter) * img.width / img.height);
  }
  if (!pp.exactResize && (w < cropW || h < cropH)) {
    double f = std::max(static_cast<double>(cropW) / w, static_cast<double>(cropH) / h);
    w = std::max(cropW, static_cast<int>(std::ceil(w * f)));
    h = std::max(cropH, static_cast<int>(std::ceil(h * f)));
  }
  Image r = resize(img, w, h);
  int left = static_cast<int>(std::nearbyint((w - cropW) / 2.0));  // half to even, as Python round()
  int top = static_cast<int>(std::nearbyint((h - cropH) / 2.0));
  const int channels = pp.channels == 1 ? 1 : 3;
  std::vector<float> chw(static_cast<size_t>(channels) * cropH * cropW);
  for (int c = 0; c < channels; ++c)
    for (int y = 0; y < cropH; ++y)
      for (int x = 0; x < cropW; ++x) {
        float v = r.rgb[(static_cast<size_t>(y + top) * w + (x + left)) * 3 + c] / 255.0f;
        chw[(static_cast<size_t>(c) * cropH + y) * cropW + x] = (v - pp.mean[c]) / pp.std[c];
      }
  return chw;
}

}  // namespace natx
