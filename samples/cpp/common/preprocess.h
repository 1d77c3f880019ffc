// Preprocessing as nat-export records it (nat_export/runtime/preprocess.py): convert to the recipe's color
// (RGB, or L for 1-channel models, as Pillow converts), resize (bicubic, antialiased as Pillow resizes)
// either the shorter side then center-crop the engine's input size ("resize_mode": "shorter_side", timm's
// recipe) or the whole image to the input size ("exact", HF's preprocessor_config.json), scale to [0, 1],
// normalize with mean/std, CHW.
#pragma once

#include <vector>

#include "image.h"

namespace natx {

// The parts of the sidecar's "preprocessing" the sample applies; the defaults are the ImageNet recipe.
struct Preprocessing {
  int resizeShorterSide = 0;  // 0: round(min(H, W) / 0.875)
  bool exactResize = false;   // "resize_mode": "exact": resize to the input size, no crop
  int channels = 3;           // "color": "RGB" -> 3, "L" -> 1 (Pillow's ITU-R 601-2 luma)
  float mean[3] = {0.485f, 0.456f, 0.406f};
  float std[3] = {0.229f, 0.224f, 0.225f};
};

// Resample to w x h with the bicubic filter (a = -0.5) widened for downscaling, rounded to 8 bits per
// pass, as Pillow does.
Image resize(const Image& img, int w, int h);

// Convert the color, resize (shorter side + center crop, or exactly to cropH x cropW), scale and normalize
// -> CHW float with pp.channels channels.
std::vector<float> preprocess(const Image& img, int cropH, int cropW, const Preprocessing& pp);

}  // namespace natx
