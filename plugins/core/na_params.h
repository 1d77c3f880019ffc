// Parameters of one 2-D neighborhood-attention call, and the op's rules (contract version 1),
// shared by every backend. No framework types here: this header is included by the CPU kernel,
// the CUDA kernel and every adapter (TensorRT, ONNX Runtime, torch test harness).
//
// This is the one place that states what the NeighborhoodAttention2D op accepts: the adapters
// call these functions instead of checking attributes or shapes themselves, and the Python
// exporter's copy (nat_export/ops/checks.py) is proved identical by tests/native/test_attr_rules.py
// through the C entry points in na_cpu_capi.cpp.
#pragma once

#include <cstdint>
#include <string>

namespace natx {

struct NAParams {
  int B, H, W;   // batch, feature map height, width
  int heads, D;  // number of heads, head dim (qkv last axis = 3*heads*D, ordered (3, heads, D))
  int Kh, Kw;    // kernel size, odd
  int dh, dw;    // dilation >= 1
  float scale;   // multiplies q.k, not the bias
  bool has_rpb;  // rpb [heads, 2Kh-1, 2Kw-1] present
};

enum class NADType : int { kFloat32 = 0, kFloat16 = 1, kBFloat16 = 2 };

// ---- Attribute rules --------------------------------------------------------------------------
//   num_heads      1 <= num_heads <= kNAMaxNumHeads
//   kernel_size    odd, 1 <= K <= kNAMaxKernelSize, on both axes
//   dilation       1 <= d <= kNAMaxDilation, on both axes
//   scale          finite and > 0 (as float32, the attribute's type)
// The upper limits keep every index product (e.g. heads * (2K-1)^2 bias entries, K * d) far from
// int32 overflow; real models use K <= 13, d <= 64, heads <= 64.
constexpr int64_t kNAMaxNumHeads = int64_t{1} << 20;
constexpr int64_t kNAMaxKernelSize = 4095;
constexpr int64_t kNAMaxDilation = 4095;

// Each check returns "" when the value is allowed, else one line naming the rule and the value
// given, e.g. "kernel_size must be odd and >= 1 on both axes, got [6,7]". Host only.
std::string na_check_num_heads(int64_t num_heads);
std::string na_check_kernel_size(int64_t kh, int64_t kw);
std::string na_check_dilation(int64_t dh, int64_t dw);
std::string na_check_scale(float scale);
// All four, in this order; the first rule broken.
std::string na_check_attrs(int64_t num_heads, int64_t kh, int64_t kw, int64_t dh, int64_t dw, float scale);

// ---- Shape rules (for attributes that passed na_check_attrs) ------------------------------------
// A dim < 0 means "not known yet" (TensorRT's build-time dims) and passes its rules.
//   qkv   rank 4 [B, H, W, C]; C a positive multiple of 3*num_heads; H >= Kh*dh and W >= Kw*dw
//         (smaller maps are padded by the model, never by the op)
//   rpb   exactly [num_heads, 2*Kh-1, 2*Kw-1]
std::string na_check_qkv_dims(const int64_t* dims, int rank, int64_t num_heads, int64_t kh, int64_t kw, int64_t dh,
                              int64_t dw);
std::string na_check_rpb_dims(const int64_t* dims, int rank, int64_t num_heads, int64_t kh, int64_t kw);

// Everything a kernel needs to be safe to run: B >= 0, H, W, D >= 1, the attribute rules, and
// H >= Kh*dh, W >= Kw*dw. "" when p is valid, else the first rule broken.
std::string na_validate(const NAParams& p);

}  // namespace natx
