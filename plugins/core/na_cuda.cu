// Host launchers of the fused neighborhood-attention kernels: the tensor-core kernel
// (na_cuda_tc.cuh) for float16 / bfloat16 where it applies, else the scalar kernel
// (na_cuda_kernel.cuh), which handles every case. See docs/native.md.
//
// Per-call work is kept out of the launch: the device's attributes are queried once per device
// and process, the path is chosen and the kernel's shared-memory attribute set once per plan
// (na2d_cuda_plan, which TensorRT's onShapeChange calls), the environment is read once.
#include <array>
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>
#include <type_traits>

#include "na_cuda.h"
#include "na_cuda_tc.cuh"

namespace natx {
namespace {

using kern::KernelArgs;

constexpr int kMaxDevices = 64;

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] != '\0' && v[0] != '0';
}

// Sets the kernel's dynamic shared-memory limit on `device` once (per size it grows to).
template <typename Kernel>
cudaError_t allow_smem(Kernel kernel, std::array<std::atomic<int>, kMaxDevices>& done, int device, size_t bytes) {
  if (bytes <= 48 * 1024) return cudaSuccess;
  std::atomic<int>* slot = device >= 0 && device < kMaxDevices ? &done[device] : nullptr;
  if (slot != nullptr && slot->load() >= static_cast<int>(bytes)) return cudaSuccess;
  const cudaError_t err =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
  if (err == cudaSuccess && slot != nullptr) {
    int cur = slot->load();
    while (cur < static_cast<int>(bytes) && !slot->compare_exchange_weak(cur, static_cast<int>(bytes))) {
    }
  }
  return err;
}

template <typename T, int D>
std::array<std::atomic<int>, kMaxDevices> g_tc_smem_set{};
template <typename T, int G, int DC>
std::array<std::atomic<int>, kMaxDevices> g_scalar_smem_set{};

template <typename T>
bool tc_applies(const NAParams& p, const NACudaDevice& dev, const char** why) {
  if (std::is_same<T, float>::value) return *why = "float32 has no tensor-core path", false;
  if (std::is_same<T, __nv_bfloat16>::value && dev.cc_major < 8)
    return *why = "bfloat16 tensor cores need sm_80 or newer", false;
  const unsigned total = kern::with_tc_dim(
      p.D, [&](auto dim) { return kern::tc_layout(p.Kh, p.Kw, decltype(dim)::value, sizeof(T)).total; }, 0u);
  if (total == 0) return *why = "the tensor-core kernel takes head dim 16, 32, 64 or 128", false;
  if (total > static_cast<unsigned>(dev.smem_optin))
    return *why = "the tensor-core kernel's shared memory does not fit this device", false;
  return true;
}

template <typename T>
NAPath choose(const NAParams& p, NAPath requested, const NACudaDevice& dev, bool aligned, const char** why) {
  const char* tc_why = "";
  const bool tc = tc_applies<T>(p, dev, &tc_why) && (aligned || (tc_why = "qkv is not 16-byte aligned", false));
  if (requested == NAPath::kTensorCore) {
    if (tc) return NAPath::kTensorCore;
    *why = tc_why;
    return NAPath::kAuto;
  }
  if (requested == NAPath::kAuto && tc) return NAPath::kTensorCore;
  if (requested == NAPath::kScalarGlobal) return NAPath::kScalarGlobal;
  const KernelArgs<T> a = kern::make_args<T>(p, nullptr, nullptr, nullptr);
  return kern::smem_bytes(a) <= static_cast<size_t>(dev.smem_optin) ? NAPath::kScalar : NAPath::kScalarGlobal;
}

template <typename T>
cudaError_t prepare(const NALaunchPlan& plan) {
  const NAParams& p = plan.p;
  for (NAPath path : {plan.path, plan.unaligned}) {
    cudaError_t err = cudaSuccess;
    if constexpr (!std::is_same<T, float>::value) {
      if (path == NAPath::kTensorCore)
        err = kern::with_tc_dim(
            p.D,
            [&](auto dim) {
              constexpr int D = decltype(dim)::value;
              return allow_smem(kern::na2d_tc_kernel<T, D>, g_tc_smem_set<T, D>, plan.device,
                                kern::tc_layout(p.Kh, p.Kw, D, sizeof(T)).total);
            },
            cudaErrorInvalidValue);
    }
    if (path == NAPath::kScalar) {
      err = kern::with_config(p.D, [&](auto g, auto dc) {
        constexpr int G = decltype(g)::value, DC = decltype(dc)::value;
        const KernelArgs<T> a = kern::make_args<T>(p, nullptr, nullptr, nullptr);
        return allow_smem(kern::na2d_fused_kernel<T, G, DC>, g_scalar_smem_set<T, G, DC>, plan.device,
                          kern::smem_bytes(a));
      });
    }
    if (err != cudaSuccess) return err;
  }
  return cudaSuccess;
}

template <typename T>
cudaError_t launch(const NALaunchPlan& plan, NAPath path, const void* qkv, const void* rpb, void* out,
                   cudaStream_t stream) {
  const NAParams& p = plan.p;
  KernelArgs<T> a = kern::make_args<T>(p, static_cast<const T*>(qkv), static_cast<const T*>(rpb), static_cast<T*>(out));
  const dim3 grid(static_cast<unsigned>(kern::grid_blocks(a)), static_cast<unsigned>(p.heads));
  if constexpr (!std::is_same<T, float>::value) {
    if (path == NAPath::kTensorCore)
      return kern::with_tc_dim(
          p.D,
          [&](auto dim) -> cudaError_t {
            constexpr int D = decltype(dim)::value;
            const unsigned smem = kern::tc_layout(p.Kh, p.Kw, D, sizeof(T)).total;
            kern::na2d_tc_kernel<T, D><<<grid, kern::kTcThreads, smem, stream>>>(a);
            return cudaGetLastError();
          },
          cudaErrorInvalidValue);
  }
  return kern::with_config(p.D, [&](auto g, auto dc) {
    constexpr int G = decltype(g)::value, DC = decltype(dc)::value;
    a.use_smem = path == NAPath::kScalar ? 1 : 0;
    const size_t dyn = a.use_smem ? kern::smem_bytes(a) : 0;
    kern::na2d_fused_kernel<T, G, DC><<<grid, kern::kTileY * kern::kTileX * G, dyn, stream>>>(a);
    return cudaGetLastError();
  });
}

template <typename Kernel>
cudaError_t kernel_info(Kernel kernel, int threads, size_t dyn, NAKernelInfo& info) {
  cudaFuncAttributes attr{};
  cudaError_t err = cudaFuncGetAttributes(&attr, kernel);
  if (err != cudaSuccess) return err;
  info.regs = attr.numRegs;
  info.static_smem = attr.sharedSizeBytes;
  info.dynamic_smem = dyn;
  info.threads = threads;
  return cudaOccupancyMaxActiveBlocksPerMultiprocessor(&info.blocks_per_sm, kernel, threads, dyn);
}

template <typename T>
cudaError_t plan_kernel_info(const NALaunchPlan& plan, NAKernelInfo& info) {
  const NAParams& p = plan.p;
  info.path = plan.path;
  if constexpr (!std::is_same<T, float>::value) {
    if (plan.path == NAPath::kTensorCore)
      return kern::with_tc_dim(
          p.D,
          [&](auto dim) {
            constexpr int D = decltype(dim)::value;
            return kernel_info(kern::na2d_tc_kernel<T, D>, kern::kTcThreads,
                               kern::tc_layout(p.Kh, p.Kw, D, sizeof(T)).total, info);
          },
          cudaErrorInvalidValue);
  }
  return kern::with_config(p.D, [&](auto g, auto dc) {
    constexpr int G = decltype(g)::value, DC = decltype(dc)::value;
    const KernelArgs<T> a = kern::make_args<T>(p, nullptr, nullptr, nullptr);
    const size_t dyn = plan.path == NAPath::kScalar ? kern::smem_bytes(a) : 0;
    return kernel_info(kern::na2d_fused_kernel<T, G, DC>, kern::kTileY * kern::kTileX * G, dyn, info);
  });
}

template <typename F>
auto with_dtype(NADType dtype, F&& f) {
  switch (dtype) {
    case NADType::kFloat16: return f(__half{});
    case NADType::kBFloat16: return f(__nv_bfloat16{});
    default: return f(float{});
  }
}

bool dtype_ok(NADType dtype) {
  return dtype == NADType::kFloat32 || dtype == NADType::kFloat16 || dtype == NADType::kBFloat16;
}

}  // namespace

const char* na_path_name(NAPath path) noexcept {
  switch (path) {
    case NAPath::kScalar: return "scalar";
    case NAPath::kScalarGlobal: return "scalar-global";
    case NAPath::kTensorCore: return "tensor-core";
    default: return "auto";
  }
}

const char* na_cuda_status_name(cudaError_t status) noexcept {
  return status == kNAPathNotApplicable ? "natxPathNotApplicable" : cudaGetErrorName(status);
}
const char* na_cuda_status_string(cudaError_t status) noexcept {
  return status == kNAPathNotApplicable ? "the requested kernel path does not apply to these parameters on this device"
                                        : cudaGetErrorString(status);
}

cudaError_t na_cuda_device(int device, NACudaDevice& out) noexcept {
  static std::mutex mu;
  static std::array<NACudaDevice, kMaxDevices> cache{};
  const bool cacheable = device >= 0 && device < kMaxDevices;
  std::lock_guard<std::mutex> lock(mu);
  if (cacheable && cache[device].id == device) {
    out = cache[device];
    return cudaSuccess;
  }
  NACudaDevice d;
  d.id = device;
  cudaError_t err = cudaDeviceGetAttribute(&d.cc_major, cudaDevAttrComputeCapabilityMajor, device);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&d.cc_minor, cudaDevAttrComputeCapabilityMinor, device);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&d.smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&d.sm_count, cudaDevAttrMultiProcessorCount, device);
  if (err != cudaSuccess) return err;
  if (cacheable) cache[device] = d;
  out = d;
  return cudaSuccess;
}

size_t na_cuda_tc_smem_bytes(int Kh, int Kw, int D) noexcept {
  return kern::with_tc_dim(
      D, [&](auto dim) { return static_cast<size_t>(kern::tc_layout(Kh, Kw, decltype(dim)::value, 2).total); },
      size_t{0});
}

NAPath na_choose_path(const NAParams& p, NADType dtype, NAPath requested, const NACudaDevice& dev, bool aligned,
                      const char** why) noexcept {
  const char* dummy = nullptr;
  const char** w = why != nullptr ? why : &dummy;
  *w = "";
  if (!dtype_ok(dtype)) return *w = "unknown dtype", NAPath::kAuto;
  return with_dtype(dtype, [&](auto t) { return choose<decltype(t)>(p, requested, dev, aligned, w); });
}

cudaError_t na2d_cuda_plan(const NAParams& p, NADType dtype, NAPath requested, NALaunchPlan& plan) noexcept {
  plan = NALaunchPlan{};
  if (!na_validate(p).empty() || p.D > kNAMaxHeadDimCuda || !dtype_ok(dtype)) return cudaErrorInvalidValue;
  {
    const KernelArgs<float> a = kern::make_args<float>(p, nullptr, nullptr, nullptr);
    if (kern::grid_blocks(a) > INT_MAX || p.heads > 65535) return cudaErrorInvalidValue;
  }
  if (requested == NAPath::kTensorCore) {  // not applicable on any device: say so before touching CUDA
    NACudaDevice best;
    best.cc_major = 1000;
    best.smem_optin = INT_MAX;
    if (na_choose_path(p, dtype, requested, best, true) == NAPath::kAuto) return kNAPathNotApplicable;
  }
  plan.p = p;
  plan.dtype = dtype;
  plan.requested = requested;
  int device = 0;
  cudaError_t err = cudaGetDevice(&device);
  NACudaDevice dev;
  if (err == cudaSuccess) err = na_cuda_device(device, dev);
  if (err != cudaSuccess) return err;
  plan.device = device;
  plan.path = na_choose_path(p, dtype, requested, dev, true);
  if (plan.path == NAPath::kAuto) return kNAPathNotApplicable;
  plan.unaligned = na_choose_path(p, dtype, requested == NAPath::kTensorCore ? NAPath::kAuto : requested, dev, false);
  err = with_dtype(dtype, [&](auto t) { return prepare<decltype(t)>(plan); });
  if (err != cudaSuccess) return err;
  plan.valid = true;
  return cudaSuccess;
}

cudaError_t na2d_forward_cuda_planned(NALaunchPlan& plan, const void* qkv, const void* rpb, void* out,
                                      cudaStream_t stream) noexcept {
  if (!plan.valid) return cudaErrorInvalidValue;
  const NAParams& p = plan.p;
  if (p.B == 0) return cudaSuccess;
  if (qkv == nullptr || out == nullptr || (p.has_rpb && rpb == nullptr)) return cudaErrorInvalidValue;
  int device = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err != cudaSuccess) return err;
  if (device != plan.device) {
    NALaunchPlan again;
    err = na2d_cuda_plan(plan.p, plan.dtype, plan.requested, again);
    if (err != cudaSuccess) return err;
    plan = again;
  }
  const bool aligned = reinterpret_cast<uintptr_t>(qkv) % 16 == 0;
  NAPath path = plan.path;
  if (path == NAPath::kTensorCore && !aligned) {
    if (plan.requested == NAPath::kTensorCore) return kNAPathNotApplicable;
    path = plan.unaligned;
  }
  return with_dtype(plan.dtype, [&](auto t) { return launch<decltype(t)>(plan, path, qkv, rpb, out, stream); });
}

cudaError_t na2d_forward_cuda(const NAParams& p, NADType dtype, const void* qkv, const void* rpb, void* out,
                              cudaStream_t stream, NAPath path) noexcept {
  if (!na_validate(p).empty() || p.D > kNAMaxHeadDimCuda || !dtype_ok(dtype)) return cudaErrorInvalidValue;
  if (p.B == 0) return cudaSuccess;
  if (qkv == nullptr || out == nullptr || (p.has_rpb && rpb == nullptr)) return cudaErrorInvalidValue;
  NALaunchPlan plan;
  const cudaError_t err = na2d_cuda_plan(p, dtype, path, plan);
  if (err != cudaSuccess) return err;
  return na2d_forward_cuda_planned(plan, qkv, rpb, out, stream);
}

cudaError_t na2d_cuda_kernel_info(const NALaunchPlan& plan, NAKernelInfo& info) noexcept {
  if (!plan.valid) return cudaErrorInvalidValue;
  return with_dtype(plan.dtype, [&](auto t) { return plan_kernel_info<decltype(t)>(plan, info); });
}

NAPath na_cuda_env_path() noexcept {
  static const NAPath path = [] {
    if (!env_flag("NATX_CUDA_NO_TC")) return NAPath::kAuto;
    return env_flag("NATX_CUDA_NO_SMEM") ? NAPath::kScalarGlobal : NAPath::kScalar;
  }();
  return path;
}

std::string na_cuda_versions() noexcept {
  try {
    int rt = 0, drv = 0;
    cudaRuntimeGetVersion(&rt);
    cudaDriverGetVersion(&drv);
    auto ver = [](int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); };
    std::string s = "CUDA runtime " + ver(rt) + " (linked into this library), driver " +
                    (drv > 0 ? "supports CUDA " + ver(drv) : std::string("not found"));
    if (drv > 0 && drv < rt)
      s += ": the driver is older than the runtime; update the driver or rebuild with the CUDA toolkit matching it "
           "(nat-export build-plugins)";
    return s;
  } catch (...) {
    return "CUDA versions unknown";
  }
}

}  // namespace natx
