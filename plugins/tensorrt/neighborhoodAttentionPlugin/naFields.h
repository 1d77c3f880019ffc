// Fields of the NeighborhoodAttention2D plugin (op contract version 1): the attributes as
// TensorRT PluginFields, parsed and serialized. The rules the values must follow are the
// kernel core's (plugins/core/na_params.h); nothing here restates them. No CUDA here.
#pragma once

#include <NvInferRuntime.h>

#include <cstdint>
#include <string>
#include <vector>

namespace natx {
namespace trt {

constexpr const char* kPluginName = "NeighborhoodAttention2D";
constexpr const char* kPluginVersion = "1";

// Field names, as in the ONNX node's attributes.
constexpr const char* kFieldNumHeads = "num_heads";      // int32
constexpr const char* kFieldKernelSize = "kernel_size";  // int32 x2 [Kh, Kw] (x1: square)
constexpr const char* kFieldDilation = "dilation";       // int32 x2 [dh, dw] (x1: same on both axes)
constexpr const char* kFieldScale = "scale";             // float32
// Written by getFieldsToSerialize once the plugin knows whether rpb is connected, read back
// when the engine is deserialized (enqueue() is not told how many inputs there are).
constexpr const char* kFieldNumInputs = "num_inputs";  // int32, optional: 1 (qkv) or 2 (qkv, rpb)
// Passed by the ONNX parser with the node's other attributes; accepted and checked.
constexpr const char* kFieldPluginVersion = "plugin_version";      // char
constexpr const char* kFieldPluginNamespace = "plugin_namespace";  // char

struct NAAttrs {
  int32_t num_heads = 0;
  int32_t kernel[2] = {0, 0};
  int32_t dilation[2] = {0, 0};
  float scale = 0.f;
  int32_t num_inputs = 0;  // 0: not known yet; else 1 or 2
};

// natx::na_check_attrs on `a`: "" when the attributes are valid, else a one-line message
// naming the rule broken.
std::string validateAttrs(const NAAttrs& a);

// Parses a field collection into `out`. Returns "" on success, else a one-line message
// (missing field, wrong type or length, or the rule of na_check_attrs a value breaks). Unknown fields are ignored and
// listed in `ignored` (comma-separated) when it is non-null.
std::string parseFields(const nvinfer1::PluginFieldCollection* fc, NAAttrs& out, std::string* ignored = nullptr);

// "num_heads=4 kernel_size=[7,7] dilation=[1,1] scale=0.176777"
std::string describeAttrs(const NAAttrs& a);

// Owns the PluginFields that point into a copy of the attributes (for
// getFieldsToSerialize): num_heads, kernel_size, dilation, scale, and num_inputs when
// known. Not copyable: each plugin object owns its own.
class FieldStore {
 public:
  explicit FieldStore(const NAAttrs& a) { reset(a); }
  void reset(const NAAttrs& a);
  FieldStore(const FieldStore&) = delete;
  FieldStore& operator=(const FieldStore&) = delete;
  const nvinfer1::PluginFieldCollection* collection() const { return &fc_; }

 private:
  NAAttrs a_;
  std::vector<nvinfer1::PluginField> fields_;
  nvinfer1::PluginFieldCollection fc_{};
};

}  // namespace trt
}  // namespace natx
