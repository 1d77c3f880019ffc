// Registering the creator with the plugin registry of the TensorRT library already
// loaded in the process (used only by the self-registering library).
//
// The plugin library does not link libnvinfer: it finds `getPluginRegistry` at run time
// (na_logging.h: findLoadedTrtSymbol), and calls registerCreator through the registry
// layout of the loaded library's major version (below).
#pragma once

#include <NvInferRuntime.h>

#include <cstdint>
#include <string>

namespace natx {
namespace trt {

// IPluginRegistry's virtual-function layout differs between TensorRT 10 and 11, and the
// headers we compile against may be either (or 10.14 from the kernel-lens wheel). So both
// layouts are spelled out here, independent of the headers, and the one matching the
// loaded library's major version is used. Only the slots up to the ones used are
// declared; V2-era parameter types are void* (same ABI as the pointers/references they
// stand for). These classes are never instantiated or derived from; they have external
// linkage on purpose, so the compiler cannot conclude that no object of the type exists
// and devirtualize the calls.

// TensorRT 10.x (NvInferRuntimeCommon.h of 10.0 - 10.14): the IPluginV2-era methods
// first, then the destructor, then the rest in declaration order.
class RegistryV10 {
 public:
  virtual bool registerCreatorV2(void* creator, const char* ns) noexcept = 0;
  virtual void* getPluginCreatorList(int32_t* n) const noexcept = 0;
  virtual void* getPluginCreator(const char* name, const char* version, const char* ns) noexcept = 0;

 protected:
  virtual ~RegistryV10() noexcept = 0;

 public:
  virtual void setErrorRecorder(void* recorder) noexcept = 0;
  virtual void* getErrorRecorder() const noexcept = 0;
  virtual bool deregisterCreatorV2(const void* creator) noexcept = 0;
  virtual bool isParentSearchEnabled() const = 0;
  virtual void setParentSearchEnabled(bool enabled) = 0;
  virtual void* loadLibrary(const char* path) noexcept = 0;
  virtual void deregisterLibrary(void* handle) noexcept = 0;
  virtual bool registerCreator(nvinfer1::IPluginCreatorInterface& creator, const char* ns) noexcept = 0;
  virtual nvinfer1::IPluginCreatorInterface* const* getAllCreators(int32_t* n) const noexcept = 0;
  virtual nvinfer1::IPluginCreatorInterface* getCreator(const char* name, const char* version,
                                                        const char* ns) noexcept = 0;
};

// TensorRT 11.x: the IPluginV2-era methods are gone and the (pure virtual) destructor
// comes first. Checked against libnvinfer_lean.so.11 (11.4): isParentSearchEnabled,
// loadLibrary, registerCreator, getAllCreators and getCreator behave as the Python
// bindings report (tests/native/test_trt_lean.py).
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
