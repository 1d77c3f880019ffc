// NeighborhoodAttention2D TensorRT plugin (IPluginV3: core, build and runtime capabilities)
// and its creator (IPluginCreatorV3One).
//
// Inputs: qkv [B, H, W, 3*heads*D] and optionally rpb [heads, 2Kh-1, 2Kw-1], one data
// type (float32, float16 or bfloat16), linear format. Output [B, H, W, heads*D], same
// type. The math lives in natx::na2d_forward_cuda (plugins/core); this is glue only.
// Every method is noexcept and catches everything: errors are logged through
// TensorRT's logger and reported by return value.
#pragma once

#include <NvInferRuntime.h>

#include <string>
#include <vector>

#include "na_cuda.h"
#include "na_params.h"
#include "neighborhoodAttentionPlugin/naFields.h"

namespace natx {
namespace trt {

// Builds the kernel parameters for concrete input descriptors. Returns "" or a message.
std::string makeParams(const NAAttrs& a, const nvinfer1::PluginTensorDesc* in, int32_t nbInputs, NAParams& p);

// Checks the (possibly partly unknown, -1) build-time dims of the inputs with the core's shape
// rules (na_check_qkv_dims, na_check_rpb_dims) and the CUDA kernel's head-dim limit.
// Returns "" or a message.
std::string checkBuildDims(const NAAttrs& a, const nvinfer1::Dims* inDims, int32_t nbInputs);

// DataType -> kernel dtype; false for unsupported types.
bool toNADType(nvinfer1::DataType t, NADType& out);

class NAPlugin final : public nvinfer1::IPluginV3,
                       public nvinfer1::IPluginV3OneCore,
                       public nvinfer1::IPluginV3OneBuild,
                       public nvinfer1::IPluginV3OneRuntime {
 public:
  NAPlugin(const NAAttrs& attrs, std::string ns);
  ~NAPlugin() override = default;

  const NAAttrs& attrs() const { return attrs_; }

  // IPluginV3
  nvinfer1::IPluginCapability* getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept override;
  nvinfer1::IPluginV3* clone() noexcept override;

  // IPluginV3OneCore
  const char* getPluginName() const noexcept override;
  const char* getPluginVersion() const noexcept override;
  const char* getPluginNamespace() const noexcept override;

  // IPluginV3OneBuild
  int32_t configurePlugin(const nvinfer1::DynamicPluginTensorDesc* in, int32_t nbInputs,
                          const nvinfer1::DynamicPluginTensorDesc* out, int32_t nbOutputs) noexcept override;
  int32_t getOutputDataTypes(nvinfer1::DataType* outputTypes, int32_t nbOutputs, const nvinfer1::DataType* inputTypes,
                             int32_t nbInputs) const noexcept override;
  int32_t getOutputShapes(const nvinfer1::DimsExprs* inputs, int32_t nbInputs, const nvinfer1::DimsExprs* shapeInputs,
                          int32_t nbShapeInputs, nvinfer1::DimsExprs* outputs, int32_t nbOutputs,
                          nvinfer1::IExprBuilder& exprBuilder) noexcept override;
  bool supportsFormatCombination(int32_t pos, const nvinfer1::DynamicPluginTensorDesc* inOut, int32_t nbInputs,
                                 int32_t nbOutputs) noexcept override;
  int32_t getNbOutputs() const noexcept override;
  size_t getWorkspaceSize(const nvinfer1::DynamicPluginTensorDesc* inputs, int32_t nbInputs,
                          const nvinfer1::DynamicPluginTensorDesc* outputs, int32_t nbOutputs) const noexcept override;
  const char* getTimingCacheID() noexcept override;
  const char* getMetadataString() noexcept override;

  // IPluginV3OneRuntime
  int32_t onShapeChange(const nvinfer1::PluginTensorDesc* in, int32_t nbInputs, const nvinfer1::PluginTensorDesc* out,
                        int32_t nbOutputs) noexcept override;
  int32_t enqueue(const nvinfer1::PluginTensorDesc* inputDesc, const nvinfer1::PluginTensorDesc* outputDesc,
                  const void* const* inputs, void* const* outputs, void* workspace,
                  cudaStream_t stream) noexcept override;
  nvinfer1::IPluginV3* attachToContext(nvinfer1::IPluginResourceContext* context) noexcept override;
  const nvinfer1::PluginFieldCollection* getFieldsToSerialize() noexcept override;

 private:
  // Records the number of inputs (1 or 2); "" or a message when it contradicts what is known.
  std::string noteInputs(int32_t nbInputs);

  // Kernel parameters and launch plan for the shape onShapeChange last saw, so that enqueue
  // does no per-call setup (parameter checks, device queries, getenv, kernel attributes):
  // enqueue only compares the descriptors' dims and type with these and re-plans when they
  // differ (or when planning needed a GPU that onShapeChange could not reach).
  bool sameShape(const nvinfer1::PluginTensorDesc* in, int32_t nbInputs) const;
  std::string prepare(const nvinfer1::PluginTensorDesc* in, int32_t nbInputs);

  NAAttrs attrs_;
  std::string namespace_;
  std::string metadata_;
  FieldStore fields_;
  bool shape_known_ = false;
  nvinfer1::Dims shape_[2]{};
  nvinfer1::DataType type_ = nvinfer1::DataType::kFLOAT;
  NAParams params_{};
  NADType dtype_ = NADType::kFloat32;
  NALaunchPlan plan_{};
};

// Environment variable read when a creator is constructed: the plugin namespace
// (default ""), for users who load the library through loadLibrary / trtexec and
// cannot call setPluginNamespace().
constexpr const char* kNamespaceEnv = "NATX_TRT_PLUGIN_NAMESPACE";

class NAPluginCreator final : public nvinfer1::IPluginCreatorV3One {
 public:
  NAPluginCreator();
  ~NAPluginCreator() override = default;

  // Build phase: fields from the network (ONNX attributes). Runtime phase: the fields the
  // plugin returned from getFieldsToSerialize(). nullptr (with a logged error) when a
  // field is missing or invalid.
  nvinfer1::IPluginV3* createPlugin(const char* name, const nvinfer1::PluginFieldCollection* fc,
                                    nvinfer1::TensorRTPhase phase) noexcept override;
  const nvinfer1::PluginFieldCollection* getFieldNames() noexcept override;
  const char* getPluginName() const noexcept override;
  const char* getPluginVersion() const noexcept override;
  const char* getPluginNamespace() const noexcept override;

  // Not part of the TensorRT interface: set before registering the creator.
  void setPluginNamespace(const char* ns) noexcept;

 private:
  std::string namespace_;
  std::vector<nvinfer1::PluginField> field_names_;
  nvinfer1::PluginFieldCollection fc_{};
};

// The library's one creator (created on first use, never destroyed: the plugin registry
// may hold it until the process exits).
NAPluginCreator* theCreator() noexcept;

}  // namespace trt
}  // namespace natx
