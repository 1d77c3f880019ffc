// Preprocessing as nat-export records it (nat_export/runtime/preprocess.py): resize the shorter side
// (bicubic, antialiased as Pillow resizes), center-crop the engine's input size, scale to [0, 1],
// normalize with mean/std, CHW.
#pragma once

#include <vector>

#include "image.h"

namespace natx {

// The parts of the sidecar's "preprocessing" the sample applies; the defaults are the ImageNet recipe.
struct Preprocessing {
  int resizeShorterSide = 0;  // 0: round(min(H, W) / 0.875)
  float mean[3] = {0.485f, 0.456f, 0.406f};
  float std[3] = {0.229f, 0.224f, 0.225f};
};

// Resample to w x h with the bicubic filter (a = -0.5) widened for downscaling, rounded to 8 bits per
// pass, as Pillow does.
Image resize(const Image& img, int w, int h);

// Resize the shorter side, center-crop cropH x cropW, scale and normalize -> CHW float.
std::vector<float> preprocess(const Image& img, int cropH, int cropW, const Preprocessing& pp);

}  // namespace natx
