#include "common/naLogging.h"

#include <atomic>
#include <cstdio>

#include "common/trtLibrary.h"

namespace natx {
namespace trt {

namespace {
std::atomic<nvinfer1::ILoggerFinder*> g_finder{nullptr};
constexpr const char* kPrefix = "NeighborhoodAttention2D: ";

const char* severityName(nvinfer1::ILogger::Severity s) {
  switch (s) {
    case nvinfer1::ILogger::Severity::kINTERNAL_ERROR: return "INTERNAL_ERROR";
    case nvinfer1::ILogger::Severity::kERROR: return "ERROR";
    case nvinfer1::ILogger::Severity::kWARNING: return "WARNING";
    case nvinfer1::ILogger::Severity::kINFO: return "INFO";
    default: return "VERBOSE";
  }
}

// The process's global TensorRT logger (`getLogger`, looked up in the loaded library), as an
// opaque pointer: its layout is the loaded TensorRT's (see logAs).
void* globalLogger() noexcept {
  using GetLoggerFn = void* (*)();
  auto fn = reinterpret_cast<GetLoggerFn>(findLoadedTrtSymbol("getLogger"));
  return fn ? fn() : nullptr;
}
}  // namespace

void setLoggerFinder(nvinfer1::ILoggerFinder* finder) noexcept {
  g_finder.store(finder);
}

int loggerAbiMajor() noexcept {
  const int loaded = loadedTrtMajorVersion();
  return loaded != 0 ? loaded : NV_TENSORRT_MAJOR;
}

void* findLoggerAs(void* finder, int major) noexcept {
  if (finder == nullptr) return nullptr;
  if (major == 10) return static_cast<LoggerFinderV10*>(finder)->findLogger();
  if (major == 11) return static_cast<LoggerFinderV11*>(finder)->findLogger();
  return nullptr;
}

bool logAs(void* logger, int major, nvinfer1::ILogger::Severity severity, const char* msg) noexcept {
  if (logger == nullptr) return false;
  if (major == 10) {
    static_cast<LoggerV10*>(logger)->log(severity, msg);
    return true;
  }
  if (major == 11) {
    static_cast<LoggerV11*>(logger)->log(severity, msg);
    return true;
  }
  return false;
}

void logWith(void* finder, int major, nvinfer1::ILogger::Severity severity, const std::string& msg) noexcept {
  try {
    const std::string line = kPrefix + msg;
    void* logger = findLoggerAs(finder, major);
    if (logger == nullptr) logger = globalLogger();
    if (logAs(logger, major, severity, line.c_str())) return;
    if (severity <= nvinfer1::ILogger::Severity::kWARNING) {
      const char* why = (logger != nullptr || finder != nullptr) && major != 10 && major != 11
                            ? " (TensorRT logger not used: unsupported TensorRT major)"
                            : "";
      std::fprintf(stderr, "[nat_export_trt] %s: %s%s\n", severityName(severity), line.c_str(), why);
    }
  } catch (...) {
    // Out of memory while formatting: nothing sensible left to do.
  }
}

void log(nvinfer1::ILogger::Severity severity, const std::string& msg) noexcept {
  logWith(g_finder.load(), loggerAbiMajor(), severity, msg);
}

}  // namespace trt
}  // namespace natx
