// Registering the creator with the plugin registry of the TensorRT library already
// loaded in the process (used only by the self-registering library).
//
// The plugin library does not link libnvinfer: it finds `getPluginRegistry` at run time
// (na_logging.h: findLoadedTrtSymbol). The IPluginRegistry class layout differs between
// TensorRT 10 (the headers we build against) and TensorRT 11 (the deprecated IPluginV2
// methods were removed, which moves every virtual slot), so the call goes through the
// layout that matches the loaded library's major version.
#pragma once

#include <NvInferRuntime.h>

#include <cstdint>
#include <string>

namespace natx {
namespace trt {

// IPluginRegistry as TensorRT 11 declares it: a pure virtual destructor first, then the
// methods of TensorRT 10's class without the ones deprecated in 10.0 (IPluginV2
// creators). Only the slots up to the ones used here are declared. Checked against
// libnvinfer_lean.so.11 (11.4): isParentSearchEnabled, loadLibrary, registerCreator,
// getAllCreators and getCreator behave as the Python bindings report.
// Never instantiated or derived from; external linkage on purpose, so the compiler
// cannot conclude that no object of this type exists and devirtualize the calls.
class RegistryV11 {
 public:
  virtual ~RegistryV11() noexcept = 0;
  virtual void setErrorRecorder(void* recorder) noexcept = 0;
  virtual void* getErrorRecorder() const noexcept = 0;
  virtual bool isParentSearchEnabled() const = 0;
  virtual void setParentSearchEnabled(bool enabled) = 0;
  virtual void* loadLibrary(const char* path) noexcept = 0;
  virtual void deregisterLibrary(void* handle) noexcept = 0;
  virtual bool registerCreator(nvinfer1::IPluginCreatorInterface& creator, const char* ns) noexcept = 0;
  virtual nvinfer1::IPluginCreatorInterface* const* getAllCreators(int32_t* n) const noexcept = 0;
  virtual nvinfer1::IPluginCreatorInterface* getCreator(const char* name, const char* version,
                                                        const char* ns) noexcept = 0;
};

// Major version of the loaded TensorRT library, or 0 when none is loaded / unknown.
int loadedTrtMajorVersion() noexcept;

// Registers `creator` under `ns`. Returns "" on success, else a one-line message.
std::string registerWithLoadedTrt(nvinfer1::IPluginCreatorInterface& creator, const char* ns) noexcept;

}  // namespace trt
}  // namespace natx
