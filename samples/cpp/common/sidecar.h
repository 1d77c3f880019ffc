// The engine's sidecar ENGINE.json, as `nat-export trt` writes it (docs/tensorrt.md "Sidecar"). The
// sample reads the format, the preprocessing recipe and the labels. The file is parsed as JSON
// (nlohmann/json), keys are looked up where the format puts them, and each is checked: a missing or
// ill-typed key is one error naming it ("sidecar PATH: key "preprocessing.mean" must be ...").
//
//   "format": "nat-export.engine", "format_version": 1   required
//   "preprocessing": {...}                                 optional; absent or null: the ImageNet recipe
//       "resize_shorter_side": integer >= 1               optional; absent or null: round(min(H, W) / 0.875)
//       "mean", "std": [1 or 3 numbers] (std > 0)          optional; absent: ImageNet's
//       "interpolation": "bicubic", "scale": 1/255         optional; the only values this sample implements
//       "resize_mode": "shorter_side" | "exact"            optional; absent: "shorter_side" (exact: HF's resize)
//       "color": "RGB" | "L"                               optional; absent: "RGB" (L: 1-channel models)
//   "labels": ["...", ...]                                 optional; absent or null: class indices
//
// The crop is the engine's input size (--resolution with --dump-input); other keys are not read.
#pragma once

#include <string>
#include <vector>

#include "preprocess.h"

namespace natx {

struct Sidecar {
  Preprocessing preprocessing;      // the recorded recipe, or the ImageNet default
  std::vector<std::string> labels;  // empty: none recorded
};

// Reads and checks the sidecar at `path`; a Fatal error ("sidecar PATH: key "..." ...") otherwise.
Sidecar readSidecar(const std::string& path);

// The sidecar of ENGINE (ENGINE.json) when that file exists, else the defaults.
Sidecar readEngineSidecar(const std::string& enginePath);

}  // namespace natx
