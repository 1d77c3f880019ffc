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

// The process's global TensorRT logger (the headers' `getLogger`, looked up in the loaded library).
nvinfer1::ILogger* globalLogger() noexcept {
  using GetLoggerFn = decltype(&::getLogger);
  auto fn = reinterpret_cast<GetLoggerFn>(findLoadedTrtSymbol("getLogger"));
  return fn ? fn() : nullptr;
}
}  // namespace

void setLoggerFinder(nvinfer1::ILoggerFinder* finder) noexcept {
  g_finder.store(finder);
}

void log(nvinfer1::ILogger::Severity severity, const std::string& msg) noexcept {
  try {
    const std::string line = kPrefix + msg;
    nvinfer1::ILogger* logger = nullptr;
    if (nvinfer1::ILoggerFinder* f = g_finder.load()) logger = f->findLogger();
    if (logger == nullptr) logger = globalLogger();
    if (logger != nullptr) {
      logger->log(severity, line.c_str());
      return;
    }
    if (severity <= nvinfer1::ILogger::Severity::kWARNING)
      std::fprintf(stderr, "[nat_export_trt] %s: %s\n", severityName(severity), line.c_str());
  } catch (...) {
    // Out of memory while formatting: nothing sensible left to do.
  }
}

}  // namespace trt
}  // namespace natx
