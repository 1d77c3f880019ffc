// Registering the creator with the plugin registry of the TensorRT library loaded in the
// process (used only by the self-registering library, libnat_export_trt_autoreg.so).
//
// The library links no libnvinfer: `getPluginRegistry` is looked up at run time in the loaded
// TensorRT (trtLibrary.h). When that TensorRT has the major version of the headers this
// library was compiled against (NV_TENSORRT_MAJOR), registerCreator is called through the
// headers' own nvinfer1::IPluginRegistry. For the other supported major only, it is called
// through a hand-mirrored copy of that major's IPluginRegistry layout (below).
#pragma once

#include <NvInferRuntime.h>

#include <cstdint>
#include <string>

namespace natx {
namespace trt {

// IPluginRegistry's virtual-function layout differs between TensorRT 10 and 11 (11 removed the
// IPluginV2-era methods, which moves every other slot), and the headers we compile against may
// be either (10.14 from the kernel-lens wheel when no TensorRT is installed). These mirrors
// spell out both layouts independently of the headers; the one of the compiled major is only a
// cross-check (the host test compares RegistryV10 with the 10.x headers' class), the other is
// the fallback. Only the slots up to the ones used are declared; V2-era parameter types are
// void* (same ABI as the pointers/references they stand for). These classes are never
// instantiated or derived from; they have external linkage on purpose, so the compiler cannot
// conclude that no object of the type exists and devirtualize the calls.

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

// How a registration reached the registry.
enum class RegistryPath {
  kNone,             // not registered
  kCompiledHeaders,  // nvinfer1::IPluginRegistry of the headers compiled against
  kMirroredV10,      // RegistryV10 (fallback: TensorRT 10 loaded, other headers)
  kMirroredV11,      // RegistryV11 (fallback: TensorRT 11 loaded, other headers)
};
const char* registryPathName(RegistryPath path) noexcept;

// Registers `creator` under `ns` with `registry` (what getPluginRegistry() returned) of a
// TensorRT of major version `major`: through nvinfer1::IPluginRegistry when `major` is
// NV_TENSORRT_MAJOR, else through the mirrored layout of `major` (10 or 11; others are refused).
// Returns "" on success, else a one-line message; `path` (optional) says which way was taken.
std::string registerCreatorWith(void* registry, int major, nvinfer1::IPluginCreatorInterface& creator, const char* ns,
                                RegistryPath* path = nullptr) noexcept;

// Finds the loaded TensorRT (or loads libnvinfer from the search path when none is loaded)
// and registers `creator` under `ns` with its registry. "" on success, else a one-line message.
std::string registerWithLoadedTrt(nvinfer1::IPluginCreatorInterface& creator, const char* ns,
                                  RegistryPath* path = nullptr) noexcept;

}  // namespace trt
}  // namespace natx
