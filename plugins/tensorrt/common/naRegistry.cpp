#include "common/naRegistry.h"

#include "common/naLogging.h"
#include "common/trtLibrary.h"

namespace natx {
namespace trt {

const char* registryPathName(RegistryPath path) noexcept {
  switch (path) {
    case RegistryPath::kCompiledHeaders: return "the compiled headers' IPluginRegistry";
    case RegistryPath::kMirroredV10: return "the mirrored TensorRT 10 registry layout";
    case RegistryPath::kMirroredV11: return "the mirrored TensorRT 11 registry layout";
    default: return "none";
  }
}

std::string registerCreatorWith(void* registry, int major, nvinfer1::IPluginCreatorInterface& creator, const char* ns,
                                RegistryPath* path) noexcept {
  try {
    if (path != nullptr) *path = RegistryPath::kNone;
    if (registry == nullptr) return "getPluginRegistry() returned null";
    RegistryPath via = RegistryPath::kNone;
    bool ok = false;
    if (major == NV_TENSORRT_MAJOR) {
      via = RegistryPath::kCompiledHeaders;
      ok = static_cast<nvinfer1::IPluginRegistry*>(registry)->registerCreator(creator, ns);
    } else if (major == 10) {
      via = RegistryPath::kMirroredV10;
      ok = static_cast<RegistryV10*>(registry)->registerCreator(creator, ns);
    } else if (major == 11) {
      via = RegistryPath::kMirroredV11;
      ok = static_cast<RegistryV11*>(registry)->registerCreator(creator, ns);
    } else {
      return "the loaded TensorRT is version " + std::to_string(major) +
             ", this library can self-register only with TensorRT 10 or 11; use libnat_export_trt.so "
             "with IPluginRegistry::loadLibrary instead";
    }
    if (!ok)
      return std::string("the plugin registry refused the creator (already registered under namespace '") +
             (ns ? ns : "") + "'?)";
    if (path != nullptr) *path = via;
    return "";
  } catch (...) {
    return "registration failed";
  }
}

std::string registerWithLoadedTrt(nvinfer1::IPluginCreatorInterface& creator, const char* ns,
                                  RegistryPath* path) noexcept {
  try {
    if (path != nullptr) *path = RegistryPath::kNone;
    // The headers' declaration, looked up at run time: the library links no libnvinfer.
    using GetRegistryFn = decltype(&::getPluginRegistry);
    auto getRegistry = reinterpret_cast<GetRegistryFn>(findLoadedTrtSymbol("getPluginRegistry"));
    if (getRegistry == nullptr) {
      const std::string loaded = loadTrtFromSearchPath();
      if (!loaded.empty()) {
        getRegistry = reinterpret_cast<GetRegistryFn>(findLoadedTrtSymbol("getPluginRegistry"));
        logInfo("no TensorRT library was loaded yet; loaded " + loaded +
                " from the library search path (load TensorRT before this library to use another copy)");
      }
    }
    if (getRegistry == nullptr)
      return "no TensorRT library is loaded in this process and libnvinfer.so.11/.10 is not on the library "
             "search path; import tensorrt (or preload it: LD_PRELOAD=<dir>/libnvinfer.so.10) before loading "
             "this library, or load libnat_export_trt.so with IPluginRegistry::loadLibrary / trtexec "
             "--dynamicPlugins instead";
    return registerCreatorWith(getRegistry(), loadedTrtMajorVersion(), creator, ns, path);
  } catch (...) {
    return "registration failed";
  }
}

}  // namespace trt
}  // namespace natx
