#include "na_creator.h"

#include <cstdlib>
#include <new>

#include "na_attrs.h"
#include "na_logging.h"
#include "na_plugin.h"

namespace natx {
namespace trt {

using nvinfer1::PluginField;
using nvinfer1::PluginFieldType;

NACreator::NACreator() {
  if (const char* ns = std::getenv(kNamespaceEnv)) namespace_ = ns;
  field_names_.emplace_back(kFieldNumHeads, nullptr, PluginFieldType::kINT32, 1);
  field_names_.emplace_back(kFieldKernelSize, nullptr, PluginFieldType::kINT32, 2);
  field_names_.emplace_back(kFieldDilation, nullptr, PluginFieldType::kINT32, 2);
  field_names_.emplace_back(kFieldScale, nullptr, PluginFieldType::kFLOAT32, 1);
  fc_.nbFields = static_cast<int32_t>(field_names_.size());
  fc_.fields = field_names_.data();
}

nvinfer1::IPluginV3* NACreator::createPlugin(const char* name, const nvinfer1::PluginFieldCollection* fc,
                                             nvinfer1::TensorRTPhase phase) noexcept {
  try {
    NAAttrs attrs;
    std::string ignored;
    const std::string err = parseFields(fc, attrs, &ignored);
    const std::string who = std::string("layer '") + (name ? name : "") + "': ";
    if (!err.empty()) {
      logError(who + err);
      return nullptr;
    }
    if (!ignored.empty()) logVerbose(who + "ignoring unknown field(s) " + ignored);
    (void)phase;  // the same object serves both phases
    return new NAPlugin(attrs, namespace_);
  } catch (const std::exception& e) {
    logError(std::string("createPlugin failed: ") + e.what());
  } catch (...) {
    logError("createPlugin failed");
  }
  return nullptr;
}

const nvinfer1::PluginFieldCollection* NACreator::getFieldNames() noexcept { return &fc_; }
const char* NACreator::getPluginName() const noexcept { return kPluginName; }
const char* NACreator::getPluginVersion() const noexcept { return kPluginVersion; }
const char* NACreator::getPluginNamespace() const noexcept { return namespace_.c_str(); }

void NACreator::setPluginNamespace(const char* ns) noexcept {
  try {
    namespace_ = ns ? ns : "";
  } catch (...) {
    logError("setPluginNamespace failed");
  }
}

NACreator* theCreator() noexcept {
  try {
    static NACreator* const creator = new NACreator();
    return creator;
  } catch (...) {
    logError("could not create the plugin creator");
    return nullptr;
  }
}

}  // namespace trt
}  // namespace natx
