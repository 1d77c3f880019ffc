// The engine's sidecar ENGINE.json, as `nat-export trt` writes it (nat_export/runtime/trt_build.py
// make_sidecar; docs/tensorrt.md "Sidecar"). The sample reads three things from it: the format, the
// preprocessing recipe and the labels. It is parsed as JSON (nlohmann/json) and checked strictly: a
// missing or ill-typed key is one error naming the key.
//
//   "format": "nat-export.engine", "format_version": 1           required
//   "preprocessing": {"resize_shorter_side": int > 0 | null,     optional (absent or null: the ImageNet
//                     "mean": [3 numbers], "std": [3 numbers > 0]} recipe); its three keys are required
//   "labels": ["...", ...]                                         optional (absent or null: class indices)
//
// Other keys are not read (and not checked).
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
