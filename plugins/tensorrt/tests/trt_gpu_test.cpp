// GPU test of the plugin's enqueue(): creates the plugin through its creator, configures
// it as TensorRT would (configurePlugin, attachToContext, onShapeChange), runs enqueue()
// on device buffers and compares with the CPU kernel (plugins/core/na_cpu.h), for
// float32, float16 and bfloat16, with and without rpb, dilated and non-square windows.
// Needs a CUDA GPU, no TensorRT library. Exit codes: 0 all pass, 1 a failure,
// 77 no usable GPU (the caller skips).
#include <NvInferRuntime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "na_cpu.h"
#include "neighborhoodAttentionPlugin/naPlugin.h"
#include "test_fields.h"

using namespace nvinfer1;

namespace {

struct Case {
  int B, H, W, heads, D, Kh, Kw, dh, dw;
  bool rpb;
};

// Host values rounded to `t`, and their device bytes.
struct Buffer {
  std::vector<float> rounded;
  std::vector<unsigned char> bytes;
};

Buffer encode(const std::vector<float>& x, DataType t) {
  Buffer b;
  b.rounded.resize(x.size());
  if (t == DataType::kFLOAT) {
    b.rounded = x;
    b.bytes.resize(x.size() * 4);
    std::memcpy(b.bytes.data(), x.data(), b.bytes.size());
  } else if (t == DataType::kHALF) {
    std::vector<__half> h(x.size());
    for (size_t i = 0; i < x.size(); ++i) h[i] = __float2half_rn(x[i]), b.rounded[i] = __half2float(h[i]);
    b.bytes.resize(x.size() * 2);
    std::memcpy(b.bytes.data(), h.data(), b.bytes.size());
  } else {
    std::vector<__nv_bfloat16> h(x.size());
    for (size_t i = 0; i < x.size(); ++i) h[i] = __float2bfloat16_rn(x[i]), b.rounded[i] = __bfloat162float(h[i]);
    b.bytes.resize(x.size() * 2);
    std::memcpy(b.bytes.data(), h.data(), b.bytes.size());
  }
  return b;
}

std::vector<float> decode(const std::vector<unsigned char>& bytes, size_t n, DataType t) {
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) {
    if (t == DataType::kFLOAT) {
      std::memcpy(&out[i], bytes.data() + 4 * i, 4);
    } else if (t == DataType::kHALF) {
      __half h;
      std::memcpy(&h, bytes.data() + 2 * i, 2);
      out[i] = __half2float(h);
    } else {
      __nv_bfloat16 h;
      std::memcpy(&h, bytes.data() + 2 * i, 2);
      out[i] = __bfloat162float(h);
    }
  }
  return out;
}

const char* typeName(DataType t) {
  return t == DataType::kFLOAT ? "float32" : t == DataType::kHALF ? "float16" : "bfloat16";
}

PluginTensorDesc desc(std::vector<int64_t> d, DataType t) {
  PluginTensorDesc p{};
  p.dims.nbDims = static_cast<int32_t>(d.size());
  for (size_t i = 0; i < d.size(); ++i) p.dims.d[i] = d[i];
  p.type = t;
  p.format = TensorFormat::kLINEAR;
  p.scale = -1.f;
  return p;
}

DynamicPluginTensorDesc dyn(const PluginTensorDesc& p) {
  DynamicPluginTensorDesc d{};
  d.desc = p;
  d.min = d.max = d.opt = p.dims;
  return d;
}

bool runCase(const Case& c, DataType t, std::mt19937& rng) {
  const float scale = 1.f / std::sqrt(static_cast<float>(c.D));
  const size_t nQkv = static_cast<size_t>(c.B) * c.H * c.W * 3 * c.heads * c.D;
  const size_t nOut = static_cast<size_t>(c.B) * c.H * c.W * c.heads * c.D;
  const size_t nRpb = static_cast<size_t>(c.heads) * (2 * c.Kh - 1) * (2 * c.Kw - 1);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> qkv(nQkv), rpb(nRpb);
  for (auto& v : qkv) v = nd(rng);
  for (auto& v : rpb) v = nd(rng);
  Buffer bq = encode(qkv, t), br = encode(rpb, t);

  // Reference on the rounded inputs, float32.
  natx::NAParams p{c.B, c.H, c.W, c.heads, c.D, c.Kh, c.Kw, c.dh, c.dw, scale, c.rpb};
  std::vector<float> ref(nOut);
  natx::na2d_forward_cpu(p, bq.rounded.data(), c.rpb ? br.rounded.data() : nullptr, ref.data(), 0);

  // The plugin, as TensorRT drives it.
  natx::trt::NAPluginCreator creator;
  natx_test::Fields f = natx_test::validFields(c.heads, c.Kh, c.Kw, c.dh, c.dw, scale);
  std::unique_ptr<IPluginV3> built(creator.createPlugin("gpu_layer", f.fc(), TensorRTPhase::kBUILD));
  const int nbIn = c.rpb ? 2 : 1;
  PluginTensorDesc in[2] = {desc({c.B, c.H, c.W, 3 * c.heads * c.D}, t),
                            desc({c.heads, 2 * c.Kh - 1, 2 * c.Kw - 1}, t)};
  PluginTensorDesc out[1] = {desc({c.B, c.H, c.W, c.heads * c.D}, t)};
  DynamicPluginTensorDesc din[2] = {dyn(in[0]), dyn(in[1])};
  DynamicPluginTensorDesc dout[1] = {dyn(out[0])};
  auto* b = static_cast<IPluginV3OneBuild*>(built->getCapabilityInterface(PluginCapabilityType::kBUILD));
  if (b->configurePlugin(din, nbIn, dout, 1) != 0) return false;
  // Engine deserialization: recreate from the serialized fields, attach, shape change.
  auto* brt = static_cast<IPluginV3OneRuntime*>(built->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
  std::unique_ptr<IPluginV3> loaded(
      creator.createPlugin("gpu_layer", brt->getFieldsToSerialize(), TensorRTPhase::kRUNTIME));
  auto* lrt = static_cast<IPluginV3OneRuntime*>(loaded->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
  std::unique_ptr<IPluginV3> ctx(lrt->attachToContext(nullptr));
  auto* rt = static_cast<IPluginV3OneRuntime*>(ctx->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
  if (rt->onShapeChange(in, nbIn, out, 1) != 0) return false;

  const size_t es = t == DataType::kFLOAT ? 4 : 2;
  void *dq = nullptr, *dr = nullptr, *dout_ = nullptr;
  cudaStream_t stream = nullptr;
  bool ok = cudaMalloc(&dq, nQkv * es) == cudaSuccess && cudaMalloc(&dr, nRpb * es) == cudaSuccess &&
            cudaMalloc(&dout_, nOut * es) == cudaSuccess && cudaStreamCreate(&stream) == cudaSuccess &&
            cudaMemcpy(dq, bq.bytes.data(), bq.bytes.size(), cudaMemcpyHostToDevice) == cudaSuccess &&
            cudaMemcpy(dr, br.bytes.data(), br.bytes.size(), cudaMemcpyHostToDevice) == cudaSuccess &&
            cudaMemset(dout_, 0, nOut * es) == cudaSuccess;
  std::vector<unsigned char> got(nOut * es);
  if (ok) {
    const void* inputs[2] = {dq, dr};
    void* outputs[1] = {dout_};
    ok = rt->enqueue(in, out, inputs, outputs, nullptr, stream) == 0 && cudaStreamSynchronize(stream) == cudaSuccess &&
         cudaMemcpy(got.data(), dout_, got.size(), cudaMemcpyDeviceToHost) == cudaSuccess;
  }
  cudaFree(dq);
  cudaFree(dr);
  cudaFree(dout_);
  if (stream) cudaStreamDestroy(stream);
  if (!ok) {
    std::printf("FAIL B%d %dx%d heads%d D%d K%dx%d d%dx%d rpb%d %s: CUDA/plugin error\n", c.B, c.H, c.W, c.heads, c.D,
                c.Kh, c.Kw, c.dh, c.dw, c.rpb, typeName(t));
    return false;
  }
  std::vector<float> g = decode(got, nOut, t);
  double maxErr = 0;
  for (size_t i = 0; i < nOut; ++i) maxErr = std::max(maxErr, static_cast<double>(std::fabs(g[i] - ref[i])));
  const double tol = t == DataType::kFLOAT ? 1e-4 : t == DataType::kHALF ? 4e-3 : 3e-2;  // output rounding
  const bool pass = maxErr <= tol;
  std::printf("%s B%d %dx%d heads%d D%d K%dx%d d%dx%d rpb%d %s: max abs err %.3g (tol %.1g)\n", pass ? "PASS" : "FAIL",
              c.B, c.H, c.W, c.heads, c.D, c.Kh, c.Kw, c.dh, c.dw, c.rpb, typeName(t), maxErr, tol);
  return pass;
}

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    std::printf("SKIP no usable CUDA device (%s)\n", e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    return 77;
  }
  const Case cases[] = {
      {2, 14, 14, 4, 32, 7, 7, 1, 1, true}, {1, 17, 23, 2, 64, 7, 5, 2, 3, true},
      {2, 9, 12, 3, 16, 3, 3, 3, 4, false}, {1, 28, 28, 2, 128, 13, 13, 2, 1, true},
      {3, 7, 7, 1, 8, 7, 7, 1, 1, true},
  };
  std::mt19937 rng(1234);
  int failed = 0, total = 0;
  for (const Case& c : cases)
    for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16}) failed += !runCase(c, t, rng), ++total;
  std::printf("natx_trt_gpu_test: %d cases, %d failed\n", total, failed);
  return failed == 0 ? 0 : 1;
}
