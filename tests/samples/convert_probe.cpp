// Test helper for tests/samples/test_cpp_sample.py: the sample's host conversions
// (samples/cpp/common/tensors.cpp) on a file of float32 values.
//
//   convert_probe IN.f32 OUT_PREFIX
// writes OUT_PREFIX.f16 / .bf16 (fromFloat to float16 / bfloat16) and OUT_PREFIX.f16.f32 /
// .bf16.f32 (those back through toFloat).
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "common/tensors.h"

namespace {
void write(const std::string& path, const void* data, size_t bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: convert_probe IN.f32 OUT_PREFIX\n";
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  const std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<float> v(raw.size() / 4);
  std::copy(raw.begin(), raw.begin() + static_cast<std::ptrdiff_t>(v.size() * 4), reinterpret_cast<char*>(v.data()));
  const std::string prefix = argv[2];
  for (auto [t, ext] : {std::pair{nvinfer1::DataType::kHALF, ".f16"}, std::pair{nvinfer1::DataType::kBF16, ".bf16"},
                        std::pair{nvinfer1::DataType::kFLOAT, ".f32"}}) {
    const std::vector<uint8_t> packed = natx::fromFloat(v, t);
    write(prefix + ext, packed.data(), packed.size());
    const std::vector<float> back = natx::toFloat(packed.data(), v.size(), t);
    write(prefix + ext + ".f32", back.data(), back.size() * 4);
  }
  std::cout << natx::typeName(nvinfer1::DataType::kHALF) << " " << natx::isFloatType(nvinfer1::DataType::kINT32)
            << "\n";
  return 0;
}
