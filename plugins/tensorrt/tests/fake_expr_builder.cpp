#include "fake_expr_builder.h"

#include <algorithm>

namespace natx_test {

using nvinfer1::DimensionOperation;
using nvinfer1::IDimensionExpr;

namespace {
struct ExprImpl : nvinfer1::apiv::VDimensionExpr {
  bool is_const = false;
  int64_t value = 0;
  std::string name;
  bool isConstant() const override { return is_const; }
  int64_t getConstantValue() const override { return is_const ? value : -1; }
  bool isSizeTensor() const override { return false; }
};

const char* opName(DimensionOperation op) {
  switch (op) {
    case DimensionOperation::kSUM: return "sum";
    case DimensionOperation::kPROD: return "prod";
    case DimensionOperation::kMAX: return "max";
    case DimensionOperation::kMIN: return "min";
    case DimensionOperation::kSUB: return "sub";
    case DimensionOperation::kEQUAL: return "equal";
    case DimensionOperation::kLESS: return "less";
    case DimensionOperation::kFLOOR_DIV: return "floor_div";
    case DimensionOperation::kCEIL_DIV: return "ceil_div";
  }
  return "?";
}

int64_t floorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}
}  // namespace

class FakeExpr : public IDimensionExpr {
 public:
  FakeExpr() { mImpl = &impl; }
  ~FakeExpr() override = default;
  ExprImpl impl;
};

class BuilderImpl : public nvinfer1::apiv::VExprBuilder {
 public:
  explicit BuilderImpl(FakeExprBuilder& owner) : owner_(owner) {}
  const IDimensionExpr* constant(int64_t value) override { return owner_.make(true, value, std::to_string(value)); }
  const IDimensionExpr* operation(DimensionOperation op, const IDimensionExpr& a, const IDimensionExpr& b) override {
    ++owner_.operations;
    if (a.isConstant() && b.isConstant()) {
      const int64_t x = a.getConstantValue(), y = b.getConstantValue();
      int64_t r = 0;
      switch (op) {
        case DimensionOperation::kSUM: r = x + y; break;
        case DimensionOperation::kPROD: r = x * y; break;
        case DimensionOperation::kMAX: r = std::max(x, y); break;
        case DimensionOperation::kMIN: r = std::min(x, y); break;
        case DimensionOperation::kSUB: r = x - y; break;
        case DimensionOperation::kEQUAL: r = x == y; break;
        case DimensionOperation::kLESS: r = x < y; break;
        case DimensionOperation::kFLOOR_DIV: r = floorDiv(x, y); break;
        case DimensionOperation::kCEIL_DIV: r = -floorDiv(-x, y); break;
      }
      return owner_.make(true, r, std::to_string(r));
    }
    return owner_.make(false, 0,
                       std::string(opName(op)) + "(" + FakeExprBuilder::str(&a) + "," + FakeExprBuilder::str(&b) + ")");
  }
  const IDimensionExpr* declareSizeTensor(int32_t, const IDimensionExpr&, const IDimensionExpr&) override {
    return nullptr;
  }

 private:
  FakeExprBuilder& owner_;
};

FakeExprBuilder::FakeExprBuilder() : impl_(new BuilderImpl(*this)) {
  mImpl = impl_.get();
}
FakeExprBuilder::~FakeExprBuilder() = default;

const IDimensionExpr* FakeExprBuilder::make(bool isConst, int64_t value, std::string name) {
  exprs_.emplace_back(new FakeExpr());
  FakeExpr* e = exprs_.back().get();
  e->impl.is_const = isConst;
  e->impl.value = value;
  e->impl.name = std::move(name);
  return e;
}

const IDimensionExpr* FakeExprBuilder::symbol(const std::string& name) {
  return make(false, 0, name);
}

std::string FakeExprBuilder::str(const IDimensionExpr* e) {
  if (e == nullptr) return "<null>";
  return static_cast<const FakeExpr*>(e)->impl.name;
}

nvinfer1::DimsExprs makeDimsExprs(FakeExprBuilder& b, const std::vector<int64_t>& spec, const std::string& prefix) {
  nvinfer1::DimsExprs d{};
  d.nbDims = static_cast<int32_t>(spec.size());
  for (size_t i = 0; i < spec.size(); ++i)
    d.d[i] = spec[i] >= 0 ? b.constant(spec[i]) : b.symbol(prefix + std::to_string(i));
  return d;
}

}  // namespace natx_test
