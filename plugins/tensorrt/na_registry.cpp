#include "na_registry.h"

#include <dlfcn.h>

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

namespace {

// No TensorRT library is loaded yet (polygraphy --plugins loads plugin libraries before it
// imports tensorrt): load libnvinfer by soname from the library search path, which is
// where applications using a system / tar / container install of TensorRT get it from.
// Kept loaded for the life of the process. Returns "" or the loaded file.
std::string loadTrtFromSearchPath() {
  for (const char* so : {"libnvinfer.so.11", "libnvinfer.so.10"}) {
    void* h = dlopen(so, RTLD_NOW | RTLD_GLOBAL);
    if (h == nullptr) continue;
    void* sym = dlsym(h, "getPluginRegistry");
    Dl_info info{};
    if (sym != nullptr && dladdr(sym, &info) != 0 && info.dli_fname != nullptr) return info.dli_fname;
    if (sym != nullptr) return so;
  }
  return "";
}

}  // namespace

std::string registerWithLoadedTrt(nvinfer1::IPluginCreatorInterface& creator, const char* ns) noexcept {
  try {
    using GetRegistryFn = void* (*)();
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
    void* registry = getRegistry();
    if (registry == nullptr) return "getPluginRegistry() returned null";
    const int major = loadedTrtMajorVersion();
    bool ok = false;
    if (major == 10) {
      ok = static_cast<RegistryV10*>(registry)->registerCreator(creator, ns);
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
