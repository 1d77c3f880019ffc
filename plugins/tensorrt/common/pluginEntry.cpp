// Entry points of the two plugin libraries (this one source, compiled twice):
//
// libnat_export_trt.so (default): exports `getCreators` and `setLoggerFinder`, the
//   symbols IPluginRegistry::loadLibrary looks up. For trtexec --dynamicPlugins,
//   registry.load_library(path) in Python, and for plugin libraries serialized into
//   version-compatible engines (--setPluginsToSerialize), which the lean runtime loads.
//
// libnat_export_trt_autoreg.so (NATX_TRT_AUTOREG): registers the creator with the
//   plugin registry of the TensorRT library already loaded in the process when the
//   library itself is loaded (dlopen / ctypes.CDLL): trtexec --staticPlugins,
//   polygraphy --plugins, ONNX Runtime's TensorRT EP (trt_extra_plugin_lib_paths).
//   It exports `setLoggerFinder` only, never `getCreators`: passing it to loadLibrary
//   would register the creator twice.
//
// exports.map (a linker version script) keeps every other symbol local.
#include <NvInferRuntime.h>

#include <cstdint>
#include <string>

#include "common/naLogging.h"
#include "neighborhoodAttentionPlugin/naPlugin.h"

#define NATX_TRT_EXPORT extern "C" __attribute__((visibility("default")))

#ifndef NATX_CUDA_VERSION
#define NATX_CUDA_VERSION "unknown"
#endif
#ifndef NATX_NVCC
#define NATX_NVCC "unknown"
#endif
#ifndef NATX_CUDA_ARCHS
#define NATX_CUDA_ARCHS "unknown"
#endif
#define NATX_STR2(x) #x
#define NATX_STR(x) NATX_STR2(x)

namespace {
// What this library was built with, findable in the file (not a symbol):
// `strings libnat_export_trt.so | grep natx-build`, nat_export.native.plugin_build_info().
// The CUDA runtime is linked statically: its version must not be newer than the driver's.
__attribute__((used)) const char kBuildInfo[] =
    "natx-build: cuda-runtime=" NATX_CUDA_VERSION " nvcc=" NATX_NVCC " archs=" NATX_CUDA_ARCHS
    " trt-headers=" NATX_STR(NV_TENSORRT_MAJOR) "." NATX_STR(NV_TENSORRT_MINOR);
}  // namespace

NATX_TRT_EXPORT void setLoggerFinder(nvinfer1::ILoggerFinder* finder) noexcept {
  natx::trt::setLoggerFinder(finder);
}

#ifndef NATX_TRT_AUTOREG

NATX_TRT_EXPORT nvinfer1::IPluginCreatorInterface* const* getCreators(int32_t& nbCreators) noexcept {
  static nvinfer1::IPluginCreatorInterface* creators[1] = {nullptr};
  creators[0] = natx::trt::theCreator();
  nbCreators = creators[0] != nullptr ? 1 : 0;
  return creators;
}

#else  // NATX_TRT_AUTOREG

#include "common/naRegistry.h"

namespace {

struct AutoRegister {
  AutoRegister() noexcept {
    natx::trt::NAPluginCreator* creator = natx::trt::theCreator();
    if (creator == nullptr) return;  // already logged
    natx::trt::RegistryPath path = natx::trt::RegistryPath::kNone;
    const std::string err = natx::trt::registerWithLoadedTrt(*creator, creator->getPluginNamespace(), &path);
    if (!err.empty()) {
      natx::trt::logError("libnat_export_trt_autoreg.so: not registered: " + err);
    } else {
      natx::trt::logVerbose("registered creator NeighborhoodAttention2D version 1 in namespace '" +
                            std::string(creator->getPluginNamespace()) + "' through " +
                            natx::trt::registryPathName(path));
    }
  }
};

const AutoRegister g_autoRegister;

}  // namespace

#endif  // NATX_TRT_AUTOREG
