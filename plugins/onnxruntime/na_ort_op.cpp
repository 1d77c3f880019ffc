// ONNX Runtime custom op "NeighborhoodAttention2D" (domain "trt.plugins") for the
// CPU execution provider, over the natx CPU kernel core.
//
//   inputs : qkv [B, H, W, 3*heads*D] (float32 or float16), rpb [heads, 2Kh-1, 2Kw-1] (optional, same dtype)
//   output : [B, H, W, heads*D], same dtype as qkv
//   attrs  : num_heads (int), kernel_size (ints [Kh, Kw] or [K]), dilation (ints, default 1),
//            scale (float, default D^-0.5), plugin_version / plugin_namespace (ignored)
//
// float16 is converted in the kernel and accumulated in float32. The kernel's work items (tiles of
// queries, na_cpu.h) are spread over ONNX Runtime's intra-op thread pool. The environment variable
// NATX_CPU_KERNEL (auto | scalar | baseline | avx2; read when ONNX Runtime creates the kernel, i.e.
// when a session is made) forces a CPU kernel, for comparisons. Errors come back as ORT statuses.
#include <cstdlib>
#include <cmath>
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "na_cpu.h"
#include "na_params.h"
#include "onnxruntime_cxx_api.h"

#define NATX_ORT_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

constexpr const char* kOpName = "NeighborhoodAttention2D";
constexpr const char* kDomain = "trt.plugins";

struct BadInput {
  std::string msg;
};

std::string ints_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

OrtStatus* error(const std::string& msg) {
  return Ort::GetApi().CreateStatus(ORT_INVALID_ARGUMENT, (std::string(kOpName) + ": " + msg).c_str());
}

// Reads an int pair attribute given as [a, b] or [a]; absent -> fallback.
std::vector<int64_t> pair_attr(const Ort::ConstKernelInfo& info, const char* name, int64_t fallback, bool required) {
  std::vector<int64_t> v;
  try {
    v = info.GetAttributes<int64_t>(name);
  } catch (const Ort::Exception&) {
    try {
      v = {info.GetAttribute<int64_t>(name)};
    } catch (const Ort::Exception&) {
      if (required) throw BadInput{std::string("missing attribute '") + name + "' (ints [Kh, Kw])"};
      v = {fallback, fallback};
    }
  }
  if (v.size() == 1) v.push_back(v[0]);
  if (v.size() != 2)
    throw BadInput{std::string("attribute '") + name + "' must have 1 or 2 values, got " + ints_str(v)};
  return v;
}

struct NAKernel {
  int heads = 0, Kh = 0, Kw = 0, dh = 1, dw = 1;
  float scale = 0.f;
  bool has_scale = false;
  natx::NACpuKernel cpu_kernel = natx::NACpuKernel::kAuto;
  ONNXTensorElementDataType type;

  NAKernel(const OrtKernelInfo* raw, ONNXTensorElementDataType t) : type(t) {
    Ort::ConstKernelInfo info(raw);
    int64_t nh = 0;
    try {
      nh = info.GetAttribute<int64_t>("num_heads");
    } catch (const Ort::Exception&) {
      throw BadInput{"missing int attribute 'num_heads'"};
    }
    // The rules are the kernel core's (na_params.h), the same the TensorRT plugin applies.
    std::string err = natx::na_check_num_heads(nh);
    const auto k = pair_attr(info, "kernel_size", 0, true);
    const auto d = pair_attr(info, "dilation", 1, false);
    if (err.empty()) err = natx::na_check_kernel_size(k[0], k[1]);
    if (err.empty()) err = natx::na_check_dilation(d[0], d[1]);
    try {
      scale = info.GetAttribute<float>("scale");
      has_scale = true;
    } catch (const Ort::Exception&) {
      has_scale = false;  // default D^-0.5, known at compute time
    }
    if (err.empty() && has_scale) err = natx::na_check_scale(scale);
    if (const char* env = std::getenv("NATX_CPU_KERNEL"); err.empty() && env != nullptr && *env != '\0') {
      err = natx::na_cpu_kernel_parse(env, &cpu_kernel);
      if (!err.empty()) err = "NATX_CPU_KERNEL: " + err;
    }
    if (!err.empty()) throw BadInput{err};
    heads = static_cast<int>(nh);
    Kh = static_cast<int>(k[0]);
    Kw = static_cast<int>(k[1]);
    dh = static_cast<int>(d[0]);
    dw = static_cast<int>(d[1]);
  }

  OrtStatusPtr ComputeV2(OrtKernelContext* raw) {
    try {
      return compute(raw);
    } catch (const BadInput& e) {
      return error(e.msg);
    } catch (const Ort::Exception& e) {
      return Ort::GetApi().CreateStatus(e.GetOrtErrorCode(), e.what());
    } catch (const std::exception& e) {
      return Ort::GetApi().CreateStatus(ORT_FAIL, (std::string(kOpName) + ": " + e.what()).c_str());
    }
  }

  OrtStatusPtr compute(OrtKernelContext* raw) {
    Ort::KernelContext ctx(raw);
    const Ort::ConstValue qkv = ctx.GetInput(0);
    const std::vector<int64_t> shape = qkv.GetTensorTypeAndShapeInfo().GetShape();
    std::string err = natx::na_check_qkv_dims(shape.data(), static_cast<int>(shape.size()), heads, Kh, Kw, dh, dw);
    if (!err.empty()) return error(err);
    for (int i = 0; i < 4; ++i)
      if (shape[i] > INT32_MAX) return error("qkv dims above 2^31-1 are not supported, got " + ints_str(shape));
    const int64_t last = shape[3];

    natx::NAParams p{};
    p.B = static_cast<int>(shape[0]);
    p.H = static_cast<int>(shape[1]);
    p.W = static_cast<int>(shape[2]);
    p.heads = heads;
    p.D = static_cast<int>(last / (3LL * heads));
    p.Kh = Kh;
    p.Kw = Kw;
    p.dh = dh;
    p.dw = dw;
    p.scale = has_scale ? scale : 1.f / std::sqrt(static_cast<float>(p.D));

    const Ort::ConstValue rpb = ctx.GetInputCount() > 1 ? ctx.GetInput(1) : Ort::ConstValue{nullptr};
    p.has_rpb = rpb != nullptr;
    if (p.has_rpb) {
      const std::vector<int64_t> rs = rpb.GetTensorTypeAndShapeInfo().GetShape();
      err = natx::na_check_rpb_dims(rs.data(), static_cast<int>(rs.size()), heads, Kh, Kw);
      if (!err.empty()) return error(err);
    }
    err = natx::na_validate(p);
    if (!err.empty()) return error(err);

    const std::vector<int64_t> out_shape = {shape[0], shape[1], shape[2], static_cast<int64_t>(heads) * p.D};
    Ort::UnownedValue out = ctx.GetOutput(0, out_shape);
    if (p.B == 0) return nullptr;

    const natx::NADType dtype =
        type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT ? natx::NADType::kFloat32 : natx::NADType::kFloat16;
    const void* rpb_data = p.has_rpb ? rpb.GetTensorRawData() : nullptr;
    run(ctx, p, dtype, qkv.GetTensorRawData(), rpb_data, out.GetTensorMutableRawData());
    return nullptr;
  }

  struct Job {
    const natx::NAParams* p;
    const natx::NACpuPlan* plan;
    natx::NADType dtype;
    const void *qkv, *rpb;
    void* out;
    int64_t chunk;
  };

  static void run_chunk(void* data, size_t i) {
    const Job& j = *static_cast<const Job*>(data);
    const int64_t i0 = static_cast<int64_t>(i) * j.chunk;
    const int64_t i1 = i0 + j.chunk < j.plan->items ? i0 + j.chunk : j.plan->items;
    natx::na2d_forward_cpu_items(*j.plan, *j.p, j.dtype, j.qkv, j.rpb, j.out, i0, i1);
  }

  void run(const Ort::KernelContext& ctx, const natx::NAParams& p, natx::NADType dtype, const void* qkv,
           const void* rpb, void* out) const {
    const natx::NACpuPlan plan = natx::na_cpu_plan(p, cpu_kernel);
    // Keep each task at least ~64k multiply-adds so small maps do not drown in scheduling.
    const int64_t chunk = plan.item_work >= 65536.0 ? 1 : static_cast<int64_t>(65536.0 / plan.item_work) + 1;
    Job job{&p, &plan, dtype, qkv, rpb, out, chunk};
    const size_t tasks = static_cast<size_t>((plan.items + chunk - 1) / chunk);
    OrtStatus* st = Ort::GetApi().KernelContext_ParallelFor(ctx.GetOrtKernelContext(), &run_chunk, tasks, 0, &job);
    if (st != nullptr) {  // no thread pool available: run on this thread
      Ort::GetApi().ReleaseStatus(st);
      for (size_t i = 0; i < tasks; ++i) run_chunk(&job, i);
    }
  }
};

struct NAOp : Ort::CustomOpBase<NAOp, NAKernel, /*WithStatus=*/true> {
  explicit NAOp(ONNXTensorElementDataType t) : type_(t) {}

  OrtStatusPtr CreateKernelV2(const OrtApi& /*api*/, const OrtKernelInfo* info, void** kernel) const {
    try {
      *kernel = new NAKernel(info, type_);
      return nullptr;
    } catch (const BadInput& e) {
      return error(e.msg);
    } catch (const std::exception& e) {
      return error(e.what());
    }
  }

  const char* GetName() const { return kOpName; }
  const char* GetExecutionProviderType() const { return "CPUExecutionProvider"; }

  size_t GetInputTypeCount() const { return 2; }
  ONNXTensorElementDataType GetInputType(size_t) const { return type_; }
  OrtCustomOpInputOutputCharacteristic GetInputCharacteristic(size_t i) const {
    return i == 0 ? INPUT_OUTPUT_REQUIRED : INPUT_OUTPUT_OPTIONAL;
  }

  size_t GetOutputTypeCount() const { return 1; }
  ONNXTensorElementDataType GetOutputType(size_t) const { return type_; }

 private:
  ONNXTensorElementDataType type_;
};

}  // namespace

NATX_ORT_EXPORT OrtStatus* ORT_API_CALL RegisterCustomOps(OrtSessionOptions* options, const OrtApiBase* api_base) {
  const OrtApi* api = api_base ? api_base->GetApi(ORT_API_VERSION) : nullptr;
  if (api == nullptr) return nullptr;  // runtime older than these headers: nothing can be reported through it
  Ort::InitApi(api);
  static NAOp op_f32(ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT);
  static NAOp op_f16(ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16);
  OrtCustomOpDomain* domain = nullptr;
  if (OrtStatus* st = api->CreateCustomOpDomain(kDomain, &domain)) return st;
  // The domain must outlive every session that uses it: it is never released.
  if (OrtStatus* st = api->CustomOpDomain_Add(domain, &op_f32)) return st;
  if (OrtStatus* st = api->CustomOpDomain_Add(domain, &op_f16)) return st;
  return api->AddCustomOpDomain(options, domain);
}
