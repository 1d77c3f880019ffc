#include "na_logging.h"

#include <dlfcn.h>

#include <atomic>
#include <cstdio>
#include <cstring>

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

nvinfer1::ILogger* globalLogger() noexcept {
  using GetLoggerFn = nvinfer1::ILogger* (*)();
  auto fn = reinterpret_cast<GetLoggerFn>(findLoadedTrtSymbol("getLogger"));
  return fn ? fn() : nullptr;
}
}  // namespace

const char* const kTrtSonames[] = {"libnvinfer.so.11", "libnvinfer.so.10", "libnvinfer_lean.so.11",
                                   "libnvinfer_lean.so.10", nullptr};

void* findLoadedTrtSymbol(const char* name) noexcept {
  for (const char* const* so = kTrtSonames; *so != nullptr; ++so) {
    // RTLD_NOLOAD: only a library that is already loaded (globally, or locally as by
    // Python's tensorrt module) is returned; nothing new is loaded.
    void* h = dlopen(*so, RTLD_LAZY | RTLD_NOLOAD);
    if (h == nullptr) continue;
    void* sym = dlsym(h, name);
    dlclose(h);  // drops the reference RTLD_NOLOAD added; the library stays loaded
    if (sym != nullptr) return sym;
  }
  // Another soname (a custom TensorRT build): accept a global symbol only when it lives in
  // a library whose file name says nvinfer, so a generic name like getLogger cannot bind
  // to some unrelated library.
  if (void* anchor = dlsym(RTLD_DEFAULT, "getPluginRegistry")) {
    Dl_info info{};
    if (dladdr(anchor, &info) != 0 && info.dli_fname != nullptr && std::strstr(info.dli_fname, "nvinfer") != nullptr) {
      void* h = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
      if (h != nullptr) {
        void* sym = dlsym(h, name);
        dlclose(h);
        return sym;
      }
    }
  }
  return nullptr;
}

void setLoggerFinder(nvinfer1::ILoggerFinder* finder) noexcept { g_finder.store(finder); }

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
