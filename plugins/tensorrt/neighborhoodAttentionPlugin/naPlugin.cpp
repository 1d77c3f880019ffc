#include "neighborhoodAttentionPlugin/naPlugin.h"

#include <cuda_runtime_api.h>

#include <cstdlib>
#include <limits>
#include <new>
#include <sstream>
#include <utility>

#include "common/naLogging.h"
#include "na_cuda.h"

namespace natx {
namespace trt {

using nvinfer1::DataType;
using nvinfer1::Dims;
using nvinfer1::DynamicPluginTensorDesc;
using nvinfer1::PluginTensorDesc;
using nvinfer1::TensorFormat;

namespace {

const char* dtypeName(DataType t) {
  switch (t) {
    case DataType::kFLOAT: return "float32";
    case DataType::kHALF: return "float16";
    case DataType::kBF16: return "bfloat16";
    case DataType::kINT32: return "int32";
    default: return "an unsupported type";
  }
}

std::string dimsStr(const Dims& d) {
  std::ostringstream os;
  os << "[";
  for (int32_t i = 0; i < d.nbDims; ++i) os << (i ? "," : "") << d.d[i];
  os << "]";
  return os.str();
}

std::string countError(int32_t nbInputs, int32_t nbOutputs) {
  std::ostringstream os;
  os << "expects 1 or 2 inputs (qkv, optional rpb) and 1 output, got " << nbInputs << " inputs and " << nbOutputs
     << " outputs";
  return os.str();
}

bool countsOk(int32_t nbInputs, int32_t nbOutputs) {
  return (nbInputs == 1 || nbInputs == 2) && nbOutputs == 1;
}

}  // namespace

bool toNADType(DataType t, NADType& out) {
  switch (t) {
    case DataType::kFLOAT: out = NADType::kFloat32; return true;
    case DataType::kHALF: out = NADType::kFloat16; return true;
    case DataType::kBF16: out = NADType::kBFloat16; return true;
    default: return false;
  }
}

std::string checkBuildDims(const NAAttrs& a, const Dims* inDims, int32_t nbInputs) {
  const Dims& q = inDims[0];
  std::string err =
      na_check_qkv_dims(q.d, q.nbDims, a.num_heads, a.kernel[0], a.kernel[1], a.dilation[0], a.dilation[1]);
  if (!err.empty()) return err;
  // What the CUDA kernel supports (not an op rule).
  if (q.d[3] >= 0 && q.d[3] / (3LL * a.num_heads) > kNAMaxHeadDimCuda) {
    std::ostringstream os;
    os << "head dim " << q.d[3] / (3LL * a.num_heads) << " exceeds the supported maximum " << kNAMaxHeadDimCuda;
    return os.str();
  }
  if (nbInputs == 2) return na_check_rpb_dims(inDims[1].d, inDims[1].nbDims, a.num_heads, a.kernel[0], a.kernel[1]);
  return "";
}

std::string makeParams(const NAAttrs& a, const PluginTensorDesc* in, int32_t nbInputs, NAParams& p) {
  if (nbInputs != 1 && nbInputs != 2) return countError(nbInputs, 1);
  Dims dims[2];
  for (int32_t i = 0; i < nbInputs; ++i) {
    dims[i] = in[i].dims;
    for (int32_t k = 0; k < dims[i].nbDims; ++k) {
      if (dims[i].d[k] < 0 || dims[i].d[k] > std::numeric_limits<int32_t>::max())
        return "input " + std::to_string(i) + " has unsupported dims " + dimsStr(dims[i]);
    }
  }
  std::string err = checkBuildDims(a, dims, nbInputs);
  if (!err.empty()) return err;
  if (nbInputs == 2 && in[1].type != in[0].type)
    return std::string("rpb type ") + dtypeName(in[1].type) + " differs from qkv type " + dtypeName(in[0].type);
  p.B = static_cast<int>(dims[0].d[0]);
  p.H = static_cast<int>(dims[0].d[1]);
  p.W = static_cast<int>(dims[0].d[2]);
  p.heads = a.num_heads;
  p.D = static_cast<int>(dims[0].d[3] / (3LL * a.num_heads));
  p.Kh = a.kernel[0];
  p.Kw = a.kernel[1];
  p.dh = a.dilation[0];
  p.dw = a.dilation[1];
  p.scale = a.scale;
  p.has_rpb = nbInputs == 2;
  return na_validate(p);
}

NAPlugin::NAPlugin(const NAAttrs& attrs, std::string ns)
    : attrs_(attrs), namespace_(std::move(ns)), metadata_(describeAttrs(attrs)), fields_(attrs) {}

nvinfer1::IPluginCapability* NAPlugin::getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept {
  try {
    switch (type) {
      case nvinfer1::PluginCapabilityType::kCORE: return static_cast<nvinfer1::IPluginV3OneCore*>(this);
      case nvinfer1::PluginCapabilityType::kBUILD: return static_cast<nvinfer1::IPluginV3OneBuild*>(this);
      case nvinfer1::PluginCapabilityType::kRUNTIME: return static_cast<nvinfer1::IPluginV3OneRuntime*>(this);
    }
    logError("unknown plugin capability type " + std::to_string(static_cast<int>(type)));
  } catch (...) {
  }
  return nullptr;
}

nvinfer1::IPluginV3* NAPlugin::clone() noexcept {
  try {
    return new NAPlugin(attrs_, namespace_);
  } catch (const std::exception& e) {
    logError(std::string("clone failed: ") + e.what());
  } catch (...) {
    logError("clone failed");
  }
  return nullptr;
}

const char* NAPlugin::getPluginName() const noexcept {
  return kPluginName;
}
const char* NAPlugin::getPluginVersion() const noexcept {
  return kPluginVersion;
}
const char* NAPlugin::getPluginNamespace() const noexcept {
  return namespace_.c_str();
}

int32_t NAPlugin::configurePlugin(const DynamicPluginTensorDesc* in, int32_t nbInputs,
                                  const DynamicPluginTensorDesc* out, int32_t nbOutputs) noexcept {
  try {
    if (!countsOk(nbInputs, nbOutputs) || in == nullptr || out == nullptr) {
      logError(countError(nbInputs, nbOutputs));
      return -1;
    }
    NADType dt;
    if (!toNADType(in[0].desc.type, dt)) {
      logError(std::string("qkv type ") + dtypeName(in[0].desc.type) +
               " is not supported (float32, float16, bfloat16)");
      return -1;
    }
    for (int32_t i = 1; i < nbInputs; ++i) {
      if (in[i].desc.type != in[0].desc.type) {
        logError("all inputs must have the type of qkv");
        return -1;
      }
    }
    Dims dims[2] = {in[0].desc.dims, nbInputs == 2 ? in[1].desc.dims : Dims{}};
    std::string err = noteInputs(nbInputs);
    if (err.empty()) err = checkBuildDims(attrs_, dims, nbInputs);
    if (!err.empty()) {
      logError(err + " [" + metadata_ + "]");
      return -1;
    }
    // The profile's minimum may still break a shape rule (a map smaller than the window);
    // onShapeChange rejects such shapes at run time, so warn here rather than fail the build.
    const Dims& mn = in[0].min;
    const std::string small = na_check_qkv_dims(mn.d, mn.nbDims, attrs_.num_heads, attrs_.kernel[0], attrs_.kernel[1],
                                                attrs_.dilation[0], attrs_.dilation[1]);
    if (!small.empty()) {
      logWarning("the optimization profile allows qkv " + dimsStr(mn) + ": " + small +
                 "; such shapes will be rejected at run time [" + metadata_ + "]");
    }
    return 0;
  } catch (...) {
    logError("configurePlugin failed");
    return -1;
  }
}

int32_t NAPlugin::getOutputDataTypes(DataType* outputTypes, int32_t nbOutputs, const DataType* inputTypes,
                                     int32_t nbInputs) const noexcept {
  try {
    if (!countsOk(nbInputs, nbOutputs) || outputTypes == nullptr || inputTypes == nullptr) {
      logError(countError(nbInputs, nbOutputs));
      return -1;
    }
    outputTypes[0] = inputTypes[0];
    return 0;
  } catch (...) {
    return -1;
  }
}

int32_t NAPlugin::getOutputShapes(const nvinfer1::DimsExprs* inputs, int32_t nbInputs,
                                  const nvinfer1::DimsExprs* /*shapeInputs*/, int32_t /*nbShapeInputs*/,
                                  nvinfer1::DimsExprs* outputs, int32_t nbOutputs,
                                  nvinfer1::IExprBuilder& exprBuilder) noexcept {
  try {
    if (!countsOk(nbInputs, nbOutputs) || inputs == nullptr || outputs == nullptr) {
      logError(countError(nbInputs, nbOutputs));
      return -1;
    }
    const nvinfer1::DimsExprs& q = inputs[0];
    if (q.nbDims != 4) {
      logError("qkv must be 4-D [B, H, W, 3*heads*D], got rank " + std::to_string(q.nbDims));
      return -1;
    }
    // Catch what is already known (constant dims); the rest is checked in configurePlugin.
    Dims known[2];
    for (int32_t i = 0; i < nbInputs; ++i) {
      known[i].nbDims = inputs[i].nbDims;
      if (known[i].nbDims < 0 || known[i].nbDims > Dims::MAX_DIMS) {
        logError("input " + std::to_string(i) + " has invalid rank " + std::to_string(known[i].nbDims));
        return -1;
      }
      for (int32_t k = 0; k < known[i].nbDims; ++k) {
        const nvinfer1::IDimensionExpr* e = inputs[i].d[k];
        known[i].d[k] = (e != nullptr && e->isConstant()) ? e->getConstantValue() : -1;
      }
    }
    std::string err = checkBuildDims(attrs_, known, nbInputs);
    if (!err.empty()) {
      logError(err + " [" + metadata_ + "]");
      return -1;
    }
    const nvinfer1::IDimensionExpr* three = exprBuilder.constant(3);
    const nvinfer1::IDimensionExpr* c =
        three ? exprBuilder.operation(nvinfer1::DimensionOperation::kFLOOR_DIV, *q.d[3], *three) : nullptr;
    if (c == nullptr) {
      logError("could not build the output shape expression");
      return -1;
    }
    outputs[0].nbDims = 4;
    outputs[0].d[0] = q.d[0];
    outputs[0].d[1] = q.d[1];
    outputs[0].d[2] = q.d[2];
    outputs[0].d[3] = c;
    return 0;
  } catch (...) {
    logError("getOutputShapes failed");
    return -1;
  }
}

bool NAPlugin::supportsFormatCombination(int32_t pos, const DynamicPluginTensorDesc* inOut, int32_t nbInputs,
                                         int32_t nbOutputs) noexcept {
  try {
    if (!countsOk(nbInputs, nbOutputs) || inOut == nullptr || pos < 0 || pos >= nbInputs + nbOutputs) return false;
    const PluginTensorDesc& d = inOut[pos].desc;
    if (d.format != TensorFormat::kLINEAR) return false;
    if (pos == 0) {
      NADType dt;
      return toNADType(d.type, dt);
    }
    return d.type == inOut[0].desc.type;
  } catch (...) {
    return false;
  }
}

int32_t NAPlugin::getNbOutputs() const noexcept {
  return 1;
}

size_t NAPlugin::getWorkspaceSize(const DynamicPluginTensorDesc* /*inputs*/, int32_t /*nbInputs*/,
                                  const DynamicPluginTensorDesc* /*outputs*/, int32_t /*nbOutputs*/) const noexcept {
  return 0;
}

const char* NAPlugin::getTimingCacheID() noexcept {
  return metadata_.c_str();
}
const char* NAPlugin::getMetadataString() noexcept {
  return metadata_.c_str();
}

int32_t NAPlugin::onShapeChange(const PluginTensorDesc* in, int32_t nbInputs, const PluginTensorDesc* out,
                                int32_t nbOutputs) noexcept {
  try {
    if (!countsOk(nbInputs, nbOutputs) || in == nullptr || out == nullptr) {
      logError(countError(nbInputs, nbOutputs));
      return -1;
    }
    std::string err = noteInputs(nbInputs);
    if (err.empty()) err = prepare(in, nbInputs);
    const NAParams& p = params_;
    if (err.empty()) {
      const Dims& o = out[0].dims;
      if (o.nbDims != 4 || o.d[0] != p.B || o.d[1] != p.H || o.d[2] != p.W ||
          o.d[3] != static_cast<int64_t>(p.heads) * p.D)
        err = "output dims " + dimsStr(o) + " do not match the input";
    }
    if (!err.empty()) {
      logError(err + " [" + metadata_ + "]");
      return -1;
    }
    return 0;
  } catch (...) {
    logError("onShapeChange failed");
    return -1;
  }
}

int32_t NAPlugin::enqueue(const PluginTensorDesc* inputDesc, const PluginTensorDesc* /*outputDesc*/,
                          const void* const* inputs, void* const* outputs, void* /*workspace*/,
                          cudaStream_t stream) noexcept {
  try {
    if (inputDesc == nullptr || inputs == nullptr || outputs == nullptr) {
      logError("enqueue called without tensors");
      return -1;
    }
    // enqueue() is not told the number of inputs: it was recorded by onShapeChange (or
    // configurePlugin, or read back from the serialized fields).
    const int32_t nbInputs = attrs_.num_inputs;
    if (nbInputs != 1 && nbInputs != 2) {
      logError("enqueue: number of inputs unknown (onShapeChange was not called) [" + metadata_ + "]");
      return -1;
    }
    std::string err;
    if (!sameShape(inputDesc, nbInputs)) err = prepare(inputDesc, nbInputs);  // normally done in onShapeChange
    if (!err.empty()) {
      logError("enqueue: " + err + " [" + metadata_ + "]");
      return -1;
    }
    cudaError_t st = cudaSuccess;
    if (!plan_.valid) st = na2d_cuda_plan(params_, dtype_, na_cuda_env_path(), plan_);
    if (st == cudaSuccess)
      st = na2d_forward_cuda_planned(plan_, inputs[0], params_.has_rpb ? inputs[1] : nullptr, outputs[0], stream);
    if (st != cudaSuccess) {
      logError(std::string("enqueue: CUDA error ") + na_cuda_status_name(st) + ": " + na_cuda_status_string(st) + "; " +
               na_cuda_versions() + " [" + metadata_ + "]");
      return -1;
    }
    return 0;
  } catch (...) {
    logError("enqueue failed");
    return -1;
  }
}

nvinfer1::IPluginV3* NAPlugin::attachToContext(nvinfer1::IPluginResourceContext* /*context*/) noexcept {
  return clone();
}

const nvinfer1::PluginFieldCollection* NAPlugin::getFieldsToSerialize() noexcept {
  try {
    fields_.reset(attrs_);  // picks up num_inputs once known
    return fields_.collection();
  } catch (...) {
    logError("getFieldsToSerialize failed");
    return nullptr;
  }
}

bool NAPlugin::sameShape(const PluginTensorDesc* in, int32_t nbInputs) const {
  if (!shape_known_ || in[0].type != type_) return false;
  for (int32_t i = 0; i < nbInputs; ++i) {
    const Dims& a = in[i].dims;
    const Dims& b = shape_[i];
    if (a.nbDims != b.nbDims) return false;
    for (int32_t k = 0; k < a.nbDims; ++k)
      if (a.d[k] != b.d[k]) return false;
  }
  return true;
}

std::string NAPlugin::prepare(const PluginTensorDesc* in, int32_t nbInputs) {
  shape_known_ = false;
  plan_ = NALaunchPlan{};
  NAParams p{};
  std::string err = makeParams(attrs_, in, nbInputs, p);
  NADType dt = NADType::kFloat32;
  if (err.empty() && !toNADType(in[0].type, dt)) err = "unsupported input type";
  if (!err.empty()) return err;
  params_ = p;
  dtype_ = dt;
  type_ = in[0].type;
  for (int32_t i = 0; i < nbInputs; ++i) shape_[i] = in[i].dims;
  shape_known_ = true;
  // Device query, occupancy, path choice and kernel attributes, once per shape (never per enqueue).
  // Without a usable GPU here (a build machine, the host test) the plan stays invalid and enqueue
  // plans (and reports).
  const cudaError_t st = na2d_cuda_plan(params_, dtype_, na_cuda_env_path(), plan_);
  if (st == kNAPathNotApplicable) return std::string("kernel path: ") + na_cuda_status_string(st);
  if (st == cudaSuccess)
    logVerbose("qkv " + dimsStr(in[0].dims) + ": kernel " + na2d_cuda_plan_summary(plan_) + " [" + metadata_ + "]");
  return "";
}

std::string NAPlugin::noteInputs(int32_t nbInputs) {
  if (attrs_.num_inputs != 0 && attrs_.num_inputs != nbInputs)
    return "created for " + std::to_string(attrs_.num_inputs) + " input(s), now given " + std::to_string(nbInputs);
  attrs_.num_inputs = nbInputs;
  return "";
}

// ---------------------------------------------------------------- NAPluginCreator

NAPluginCreator::NAPluginCreator() {
  if (const char* ns = std::getenv(kNamespaceEnv)) namespace_ = ns;
  field_names_.emplace_back(kFieldNumHeads, nullptr, nvinfer1::PluginFieldType::kINT32, 1);
  field_names_.emplace_back(kFieldKernelSize, nullptr, nvinfer1::PluginFieldType::kINT32, 2);
  field_names_.emplace_back(kFieldDilation, nullptr, nvinfer1::PluginFieldType::kINT32, 2);
  field_names_.emplace_back(kFieldScale, nullptr, nvinfer1::PluginFieldType::kFLOAT32, 1);
  fc_.nbFields = static_cast<int32_t>(field_names_.size());
  fc_.fields = field_names_.data();
}

nvinfer1::IPluginV3* NAPluginCreator::createPlugin(const char* name, const nvinfer1::PluginFieldCollection* fc,
                                                   nvinfer1::TensorRTPhase phase) noexcept {
  try {
    NAAttrs attrs;
    std::string ignored;
    const std::string err = parseFields(fc, attrs, &ignored);
    const std::string who = std::string("layer '") + (name ? name : "") + "': ";
    if (!err.empty()) {
      logError(who + err);
      return nullptr;
    }
    if (!ignored.empty()) logVerbose(who + "ignoring unknown field(s) " + ignored);
    (void)phase;  // the same object serves both phases
    return new NAPlugin(attrs, namespace_);
  } catch (const std::exception& e) {
    logError(std::string("createPlugin failed: ") + e.what());
  } catch (...) {
    logError("createPlugin failed");
  }
  return nullptr;
}

const nvinfer1::PluginFieldCollection* NAPluginCreator::getFieldNames() noexcept {
  return &fc_;
}
const char* NAPluginCreator::getPluginName() const noexcept {
  return kPluginName;
}
const char* NAPluginCreator::getPluginVersion() const noexcept {
  return kPluginVersion;
}
const char* NAPluginCreator::getPluginNamespace() const noexcept {
  return namespace_.c_str();
}

void NAPluginCreator::setPluginNamespace(const char* ns) noexcept {
  try {
    namespace_ = ns ? ns : "";
  } catch (...) {
    logError("setPluginNamespace failed");
  }
}

NAPluginCreator* theCreator() noexcept {
  try {
    static NAPluginCreator* const creator = new NAPluginCreator();
    return creator;
  } catch (...) {
    logError("could not create the plugin creator");
    return nullptr;
  }
}

}  // namespace trt
}  // namespace natx
