// Logging for the TensorRT plugin library: through TensorRT's logger, never by throwing.
//
// The logger is found, in order: the ILoggerFinder handed to setLoggerFinder()
// (TensorRT calls it when it loads the library with IPluginRegistry::loadLibrary,
// and when it loads a plugin library serialized into an engine); else the process's
// global TensorRT logger (`getLogger`, looked up at run time from whichever
// TensorRT library is loaded, see trtLibrary.h); else stderr (errors and warnings only).
#pragma once

#include <NvInferRuntime.h>

#include <string>

namespace natx {
namespace trt {

// Installs the finder (nullptr: forget it). Thread-safe.
void setLoggerFinder(nvinfer1::ILoggerFinder* finder) noexcept;

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
