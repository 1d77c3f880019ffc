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
// This file is the flow (NatClassifier: load, preprocess, infer, report); common/ holds the parts:
// args (command line), sidecar (ENGINE.json, read with nlohmann/json), image + preprocess (PPM,
// resize/crop/normalize), buffers (CUDA memory, streams, events), logger, tensors, files, error.
#include <NvInferRuntime.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "common/args.h"
#include "common/buffers.h"
#include "common/error.h"
#include "common/files.h"
#include "common/image.h"
#include "common/logger.h"
#include "common/preprocess.h"
#include "common/sidecar.h"
#include "common/tensors.h"

namespace {

using natx::fail;

// One engine, one batch: load() the engine, preprocess() an input file into a batch, infer() it, report().
class NatClassifier {
 public:
  explicit NatClassifier(const natx::Options& opt) : opt_(opt), logger_(opt.verbose) {}

  // Checks the files, reads the sidecar and labels, checks for a GPU, then creates the runtime, loads
  // the plugin library and the engine and finds its input, its logits and the input's profile.
  void load() {
    // Everything the user can fix is checked before the GPU and TensorRT are touched.
    if (!natx::fileExists(opt_.engine))
      fail("engine " + opt_.engine + " not found; build one with `nat-export trt MODEL.onnx -o " + opt_.engine + "`");
    if (!natx::fileExists(opt_.input)) fail("input " + opt_.input + " not found");
    if (!opt_.plugin.empty() && !natx::fileExists(opt_.plugin))
      fail("plugin library " + opt_.plugin + " not found; run `nat-export build-plugins`");
    if (!opt_.labels.empty() && !natx::fileExists(opt_.labels)) fail("labels file " + opt_.labels + " not found");

    natx::Sidecar sidecar = natx::readEngineSidecar(opt_.engine);
    pp_ = sidecar.preprocessing;
    labels_ = opt_.labels.empty() ? sidecar.labels : natx::readLines(opt_.labels, "labels file");

    // Never construct a TensorRT runtime without a GPU.
    int devices = 0;
    cudaError_t st = cudaGetDeviceCount(&devices);
    if (st != cudaSuccess || devices == 0)
      fail(std::string("no CUDA GPU is usable (") + (st != cudaSuccess ? cudaGetErrorString(st) : "0 devices") +
           "); TensorRT engines run on NVIDIA GPUs only");

    runtime_.reset(nvinfer1::createInferRuntime(logger_));
    if (!runtime_)
      fail("cannot create a TensorRT runtime (" + logger_.lastError() +
           "); are the TensorRT headers this sample was built with (" + std::to_string(NV_TENSORRT_MAJOR) + "." +
           std::to_string(NV_TENSORRT_MINOR) + ") the version of the library it loads?");
    if (opt_.versionCompatible) runtime_->setEngineHostCodeAllowed(true);
    if (!opt_.plugin.empty() && runtime_->getPluginRegistry().loadLibrary(opt_.plugin.c_str()) == nullptr)
      fail("TensorRT could not load the plugin library " + opt_.plugin + " (" + logger_.lastError() + ")");

    std::vector<char> plan = natx::readFile(opt_.engine, "engine");
    engine_.reset(runtime_->deserializeCudaEngine(plan.data(), plan.size()));
    if (!engine_)
      fail("TensorRT cannot load " + opt_.engine + " (" + logger_.lastError() +
           "); an engine runs only with the TensorRT version and GPU that built it" +
           (opt_.plugin.empty() ? ", and an engine with NA nodes needs --plugin" : ""));

    for (int i = 0; i < engine_->getNbIOTensors(); ++i) {
      const char* name = engine_->getIOTensorName(i);
      if (engine_->getTensorIOMode(name) == nvinfer1::TensorIOMode::kINPUT) {
        if (!inputName_.empty()) fail("the engine has more than one input; this sample feeds one (pixel_values)");
        inputName_ = name;
      } else {
        outputNames_.push_back(name);
      }
    }
    if (inputName_.empty() || outputNames_.empty()) fail("the engine needs one input and at least one output");
    // The logits: the output named "logits", else the first one.
    logitsIndex_ = 0;
    for (size_t i = 0; i < outputNames_.size(); ++i)
      if (outputNames_[i] == "logits") logitsIndex_ = i;
    if (engine_->getTensorShape(outputNames_[logitsIndex_].c_str()).nbDims != 2)
      fail("output " + outputNames_[logitsIndex_] +
           " is not [batch, classes] logits (a backbone engine's feature maps?); this sample classifies images: "
           "run backbones with nat_export.runtime.open_model or in your detection / segmentation pipeline");
    // float32 I/O, or float16 / bfloat16 (an fp16/bf16 build from a model name exports a float16 input):
    // converted on the host.
    for (const std::string& n : {inputName_, outputNames_[logitsIndex_]})
      if (!natx::isFloatType(engine_->getTensorDataType(n.c_str())))
        fail("tensor " + n + " is " + natx::typeName(engine_->getTensorDataType(n.c_str())) +
             "; this sample feeds and reads float32, float16 or bfloat16; rebuild the engine with `nat-export trt`");
    inputType_ = engine_->getTensorDataType(inputName_.c_str());
    logitsType_ = engine_->getTensorDataType(outputNames_[logitsIndex_].c_str());

    using Sel = nvinfer1::OptProfileSelector;
    minDims_ = engine_->getProfileShape(inputName_.c_str(), 0, Sel::kMIN);
    optDims_ = engine_->getProfileShape(inputName_.c_str(), 0, Sel::kOPT);
    maxDims_ = engine_->getProfileShape(inputName_.c_str(), 0, Sel::kMAX);
    if (optDims_.nbDims != 4)
      fail("input " + inputName_ + " is not 4-D NCHW (profile opt " + natx::dimsString(optDims_) + ")");
  }

  // INPUT -> the batch, NCHW float32: a PPM preprocessed as the sidecar says, or a raw float32 tensor.
  std::vector<float> preprocess(const std::string& input) const {
    const int C = channels(), H = static_cast<int>(optDims_.d[2]), W = static_cast<int>(optDims_.d[3]);
    const std::string ext = input.size() >= 4 ? input.substr(input.size() - 4) : "";
    if (ext == ".ppm" || ext == ".PPM") {
      if (C != pp_.channels)
        fail("the engine takes " + std::to_string(C) + " channels, the sidecar's preprocessing makes " +
             std::to_string(pp_.channels) + " (color " + (pp_.channels == 1 ? "L" : "RGB") +
             "); rebuild the engine with `nat-export trt` or pass a raw float32 tensor");
      return natx::preprocess(natx::readPpm(input), H, W, pp_);
    }
    std::vector<char> raw = natx::readFile(input, "input tensor");
    const size_t imageBytes = perImage() * sizeof(float);
    if (raw.size() % imageBytes != 0)
      fail(input + " has " + std::to_string(raw.size()) + " bytes, not a multiple of one float32 " + std::to_string(C) +
           "x" + std::to_string(H) + "x" + std::to_string(W) + " image (" + std::to_string(imageBytes) + " bytes)");
    std::vector<float> host(raw.size() / sizeof(float));
    std::memcpy(host.data(), raw.data(), raw.size());
    return host;
  }

  // Runs the batch: warm-up, then timed iterations (CUDA events); keeps the logits and the timings.
  void infer(const std::vector<float>& host) {
    batch_ = static_cast<int>(host.size() / perImage());
    if (batch_ < minDims_.d[0] || batch_ > maxDims_.d[0])
      fail("batch " + std::to_string(batch_) + " is outside the engine's profile (" + std::to_string(minDims_.d[0]) +
           ".." + std::to_string(maxDims_.d[0]) + ")");

    context_.reset(engine_->createExecutionContext());
    if (!context_) fail("cannot create an execution context (" + logger_.lastError() + ")");
    nvinfer1::Dims inDims = optDims_;
    inDims.d[0] = batch_;
    if (!context_->setInputShape(inputName_.c_str(), inDims))
      fail("TensorRT refused input shape " + natx::dimsString(inDims));

    const std::vector<uint8_t> packed = natx::fromFloat(host, inputType_);  // the engine's input type
    const size_t inBytes = packed.size();
    natx::HostBuffer hIn(inBytes);
    std::memcpy(hIn.data(), packed.data(), inBytes);
    natx::DeviceBuffer dIn(inBytes);
    context_->setTensorAddress(inputName_.c_str(), dIn.data());
    std::vector<std::unique_ptr<natx::DeviceBuffer>> dOut;
    for (const std::string& n : outputNames_) {
      nvinfer1::Dims d = context_->getTensorShape(n.c_str());
      dOut.push_back(std::make_unique<natx::DeviceBuffer>(natx::volume(d) *
                                                          natx::elementSize(engine_->getTensorDataType(n.c_str()))));
      context_->setTensorAddress(n.c_str(), dOut.back()->data());
    }

    natx::CudaStream stream;
    natx::checkCuda(cudaMemcpyAsync(dIn.data(), hIn.data(), inBytes, cudaMemcpyHostToDevice, stream.get()),
                    "copy input");
    for (int i = 0; i < std::max(1, opt_.warmup); ++i)
      if (!context_->enqueueV3(stream.get())) fail("TensorRT failed to run the engine (" + logger_.lastError() + ")");
    natx::checkCuda(cudaStreamSynchronize(stream.get()), "warm-up");

    natx::CudaEvent start, stop;
    ms_.clear();
    for (int i = 0; i < opt_.iterations; ++i) {
      cudaEventRecord(start.get(), stream.get());
      context_->enqueueV3(stream.get());
      cudaEventRecord(stop.get(), stream.get());
      natx::checkCuda(cudaEventSynchronize(stop.get()), "timing");
      float t = 0.f;
      cudaEventElapsedTime(&t, start.get(), stop.get());
      ms_.push_back(t);
    }

    const size_t n = natx::volume(context_->getTensorShape(outputNames_[logitsIndex_].c_str()));
    classes_ = n / batch_;
    natx::HostBuffer hLogits(n * natx::elementSize(logitsType_));
    natx::checkCuda(cudaMemcpyAsync(hLogits.data(), dOut[logitsIndex_]->data(), hLogits.bytes(), cudaMemcpyDeviceToHost,
                                    stream.get()),
                    "copy logits");
    natx::checkCuda(cudaStreamSynchronize(stream.get()), "copy logits");
    logits_ = natx::toFloat(hLogits.data(), n, logitsType_);
  }

  // Prints the top-5 classes of each image and the latency.
  void report() const {
    for (int b = 0; b < batch_; ++b) {
      const float* row = logits_.data() + b * classes_;
      float mx = *std::max_element(row, row + classes_);
      double sum = 0.0;
      for (size_t c = 0; c < classes_; ++c) sum += std::exp(static_cast<double>(row[c] - mx));
      std::vector<size_t> idx(classes_);
      std::iota(idx.begin(), idx.end(), 0);
      size_t k = std::min<size_t>(5, classes_);
      std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](size_t a, size_t c) { return row[a] > row[c]; });
      std::cout << (batch_ > 1 ? "image " + std::to_string(b) + "\n" : std::string());
      for (size_t j = 0; j < k; ++j) {
        size_t c = idx[j];
        double prob = std::exp(static_cast<double>(row[c] - mx)) / sum;
        std::string label = c < labels_.size() ? labels_[c] : "class " + std::to_string(c);
        std::printf("  %7.4f  %s  (%zu)\n", prob, label.c_str(), c);
      }
    }
    std::vector<float> sorted = ms_;
    std::sort(sorted.begin(), sorted.end());
    double mean = std::accumulate(ms_.begin(), ms_.end(), 0.0) / ms_.size();
    std::printf("latency (batch %d, %d iterations, GPU time): mean %.3f ms, p50 %.3f ms, p99 %.3f ms, %.1f images/s\n",
                batch_, opt_.iterations, mean, sorted[sorted.size() / 2],
                sorted[std::min(sorted.size() - 1, sorted.size() * 99 / 100)], batch_ * 1000.0 / mean);
  }

 private:
  int channels() const { return static_cast<int>(optDims_.d[1]); }
  size_t perImage() const { return static_cast<size_t>(channels()) * optDims_.d[2] * optDims_.d[3]; }

  natx::Options opt_;
  natx::Logger logger_;  // outlives the TensorRT objects below
  natx::Preprocessing pp_;
  std::vector<std::string> labels_;
  std::unique_ptr<nvinfer1::IRuntime> runtime_;
  std::unique_ptr<nvinfer1::ICudaEngine> engine_;
  std::unique_ptr<nvinfer1::IExecutionContext> context_;
  std::string inputName_;
  std::vector<std::string> outputNames_;
  size_t logitsIndex_ = 0;
  nvinfer1::DataType inputType_ = nvinfer1::DataType::kFLOAT, logitsType_ = nvinfer1::DataType::kFLOAT;
  nvinfer1::Dims minDims_{}, optDims_{}, maxDims_{};
  int batch_ = 0;
  size_t classes_ = 0;
  std::vector<float> logits_;
  std::vector<float> ms_;
};

// --dump-input: preprocess one PPM as the sidecar (or the ImageNet recipe) says and write the tensor.
int dumpInput(const natx::Options& opt) {
  if (!natx::fileExists(opt.input)) fail("input " + opt.input + " not found");
  if (!opt.sidecar.empty() && !natx::fileExists(opt.sidecar)) fail("sidecar " + opt.sidecar + " not found");
  const natx::Sidecar sidecar = opt.sidecar.empty() ? natx::Sidecar{} : natx::readSidecar(opt.sidecar);
  std::vector<float> chw = natx::preprocess(natx::readPpm(opt.input), opt.resH, opt.resW, sidecar.preprocessing);
  std::ofstream f(opt.dumpInput, std::ios::binary);
  if (!f) fail("cannot write " + opt.dumpInput);
  f.write(reinterpret_cast<const char*>(chw.data()), static_cast<std::streamsize>(chw.size() * sizeof(float)));
  std::printf("wrote 1x%dx%dx%d float32 to %s\n", sidecar.preprocessing.channels == 1 ? 1 : 3, opt.resH, opt.resW,
              opt.dumpInput.c_str());
  return 0;
}

int run(const natx::Options& opt) {
  if (opt.help) {
    natx::printUsage(std::cout);
    return 0;
  }
  if (!opt.dumpInput.empty()) return dumpInput(opt);
  NatClassifier classifier(opt);
  classifier.load();
  classifier.infer(classifier.preprocess(opt.input));
  classifier.report();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(natx::parseArgs(argc, argv));
  } catch (const std::exception& e) {  // natx::Fatal and anything else: one line, exit code 1
    std::cerr << "nat_infer: error: " << e.what() << "\n";
    return 1;
  }
}
