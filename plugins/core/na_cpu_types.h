// Element types of the CPU kernel and their scalar conversions to and from float32.
// float16 is IEEE binary16 and bfloat16 the upper half of a float32; both are stored as raw
// 16-bit words (the layouts of ONNX / TensorRT / torch). Rounding to 16 bits is to nearest even,
// as ONNX Runtime's and torch's conversions do.
#pragma once

#include <cstdint>
#include <cstring>

namespace natx {

struct NAHalf {
  uint16_t bits;
};
struct NABFloat16 {
  uint16_t bits;
};

// _Float16 gives IEEE conversions on x86-64 (GCC >= 12, Clang >= 15) and AArch64.
#if !defined(__FLT16_MAX__)
#error "nat-export's CPU kernel needs a compiler with _Float16 (GCC >= 12 or Clang >= 15)"
#endif

inline float na_to_float(float v) {
  return v;
}
inline float na_to_float(NAHalf v) {
  _Float16 h;
  std::memcpy(&h, &v.bits, sizeof h);
  return static_cast<float>(h);
}
inline float na_to_float(NABFloat16 v) {
  const uint32_t u = static_cast<uint32_t>(v.bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

template <class T>
T na_from_float(float v);
template <>
inline float na_from_float<float>(float v) {
  return v;
}
template <>
inline NAHalf na_from_float<NAHalf>(float v) {
  const _Float16 h = static_cast<_Float16>(v);
  NAHalf r;
  std::memcpy(&r.bits, &h, sizeof h);
  return r;
}
template <>
inline NABFloat16 na_from_float<NABFloat16>(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return NABFloat16{static_cast<uint16_t>((u >> 16) | 0x40u)};  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even
  return NABFloat16{static_cast<uint16_t>(u >> 16)};
}

}  // namespace natx
