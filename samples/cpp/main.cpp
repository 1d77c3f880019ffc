// nat_infer: run a NAT/DiNAT TensorRT engine built by `nat-export trt` on one image.
//
//   nat_infer ENGINE INPUT [--plugin LIB] [--labels FILE] [--iterations N] [--warmup N]
//             [--version-compatible] [--verbose]
//
// INPUT is a binary PPM (P6) image, preprocessed here as the engine's sidecar says
// (resize the shorter side, bicubic; center crop; /255; mean/std), or a raw float32 NCHW
// tensor (any other extension; e.g. written by `nat-export infer ... --save-input x.f32`).
// Prints the top-5 classes and the latency of the engine (device time, CUDA events).
//
// Only TensorRT and the CUDA runtime are needed; no other dependency.
#include <NvInferRuntime.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

namespace {

// ------------------------------------------------------------------ errors and logging

struct Fatal {
  std::string message;
};

[[noreturn]] void fail(const std::string& msg) { throw Fatal{msg}; }

void checkCuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess) fail(std::string(what) + ": " + cudaGetErrorString(status));
}

class Logger : public nvinfer1::ILogger {
 public:
  explicit Logger(bool verbose) : verbose_(verbose) {}
  void log(Severity severity, const char* msg) noexcept override {
    if (severity <= Severity::kERROR) lastError_ = msg;
    if (verbose_ || severity <= Severity::kWARNING) std::cerr << "[TensorRT] " << msg << "\n";
  }
  std::string lastError() const { return lastError_.empty() ? "no error logged" : lastError_; }

 private:
  bool verbose_;
  std::string lastError_;
};

// ------------------------------------------------------------------ command line

struct Options {
  std::string engine, input, plugin, labels;
  std::string dumpInput;  // preprocess only: write the tensor here and stop (no GPU needed)
  std::string sidecar;    // with --dump-input: the sidecar giving the preprocessing
  int resH = 0, resW = 0;
  int iterations = 50;
  int warmup = 5;
  bool versionCompatible = false;
  bool verbose = false;
};

void usage(std::ostream& os) {
  os << "usage: nat_infer ENGINE INPUT [--plugin LIB] [--labels FILE] [--iterations N] [--warmup N]\n"
        "                 [--version-compatible] [--verbose]\n"
        "\n"
        "  ENGINE     engine built by `nat-export trt` (its sidecar ENGINE.json gives labels and preprocessing)\n"
        "  INPUT      binary PPM (P6) image, or a raw float32 NCHW tensor file (e.g. from\n"
        "             `nat-export infer MODEL IMAGE --save-input x.f32`)\n"
        "  --plugin   NA plugin library (libnat_export_trt.so); needed unless the engine is portable\n"
        "  --labels   labels file, one per line (default: the sidecar's labels, else class indices)\n"
        "  --iterations N / --warmup N   timed / untimed runs (default 50 / 5)\n"
        "  --version-compatible          allow the engine's host code (version-compatible engines)\n"
        "\n"
        "preprocess only (no GPU, no TensorRT): write the tensor the engine would get\n"
        "  nat_infer --dump-input OUT.f32 --resolution N|HxW [--sidecar ENGINE.json] IMAGE.ppm\n"
        "\n"
        "example:\n"
        "  nat_infer nat_tiny.engine cat.ppm --plugin ~/.cache/nat-export/plugins/libnat_export_trt.so\n";
}

Options parseArgs(int argc, char** argv) {
  Options o;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* name) -> std::string {
      if (i + 1 >= argc) fail(std::string(name) + " needs a value");
      return argv[++i];
    };
    auto number = [&](const char* name) -> int {
      std::string v = value(name);
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (end == v.c_str() || *end != '\0' || n < 0) fail(std::string(name) + " needs a non-negative integer, got '" + v + "'");
      return static_cast<int>(n);
    };
    if (a == "-h" || a == "--help") {
      usage(std::cout);
      std::exit(0);
    } else if (a == "--plugin") {
      o.plugin = value("--plugin");
    } else if (a == "--labels") {
      o.labels = value("--labels");
    } else if (a == "--iterations") {
      o.iterations = std::max(1, number("--iterations"));
    } else if (a == "--warmup") {
      o.warmup = number("--warmup");
    } else if (a == "--version-compatible") {
      o.versionCompatible = true;
    } else if (a == "--verbose") {
      o.verbose = true;
    } else if (a == "--dump-input") {
      o.dumpInput = value("--dump-input");
    } else if (a == "--sidecar") {
      o.sidecar = value("--sidecar");
    } else if (a == "--resolution") {
      std::string v = value("--resolution");
      size_t x = v.find_first_of("xX");
      o.resH = std::atoi(v.substr(0, x).c_str());
      o.resW = x == std::string::npos ? o.resH : std::atoi(v.substr(x + 1).c_str());
      if (o.resH <= 0 || o.resW <= 0) fail("--resolution needs N or HxW with positive integers, got '" + v + "'");
    } else if (!a.empty() && a[0] == '-') {
      fail("unknown option " + a + " (see --help)");
    } else {
      positional.push_back(a);
    }
  }
  if (!o.dumpInput.empty()) {
    if (positional.size() != 1 || o.resH == 0) fail("--dump-input takes one IMAGE.ppm and needs --resolution (see --help)");
    o.input = positional[0];
    return o;
  }
  if (positional.size() != 2) fail("expected ENGINE and INPUT (see --help)");
  o.engine = positional[0];
  o.input = positional[1];
  return o;
}

std::vector<char> readFile(const std::string& path, const char* what) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(std::string(what) + " " + path + " not found or not readable");
  return std::vector<char>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

bool fileExists(const std::string& path) { return std::ifstream(path).good(); }

// ------------------------------------------------------------------ sidecar (a few fields of a small JSON file)

struct Preprocessing {
  int resizeShorterSide = 0;  // 0: round(min(H, W) / 0.875)
  float mean[3] = {0.485f, 0.456f, 0.406f};
  float std[3] = {0.229f, 0.224f, 0.225f};
};

// Position just after `"key":` in `json`, or npos.
size_t findKey(const std::string& json, const std::string& key) {
  size_t p = json.find("\"" + key + "\"");
  if (p == std::string::npos) return p;
  p = json.find(':', p + key.size() + 2);
  return p == std::string::npos ? p : p + 1;
}

std::vector<double> numberArray(const std::string& json, const std::string& key) {
  std::vector<double> out;
  size_t p = findKey(json, key);
  if (p == std::string::npos) return out;
  p = json.find('[', p);
  size_t end = json.find(']', p);
  if (p == std::string::npos || end == std::string::npos) return out;
  std::stringstream ss(json.substr(p + 1, end - p - 1));
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::atof(item.c_str()));
  return out;
}

// The JSON string array under `key` (handles \" \\ \/ \n \t and \uXXXX as UTF-8).
std::vector<std::string> stringArray(const std::string& json, const std::string& key) {
  std::vector<std::string> out;
  size_t p = findKey(json, key);
  if (p == std::string::npos) return out;
  while (p < json.size() && std::isspace(static_cast<unsigned char>(json[p]))) ++p;
  if (p >= json.size() || json[p] != '[') return out;
  ++p;
  while (p < json.size()) {
    while (p < json.size() && (std::isspace(static_cast<unsigned char>(json[p])) || json[p] == ',')) ++p;
    if (p >= json.size() || json[p] == ']') break;
    if (json[p] != '"') return {};
    std::string s;
    for (++p; p < json.size() && json[p] != '"'; ++p) {
      char c = json[p];
      if (c != '\\') {
        s += c;
        continue;
      }
      if (++p >= json.size()) break;
      char e = json[p];
      if (e == 'n') s += '\n';
      else if (e == 't') s += '\t';
      else if (e == 'u' && p + 4 < json.size()) {
        unsigned cp = static_cast<unsigned>(std::strtoul(json.substr(p + 1, 4).c_str(), nullptr, 16));
        p += 4;
        if (cp < 0x80) s += static_cast<char>(cp);
        else if (cp < 0x800) { s += static_cast<char>(0xC0 | (cp >> 6)); s += static_cast<char>(0x80 | (cp & 0x3F)); }
        else { s += static_cast<char>(0xE0 | (cp >> 12)); s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F)); s += static_cast<char>(0x80 | (cp & 0x3F)); }
      } else s += e;  // \" \\ \/
    }
    out.push_back(s);
    ++p;  // closing quote
  }
  return out;
}

// ------------------------------------------------------------------ images

struct Image {
  int width = 0, height = 0;
  std::vector<float> rgb;  // HWC, 0..255
};

Image readPpm(const std::string& path) {
  std::vector<char> data = readFile(path, "image");
  size_t p = 0;
  auto token = [&]() -> std::string {
    while (p < data.size()) {
      if (data[p] == '#') {
        while (p < data.size() && data[p] != '\n') ++p;
      } else if (std::isspace(static_cast<unsigned char>(data[p]))) {
        ++p;
      } else {
        break;
      }
    }
    std::string t;
    while (p < data.size() && !std::isspace(static_cast<unsigned char>(data[p]))) t += data[p++];
    return t;
  };
  if (token() != "P6") fail(path + " is not a binary PPM (P6); convert it (e.g. `convert cat.jpg cat.ppm`) or pass a raw float32 tensor");
  Image img;
  img.width = std::atoi(token().c_str());
  img.height = std::atoi(token().c_str());
  int maxval = std::atoi(token().c_str());
  ++p;  // the single whitespace after maxval
  if (img.width <= 0 || img.height <= 0 || maxval <= 0 || maxval > 255)
    fail(path + ": unsupported PPM header (needs 8-bit P6)");
  size_t n = static_cast<size_t>(img.width) * img.height * 3;
  if (data.size() < p + n) fail(path + ": truncated PPM data");
  img.rgb.resize(n);
  for (size_t i = 0; i < n; ++i) img.rgb[i] = static_cast<unsigned char>(data[p + i]) * (255.0f / maxval);
  return img;
}

// Bicubic kernel (a = -0.5, as Pillow and torchvision's PIL path use).
double cubic(double x) {
  const double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

// Resample one axis with the bicubic filter widened by the downscale factor (antialiased,
// as Pillow resizes). `in` is [outer][inSize][3] with stride; returns [outer][outSize][3].
std::vector<float> resampleAxis(const std::vector<float>& in, int outer, int inSize, int outSize, bool rowsAreOuter,
                                int otherSize) {
  const double scale = static_cast<double>(inSize) / outSize;
  const double filterScale = std::max(scale, 1.0);
  const double support = 2.0 * filterScale;
  std::vector<float> out(static_cast<size_t>(outer) * outSize * 3);
  for (int o = 0; o < outSize; ++o) {
    const double center = (o + 0.5) * scale;
    const int lo = std::max(0, static_cast<int>(center - support + 0.5));
    const int hi = std::min(inSize, static_cast<int>(center + support + 0.5));
    std::vector<double> w(hi - lo);
    double sum = 0.0;
    for (int i = lo; i < hi; ++i) sum += (w[i - lo] = cubic((i - center + 0.5) / filterScale));
    for (double& x : w) x /= (sum != 0.0 ? sum : 1.0);
    for (int r = 0; r < outer; ++r) {
      for (int c = 0; c < 3; ++c) {
        double acc = 0.0;
        for (int i = lo; i < hi; ++i) {
          size_t idx = rowsAreOuter ? (static_cast<size_t>(r) * inSize + i) * 3 + c : (static_cast<size_t>(i) * otherSize + r) * 3 + c;
          acc += w[i - lo] * in[idx];
        }
        size_t od = rowsAreOuter ? (static_cast<size_t>(r) * outSize + o) * 3 + c : (static_cast<size_t>(o) * otherSize + r) * 3 + c;
        out[od] = static_cast<float>(std::min(255.0, std::max(0.0, std::round(acc))));  // 8-bit like Pillow
      }
    }
  }
  return out;
}

Image resize(const Image& img, int w, int h) {
  Image out = img;
  if (w != img.width) {  // horizontal pass: outer = rows
    out.rgb = resampleAxis(out.rgb, out.height, out.width, w, true, 0);
    out.width = w;
  }
  if (h != img.height) {  // vertical pass: outer = columns
    out.rgb = resampleAxis(out.rgb, out.width, out.height, h, false, out.width);
    out.height = h;
  }
  return out;
}

// Resize the shorter side, center-crop, scale and normalize -> CHW float.
std::vector<float> preprocess(const Image& img, int cropH, int cropW, const Preprocessing& pp) {
  int shorter = pp.resizeShorterSide > 0 ? pp.resizeShorterSide : static_cast<int>(std::nearbyint(std::min(cropH, cropW) / 0.875));
  int w, h;
  if (img.width <= img.height) {
    w = shorter;
    h = static_cast<int>(static_cast<long long>(shorter) * img.height / img.width);
  } else {
    h = shorter;
    w = static_cast<int>(static_cast<long long>(shorter) * img.width / img.height);
  }
  if (w < cropW || h < cropH) {
    double f = std::max(static_cast<double>(cropW) / w, static_cast<double>(cropH) / h);
    w = std::max(cropW, static_cast<int>(std::ceil(w * f)));
    h = std::max(cropH, static_cast<int>(std::ceil(h * f)));
  }
  Image r = resize(img, w, h);
  int left = static_cast<int>(std::nearbyint((w - cropW) / 2.0));  // half to even, as Python round()
  int top = static_cast<int>(std::nearbyint((h - cropH) / 2.0));
  std::vector<float> chw(static_cast<size_t>(3) * cropH * cropW);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < cropH; ++y)
      for (int x = 0; x < cropW; ++x) {
        float v = r.rgb[(static_cast<size_t>(y + top) * w + (x + left)) * 3 + c] / 255.0f;
        chw[(static_cast<size_t>(c) * cropH + y) * cropW + x] = (v - pp.mean[c]) / pp.std[c];
      }
  return chw;
}

// ------------------------------------------------------------------ TensorRT

size_t volume(const nvinfer1::Dims& d) {
  size_t v = 1;
  for (int i = 0; i < d.nbDims; ++i) v *= static_cast<size_t>(std::max<int64_t>(d.d[i], 0));
  return v;
}

std::string dimsString(const nvinfer1::Dims& d) {
  std::string s;
  for (int i = 0; i < d.nbDims; ++i) s += (i ? "x" : "") + std::to_string(d.d[i]);
  return s;
}

struct CudaBuffer {
  void* ptr = nullptr;
  explicit CudaBuffer(size_t bytes) { checkCuda(cudaMalloc(&ptr, std::max<size_t>(bytes, 1)), "cudaMalloc"); }
  ~CudaBuffer() { if (ptr) cudaFree(ptr); }
  CudaBuffer(const CudaBuffer&) = delete;
  CudaBuffer& operator=(const CudaBuffer&) = delete;
};

std::string readSidecar(const std::string& path) {
  if (!fileExists(path)) return "";
  std::vector<char> s = readFile(path, "sidecar");
  return std::string(s.begin(), s.end());
}

Preprocessing preprocessingFrom(const std::string& sidecar) {
  Preprocessing pp;
  if (sidecar.empty()) return pp;
  size_t p = findKey(sidecar, "resize_shorter_side");
  if (p != std::string::npos) pp.resizeShorterSide = std::atoi(sidecar.c_str() + p);
  std::vector<double> m = numberArray(sidecar, "mean"), s = numberArray(sidecar, "std");
  if (m.size() == 3 && s.size() == 3)
    for (int c = 0; c < 3; ++c) pp.mean[c] = static_cast<float>(m[c]), pp.std[c] = static_cast<float>(s[c]);
  return pp;
}

int dumpInput(const Options& opt) {
  if (!fileExists(opt.input)) fail("input " + opt.input + " not found");
  if (!opt.sidecar.empty() && !fileExists(opt.sidecar)) fail("sidecar " + opt.sidecar + " not found");
  std::vector<float> chw = preprocess(readPpm(opt.input), opt.resH, opt.resW, preprocessingFrom(readSidecar(opt.sidecar)));
  std::ofstream f(opt.dumpInput, std::ios::binary);
  if (!f) fail("cannot write " + opt.dumpInput);
  f.write(reinterpret_cast<const char*>(chw.data()), static_cast<std::streamsize>(chw.size() * sizeof(float)));
  std::printf("wrote 1x3x%dx%d float32 to %s\n", opt.resH, opt.resW, opt.dumpInput.c_str());
  return 0;
}

int run(const Options& opt) {
  if (!opt.dumpInput.empty()) return dumpInput(opt);
  // Everything the user can fix is checked before the GPU and TensorRT are touched.
  if (!fileExists(opt.engine)) fail("engine " + opt.engine + " not found; build one with `nat-export trt MODEL.onnx -o " + opt.engine + "`");
  if (!fileExists(opt.input)) fail("input " + opt.input + " not found");
  if (!opt.plugin.empty() && !fileExists(opt.plugin)) fail("plugin library " + opt.plugin + " not found; run `nat-export build-plugins`");
  if (!opt.labels.empty() && !fileExists(opt.labels)) fail("labels file " + opt.labels + " not found");

  std::string sidecar = readSidecar(opt.engine + ".json");
  std::vector<std::string> labels;
  if (!opt.labels.empty()) {
    std::ifstream f(opt.labels);
    for (std::string line; std::getline(f, line);) labels.push_back(line);
  } else if (!sidecar.empty()) {
    labels = stringArray(sidecar, "labels");
  }
  const Preprocessing pp = preprocessingFrom(sidecar);

  // Never construct a TensorRT runtime without a GPU.
  int devices = 0;
  cudaError_t st = cudaGetDeviceCount(&devices);
  if (st != cudaSuccess || devices == 0)
    fail(std::string("no CUDA GPU is usable (") + (st != cudaSuccess ? cudaGetErrorString(st) : "0 devices") +
         "); TensorRT engines run on NVIDIA GPUs only");

  Logger logger(opt.verbose);
  std::unique_ptr<nvinfer1::IRuntime> runtime(nvinfer1::createInferRuntime(logger));
  if (!runtime)
    fail("cannot create a TensorRT runtime (" + logger.lastError() + "); are the TensorRT headers this sample was built with (" +
         std::to_string(NV_TENSORRT_MAJOR) + "." + std::to_string(NV_TENSORRT_MINOR) + ") the version of the library it loads?");
  if (opt.versionCompatible) runtime->setEngineHostCodeAllowed(true);
  if (!opt.plugin.empty() && runtime->getPluginRegistry().loadLibrary(opt.plugin.c_str()) == nullptr)
    fail("TensorRT could not load the plugin library " + opt.plugin + " (" + logger.lastError() + ")");

  std::vector<char> plan = readFile(opt.engine, "engine");
  std::unique_ptr<nvinfer1::ICudaEngine> engine(runtime->deserializeCudaEngine(plan.data(), plan.size()));
  if (!engine)
    fail("TensorRT cannot load " + opt.engine + " (" + logger.lastError() +
         "); an engine runs only with the TensorRT version and GPU that built it" +
         (opt.plugin.empty() ? ", and an engine with NA nodes needs --plugin" : ""));

  std::string inputName;
  std::vector<std::string> outputNames;
  for (int i = 0; i < engine->getNbIOTensors(); ++i) {
    const char* name = engine->getIOTensorName(i);
    if (engine->getTensorIOMode(name) == nvinfer1::TensorIOMode::kINPUT) {
      if (!inputName.empty()) fail("the engine has more than one input; this sample feeds one (pixel_values)");
      inputName = name;
    } else {
      outputNames.push_back(name);
    }
  }
  if (inputName.empty() || outputNames.empty()) fail("the engine needs one input and at least one output");
  for (const std::string& n : std::vector<std::string>{inputName, outputNames[0]})
    if (engine->getTensorDataType(n.c_str()) != nvinfer1::DataType::kFLOAT)
      fail("tensor " + n + " is not float32; this sample feeds and reads float32 (engines from `nat-export trt` keep float32 I/O)");

  nvinfer1::Dims lo = engine->getProfileShape(inputName.c_str(), 0, nvinfer1::OptProfileSelector::kMIN);
  nvinfer1::Dims op = engine->getProfileShape(inputName.c_str(), 0, nvinfer1::OptProfileSelector::kOPT);
  nvinfer1::Dims hi = engine->getProfileShape(inputName.c_str(), 0, nvinfer1::OptProfileSelector::kMAX);
  if (op.nbDims != 4) fail("input " + inputName + " is not 4-D NCHW (profile opt " + dimsString(op) + ")");
  const int C = static_cast<int>(op.d[1]), H = static_cast<int>(op.d[2]), W = static_cast<int>(op.d[3]);
  const size_t perImage = static_cast<size_t>(C) * H * W;

  // The input batch.
  std::vector<float> host;
  const std::string ext = opt.input.size() >= 4 ? opt.input.substr(opt.input.size() - 4) : "";
  if (ext == ".ppm" || ext == ".PPM") {
    if (C != 3) fail("the engine takes " + std::to_string(C) + " channels; a PPM has 3");
    host = preprocess(readPpm(opt.input), H, W, pp);
  } else {
    std::vector<char> raw = readFile(opt.input, "input tensor");
    if (raw.size() % (perImage * sizeof(float)) != 0)
      fail(opt.input + " has " + std::to_string(raw.size()) + " bytes, not a multiple of one float32 " + std::to_string(C) + "x" +
           std::to_string(H) + "x" + std::to_string(W) + " image (" + std::to_string(perImage * sizeof(float)) + " bytes)");
    host.resize(raw.size() / sizeof(float));
    std::memcpy(host.data(), raw.data(), raw.size());
  }
  const int batch = static_cast<int>(host.size() / perImage);
  if (batch < lo.d[0] || batch > hi.d[0])
    fail("batch " + std::to_string(batch) + " is outside the engine's profile (" + std::to_string(lo.d[0]) + ".." +
         std::to_string(hi.d[0]) + ")");

  std::unique_ptr<nvinfer1::IExecutionContext> context(engine->createExecutionContext());
  if (!context) fail("cannot create an execution context (" + logger.lastError() + ")");
  nvinfer1::Dims inDims = op;
  inDims.d[0] = batch;
  if (!context->setInputShape(inputName.c_str(), inDims)) fail("TensorRT refused input shape " + dimsString(inDims));

  CudaBuffer dIn(host.size() * sizeof(float));
  context->setTensorAddress(inputName.c_str(), dIn.ptr);
  std::vector<std::unique_ptr<CudaBuffer>> dOut;
  std::vector<nvinfer1::Dims> outDims;
  for (const std::string& n : outputNames) {
    nvinfer1::Dims d = context->getTensorShape(n.c_str());
    size_t bytes = volume(d) * (engine->getTensorDataType(n.c_str()) == nvinfer1::DataType::kHALF ? 2 : 4);
    dOut.push_back(std::make_unique<CudaBuffer>(bytes));
    outDims.push_back(d);
    context->setTensorAddress(n.c_str(), dOut.back()->ptr);
  }

  cudaStream_t stream;
  checkCuda(cudaStreamCreate(&stream), "cudaStreamCreate");
  checkCuda(cudaMemcpyAsync(dIn.ptr, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice, stream), "copy input");
  for (int i = 0; i < std::max(1, opt.warmup); ++i)
    if (!context->enqueueV3(stream)) fail("TensorRT failed to run the engine (" + logger.lastError() + ")");
  checkCuda(cudaStreamSynchronize(stream), "warm-up");

  cudaEvent_t start, stop;
  checkCuda(cudaEventCreate(&start), "cudaEventCreate");
  checkCuda(cudaEventCreate(&stop), "cudaEventCreate");
  std::vector<float> ms;
  for (int i = 0; i < opt.iterations; ++i) {
    cudaEventRecord(start, stream);
    context->enqueueV3(stream);
    cudaEventRecord(stop, stream);
    checkCuda(cudaEventSynchronize(stop), "timing");
    float t = 0.f;
    cudaEventElapsedTime(&t, start, stop);
    ms.push_back(t);
  }

  // Logits: the output named "logits", else the first one.
  size_t li = 0;
  for (size_t i = 0; i < outputNames.size(); ++i)
    if (outputNames[i] == "logits") li = i;
  const size_t classes = volume(outDims[li]) / batch;
  std::vector<float> logits(volume(outDims[li]));
  checkCuda(cudaMemcpyAsync(logits.data(), dOut[li]->ptr, logits.size() * sizeof(float), cudaMemcpyDeviceToHost, stream), "copy logits");
  checkCuda(cudaStreamSynchronize(stream), "copy logits");

  for (int b = 0; b < batch; ++b) {
    const float* row = logits.data() + b * classes;
    float mx = *std::max_element(row, row + classes);
    double sum = 0.0;
    for (size_t c = 0; c < classes; ++c) sum += std::exp(static_cast<double>(row[c] - mx));
    std::vector<size_t> idx(classes);
    std::iota(idx.begin(), idx.end(), 0);
    size_t k = std::min<size_t>(5, classes);
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](size_t a, size_t c) { return row[a] > row[c]; });
    std::cout << (batch > 1 ? "image " + std::to_string(b) + "\n" : std::string());
    for (size_t j = 0; j < k; ++j) {
      size_t c = idx[j];
      double prob = std::exp(static_cast<double>(row[c] - mx)) / sum;
      std::string label = c < labels.size() ? labels[c] : "class " + std::to_string(c);
      std::printf("  %7.4f  %s  (%zu)\n", prob, label.c_str(), c);
    }
  }
  std::vector<float> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  double mean = std::accumulate(ms.begin(), ms.end(), 0.0) / ms.size();
  std::printf("latency (batch %d, %d iterations, GPU time): mean %.3f ms, p50 %.3f ms, p99 %.3f ms, %.1f images/s\n", batch,
              opt.iterations, mean, sorted[sorted.size() / 2], sorted[std::min(sorted.size() - 1, sorted.size() * 99 / 100)],
              batch * 1000.0 / mean);

  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaStreamDestroy(stream);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parseArgs(argc, argv));
  } catch (const Fatal& e) {
    std::cerr << "nat_infer: error: " << e.message << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "nat_infer: error: " << e.what() << "\n";
    return 1;
  }
}
