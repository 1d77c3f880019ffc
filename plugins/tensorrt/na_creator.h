// Creator of the NeighborhoodAttention2D plugin (IPluginCreatorV3One).
#pragma once

#include <NvInferRuntime.h>

#include <string>
#include <vector>

namespace natx {
namespace trt {

// Environment variable read when a creator is constructed: the plugin namespace
// (default ""), for users who load the library through loadLibrary / trtexec and
// cannot call setPluginNamespace().
constexpr const char* kNamespaceEnv = "NATX_TRT_PLUGIN_NAMESPACE";

class NACreator final : public nvinfer1::IPluginCreatorV3One {
 public:
  NACreator();
  ~NACreator() override = default;

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
NACreator* theCreator() noexcept;

}  // namespace trt
}  // namespace natx
