#include "sidecar.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
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
  std::string s = v.dump();  // one line: control characters in strings are escaped
  if (s.size() <= 60) return s;
  size_t n = 57;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // not inside a UTF-8 sequence
  return s.substr(0, n) + "...";
}

class Checker {
 public:
  explicit Checker(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void missing(const std::string& key, const char* hint = "") const {
    fail("sidecar " + path_ + ": key \"" + key + "\" is missing" + hint);
  }

  [[noreturn]] void bad(const std::string& key, const std::string& expected, const json& got) const {
    fail("sidecar " + path_ + ": key \"" + key + "\" must be " + expected + ", got " + show(got));
  }

  // A finite number.
  static bool finite(const json& v) { return v.is_number() && std::isfinite(v.get<double>()); }

  // `v` as mean or std: 1 or 3 finite numbers (all > 0 when `positive`); one number applies to all channels.
  void channels(const json& v, const std::string& key, bool positive, float out[3]) const {
    const char* expected = positive ? "an array of 1 or 3 positive numbers" : "an array of 1 or 3 numbers";
    if (!v.is_array() || (v.size() != 1 && v.size() != 3)) bad(key, expected, v);
    for (size_t c = 0; c < 3; ++c) {
      const json& x = v[v.size() == 1 ? 0 : c];
      if (!finite(x) || (positive && !(x.get<double>() > 0.0))) bad(key, expected, v);
      out[c] = x.get<float>();
    }
  }

 private:
  std::string path_;
};

// obj[name], or nullptr when absent.
const json* find(const json& obj, const char* name) {
  auto it = obj.find(name);
  return it == obj.end() ? nullptr : &*it;
}

Preprocessing readPreprocessing(const json& pp, const Checker& check) {
  Preprocessing out;
  if (!pp.is_object()) check.bad("preprocessing", "an object", pp);
  if (const json* v = find(pp, "resize_shorter_side"); v && !v->is_null()) {
    const bool integral = Checker::finite(*v) && v->get<double>() == std::floor(v->get<double>());
    if (!integral || v->get<double>() < 1 || v->get<double>() > 1e6)
      check.bad("preprocessing.resize_shorter_side", "a positive integer or null", *v);
    out.resizeShorterSide = static_cast<int>(v->get<double>());
  }
  if (const json* v = find(pp, "mean")) check.channels(*v, "preprocessing.mean", false, out.mean);
  if (const json* v = find(pp, "std")) check.channels(*v, "preprocessing.std", true, out.std);
  if (const json* v = find(pp, "interpolation")) {
    std::string s = v->is_string() ? v->get<std::string>() : "";
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (s != "bicubic") check.bad("preprocessing.interpolation", "\"bicubic\" (the filter this sample implements)", *v);
  }
  if (const json* v = find(pp, "resize_mode"); v && !v->is_null()) {
    if (*v != "shorter_side" && *v != "exact")
      check.bad("preprocessing.resize_mode", "\"shorter_side\" or \"exact\"", *v);
    out.exactResize = *v == "exact";
  }
  if (const json* v = find(pp, "color"); v && !v->is_null()) {
    if (*v != "RGB" && *v != "L")
      check.bad("preprocessing.color", "\"RGB\" or \"L\" (the colors this sample feeds)", *v);
    out.channels = *v == "L" ? 1 : 3;
  }
  if (const json* v = find(pp, "scale")) {
    if (!Checker::finite(*v) || std::fabs(v->get<double>() * 255.0 - 1.0) > 1e-6)
      check.bad("preprocessing.scale", "1/255 (the scale this sample implements)", *v);
  }
  return out;
}

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
  if (!doc.is_object()) fail("sidecar " + path + ": the top level must be a JSON object, got " + doc.type_name());
  const Checker check(path);

  const json* format = find(doc, "format");
  if (!format) check.missing("format", " (not an ENGINE.json written by `nat-export trt`?)");
  if (*format != kFormat) check.bad("format", std::string("\"") + kFormat + "\"", *format);
  const json* version = find(doc, "format_version");
  if (!version) check.missing("format_version");
  if (*version != kFormatVersion) check.bad("format_version", std::to_string(kFormatVersion), *version);

  Sidecar out;
  if (const json* pp = find(doc, "preprocessing"); pp && !pp->is_null())
    out.preprocessing = readPreprocessing(*pp, check);
  if (const json* labels = find(doc, "labels"); labels && !labels->is_null()) {
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
