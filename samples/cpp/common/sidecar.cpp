#include "sidecar.h"

#include <nlohmann/json.hpp>

#include <cstring>
#include <utility>

#include "error.h"
#include "files.h"

namespace natx {
namespace {

using nlohmann::json;

constexpr const char* kFormat = "nat-export.engine";
constexpr int kFormatVersion = 1;

// A short one-line rendering of a JSON value for error messages.
std::string show(const json& v) {
  std::string s = v.dump();
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

class Checker {
 public:
  explicit Checker(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void bad(const std::string& key, const std::string& expected, const json& got) const {
    fail("sidecar " + path_ + ": key \"" + key + "\" must be " + expected + ", got " + show(got));
  }

  // obj[name], which must be there.
  const json& required(const json& obj, const std::string& prefix, const char* name, const char* hint = "") const {
    auto it = obj.find(name);
    if (it == obj.end()) fail("sidecar " + path_ + ": key \"" + prefix + name + "\" is missing" + hint);
    return *it;
  }

  // obj[name], or nullptr when it is absent or null.
  static const json* optional(const json& obj, const char* name) {
    auto it = obj.find(name);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
  }

  // An array of 3 numbers (all > 0 when `positive`).
  void threeNumbers(const json& v, const std::string& key, bool positive, float out[3]) const {
    const char* expected = positive ? "an array of 3 positive numbers" : "an array of 3 numbers";
    if (!v.is_array() || v.size() != 3) bad(key, expected, v);
    for (size_t i = 0; i < 3; ++i) {
      if (!v[i].is_number() || (positive && !(v[i].get<double>() > 0.0))) bad(key, expected, v);
      out[i] = v[i].get<float>();
    }
  }

 private:
  std::string path_;
};

}  // namespace

Sidecar readSidecar(const std::string& path) {
  std::vector<char> bytes = readFile(path, "sidecar");
  json doc;
  try {
    doc = json::parse(bytes.begin(), bytes.end());
  } catch (const json::parse_error& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line L, column C: ..."
    const char* msg = std::strstr(e.what(), "] ");
    fail("sidecar " + path + " is not valid JSON (" + (msg ? msg + 2 : e.what()) + ")");
  }
  Checker check(path);
  if (!doc.is_object()) fail("sidecar " + path + ": the top level must be a JSON object, got " + doc.type_name());

  const json& format = check.required(doc, "", "format", "; is this the ENGINE.json `nat-export trt` writes?");
  if (format != kFormat) check.bad("format", std::string("\"") + kFormat + "\"", format);
  const json& version = check.required(doc, "", "format_version");
  if (version != kFormatVersion) check.bad("format_version", std::to_string(kFormatVersion), version);

  Sidecar out;
  if (const json* pp = Checker::optional(doc, "preprocessing")) {
    if (!pp->is_object()) check.bad("preprocessing", "an object", *pp);
    const json& rss = check.required(*pp, "preprocessing.", "resize_shorter_side");
    if (!rss.is_null()) {
      if (!rss.is_number_integer() || rss.get<long long>() <= 0 || rss.get<long long>() > 1 << 20)
        check.bad("preprocessing.resize_shorter_side", "a positive integer or null", rss);
      out.preprocessing.resizeShorterSide = rss.get<int>();
    }
    check.threeNumbers(check.required(*pp, "preprocessing.", "mean"), "preprocessing.mean", false,
                       out.preprocessing.mean);
    check.threeNumbers(check.required(*pp, "preprocessing.", "std"), "preprocessing.std", true, out.preprocessing.std);
  }
  if (const json* labels = Checker::optional(doc, "labels")) {
    if (!labels->is_array()) check.bad("labels", "an array of strings", *labels);
    out.labels.reserve(labels->size());
    for (size_t i = 0; i < labels->size(); ++i) {
      const json& l = (*labels)[i];
      if (!l.is_string()) check.bad("labels[" + std::to_string(i) + "]", "a string", l);
      out.labels.push_back(l.get<std::string>());
    }
  }
  return out;
}

Sidecar readEngineSidecar(const std::string& enginePath) {
  const std::string path = enginePath + ".json";
  return fileExists(path) ? readSidecar(path) : Sidecar{};
}

}  // namespace natx
