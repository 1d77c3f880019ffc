#include "na_registry.h"

#include <cstdint>

#include "na_logging.h"

namespace natx {
namespace trt {

int loadedTrtMajorVersion() noexcept {
  using IntFn = int32_t (*)();
  if (auto major = reinterpret_cast<IntFn>(findLoadedTrtSymbol("getInferLibMajorVersion"))) return major();
  // Older 10.x releases: getInferLibVersion() = major*10000 + minor*100 + patch.
  if (auto ver = reinterpret_cast<IntFn>(findLoadedTrtSymbol("getInferLibVersion"))) return ver() / 10000;
  return 0;
}

std::string registerWithLoadedTrt(nvinfer1::IPluginCreatorInterface& creator, const char* ns) noexcept {
  try {
    using GetRegistryFn = void* (*)();
    auto getRegistry = reinterpret_cast<GetRegistryFn>(findLoadedTrtSymbol("getPluginRegistry"));
    if (getRegistry == nullptr)
      return "no TensorRT library is loaded in this process (looked for libnvinfer.so.11/10, "
             "libnvinfer_lean.so.11/10); load TensorRT first (import tensorrt), or load "
             "libnat_export_trt.so with IPluginRegistry::loadLibrary / trtexec --dynamicPlugins";
    void* registry = getRegistry();
    if (registry == nullptr) return "getPluginRegistry() returned null";
    const int major = loadedTrtMajorVersion();
    bool ok = false;
    if (major == 10) {
      ok = static_cast<nvinfer1::IPluginRegistry*>(registry)->registerCreator(creator, ns);
    } else if (major == 11) {
      ok = static_cast<RegistryV11*>(registry)->registerCreator(creator, ns);
    } else {
      return "the loaded TensorRT is version " + std::to_string(major) +
             ", this library can self-register only with TensorRT 10 or 11; use libnat_export_trt.so "
             "with IPluginRegistry::loadLibrary instead";
    }
    if (!ok)
      return std::string("the plugin registry refused the creator (already registered under namespace '") +
             (ns ? ns : "") + "'?)";
    return "";
  } catch (...) {
    return "registration failed";
  }
}

}  // namespace trt
}  // namespace natx
