#include "na_params.h"

#include <cmath>
#include <cstdio>

namespace natx {

namespace {

std::string pairStr(int64_t a, int64_t b) {
  return "[" + std::to_string(a) + "," + std::to_string(b) + "]";
}

std::string dimsStr(const int64_t* d, int rank) {
  std::string s = "[";
  for (int i = 0; i < rank; ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

// "H = 6 is smaller than kernel_size*dilation = 7 (pad the feature map before the op)", or "".
std::string mapRule(const char* axis, int64_t size, int64_t k, int64_t d) {
  if (size < 0 || size >= k * d) return "";
  return std::string(axis) + " = " + std::to_string(size) +
         " is smaller than kernel_size*dilation = " + std::to_string(k * d) + " (pad the feature map before the op)";
}

}  // namespace

std::string na_check_num_heads(int64_t num_heads) {
  if (num_heads < 1) return "num_heads must be >= 1, got " + std::to_string(num_heads);
  if (num_heads > kNAMaxNumHeads)
    return "num_heads must be <= " + std::to_string(kNAMaxNumHeads) + ", got " + std::to_string(num_heads);
  return "";
}

std::string na_check_kernel_size(int64_t kh, int64_t kw) {
  if (kh < 1 || kw < 1 || kh % 2 == 0 || kw % 2 == 0)
    return "kernel_size must be odd and >= 1 on both axes, got " + pairStr(kh, kw);
  if (kh > kNAMaxKernelSize || kw > kNAMaxKernelSize)
    return "kernel_size must be <= " + std::to_string(kNAMaxKernelSize) + " on both axes, got " + pairStr(kh, kw);
  return "";
}

std::string na_check_dilation(int64_t dh, int64_t dw) {
  if (dh < 1 || dw < 1) return "dilation must be >= 1 on both axes, got " + pairStr(dh, dw);
  if (dh > kNAMaxDilation || dw > kNAMaxDilation)
    return "dilation must be <= " + std::to_string(kNAMaxDilation) + " on both axes, got " + pairStr(dh, dw);
  return "";
}

std::string na_check_scale(float scale) {
  if (std::isfinite(scale) && scale > 0.f) return "";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%g", static_cast<double>(scale));
  return std::string("scale must be a finite number > 0, got ") + buf;
}

std::string na_check_attrs(int64_t num_heads, int64_t kh, int64_t kw, int64_t dh, int64_t dw, float scale) {
  std::string err = na_check_num_heads(num_heads);
  if (err.empty()) err = na_check_kernel_size(kh, kw);
  if (err.empty()) err = na_check_dilation(dh, dw);
  if (err.empty()) err = na_check_scale(scale);
  return err;
}

std::string na_check_qkv_dims(const int64_t* dims, int rank, int64_t num_heads, int64_t kh, int64_t kw, int64_t dh,
                              int64_t dw) {
  if (num_heads < 1) return na_check_num_heads(num_heads);  // 3*num_heads below must not be 0
  if (rank != 4 || dims == nullptr)
    return "qkv must be 4-D [B, H, W, 3*num_heads*head_dim], got " + (dims ? dimsStr(dims, rank) : "no dims");
  const int64_t c = dims[3];
  if (c >= 0 && (c == 0 || c % (3 * num_heads) != 0))
    return "qkv last dim " + std::to_string(c) +
           " is not a positive multiple of 3*num_heads = " + std::to_string(3 * num_heads);
  std::string err = mapRule("H", dims[1], kh, dh);
  if (err.empty()) err = mapRule("W", dims[2], kw, dw);
  return err;
}

std::string na_check_rpb_dims(const int64_t* dims, int rank, int64_t num_heads, int64_t kh, int64_t kw) {
  const int64_t want[3] = {num_heads, 2 * kh - 1, 2 * kw - 1};
  bool ok = rank == 3 && dims != nullptr;
  for (int i = 0; ok && i < 3; ++i) ok = dims[i] < 0 || dims[i] == want[i];
  if (ok) return "";
  return "rpb must be [num_heads, 2*Kh-1, 2*Kw-1] = " + dimsStr(want, 3) + ", got " +
         (dims ? dimsStr(dims, rank) : "no dims");
}

std::string na_validate(const NAParams& p) {
  if (p.B < 0) return "batch size must be >= 0, got " + std::to_string(p.B);
  if (p.H < 1 || p.W < 1) return "feature map height and width must be >= 1, got " + pairStr(p.H, p.W);
  std::string err = na_check_attrs(p.heads, p.Kh, p.Kw, p.dh, p.dw, p.scale);
  if (!err.empty()) return err;
  if (p.D < 1) return "head dim must be >= 1 (qkv last dim must be 3*num_heads*head_dim), got " + std::to_string(p.D);
  err = mapRule("H", p.H, p.Kh, p.dh);
  if (err.empty()) err = mapRule("W", p.W, p.Kw, p.dw);
  return err;
}

}  // namespace natx
