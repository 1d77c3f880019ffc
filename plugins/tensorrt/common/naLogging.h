// Logging for the TensorRT plugin library: through TensorRT's logger, never by throwing.
//
// The logger is found, in order: the ILoggerFinder handed to setLoggerFinder()
// (TensorRT calls it when it loads the library with IPluginRegistry::loadLibrary,
// and when it loads a plugin library serialized into an engine); else the process's
// global TensorRT logger (`getLogger`, looked up at run time from whichever
// TensorRT library is loaded, see trtLibrary.h); else stderr (errors and warnings only).
#pragma once

#include <NvInferRuntime.h>

#include <cstdint>
#include <string>

namespace natx {
namespace trt {

// Installs the finder (nullptr: forget it). Thread-safe. It is called through the layout of
// the loaded TensorRT's major (see below), not necessarily the compiled headers' class.
void setLoggerFinder(nvinfer1::ILoggerFinder* finder) noexcept;

// ILogger::log and ILoggerFinder::findLogger sit in vtable slot 0 in TensorRT 10 headers and in
// slot 4 in TensorRT 11, where both derive from IVersionedInterface (getAPILanguage,
// getInterfaceInfo, the two destructor entries come first). The finder and loggers TensorRT
// hands over are of the loaded TensorRT, which may be the other major than the headers this
// library was compiled against (10.14 from kernel-lens when no TensorRT is installed), so they
// are called through a mirror of that major's layout, as the registry is (naRegistry.h).
// These classes are never instantiated or derived from.
class LoggerV10 {
 public:
  virtual void log(nvinfer1::ILogger::Severity severity, const char* msg) noexcept = 0;

 protected:
  virtual ~LoggerV10() noexcept = 0;
};
class LoggerFinderV10 {
 public:
  virtual void* findLogger() = 0;

 protected:
  virtual ~LoggerFinderV10() noexcept = 0;
};
class LoggerV11 {
 public:
  virtual int32_t getAPILanguage() const noexcept = 0;  // IVersionedInterface, never called
  virtual void getInterfaceInfo() const noexcept = 0;   // (returns InterfaceInfo; never called)
  virtual ~LoggerV11() noexcept = 0;
  virtual void log(nvinfer1::ILogger::Severity severity, const char* msg) noexcept = 0;
};
class LoggerFinderV11 {
 public:
  virtual int32_t getAPILanguage() const noexcept = 0;
  virtual void getInterfaceInfo() const noexcept = 0;
  virtual ~LoggerFinderV11() noexcept = 0;
  virtual void* findLogger() = 0;
};

// The TensorRT major whose logger layout is used: the loaded TensorRT's, else (none loaded)
// the compiled headers' NV_TENSORRT_MAJOR.
int loggerAbiMajor() noexcept;

// finder->findLogger() through the layout of `major` (10 or 11); nullptr for other majors.
void* findLoggerAs(void* finder, int major) noexcept;
// logger->log(severity, msg) through the layout of `major`; false (nothing called) for other
// majors or a null logger.
bool logAs(void* logger, int major, nvinfer1::ILogger::Severity severity, const char* msg) noexcept;
// What log() does with the given finder and major (the finder's logger, else the process's
// global TensorRT logger, else stderr); the seam the host test drives with fake finders.
void logWith(void* finder, int major, nvinfer1::ILogger::Severity severity, const std::string& msg) noexcept;

// Logs "NeighborhoodAttention2D: <msg>" at the given severity. Never throws.
void log(nvinfer1::ILogger::Severity severity, const std::string& msg) noexcept;
inline void logError(const std::string& msg) noexcept {
  log(nvinfer1::ILogger::Severity::kERROR, msg);
}
inline void logWarning(const std::string& msg) noexcept {
  log(nvinfer1::ILogger::Severity::kWARNING, msg);
}
inline void logInfo(const std::string& msg) noexcept {
  log(nvinfer1::ILogger::Severity::kINFO, msg);
}
inline void logVerbose(const std::string& msg) noexcept {
  log(nvinfer1::ILogger::Severity::kVERBOSE, msg);
}

}  // namespace trt
}  // namespace natx
