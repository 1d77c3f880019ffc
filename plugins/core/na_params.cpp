#include "na_params.h"

#include <cmath>

namespace natx {

const char* na_validate(const NAParams& p) {
  if (p.B < 0) return "batch size must be >= 0";
  if (p.H < 1 || p.W < 1) return "feature map height and width must be >= 1";
  if (p.heads < 1) return "num_heads must be >= 1";
  if (p.D < 1) return "head dim must be >= 1 (qkv last axis must be 3 * num_heads * head_dim)";
  if (p.Kh < 1 || p.Kw < 1) return "kernel_size must be >= 1";
  if (p.Kh % 2 == 0 || p.Kw % 2 == 0) return "kernel_size must be odd";
  if (p.dh < 1 || p.dw < 1) return "dilation must be >= 1";
  if (static_cast<long long>(p.H) < static_cast<long long>(p.Kh) * p.dh)
    return "H must be >= kernel_size*dilation (pad the feature map before the op)";
  if (static_cast<long long>(p.W) < static_cast<long long>(p.Kw) * p.dw)
    return "W must be >= kernel_size*dilation (pad the feature map before the op)";
  if (!std::isfinite(p.scale)) return "scale must be a finite number";
  return nullptr;
}

}  // namespace natx
