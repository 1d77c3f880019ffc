#include "tensors.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace natx {

size_t volume(const nvinfer1::Dims& d) {
  size_t v = 1;
  for (int i = 0; i < d.nbDims; ++i) v *= static_cast<size_t>(std::max<int64_t>(d.d[i], 0));
  return v;
}

std::string dimsString(const nvinfer1::Dims& d) {
  std::string s;
  for (int i = 0; i < d.nbDims; ++i) s += (i ? "x" : "") + std::to_string(d.d[i]);
  return s;
}

size_t elementSize(nvinfer1::DataType t) {
  switch (t) {
    case nvinfer1::DataType::kHALF:
    case nvinfer1::DataType::kBF16: return 2;
    case nvinfer1::DataType::kINT8:
    case nvinfer1::DataType::kUINT8:
    case nvinfer1::DataType::kBOOL:
    case nvinfer1::DataType::kFP8: return 1;
    case nvinfer1::DataType::kINT64: return 8;
    default: return 4;  // kFLOAT, kINT32 (sub-byte types get more than they need)
  }
}

bool isFloatType(nvinfer1::DataType t) {
  return t == nvinfer1::DataType::kFLOAT || t == nvinfer1::DataType::kHALF || t == nvinfer1::DataType::kBF16;
}

const char* typeName(nvinfer1::DataType t) {
  switch (t) {
    case nvinfer1::DataType::kFLOAT: return "float32";
    case nvinfer1::DataType::kHALF: return "float16";
    case nvinfer1::DataType::kBF16: return "bfloat16";
    case nvinfer1::DataType::kINT32: return "int32";
    case nvinfer1::DataType::kINT64: return "int64";
    case nvinfer1::DataType::kINT8: return "int8";
    case nvinfer1::DataType::kUINT8: return "uint8";
    case nvinfer1::DataType::kBOOL: return "bool";
    default: return "another type";
  }
}

namespace {
uint32_t bits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  return x;
}
float fromBits(uint32_t x) {
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}
// x >> shift, rounded to nearest even.
uint32_t shiftRound(uint32_t x, int shift) {
  const uint32_t kept = x >> shift, rem = x & ((1u << shift) - 1u), half = 1u << (shift - 1);
  return kept + (rem > half || (rem == half && (kept & 1u)));
}
}  // namespace

uint16_t floatToHalf(float f) {
  const uint32_t x = bits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const int exp = static_cast<int>((x >> 23) & 0xffu);
  uint32_t mant = x & 0x7fffffu;
  if (exp == 0xff) return static_cast<uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0u));  // inf, NaN
  const int e = exp - 127 + 15;
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow: inf
  if (e <= 0) {                                               // subnormal half (or zero)
    if (e < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000u;
    return static_cast<uint16_t>(sign | shiftRound(mant, 14 - e));
  }
  // A carry out of the mantissa moves into the exponent (up to inf), as it should.
  return static_cast<uint16_t>(sign | ((static_cast<uint32_t>(e) << 10) + shiftRound(mant, 13)));
}

float halfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const int exp = (h >> 10) & 0x1f;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    const float v = static_cast<float>(mant) * 5.9604644775390625e-08f;  // 2^-24
    return sign ? -v : v;
  }
  if (exp == 31) return fromBits(sign | 0x7f800000u | (mant << 13));
  return fromBits(sign | (static_cast<uint32_t>(exp - 15 + 127) << 23) | (mant << 13));
}

uint16_t floatToBf16(float f) {
  const uint32_t x = bits(f);
  if ((x & 0x7f800000u) == 0x7f800000u && (x & 0x7fffffu)) return static_cast<uint16_t>((x >> 16) | 0x40u);  // NaN
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

float bf16ToFloat(uint16_t b) {
  return fromBits(static_cast<uint32_t>(b) << 16);
}

std::vector<uint8_t> fromFloat(const std::vector<float>& v, nvinfer1::DataType t) {
  std::vector<uint8_t> out(v.size() * elementSize(t));
  if (t == nvinfer1::DataType::kFLOAT) {
    if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
    return out;
  }
  for (size_t i = 0; i < v.size(); ++i) {
    const uint16_t h = t == nvinfer1::DataType::kHALF ? floatToHalf(v[i]) : floatToBf16(v[i]);
    std::memcpy(out.data() + 2 * i, &h, 2);
  }
  return out;
}

std::vector<float> toFloat(const void* data, size_t n, nvinfer1::DataType t) {
  std::vector<float> out(n);
  const auto* p = static_cast<const uint8_t*>(data);
  if (t == nvinfer1::DataType::kFLOAT) {
    if (n) std::memcpy(out.data(), p, n * 4);
    return out;
  }
  for (size_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, p + 2 * i, 2);
    out[i] = t == nvinfer1::DataType::kHALF ? halfToFloat(h) : bf16ToFloat(h);
  }
  return out;
}

}  // namespace natx
