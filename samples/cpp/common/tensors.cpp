#include "tensors.h"

#include <algorithm>
#include <cstdint>

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

}  // namespace natx
