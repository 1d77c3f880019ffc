// The TensorRT logger: warnings and errors on stderr (everything with --verbose); the last error is kept
// so that a failed TensorRT call can be reported in one line.
#pragma once

#include <NvInferRuntime.h>

#include <string>

namespace natx {

class Logger : public nvinfer1::ILogger {
 public:
  explicit Logger(bool verbose) : verbose_(verbose) {}
  void log(Severity severity, const char* msg) noexcept override;
  // The last error TensorRT logged, or "no error logged".
  std::string lastError() const { return lastError_.empty() ? "no error logged" : lastError_; }

 private:
  bool verbose_;
  std::string lastError_;
};

}  // namespace natx
