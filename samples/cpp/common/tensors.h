// Shapes and types of TensorRT tensors.
#pragma once

#include <NvInferRuntime.h>

#include <cstddef>
#include <string>

namespace natx {

// The number of elements (dynamic axes, -1, count as 0).
size_t volume(const nvinfer1::Dims& d);

// "1x3x224x224".
std::string dimsString(const nvinfer1::Dims& d);

// Bytes per element of a tensor of type `t`.
size_t elementSize(nvinfer1::DataType t);

}  // namespace natx
