#include "logger.h"

#include <iostream>

namespace natx {

void Logger::log(Severity severity, const char* msg) noexcept {
  if (severity <= Severity::kERROR) lastError_ = msg;
  if (verbose_ || severity <= Severity::kWARNING) std::cerr << "[TensorRT] " << msg << "\n";
}

}  // namespace natx
