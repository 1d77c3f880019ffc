// Shapes and types of TensorRT tensors.
#pragma once

#include <NvInferRuntime.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace natx {

// The number of elements (dynamic axes, -1, count as 0).
size_t volume(const nvinfer1::Dims& d);

// "1x3x224x224".
std::string dimsString(const nvinfer1::Dims& d);

// Bytes per element of a tensor of type `t`.
size_t elementSize(nvinfer1::DataType t);

// float32, float16 or bfloat16: the input / logits types this sample converts on the host
// (`nat-export trt --precision fp16/bf16` without an ONNX file exports a float16-typed input).
bool isFloatType(nvinfer1::DataType t);
const char* typeName(nvinfer1::DataType t);

// float32 -> the bytes of `t` (round to nearest even; inf / NaN kept). `t` must be isFloatType.
std::vector<uint8_t> fromFloat(const std::vector<float>& v, nvinfer1::DataType t);
// n elements of type `t` at `data` -> float32 (exact). `t` must be isFloatType.
std::vector<float> toFloat(const void* data, size_t n, nvinfer1::DataType t);

uint16_t floatToHalf(float f);
float halfToFloat(uint16_t h);
uint16_t floatToBf16(float f);
float bf16ToFloat(uint16_t b);

}  // namespace natx
