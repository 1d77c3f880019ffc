// Test doubles for TensorRT's shape-expression interfaces (IExprBuilder,
// IDimensionExpr), so getOutputShapes() can be driven without the TensorRT library.
// The public classes forward to an implementation object (mImpl); we supply our own.
#pragma once

#include <NvInferRuntime.h>

#include <memory>
#include <string>
#include <vector>

namespace natx_test {

class FakeExpr;

class FakeExprBuilder : public nvinfer1::IExprBuilder {
 public:
  FakeExprBuilder();
  ~FakeExprBuilder() override;

  // A symbolic (not constant) dimension named `name`.
  const nvinfer1::IDimensionExpr* symbol(const std::string& name);
  // "7", "s3", "floor_div(s3,3)" ...
  static std::string str(const nvinfer1::IDimensionExpr* e);

  int operations = 0;  // number of operation() calls

 private:
  friend class BuilderImpl;
  const nvinfer1::IDimensionExpr* make(bool isConst, int64_t value, std::string name);
  std::unique_ptr<nvinfer1::apiv::VExprBuilder> impl_;
  std::vector<std::unique_ptr<FakeExpr>> exprs_;
};

// DimsExprs from a spec: each entry >= 0 is a constant, < 0 a symbol named "s<index>".
nvinfer1::DimsExprs makeDimsExprs(FakeExprBuilder& b, const std::vector<int64_t>& spec, const std::string& prefix);

}  // namespace natx_test
