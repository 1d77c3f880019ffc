// Helpers shared by the TensorRT plugin tests: building PluginFieldCollections and
// reading back what a plugin serializes.
#pragma once

#include <NvInferRuntime.h>

#include <memory>
#include <string>
#include <vector>

namespace natx_test {

using namespace nvinfer1;

// Field collection builder that owns its data.
class Fields {
 public:
  Fields& i32(const char* name, std::vector<int32_t> v) {
    i32_.push_back(std::make_unique<std::vector<int32_t>>(std::move(v)));
    fields_.emplace_back(name, i32_.back()->data(), PluginFieldType::kINT32, static_cast<int32_t>(i32_.back()->size()));
    return *this;
  }
  Fields& i64(const char* name, std::vector<int64_t> v) {
    i64_.push_back(std::make_unique<std::vector<int64_t>>(std::move(v)));
    fields_.emplace_back(name, i64_.back()->data(), PluginFieldType::kINT64, static_cast<int32_t>(i64_.back()->size()));
    return *this;
  }
  Fields& f32(const char* name, float v) {
    f32_.push_back(std::make_unique<float>(v));
    fields_.emplace_back(name, f32_.back().get(), PluginFieldType::kFLOAT32, 1);
    return *this;
  }
  Fields& f64(const char* name, double v) {
    f64_.push_back(std::make_unique<double>(v));
    fields_.emplace_back(name, f64_.back().get(), PluginFieldType::kFLOAT64, 1);
    return *this;
  }
  Fields& str(const char* name, const std::string& v) {
    str_.push_back(std::make_unique<std::string>(v));
    fields_.emplace_back(name, str_.back()->c_str(), PluginFieldType::kCHAR, static_cast<int32_t>(v.size() + 1));
    return *this;
  }
  const PluginFieldCollection* fc() {
    fc_.nbFields = static_cast<int32_t>(fields_.size());
    fc_.fields = fields_.data();
    return &fc_;
  }

 private:
  std::vector<PluginField> fields_;
  std::vector<std::unique_ptr<std::vector<int32_t>>> i32_;
  std::vector<std::unique_ptr<std::vector<int64_t>>> i64_;
  std::vector<std::unique_ptr<float>> f32_;
  std::vector<std::unique_ptr<double>> f64_;
  std::vector<std::unique_ptr<std::string>> str_;
  PluginFieldCollection fc_{};
};

inline Fields validFields(int heads = 4, int k0 = 7, int k1 = 7, int d0 = 1, int d1 = 1, float scale = 0.125f) {
  Fields f;
  f.i32("num_heads", {heads}).i32("kernel_size", {k0, k1}).i32("dilation", {d0, d1}).f32("scale", scale);
  return f;
}

// Reads the fields a plugin serializes into a map-like struct.
struct Serialized {
  int32_t heads = -1, k0 = -1, k1 = -1, d0 = -1, d1 = -1, num_inputs = 0;
  float scale = -1.f;
  int n = 0;
  bool typesOk = true;
};

inline Serialized readSerialized(const PluginFieldCollection* fc) {
  Serialized s;
  if (fc == nullptr) return s;
  s.n = fc->nbFields;
  for (int i = 0; i < fc->nbFields; ++i) {
    const PluginField& f = fc->fields[i];
    const std::string name = f.name;
    if (name == "scale") {
      s.typesOk &= f.type == PluginFieldType::kFLOAT32 && f.length == 1;
      s.scale = *static_cast<const float*>(f.data);
      continue;
    }
    s.typesOk &= f.type == PluginFieldType::kINT32;
    const int32_t* v = static_cast<const int32_t*>(f.data);
    if (name == "num_heads") s.heads = v[0], s.typesOk &= f.length == 1;
    if (name == "kernel_size") s.k0 = v[0], s.k1 = v[1], s.typesOk &= f.length == 2;
    if (name == "dilation") s.d0 = v[0], s.d1 = v[1], s.typesOk &= f.length == 2;
    if (name == "num_inputs") s.num_inputs = v[0], s.typesOk &= f.length == 1;
  }
  return s;
}

}  // namespace natx_test
