// Host test of the NeighborhoodAttention2D TensorRT plugin: drives the creator and the
// plugin's core/build/runtime methods directly, with no GPU and no TensorRT library
// (a fake IExprBuilder stands in for TensorRT's shape expressions, a recording logger
// for its logger). Prints one line per check and a summary; exit code 0 iff all pass.
#include <NvInferRuntime.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "fake_expr_builder.h"
#include "test_fields.h"
#include "common/naLogging.h"
#include "common/trtLibrary.h"
#include "neighborhoodAttentionPlugin/naPlugin.h"
#include "common/naRegistry.h"

using namespace nvinfer1;
using natx::trt::NAPlugin;
using natx::trt::NAPluginCreator;
using natx_test::FakeExprBuilder;
using natx_test::Fields;
using natx_test::readSerialized;
using natx_test::Serialized;
using natx_test::validFields;

namespace {

// ---------------------------------------------------------------- harness

int g_pass = 0, g_fail = 0;
std::string g_test;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (cond) {                                                                \
      ++g_pass;                                                                \
    } else {                                                                   \
      ++g_fail;                                                                \
      std::printf("FAIL %s: %s (line %d)\n", g_test.c_str(), #cond, __LINE__); \
    }                                                                          \
  } while (0)

class RecordingLogger : public ILogger {
 public:
  void log(Severity severity, const char* msg) noexcept override { messages.push_back({severity, msg ? msg : ""}); }
  struct Msg {
    Severity severity;
    std::string text;
  };
  std::vector<Msg> messages;
  void clear() { messages.clear(); }
  int count(Severity s) const {
    int n = 0;
    for (const auto& m : messages) n += m.severity == s;
    return n;
  }
  bool hasError(const char* needle) const {
    for (const auto& m : messages)
      if (m.severity == Severity::kERROR && m.text.find(needle) != std::string::npos) return true;
    return false;
  }
  std::string last() const { return messages.empty() ? "" : messages.back().text; }
};

class Finder : public ILoggerFinder {
 public:
  explicit Finder(ILogger* l) : logger_(l) {}
  ILogger* findLogger() override { return logger_; }

 private:
  ILogger* logger_;
};

RecordingLogger g_log;
Finder g_finder(&g_log);

std::unique_ptr<NAPlugin> create(NAPluginCreator& c, const PluginFieldCollection* fc,
                                 TensorRTPhase phase = TensorRTPhase::kBUILD) {
  return std::unique_ptr<NAPlugin>(static_cast<NAPlugin*>(c.createPlugin("na_layer", fc, phase)));
}

Dims dims(std::vector<int64_t> v) {
  Dims d{};
  d.nbDims = static_cast<int32_t>(v.size());
  for (size_t i = 0; i < v.size(); ++i) d.d[i] = v[i];
  return d;
}

PluginTensorDesc desc(std::vector<int64_t> v, DataType t = DataType::kFLOAT) {
  PluginTensorDesc p{};
  p.dims = dims(std::move(v));
  p.type = t;
  p.format = TensorFormat::kLINEAR;
  p.scale = -1.f;
  return p;
}

DynamicPluginTensorDesc dyn(std::vector<int64_t> v, DataType t = DataType::kFLOAT, std::vector<int64_t> mn = {},
                            std::vector<int64_t> mx = {}) {
  DynamicPluginTensorDesc d{};
  d.desc = desc(v, t);
  d.min = dims(mn.empty() ? v : mn);
  d.max = dims(mx.empty() ? v : mx);
  d.opt = d.desc.dims;
  return d;
}

IPluginV3OneBuild* build(IPluginV3* p) {
  return static_cast<IPluginV3OneBuild*>(p->getCapabilityInterface(PluginCapabilityType::kBUILD));
}
IPluginV3OneRuntime* runtime(IPluginV3* p) {
  return static_cast<IPluginV3OneRuntime*>(p->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
}
IPluginV3OneCore* core(IPluginV3* p) {
  return static_cast<IPluginV3OneCore*>(p->getCapabilityInterface(PluginCapabilityType::kCORE));
}

// ---------------------------------------------------------------- tests

void testCreator() {
  NAPluginCreator c;
  CHECK(std::strcmp(c.getPluginName(), "NeighborhoodAttention2D") == 0);
  CHECK(std::strcmp(c.getPluginVersion(), "1") == 0);
  CHECK(std::strcmp(c.getPluginNamespace(), "") == 0);
  CHECK(std::strcmp(c.getInterfaceInfo().kind, "PLUGIN CREATOR_V3ONE") == 0);
  const PluginFieldCollection* fn = c.getFieldNames();
  CHECK(fn != nullptr && fn->nbFields == 4);
  if (fn && fn->nbFields == 4) {
    CHECK(std::strcmp(fn->fields[0].name, "num_heads") == 0 && fn->fields[0].type == PluginFieldType::kINT32 &&
          fn->fields[0].length == 1);
    CHECK(std::strcmp(fn->fields[1].name, "kernel_size") == 0 && fn->fields[1].type == PluginFieldType::kINT32 &&
          fn->fields[1].length == 2);
    CHECK(std::strcmp(fn->fields[2].name, "dilation") == 0 && fn->fields[2].type == PluginFieldType::kINT32 &&
          fn->fields[2].length == 2);
    CHECK(std::strcmp(fn->fields[3].name, "scale") == 0 && fn->fields[3].type == PluginFieldType::kFLOAT32 &&
          fn->fields[3].length == 1);
  }
  c.setPluginNamespace("natx_ns");
  CHECK(std::strcmp(c.getPluginNamespace(), "natx_ns") == 0);
  Fields f = validFields();
  auto p = create(c, f.fc());
  CHECK(p != nullptr);
  if (p) CHECK(std::strcmp(core(p.get())->getPluginNamespace(), "natx_ns") == 0);
}

void testCreateAndCapabilities() {
  NAPluginCreator c;
  Fields f = validFields(4, 7, 5, 2, 3, 0.2f);
  g_log.clear();
  auto p = create(c, f.fc());
  CHECK(p != nullptr);
  if (!p) return;
  CHECK(g_log.count(ILogger::Severity::kERROR) == 0);
  CHECK(std::strcmp(static_cast<IPluginV3*>(p.get())->getInterfaceInfo().kind, "PLUGIN") == 0);
  IPluginV3OneCore* co = core(p.get());
  CHECK(co != nullptr && build(p.get()) != nullptr && runtime(p.get()) != nullptr);
  CHECK(std::strcmp(co->getInterfaceInfo().kind, "PLUGIN_V3ONE_CORE") == 0);
  CHECK(std::strcmp(build(p.get())->getInterfaceInfo().kind, "PLUGIN_V3ONE_BUILD") == 0);
  CHECK(std::strcmp(runtime(p.get())->getInterfaceInfo().kind, "PLUGIN_V3ONE_RUNTIME") == 0);
  CHECK(std::strcmp(co->getPluginName(), "NeighborhoodAttention2D") == 0);
  CHECK(std::strcmp(co->getPluginVersion(), "1") == 0);
  CHECK(std::strcmp(co->getPluginNamespace(), "") == 0);
  CHECK(p->getCapabilityInterface(static_cast<PluginCapabilityType>(7)) == nullptr);
  const auto& a = p->attrs();
  CHECK(a.num_heads == 4 && a.kernel[0] == 7 && a.kernel[1] == 5 && a.dilation[0] == 2 && a.dilation[1] == 3 &&
        a.scale == 0.2f && a.num_inputs == 0);
  CHECK(build(p.get())->getNbOutputs() == 1);
  CHECK(build(p.get())->getWorkspaceSize(nullptr, 1, nullptr, 1) == 0);
  const char* md = build(p.get())->getMetadataString();
  CHECK(md != nullptr && std::string(md).find("num_heads=4 kernel_size=[7,5] dilation=[2,3]") != std::string::npos);
  CHECK(build(p.get())->getTimingCacheID() != nullptr);
  // Runtime phase with the same fields.
  auto r = create(c, f.fc(), TensorRTPhase::kRUNTIME);
  CHECK(r != nullptr);
}

void testLenientButValidFields() {
  NAPluginCreator c;
  {
    Fields f;  // int64 ints, float64 scale, square kernel as one int, parser strings
    f.i64("num_heads", {2}).i64("kernel_size", {3}).i64("dilation", {2}).f64("scale", 0.5);
    f.str("plugin_version", "1").str("plugin_namespace", "").i32("some_future_attr", {1});
    g_log.clear();
    auto p = create(c, f.fc());
    CHECK(p != nullptr);
    if (p) {
      const auto& a = p->attrs();
      CHECK(a.num_heads == 2 && a.kernel[0] == 3 && a.kernel[1] == 3 && a.dilation[0] == 2 && a.dilation[1] == 2 &&
            a.scale == 0.5f);
    }
    CHECK(g_log.count(ILogger::Severity::kERROR) == 0);
    CHECK(g_log.count(ILogger::Severity::kVERBOSE) == 1);  // the ignored unknown field
  }
}

void expectInvalid(NAPluginCreator& c, Fields& f, const char* needle, const char* what) {
  g_log.clear();
  IPluginV3* p = c.createPlugin("bad_layer", f.fc(), TensorRTPhase::kBUILD);
  g_test = std::string("invalid_fields/") + what;
  CHECK(p == nullptr);
  CHECK(g_log.hasError(needle));
  CHECK(g_log.hasError("bad_layer"));
  if (!g_log.hasError(needle)) std::printf("  logged: %s\n", g_log.last().c_str());
  delete p;
}

void expectValid(NAPluginCreator& c, Fields& f, const char* what) {
  g_log.clear();
  IPluginV3* p = c.createPlugin("good_layer", f.fc(), TensorRTPhase::kBUILD);
  g_test = std::string("invalid_fields/") + what;
  CHECK(p != nullptr);
  if (p == nullptr) std::printf("  logged: %s\n", g_log.last().c_str());
  delete p;
}

void testInvalidFields() {
  NAPluginCreator c;
  const std::string saved = g_test;
  {
    Fields f;
    f.i32("kernel_size", {7, 7}).i32("dilation", {1, 1}).f32("scale", 0.1f);
    expectInvalid(c, f, "missing required field(s): num_heads", "missing_num_heads");
  }
  {
    Fields f;
    f.i32("num_heads", {4}).f32("scale", 0.1f);
    expectInvalid(c, f, "missing required field(s): kernel_size dilation", "missing_kernel_dilation");
  }
  {
    Fields f;
    f.i32("num_heads", {4}).i32("kernel_size", {7, 7}).i32("dilation", {1, 1});
    expectInvalid(c, f, "missing required field(s): scale", "missing_scale");
  }
  {
    Fields f = validFields(4, 6, 7);
    expectInvalid(c, f, "kernel_size must be odd", "even_kernel");
  }
  {
    Fields f = validFields(4, 7, 0);
    expectInvalid(c, f, "kernel_size must be odd and >= 1", "zero_kernel");
  }
  {
    Fields f = validFields(4, -3, 7);
    expectInvalid(c, f, "kernel_size", "negative_kernel");
  }
  {
    Fields f = validFields(4, 7, 7, 0, 1);
    expectInvalid(c, f, "dilation must be >= 1", "zero_dilation");
  }
  {
    Fields f = validFields(0);
    expectInvalid(c, f, "num_heads must be >= 1", "zero_heads");
  }
  {
    Fields f = validFields(-2);
    expectInvalid(c, f, "num_heads must be >= 1", "negative_heads");
  }
  {
    Fields f = validFields(4, 7, 7, 1, 1, 0.f);
    expectInvalid(c, f, "scale must be a finite number > 0", "zero_scale");
  }
  {
    Fields f = validFields(4, 7, 7, 1, 1, -1.f);
    expectInvalid(c, f, "scale must be", "negative_scale");
  }
  {
    Fields f = validFields(4, 7, 7, 1, 1, std::numeric_limits<float>::quiet_NaN());
    expectInvalid(c, f, "scale must be", "nan_scale");
  }
  {
    Fields f = validFields(4, 7, 7, 1, 1, std::numeric_limits<float>::infinity());
    expectInvalid(c, f, "scale must be", "inf_scale");
  }
  {
    Fields f;
    f.f32("num_heads", 4.f).i32("kernel_size", {7, 7}).i32("dilation", {1, 1}).f32("scale", 0.1f);
    expectInvalid(c, f, "field 'num_heads' has type float32", "float_heads");
  }
  {
    Fields f;
    f.i32("num_heads", {4}).i32("kernel_size", {7, 7, 7}).i32("dilation", {1, 1}).f32("scale", 0.1f);
    expectInvalid(c, f, "field 'kernel_size' has type int32 and length 3", "kernel_len3");
  }
  {
    Fields f;
    f.i32("num_heads", {4}).i32("kernel_size", {7, 7}).i32("dilation", {1, 1}).i32("scale", {1});
    expectInvalid(c, f, "field 'scale' has type int32", "int_scale");
  }
  {
    Fields f;
    f.i32("num_heads", {4}).i64("kernel_size", {7, (1LL << 40) + 1}).i32("dilation", {1, 1}).f32("scale", 0.1f);
    expectInvalid(c, f, "kernel_size must be <= 4095 on both axes, got [7,1099511627777]", "kernel_overflow");
  }
  {
    Fields f;
    f.i64("num_heads", {1LL << 40}).i32("kernel_size", {7, 7}).i32("dilation", {1, 1}).f32("scale", 0.1f);
    expectInvalid(c, f, "num_heads must be <= 1048576", "heads_overflow");
  }
  // The upper limits are the core's (na_params.h), named by the message.
  {
    Fields f = validFields(4, 4095, 4095, 1, 1);
    expectValid(c, f, "kernel_4095");
  }
  {
    Fields f = validFields(4, 4097, 7);
    expectInvalid(c, f, "kernel_size must be <= 4095", "kernel_4097");
  }
  {
    Fields f = validFields(4, 7, 7, 4096, 1);
    expectInvalid(c, f, "dilation must be <= 4095", "dilation_4096");
  }
  {
    Fields f = validFields((1 << 20) + 1);
    expectInvalid(c, f, "num_heads must be <= 1048576", "heads_2^20+1");
  }
  {
    Fields f = validFields();
    f.str("plugin_version", "2");
    expectInvalid(c, f, "plugin_version is '2'", "wrong_plugin_version");
  }
  {
    Fields f = validFields();
    f.i32("num_inputs", {3});
    expectInvalid(c, f, "num_inputs must be 1 or 2", "bad_num_inputs");
  }
  {
    g_test = "invalid_fields/null_collection";
    g_log.clear();
    CHECK(c.createPlugin("bad_layer", nullptr, TensorRTPhase::kRUNTIME) == nullptr);
    CHECK(g_log.hasError("no plugin fields given"));
  }
  g_test = saved;
}

void testOutputDataTypes() {
  NAPluginCreator c;
  Fields f = validFields();
  auto p = create(c, f.fc());
  IPluginV3OneBuild* b = build(p.get());
  for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16}) {
    DataType in[2] = {t, t};
    DataType out[1] = {DataType::kINT32};
    CHECK(b->getOutputDataTypes(out, 1, in, 1) == 0 && out[0] == t);
    out[0] = DataType::kINT32;
    CHECK(b->getOutputDataTypes(out, 1, in, 2) == 0 && out[0] == t);
  }
  DataType in[3] = {DataType::kFLOAT, DataType::kFLOAT, DataType::kFLOAT};
  DataType out[2];
  g_log.clear();
  CHECK(b->getOutputDataTypes(out, 1, in, 3) != 0);
  CHECK(b->getOutputDataTypes(out, 2, in, 1) != 0);
  CHECK(g_log.hasError("expects 1 or 2 inputs"));
}

void testOutputShapes() {
  NAPluginCreator c;
  Fields f = validFields(4, 7, 7, 1, 1);
  auto p = create(c, f.fc());
  IPluginV3OneBuild* b = build(p.get());
  {
    FakeExprBuilder eb;  // constant shapes: qkv [2,14,14,384] -> [2,14,14,128]
    DimsExprs in[1] = {natx_test::makeDimsExprs(eb, {2, 14, 14, 3 * 4 * 32}, "q")};
    DimsExprs out[1]{};
    CHECK(b->getOutputShapes(in, 1, nullptr, 0, out, 1, eb) == 0);
    CHECK(out[0].nbDims == 4);
    CHECK(out[0].d[0] == in[0].d[0] && out[0].d[1] == in[0].d[1] && out[0].d[2] == in[0].d[2]);
    CHECK(out[0].d[3] != nullptr && out[0].d[3]->isConstant() && out[0].d[3]->getConstantValue() == 128);
  }
  {
    FakeExprBuilder eb;  // symbolic batch, H, W and channels
    DimsExprs in[2] = {natx_test::makeDimsExprs(eb, {-1, -1, -1, -1}, "s"),
                       natx_test::makeDimsExprs(eb, {4, 13, 13}, "r")};
    DimsExprs out[1]{};
    CHECK(b->getOutputShapes(in, 2, nullptr, 0, out, 1, eb) == 0);
    CHECK(out[0].nbDims == 4 && FakeExprBuilder::str(out[0].d[0]) == "s0" &&
          FakeExprBuilder::str(out[0].d[1]) == "s1" && FakeExprBuilder::str(out[0].d[2]) == "s2");
    CHECK(FakeExprBuilder::str(out[0].d[3]) == "floor_div(s3,3)");
    CHECK(out[0].d[3] != nullptr && !out[0].d[3]->isConstant());
  }
  struct Bad {
    std::vector<int64_t> qkv, rpb;
    int nbIn;
    const char* needle;
    const char* what;
  };
  const Bad bad[] = {
      {{2, 14, 14, 100}, {}, 1, "not a positive multiple of 3*num_heads = 12", "channels_not_divisible"},
      {{2, 14, 14, 3 * 4 * 129}, {}, 1, "head dim 129 exceeds the supported maximum 128", "head_dim_too_big"},
      {{2, 6, 14, 384}, {}, 1, "H = 6 is smaller than kernel_size*dilation = 7", "H_too_small"},
      {{2, 14, 5, 384}, {}, 1, "W = 5 is smaller than kernel_size*dilation = 7", "W_too_small"},
      {{2, 14, 384}, {}, 1, "qkv must be 4-D", "qkv_rank3"},
      {{2, 14, 14, 384}, {4, 13, 12}, 2, "rpb must be [num_heads, 2*Kh-1, 2*Kw-1] = [4,13,13]", "rpb_shape"},
      {{2, 14, 14, 384}, {3, 13, 13}, 2, "rpb must be", "rpb_heads"},
      {{2, 14, 14, 384}, {4, 13}, 2, "rpb must be", "rpb_rank"},
      {{2, 14, 14, 384}, {4, 13, 13}, 3, "expects 1 or 2 inputs", "three_inputs"},
  };
  const std::string saved = g_test;
  for (const Bad& t : bad) {
    g_test = std::string("output_shapes/") + t.what;
    FakeExprBuilder eb;
    DimsExprs in[3] = {natx_test::makeDimsExprs(eb, t.qkv, "q"), natx_test::makeDimsExprs(eb, t.rpb, "r"),
                       natx_test::makeDimsExprs(eb, t.rpb, "x")};
    DimsExprs out[1]{};
    g_log.clear();
    CHECK(b->getOutputShapes(in, t.nbIn, nullptr, 0, out, 1, eb) != 0);
    CHECK(g_log.hasError(t.needle));
    if (!g_log.hasError(t.needle)) std::printf("  logged: %s\n", g_log.last().c_str());
  }
  g_test = saved;
  {
    // Dilated: H must be >= Kh*dh.
    Fields fd = validFields(2, 3, 3, 4, 2);
    auto pd = create(c, fd.fc());
    FakeExprBuilder eb;
    DimsExprs ok[1] = {natx_test::makeDimsExprs(eb, {1, 12, 6, 3 * 2 * 8}, "q")};
    DimsExprs bad1[1] = {natx_test::makeDimsExprs(eb, {1, 11, 6, 3 * 2 * 8}, "q")};
    DimsExprs out[1]{};
    CHECK(build(pd.get())->getOutputShapes(ok, 1, nullptr, 0, out, 1, eb) == 0);
    CHECK(out[0].d[3] != nullptr && out[0].d[3]->getConstantValue() == 16);
    g_log.clear();
    CHECK(build(pd.get())->getOutputShapes(bad1, 1, nullptr, 0, out, 1, eb) != 0);
    CHECK(g_log.hasError("H = 11 is smaller than kernel_size*dilation = 12"));
  }
}

void testSupportsFormatCombination() {
  NAPluginCreator c;
  Fields f = validFields();
  auto p = create(c, f.fc());
  IPluginV3OneBuild* b = build(p.get());
  const int nTypes = EnumMax<DataType>();
  const int nFormats = EnumMax<TensorFormat>();
  for (int nbIn = 1; nbIn <= 2; ++nbIn) {
    const int n = nbIn + 1;
    // pos 0: exactly linear float32/float16/bfloat16.
    int accepted = 0;
    for (int fi = 0; fi < nFormats; ++fi) {
      for (int ti = 0; ti < nTypes; ++ti) {
        DynamicPluginTensorDesc io[3]{};
        io[0].desc.format = static_cast<TensorFormat>(fi);
        io[0].desc.type = static_cast<DataType>(ti);
        const bool want = fi == static_cast<int>(TensorFormat::kLINEAR) &&
                          (ti == static_cast<int>(DataType::kFLOAT) || ti == static_cast<int>(DataType::kHALF) ||
                           ti == static_cast<int>(DataType::kBF16));
        const bool got = b->supportsFormatCombination(0, io, nbIn, 1);
        CHECK(got == want);
        accepted += got;
      }
    }
    CHECK(accepted == 3);
    // pos >= 1: same type as input 0, linear.
    for (DataType t0 : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16}) {
      for (int pos = 1; pos < n; ++pos) {
        for (int fi = 0; fi < nFormats; ++fi) {
          for (int ti = 0; ti < nTypes; ++ti) {
            DynamicPluginTensorDesc io[3]{};
            for (int k = 0; k < pos; ++k) {
              io[k].desc.format = TensorFormat::kLINEAR;
              io[k].desc.type = t0;
            }
            io[pos].desc.format = static_cast<TensorFormat>(fi);
            io[pos].desc.type = static_cast<DataType>(ti);
            const bool want = fi == static_cast<int>(TensorFormat::kLINEAR) && ti == static_cast<int>(t0);
            CHECK(b->supportsFormatCombination(pos, io, nbIn, 1) == want);
          }
        }
      }
    }
  }
  DynamicPluginTensorDesc io[4]{};
  io[0].desc.format = TensorFormat::kLINEAR;
  io[0].desc.type = DataType::kFLOAT;
  CHECK(!b->supportsFormatCombination(0, io, 3, 1));   // too many inputs
  CHECK(!b->supportsFormatCombination(0, io, 1, 2));   // too many outputs
  CHECK(!b->supportsFormatCombination(2, io, 1, 1));   // pos out of range
  CHECK(!b->supportsFormatCombination(-1, io, 1, 1));  // pos out of range
}

void testConfigureAndShapeChange() {
  NAPluginCreator c;
  Fields f = validFields(4, 7, 7, 2, 1);
  {
    auto p = create(c, f.fc());
    IPluginV3OneBuild* b = build(p.get());
    DynamicPluginTensorDesc in[2] = {dyn({-1, -1, -1, 384}, DataType::kHALF, {1, 14, 7, 384}, {8, 64, 64, 384}),
                                     dyn({4, 13, 13}, DataType::kHALF)};
    DynamicPluginTensorDesc out[1] = {dyn({-1, -1, -1, 128}, DataType::kHALF)};
    g_log.clear();
    CHECK(b->configurePlugin(in, 2, out, 1) == 0);
    CHECK(g_log.count(ILogger::Severity::kERROR) == 0 && g_log.count(ILogger::Severity::kWARNING) == 0);
    CHECK(p->attrs().num_inputs == 2);
    // The profile's minimum H below Kh*dh: a warning, not an error.
    DynamicPluginTensorDesc small[2] = {dyn({-1, -1, -1, 384}, DataType::kHALF, {1, 8, 8, 384}, {8, 64, 64, 384}),
                                        dyn({4, 13, 13}, DataType::kHALF)};
    g_log.clear();
    CHECK(b->configurePlugin(small, 2, out, 1) == 0);
    CHECK(g_log.count(ILogger::Severity::kWARNING) == 1 && g_log.count(ILogger::Severity::kERROR) == 0);
    // Mixed types, unsupported type, wrong counts, wrong known dims.
    DynamicPluginTensorDesc mixed[2] = {dyn({2, 14, 14, 384}, DataType::kHALF), dyn({4, 13, 13}, DataType::kFLOAT)};
    g_log.clear();
    CHECK(b->configurePlugin(mixed, 2, out, 1) != 0 && g_log.hasError("all inputs must have the type of qkv"));
    DynamicPluginTensorDesc i32[2] = {dyn({2, 14, 14, 384}, DataType::kINT32), dyn({4, 13, 13}, DataType::kINT32)};
    g_log.clear();
    CHECK(b->configurePlugin(i32, 2, out, 1) != 0 && g_log.hasError("qkv type int32 is not supported"));
    g_log.clear();
    CHECK(b->configurePlugin(in, 1, out, 1) != 0 && g_log.hasError("created for 2 input(s), now given 1"));
    DynamicPluginTensorDesc badH[2] = {dyn({2, 13, 14, 384}, DataType::kHALF), dyn({4, 13, 13}, DataType::kHALF)};
    g_log.clear();
    CHECK(b->configurePlugin(badH, 2, out, 1) != 0 &&
          g_log.hasError("H = 13 is smaller than kernel_size*dilation = 14"));
  }
  {
    auto p = create(c, f.fc(), TensorRTPhase::kRUNTIME);
    IPluginV3OneRuntime* r = runtime(p.get());
    PluginTensorDesc in[2] = {desc({2, 14, 9, 384}), desc({4, 13, 13})};
    PluginTensorDesc out[1] = {desc({2, 14, 9, 128})};
    g_log.clear();
    CHECK(r->onShapeChange(in, 2, out, 1) == 0);
    CHECK(g_log.count(ILogger::Severity::kERROR) == 0);
    CHECK(p->attrs().num_inputs == 2);
    PluginTensorDesc badOut[1] = {desc({2, 14, 9, 127})};
    g_log.clear();
    CHECK(r->onShapeChange(in, 2, badOut, 1) != 0 && g_log.hasError("do not match the input"));
    PluginTensorDesc badW[2] = {desc({2, 14, 6, 384}), desc({4, 13, 13})};
    g_log.clear();
    CHECK(r->onShapeChange(badW, 2, out, 1) != 0 && g_log.hasError("W = 6 is smaller than kernel_size*dilation = 7"));
    PluginTensorDesc badRpbType[2] = {desc({2, 14, 9, 384}), desc({4, 13, 13}, DataType::kHALF)};
    g_log.clear();
    CHECK(r->onShapeChange(badRpbType, 2, out, 1) != 0 && g_log.hasError("rpb type float16 differs"));
    PluginTensorDesc zeroBatch[2] = {desc({0, 14, 9, 384}), desc({4, 13, 13})};
    PluginTensorDesc zeroOut[1] = {desc({0, 14, 9, 128})};
    CHECK(r->onShapeChange(zeroBatch, 2, zeroOut, 1) == 0);
  }
  {
    // makeParams: the kernel parameters TensorRT's shapes map to.
    natx::trt::NAAttrs a;
    a.num_heads = 3;
    a.kernel[0] = 5;
    a.kernel[1] = 3;
    a.dilation[0] = 2;
    a.dilation[1] = 1;
    a.scale = 0.25f;
    PluginTensorDesc in[2] = {desc({5, 11, 7, 3 * 3 * 16}), desc({3, 9, 5})};
    natx::NAParams prm{};
    CHECK(natx::trt::makeParams(a, in, 2, prm).empty());
    CHECK(prm.B == 5 && prm.H == 11 && prm.W == 7 && prm.heads == 3 && prm.D == 16 && prm.Kh == 5 && prm.Kw == 3 &&
          prm.dh == 2 && prm.dw == 1 && prm.scale == 0.25f && prm.has_rpb);
    CHECK(natx::trt::makeParams(a, in, 1, prm).empty() && !prm.has_rpb);
  }
}

void testEnqueueErrorsWithoutLaunching() {
  NAPluginCreator c;
  Fields f = validFields();
  auto p = create(c, f.fc(), TensorRTPhase::kRUNTIME);
  IPluginV3OneRuntime* r = runtime(p.get());
  PluginTensorDesc in[1] = {desc({1, 8, 8, 384})};
  PluginTensorDesc out[1] = {desc({1, 8, 8, 128})};
  const void* inputs[1] = {nullptr};
  void* outputs[1] = {nullptr};
  g_log.clear();
  // Number of inputs unknown: onShapeChange not called and not in the fields.
  CHECK(r->enqueue(in, out, inputs, outputs, nullptr, nullptr) != 0);
  CHECK(g_log.hasError("number of inputs unknown"));
  CHECK(r->onShapeChange(in, 1, out, 1) == 0);
  // Null device pointers: the kernel entry rejects them before any launch (any machine).
  g_log.clear();
  CHECK(r->enqueue(in, out, inputs, outputs, nullptr, nullptr) != 0);
  CHECK(g_log.hasError("CUDA error"));
  // One line with the CUDA runtime linked into the library and the driver's version.
  CHECK(g_log.hasError("; CUDA runtime ") && g_log.hasError(" (linked into this library), driver "));
  CHECK(g_log.count(ILogger::Severity::kERROR) == 1 && g_log.last().find('\n') == std::string::npos);
  PluginTensorDesc small[1] = {desc({1, 5, 8, 384})};
  g_log.clear();
  CHECK(r->enqueue(small, out, inputs, outputs, nullptr, nullptr) != 0);
  CHECK(g_log.hasError("H = 5 is smaller"));
  CHECK(r->enqueue(in, out, nullptr, outputs, nullptr, nullptr) != 0);
}

void testCloneAndSerializeRoundTrip() {
  NAPluginCreator c;
  c.setPluginNamespace("ns1");
  Fields f = validFields(6, 9, 5, 3, 2, 0.0625f);
  auto p = create(c, f.fc());
  CHECK(p != nullptr);
  if (!p) return;
  // Fields before the layer is configured: the four attributes.
  Serialized s0 = readSerialized(runtime(p.get())->getFieldsToSerialize());
  CHECK(s0.n == 4 && s0.typesOk);
  CHECK(s0.heads == 6 && s0.k0 == 9 && s0.k1 == 5 && s0.d0 == 3 && s0.d1 == 2 && s0.scale == 0.0625f);
  // After configure: num_inputs is serialized too.
  DynamicPluginTensorDesc in[1] = {dyn({-1, 40, 40, 3 * 6 * 8})};
  DynamicPluginTensorDesc out[1] = {dyn({-1, 40, 40, 6 * 8})};
  CHECK(build(p.get())->configurePlugin(in, 1, out, 1) == 0);
  // clone: same fields, same namespace, independent object.
  std::unique_ptr<IPluginV3> cl(p->clone());
  CHECK(cl != nullptr);
  if (!cl) return;
  CHECK(cl.get() != p.get());
  CHECK(std::strcmp(core(cl.get())->getPluginNamespace(), "ns1") == 0);
  Serialized s1 = readSerialized(runtime(cl.get())->getFieldsToSerialize());
  CHECK(s1.n == 5 && s1.typesOk && s1.num_inputs == 1);
  CHECK(s1.heads == 6 && s1.k0 == 9 && s1.k1 == 5 && s1.d0 == 3 && s1.d1 == 2 && s1.scale == 0.0625f);
  p.reset();  // the clone must not point into the original
  Serialized s2 = readSerialized(runtime(cl.get())->getFieldsToSerialize());
  CHECK(s2.heads == 6 && s2.scale == 0.0625f && s2.num_inputs == 1);
  // Runtime re-creation from the serialized fields (what engine deserialization does).
  auto re = create(c, runtime(cl.get())->getFieldsToSerialize(), TensorRTPhase::kRUNTIME);
  CHECK(re != nullptr);
  if (!re) return;
  const auto& a = re->attrs();
  CHECK(a.num_heads == 6 && a.kernel[0] == 9 && a.kernel[1] == 5 && a.dilation[0] == 3 && a.dilation[1] == 2 &&
        a.scale == 0.0625f && a.num_inputs == 1);
  // attachToContext clones too.
  std::unique_ptr<IPluginV3> att(runtime(re.get())->attachToContext(nullptr));
  CHECK(att != nullptr && att.get() != re.get());
  if (att) {
    Serialized s3 = readSerialized(runtime(att.get())->getFieldsToSerialize());
    CHECK(s3.heads == 6 && s3.k0 == 9 && s3.num_inputs == 1);
    // enqueue on the attached clone knows its inputs from the fields: it gets past that
    // check and fails on the null pointers inside the kernel entry instead.
    PluginTensorDesc qd[1] = {desc({1, 40, 40, 3 * 6 * 8})};
    PluginTensorDesc od[1] = {desc({1, 40, 40, 6 * 8})};
    const void* ins[1] = {nullptr};
    void* outs[1] = {nullptr};
    g_log.clear();
    CHECK(runtime(att.get())->enqueue(qd, od, ins, outs, nullptr, nullptr) != 0);
    CHECK(g_log.hasError("CUDA error") && !g_log.hasError("number of inputs unknown"));
  }
}

void testLoggerFallback() {
  // With no finder and no TensorRT library loaded, errors go to stderr without crashing.
  natx::trt::setLoggerFinder(nullptr);
  NAPluginCreator c;
  Fields f = validFields(0);
  CHECK(c.createPlugin("stderr_layer", f.fc(), TensorRTPhase::kBUILD) == nullptr);
  CHECK(natx::trt::findLoadedTrtSymbol("getPluginRegistry") == nullptr);
  natx::trt::setLoggerFinder(&g_finder);
}

// Loggers and finders of the TensorRT 11 layout, written from the 11 headers' shape: ILogger
// and ILoggerFinder derive from IVersionedInterface (the compiled headers' own class, the same in
// 10.x and 11.x), so log / findLogger come after its four vtable entries.
class Logger11 : public IVersionedInterface {
 public:
  InterfaceInfo getInterfaceInfo() const noexcept override { return InterfaceInfo{"ILogger", 1, 0}; }
  virtual void log(ILogger::Severity severity, const char* msg) noexcept { messages.push_back({severity, msg}); }
  std::vector<RecordingLogger::Msg> messages;
};
class Finder11 : public IVersionedInterface {
 public:
  explicit Finder11(void* l) : logger_(l) {}
  InterfaceInfo getInterfaceInfo() const noexcept override { return InterfaceInfo{"ILoggerFinder", 1, 0}; }
  virtual void* findLogger() { return ++calls, logger_; }
  int calls = 0;

 private:
  void* logger_;
};

void testLoggerAbi() {
  using natx::trt::logWith;
  using Sev = ILogger::Severity;
  // No TensorRT library is loaded here: the compiled headers' major is used.
  CHECK(natx::trt::loggerAbiMajor() == NV_TENSORRT_MAJOR);
#if NV_TENSORRT_MAJOR == 10
  // TensorRT 10 layout: the headers' own ILogger / ILoggerFinder (slot 0).
  RecordingLogger log10;
  Finder finder10(&log10);
  logWith(static_cast<ILoggerFinder*>(&finder10), 10, Sev::kERROR, "through a 10 finder");
  CHECK(log10.hasError("NeighborhoodAttention2D: through a 10 finder"));
  CHECK(natx::trt::findLoggerAs(static_cast<ILoggerFinder*>(&finder10), 10) == static_cast<ILogger*>(&log10));
#endif
  // TensorRT 11 layout (slot 4): the message reaches the 11 logger through an 11 finder.
  Logger11 log11;
  Finder11 finder11(&log11);
  logWith(&finder11, 11, Sev::kWARNING, "through an 11 finder");
  CHECK(finder11.calls == 1);
  CHECK(log11.messages.size() == 1 && log11.messages[0].severity == Sev::kWARNING &&
        log11.messages[0].text == "NeighborhoodAttention2D: through an 11 finder");
  CHECK(natx::trt::logAs(&log11, 11, Sev::kINFO, "direct") && log11.messages.size() == 2);
  // A finder that finds no logger (no builder / runtime yet), and no global logger: stderr.
  Finder11 empty11(nullptr);
  logWith(&empty11, 11, Sev::kERROR, "abi_stderr_11");
  CHECK(empty11.calls == 1 && log11.messages.size() == 2);
  // An unsupported major: nothing is called through an unknown layout.
  Finder11 other(&log11);
  CHECK(natx::trt::findLoggerAs(&other, 12) == nullptr && other.calls == 0);
  CHECK(!natx::trt::logAs(&log11, 9, Sev::kERROR, "x") && log11.messages.size() == 2);
  // The installed finder is used by log() with the compiled major when no TensorRT is loaded.
  g_log.clear();
  natx::trt::logError("through the installed finder");
  CHECK(g_log.hasError("through the installed finder"));
}

#if NV_TENSORRT_MAJOR == 10
// A registry with the 10.x headers' IPluginRegistry layout that records which method ran;
// called through natx::trt::RegistryV10 it must land in the same methods.
class RecordingRegistry10 : public IPluginRegistry {
 public:
  std::string last;
  bool registerCreator(IPluginCreator&, const char*) noexcept override { return note("registerCreatorV2"), false; }
  IPluginCreator* const* getPluginCreatorList(int32_t* const) const noexcept override {
    return const_cast<RecordingRegistry10*>(this)->note("getPluginCreatorList"), nullptr;
  }
  IPluginCreator* getPluginCreator(const char*, const char*, const char*) noexcept override {
    return note("getPluginCreator"), nullptr;
  }
  void setErrorRecorder(IErrorRecorder* const) noexcept override { note("setErrorRecorder"); }
  IErrorRecorder* getErrorRecorder() const noexcept override { return nullptr; }
  bool deregisterCreator(IPluginCreator const&) noexcept override { return note("deregisterCreatorV2"), false; }
  bool isParentSearchEnabled() const override { return false; }
  void setParentSearchEnabled(bool const) override { note("setParentSearchEnabled"); }
  PluginLibraryHandle loadLibrary(const char* path) noexcept override {
    note(std::string("loadLibrary:") + path);
    return this;
  }
  void deregisterLibrary(PluginLibraryHandle) noexcept override { note("deregisterLibrary"); }
  bool registerCreator(IPluginCreatorInterface& c, const char* ns) noexcept override {
    note(std::string("registerCreator:") + (c.getInterfaceInfo().kind) + ":" + ns);
    return true;
  }
  IPluginCreatorInterface* const* getAllCreators(int32_t* const n) const noexcept override {
    const_cast<RecordingRegistry10*>(this)->note("getAllCreators");
    *n = 0;
    return nullptr;
  }
  IPluginCreatorInterface* getCreator(const char* name, const char*, const char*) noexcept override {
    note(std::string("getCreator:") + name);
    return nullptr;
  }
  bool deregisterCreator(IPluginCreatorInterface const&) noexcept override { return note("deregisterCreator"), false; }
  IPluginResource* acquirePluginResource(const char*, IPluginResource*) noexcept override { return nullptr; }
  int32_t releasePluginResource(const char*) noexcept override { return 0; }
  IPluginCreatorInterface* const* getAllCreatorsRecursive(int32_t* const) noexcept override { return nullptr; }

 private:
  void note(const std::string& s) { last = s; }
};
#endif

void testRegistryLayouts() {
#if NV_TENSORRT_MAJOR == 10
  RecordingRegistry10 fake;
  auto* v10 = reinterpret_cast<natx::trt::RegistryV10*>(static_cast<IPluginRegistry*>(&fake));
  NAPluginCreator c;
  CHECK(v10->registerCreator(c, "ns") && fake.last == "registerCreator:PLUGIN CREATOR_V3ONE:ns");
  CHECK(v10->loadLibrary("x.so") != nullptr && fake.last == "loadLibrary:x.so");
  v10->getCreator("NeighborhoodAttention2D", "1", "");
  CHECK(fake.last == "getCreator:NeighborhoodAttention2D");
  int32_t n = -1;
  v10->getAllCreators(&n);
  CHECK(fake.last == "getAllCreators" && n == 0);
  v10->setParentSearchEnabled(true);
  CHECK(fake.last == "setParentSearchEnabled");
#else
  std::printf("  (registry layout check needs TensorRT 10.x headers; built with %d.x)\n", NV_TENSORRT_MAJOR);
#endif
}

// A registry with the TensorRT 11 layout (the mirror's slots, implemented), for the fallback.
class RecordingRegistry11 {
 public:
  std::string last;
  virtual ~RecordingRegistry11() noexcept = default;
  virtual void setErrorRecorder(void*) noexcept { last = "setErrorRecorder"; }
  virtual void* getErrorRecorder() const noexcept { return nullptr; }
  virtual bool isParentSearchEnabled() const { return false; }
  virtual void setParentSearchEnabled(bool) { last = "setParentSearchEnabled"; }
  virtual void* loadLibrary(const char*) noexcept { return last = "loadLibrary", nullptr; }
  virtual void deregisterLibrary(void*) noexcept { last = "deregisterLibrary"; }
  virtual bool registerCreator(IPluginCreatorInterface& c, const char* ns) noexcept {
    last = std::string("registerCreator:") + c.getInterfaceInfo().kind + ":" + ns;
    return true;
  }
};

void testRegistryDispatch() {
  using natx::trt::RegistryPath;
  NAPluginCreator c;
  RegistryPath path = RegistryPath::kNone;
#if NV_TENSORRT_MAJOR == 10
  // The loaded major is the compiled one: the headers' own IPluginRegistry is called.
  RecordingRegistry10 fake10;
  CHECK(natx::trt::registerCreatorWith(static_cast<IPluginRegistry*>(&fake10), 10, c, "ns10", &path).empty());
  CHECK(path == RegistryPath::kCompiledHeaders && fake10.last == "registerCreator:PLUGIN CREATOR_V3ONE:ns10");
#endif
  // The other major: the mirrored layout.
  RecordingRegistry11 fake11;
  const int other = NV_TENSORRT_MAJOR == 10 ? 11 : 10;
  if (other == 11) {
    CHECK(natx::trt::registerCreatorWith(&fake11, 11, c, "ns11", &path).empty());
    CHECK(path == RegistryPath::kMirroredV11 && fake11.last == "registerCreator:PLUGIN CREATOR_V3ONE:ns11");
  }
  // Unsupported majors and a null registry are refused with a message, nothing is called.
  std::string err = natx::trt::registerCreatorWith(&fake11, 9, c, "", &path);
  CHECK(err.find("the loaded TensorRT is version 9") != std::string::npos && path == RegistryPath::kNone);
  err = natx::trt::registerCreatorWith(nullptr, NV_TENSORRT_MAJOR, c, "", &path);
  CHECK(err.find("returned null") != std::string::npos && path == RegistryPath::kNone);
}

struct Test {
  const char* name;
  void (*fn)();
};

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  natx::trt::setLoggerFinder(&g_finder);
  const Test tests[] = {
      {"creator", testCreator},
      {"create_and_capabilities", testCreateAndCapabilities},
      {"lenient_valid_fields", testLenientButValidFields},
      {"invalid_fields", testInvalidFields},
      {"output_data_types", testOutputDataTypes},
      {"output_shapes", testOutputShapes},
      {"supports_format_combination", testSupportsFormatCombination},
      {"configure_and_shape_change", testConfigureAndShapeChange},
      {"enqueue_errors_without_launching", testEnqueueErrorsWithoutLaunching},
      {"clone_and_serialize_round_trip", testCloneAndSerializeRoundTrip},
      {"logger_fallback", testLoggerFallback},
      {"logger_abi", testLoggerAbi},
      {"registry_v10_layout", testRegistryLayouts},
      {"registry_dispatch", testRegistryDispatch},
  };
  int failedTests = 0;
  for (const Test& t : tests) {
    g_test = t.name;
    const int before = g_fail;
    t.fn();
    const bool ok = g_fail == before;
    failedTests += !ok;
    std::printf("%s %s\n", ok ? "PASS" : "FAIL", t.name);
  }
  std::printf("natx_trt_host_test: %d tests, %d failed; %d checks passed, %d failed\n",
              static_cast<int>(sizeof(tests) / sizeof(tests[0])), failedTests, g_pass, g_fail);
  return g_fail == 0 ? 0 : 1;
}
