// The TensorRT library loaded in this process, found at run time: the plugin libraries link no
// libnvinfer (see docs/tensorrt_plugin.md), so the few exported TensorRT functions they use
// (getLogger, getPluginRegistry, the version queries) are looked up in whichever TensorRT
// library the process has already loaded.
#pragma once

#include <string>

namespace natx {
namespace trt {

// Looks up an exported TensorRT symbol (e.g. "getPluginRegistry", "getLogger") in the
// TensorRT library already loaded in this process: libnvinfer, then libnvinfer_lean
// (11, 10) by soname, then any globally loaded library named *nvinfer* that exports
// getPluginRegistry. Nothing new is loaded.
// Returns nullptr when no loaded TensorRT library exports it.
void* findLoadedTrtSymbol(const char* name) noexcept;

// The sonames findLoadedTrtSymbol() probes, nullptr-terminated.
extern const char* const kTrtSonames[];

// Major version of the loaded TensorRT library (getInferLibMajorVersion, or
// getInferLibVersion / 10000 on releases without it); 0 when none is loaded.
int loadedTrtMajorVersion() noexcept;

// No TensorRT library is loaded yet (polygraphy --plugins loads plugin libraries before it
// imports tensorrt): loads libnvinfer.so.11 / .10 by soname from the library search path,
// where system / tar / container installs put it, and keeps it loaded. Returns the loaded
// file, or "" when neither is on the search path.
std::string loadTrtFromSearchPath();

}  // namespace trt
}  // namespace natx
