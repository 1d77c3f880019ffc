#include "neighborhoodAttentionPlugin/naFields.h"

#include <cstring>
#include <sstream>

#include "na_params.h"

namespace natx {
namespace trt {

using nvinfer1::PluginField;
using nvinfer1::PluginFieldType;

namespace {

const char* typeName(PluginFieldType t) {
  switch (t) {
    case PluginFieldType::kFLOAT16: return "float16";
    case PluginFieldType::kFLOAT32: return "float32";
    case PluginFieldType::kFLOAT64: return "float64";
    case PluginFieldType::kINT8: return "int8";
    case PluginFieldType::kINT16: return "int16";
    case PluginFieldType::kINT32: return "int32";
    case PluginFieldType::kINT64: return "int64";
    case PluginFieldType::kCHAR: return "char";
    case PluginFieldType::kDIMS: return "dims";
    case PluginFieldType::kBF16: return "bfloat16";
    default: return "unknown";
  }
}

// Reads integer element i of an integer-typed field into `v`; false if the type is not an
// integer type. The value's range is the attribute rules' business (na_params.h).
bool readInt(const PluginField& f, int i, int64_t& v) {
  switch (f.type) {
    case PluginFieldType::kINT8: v = static_cast<const int8_t*>(f.data)[i]; return true;
    case PluginFieldType::kINT16: v = static_cast<const int16_t*>(f.data)[i]; return true;
    case PluginFieldType::kINT32: v = static_cast<const int32_t*>(f.data)[i]; return true;
    case PluginFieldType::kINT64: v = static_cast<const int64_t*>(f.data)[i]; return true;
    default: return false;
  }
}

std::string badType(const PluginField& f, const char* want) {
  std::ostringstream os;
  os << "field '" << f.name << "' has type " << typeName(f.type) << " and length " << f.length << ", expected " << want;
  return os.str();
}

// An int field of length 1 or 2 into pair[2] (length 1: both entries).
std::string readPair(const PluginField& f, int64_t pair[2]) {
  if (f.data == nullptr || (f.length != 1 && f.length != 2)) return badType(f, "int32 x2");
  for (int i = 0; i < f.length; ++i)
    if (!readInt(f, i, pair[i])) return badType(f, "int32 x2");
  if (f.length == 1) pair[1] = pair[0];
  return "";
}

std::string readString(const PluginField& f, std::string& s) {
  if (f.type != PluginFieldType::kCHAR || f.data == nullptr || f.length < 0) return badType(f, "char (string)");
  const char* p = static_cast<const char*>(f.data);
  s.assign(p, strnlen(p, static_cast<size_t>(f.length)));
  return "";
}

}  // namespace

std::string validateAttrs(const NAAttrs& a) {
  return na_check_attrs(a.num_heads, a.kernel[0], a.kernel[1], a.dilation[0], a.dilation[1], a.scale);
}

std::string parseFields(const nvinfer1::PluginFieldCollection* fc, NAAttrs& out, std::string* ignored) {
  if (fc == nullptr) return "no plugin fields given (need num_heads, kernel_size, dilation, scale)";
  if (fc->nbFields < 0 || (fc->nbFields > 0 && fc->fields == nullptr)) return "malformed plugin field collection";
  // Integers are read as int64 and checked by the core's rules before they are narrowed.
  int64_t heads = 0, kernel[2] = {0, 0}, dilation[2] = {0, 0}, num_inputs = 0;
  float scale = 0.f;
  bool have_heads = false, have_kernel = false, have_dilation = false, have_scale = false;
  for (int32_t i = 0; i < fc->nbFields; ++i) {
    const PluginField& f = fc->fields[i];
    if (f.name == nullptr) continue;
    std::string err;
    if (std::strcmp(f.name, kFieldNumHeads) == 0) {
      if (f.data == nullptr || f.length != 1 || !readInt(f, 0, heads)) return badType(f, "int32 x1");
      have_heads = true;
    } else if (std::strcmp(f.name, kFieldKernelSize) == 0) {
      if (!(err = readPair(f, kernel)).empty()) return err;
      have_kernel = true;
    } else if (std::strcmp(f.name, kFieldDilation) == 0) {
      if (!(err = readPair(f, dilation)).empty()) return err;
      have_dilation = true;
    } else if (std::strcmp(f.name, kFieldScale) == 0) {
      if (f.data == nullptr || f.length != 1) return badType(f, "float32 x1");
      if (f.type == PluginFieldType::kFLOAT32) {
        scale = *static_cast<const float*>(f.data);
      } else if (f.type == PluginFieldType::kFLOAT64) {
        scale = static_cast<float>(*static_cast<const double*>(f.data));
      } else {
        return badType(f, "float32 x1");
      }
      have_scale = true;
    } else if (std::strcmp(f.name, kFieldNumInputs) == 0) {
      if (f.data == nullptr || f.length != 1 || !readInt(f, 0, num_inputs)) return badType(f, "int32 x1");
      if (num_inputs != 1 && num_inputs != 2) return "num_inputs must be 1 or 2, got " + std::to_string(num_inputs);
    } else if (std::strcmp(f.name, kFieldPluginVersion) == 0) {
      std::string v;
      if (!(err = readString(f, v)).empty()) return err;
      if (v != kPluginVersion)
        return "plugin_version is '" + v + "', this library implements version '" + kPluginVersion + "'";
    } else if (std::strcmp(f.name, kFieldPluginNamespace) == 0) {
      std::string v;
      if (!(err = readString(f, v)).empty()) return err;
    } else if (ignored != nullptr) {
      if (!ignored->empty()) *ignored += ",";
      *ignored += f.name;
    }
  }
  std::string missing;
  if (!have_heads) missing += " num_heads";
  if (!have_kernel) missing += " kernel_size";
  if (!have_dilation) missing += " dilation";
  if (!have_scale) missing += " scale";
  if (!missing.empty()) return "missing required field(s):" + missing;
  std::string err = na_check_attrs(heads, kernel[0], kernel[1], dilation[0], dilation[1], scale);
  if (!err.empty()) return err;
  // Every value is now within the rules' limits, far inside int32.
  NAAttrs a;
  a.num_heads = static_cast<int32_t>(heads);
  for (int i = 0; i < 2; ++i) {
    a.kernel[i] = static_cast<int32_t>(kernel[i]);
    a.dilation[i] = static_cast<int32_t>(dilation[i]);
  }
  a.scale = scale;
  a.num_inputs = static_cast<int32_t>(num_inputs);
  out = a;
  return "";
}

std::string describeAttrs(const NAAttrs& a) {
  std::ostringstream os;
  os << "num_heads=" << a.num_heads << " kernel_size=[" << a.kernel[0] << "," << a.kernel[1] << "] dilation=["
     << a.dilation[0] << "," << a.dilation[1] << "] scale=" << a.scale;
  return os.str();
}

void FieldStore::reset(const NAAttrs& a) {
  a_ = a;
  fields_.clear();
  fields_.emplace_back(kFieldNumHeads, &a_.num_heads, PluginFieldType::kINT32, 1);
  fields_.emplace_back(kFieldKernelSize, a_.kernel, PluginFieldType::kINT32, 2);
  fields_.emplace_back(kFieldDilation, a_.dilation, PluginFieldType::kINT32, 2);
  fields_.emplace_back(kFieldScale, &a_.scale, PluginFieldType::kFLOAT32, 1);
  if (a_.num_inputs != 0) fields_.emplace_back(kFieldNumInputs, &a_.num_inputs, PluginFieldType::kINT32, 1);
  fc_.nbFields = static_cast<int32_t>(fields_.size());
  fc_.fields = fields_.data();
}

}  // namespace trt
}  // namespace natx
