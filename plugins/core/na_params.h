// Parameters of one 2-D neighborhood-attention call, shared by every backend.
// No framework types here: this header is included by the CPU kernel, the CUDA
// kernel and every adapter (TensorRT, ONNX Runtime, torch test harness).
#pragma once

namespace natx {

struct NAParams {
  int B, H, W;      // batch, feature map height, width
  int heads, D;     // number of heads, head dim (qkv last axis = 3*heads*D, ordered (3, heads, D))
  int Kh, Kw;       // kernel size, odd
  int dh, dw;       // dilation >= 1
  float scale;      // multiplies q.k, not the bias
  bool has_rpb;     // rpb [heads, 2Kh-1, 2Kw-1] present
};

enum class NADType : int { kFloat32 = 0, kFloat16 = 1, kBFloat16 = 2 };

// Returns nullptr when p is valid, else a static human-readable message.
// Host-only; defined in na_params.cpp (natx_core_cpu).
const char* na_validate(const NAParams& p);

}  // namespace natx
