// ONNX Runtime custom op "NeighborhoodAttention2D" (domain "trt.plugins") for the
// CPU execution provider, over the natx CPU kernel core.
//
//   inputs : qkv [B, H, W, 3*heads*D] (float32 or float16), rpb [heads, 2Kh-1, 2Kw-1] (optional, same dtype)
//   output : [B, H, W, heads*D], same dtype as qkv
//   attrs  : num_heads (int), kernel_size (ints [Kh, Kw] or [K]), dilation (ints, default 1),
//            scale (float, default D^-0.5), plugin_version / plugin_namespace (ignored)
//
// float16 is computed in float32 (converted in and out). Rows of the (B, H) axis are
// spread over ONNX Runtime's intra-op thread pool. Errors come back as ORT statuses.
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

    if (type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) {
      run(ctx, p, qkv.GetTensorData<float>(), p.has_rpb ? rpb.GetTensorData<float>() : nullptr,
          out.GetTensorMutableData<float>());
      return nullptr;
    }
    // float16: compute in float32.
    const size_t n_in = static_cast<size_t>(p.B) * p.H * p.W * 3 * heads * p.D;
    const size_t n_out = n_in / 3;
    std::vector<float> qkv32 = to_float(qkv.GetTensorData<Ort::Float16_t>(), n_in);
    std::vector<float> rpb32;
    if (p.has_rpb)
      rpb32 = to_float(rpb.GetTensorData<Ort::Float16_t>(), static_cast<size_t>(heads) * (2 * Kh - 1) * (2 * Kw - 1));
    std::vector<float> out32(n_out);
    run(ctx, p, qkv32.data(), p.has_rpb ? rpb32.data() : nullptr, out32.data());
    Ort::Float16_t* o = out.GetTensorMutableData<Ort::Float16_t>();
    for (size_t i = 0; i < n_out; ++i) o[i] = Ort::Float16_t(out32[i]);
    return nullptr;
  }

  static std::vector<float> to_float(const Ort::Float16_t* src, size_t n) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = src[i].ToFloat();
    return v;
  }

  struct Job {
    const natx::NAParams* p;
    const float *qkv, *rpb;
    float* out;
    int64_t rows, chunk;
  };

  static void run_chunk(void* data, size_t i) {
    const Job& j = *static_cast<const Job*>(data);
    const int64_t r0 = static_cast<int64_t>(i) * j.chunk;
    const int64_t r1 = r0 + j.chunk < j.rows ? r0 + j.chunk : j.rows;
    natx::na2d_forward_cpu_rows(*j.p, j.qkv, j.rpb, j.out, r0, r1);
  }

  static void run(const Ort::KernelContext& ctx, const natx::NAParams& p, const float* qkv, const float* rpb,
                  float* out) {
    Job job{&p, qkv, rpb, out, static_cast<int64_t>(p.B) * p.H, 1};
    // Keep each task at least ~64k multiply-adds so small maps do not drown in scheduling.
    const double row_work = 2.0 * p.W * p.heads * p.Kh * p.Kw * p.D;
    job.chunk = row_work >= 65536.0 ? 1 : static_cast<int64_t>(65536.0 / row_work) + 1;
    const size_t tasks = static_cast<size_t>((job.rows + job.chunk - 1) / job.chunk);
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
