// Host launchers of the fused neighborhood-attention kernels: the tensor-core kernel
// (na_cuda_tc.cuh) for float16 / bfloat16 where it applies, else the scalar kernel
// (na_cuda_kernel.cuh), which handles every case. See docs/native.md.
//
// Per-call work is kept out of the launch: the device's attributes are queried once per device
// and process, the kernels' occupancy once per device, kernel and shared-memory size, the path is
// chosen and the kernel's shared-memory attribute set once per plan (na2d_cuda_plan, which
// TensorRT's onShapeChange calls), the environment is read once.
#include <array>
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
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

// Threads per block and dynamic shared memory of what `path` launches (see na_cuda_launch_shape).
template <typename T>
NALaunchShape launch_shape(const NAParams& p, NAPath path) {
  NALaunchShape s;
  if (path == NAPath::kTensorCore) {
    if (std::is_same<T, float>::value) return s;
    s.dynamic_smem = kern::with_tc_dim(
        p.D, [&](auto dim) { return size_t{kern::tc_layout(p.Kh, p.Kw, decltype(dim)::value, sizeof(T)).total}; },
        size_t{0});
    s.threads = s.dynamic_smem > 0 ? kern::kTcThreads : 0;
    return s;
  }
  if (path != NAPath::kScalar && path != NAPath::kScalarGlobal) return s;
  s.threads = kern::with_config(p.D, [](auto g, auto) { return kern::kTileY * kern::kTileX * decltype(g)::value; });
  if (path == NAPath::kScalar) s.dynamic_smem = kern::smem_bytes(kern::make_args<T>(p, nullptr, nullptr, nullptr));
  return s;
}

template <typename T>
NAPath choose(const NAParams& p, NAPath requested, const NACudaDevice& dev, bool aligned, const char** why,
              const NAOccupancy* occ) {
  const char* tc_why = "";
  const bool tc = tc_applies<T>(p, dev, &tc_why) && (aligned || (tc_why = "qkv is not 16-byte aligned", false));
  if (requested == NAPath::kTensorCore) {
    if (tc) return NAPath::kTensorCore;
    *why = tc_why;
    return NAPath::kAuto;
  }
  if (requested == NAPath::kAuto && tc && (occ == nullptr || !na_occupancy_rule(p, dev, *occ).prefer_scalar))
    return NAPath::kTensorCore;
  if (requested == NAPath::kScalarGlobal) return NAPath::kScalarGlobal;
  const KernelArgs<T> a = kern::make_args<T>(p, nullptr, nullptr, nullptr);
  return kern::smem_bytes(a) <= static_cast<size_t>(dev.smem_optin) ? NAPath::kScalar : NAPath::kScalarGlobal;
}

// Calls f(kernel, smem-attribute record) with the kernel `path` launches for p's head dim (T
// 16-bit for kTensorCore; a path without a kernel: `none`).
template <typename T, typename F>
cudaError_t with_kernel(const NAParams& p, NAPath path, F&& f, cudaError_t none = cudaSuccess) {
  if constexpr (!std::is_same<T, float>::value) {
    if (path == NAPath::kTensorCore)
      return kern::with_tc_dim(
          p.D,
          [&](auto dim) {
            constexpr int D = decltype(dim)::value;
            return f(kern::na2d_tc_kernel<T, D>, g_tc_smem_set<T, D>);
          },
          cudaErrorInvalidValue);
  }
  if (path != NAPath::kScalar && path != NAPath::kScalarGlobal) return none;
  return kern::with_config(p.D, [&](auto g, auto dc) {
    constexpr int G = decltype(g)::value, DC = decltype(dc)::value;
    return f(kern::na2d_fused_kernel<T, G, DC>, g_scalar_smem_set<T, G, DC>);
  });
}

template <typename T>
cudaError_t prepare(const NALaunchPlan& plan) {
  for (NAPath path : {plan.path, plan.unaligned}) {
    const size_t dyn = launch_shape<T>(plan.p, path).dynamic_smem;
    const cudaError_t err = with_kernel<T>(
        plan.p, path, [&](auto kernel, auto& done) { return allow_smem(kernel, done, plan.device, dyn); });
    if (err != cudaSuccess) return err;
  }
  return cudaSuccess;
}

// Resident blocks per SM of `kernel` with `threads` and `dyn` bytes on the current device `device`
// (its shared-memory attribute allowed first, as a launch needs), cached per device, kernel,
// block size and shared-memory size.
template <typename Kernel>
cudaError_t blocks_per_sm(Kernel kernel, std::array<std::atomic<int>, kMaxDevices>& done, int device, int threads,
                          size_t dyn, int& blocks) {
  using Key = std::tuple<int, const void*, int, size_t>;
  static std::mutex mu;
  static std::map<Key, int> cache;
  const Key key{device, reinterpret_cast<const void*>(kernel), threads, dyn};
  {
    std::lock_guard<std::mutex> lock(mu);
    const auto it = cache.find(key);
    if (it != cache.end()) return blocks = it->second, cudaSuccess;
  }
  cudaError_t err = allow_smem(kernel, done, device, dyn);
  if (err == cudaSuccess) err = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, threads, dyn);
  if (err != cudaSuccess) return err;
  std::lock_guard<std::mutex> lock(mu);
  cache.emplace(key, blocks);
  return cudaSuccess;
}

template <typename T>
cudaError_t measure_occupancy(const NAParams& p, const NACudaDevice& dev, NAOccupancy& occ) {
  occ = NAOccupancy{};
  const char* why = "";
  if (!tc_applies<T>(p, dev, &why)) return cudaSuccess;  // nothing to choose between
  const NAPath scalar = choose<T>(p, NAPath::kScalar, dev, true, &why, nullptr);
  for (NAPath path : {NAPath::kTensorCore, scalar}) {
    const NALaunchShape s = launch_shape<T>(p, path);
    int& blocks = path == NAPath::kTensorCore ? occ.tc_blocks_per_sm : occ.scalar_blocks_per_sm;
    const cudaError_t err = with_kernel<T>(p, path, [&](auto kernel, auto& done) {
      return blocks_per_sm(kernel, done, dev.id, s.threads, s.dynamic_smem, blocks);
    });
    if (err != cudaSuccess) return occ = NAOccupancy{}, err;
  }
  return cudaSuccess;
}

template <typename T>
cudaError_t launch(const NALaunchPlan& plan, NAPath path, const void* qkv, const void* rpb, void* out,
                   cudaStream_t stream) {
  const NAParams& p = plan.p;
  KernelArgs<T> a = kern::make_args<T>(p, static_cast<const T*>(qkv), static_cast<const T*>(rpb), static_cast<T*>(out));
  a.use_smem = path == NAPath::kScalar ? 1 : 0;
  const dim3 grid(static_cast<unsigned>(kern::grid_blocks(a)), static_cast<unsigned>(p.heads));
  const NALaunchShape s = launch_shape<T>(p, path);  // what the occupancy was measured with
  return with_kernel<T>(
      p, path,
      [&](auto kernel, auto&) -> cudaError_t {
        kernel<<<grid, s.threads, s.dynamic_smem, stream>>>(a);
        return cudaGetLastError();
      },
      cudaErrorInvalidValue);
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
  info.path = plan.path;
  const NALaunchShape s = launch_shape<T>(plan.p, plan.path);
  return with_kernel<T>(
      plan.p, plan.path, [&](auto kernel, auto&) { return kernel_info(kernel, s.threads, s.dynamic_smem, info); },
      cudaErrorInvalidValue);
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

NALaunchShape na_cuda_launch_shape(const NAParams& p, NADType dtype, NAPath path) noexcept {
  if (!dtype_ok(dtype) || p.dh < 1 || p.dw < 1) return NALaunchShape{};
  return with_dtype(dtype, [&](auto t) { return launch_shape<decltype(t)>(p, path); });
}

NAOccupancyVerdict na_occupancy_rule(const NAParams& p, const NACudaDevice& dev, const NAOccupancy& occ) noexcept {
  NAOccupancyVerdict v;
  if (p.B < 0 || p.heads < 1 || p.dh < 1 || p.dw < 1) return v;
  v.grid_blocks = kern::grid_blocks(kern::make_args<float>(p, nullptr, nullptr, nullptr)) * p.heads;
  const int scalar_threads = launch_shape<float>(p, NAPath::kScalarGlobal).threads;
  v.tc_warps_per_sm = occ.tc_blocks_per_sm * (kern::kTcThreads / 32);
  v.scalar_warps_per_sm = occ.scalar_blocks_per_sm * (scalar_threads / 32);
  v.fill_blocks = static_cast<long long>(dev.sm_count) * occ.scalar_blocks_per_sm;
  v.known = occ.tc_blocks_per_sm > 0 && occ.scalar_blocks_per_sm > 0 && dev.sm_count > 0;
  v.prefer_scalar = v.known && v.tc_warps_per_sm < kNATcMinWarpsPerSM &&
                    v.scalar_warps_per_sm >= kNAScalarWarpFactor * v.tc_warps_per_sm && v.grid_blocks >= v.fill_blocks;
  return v;
}

NAPath na_choose_path(const NAParams& p, NADType dtype, NAPath requested, const NACudaDevice& dev, bool aligned,
                      const char** why, const NAOccupancy* occ) noexcept {
  const char* dummy = nullptr;
  const char** w = why != nullptr ? why : &dummy;
  *w = "";
  if (!dtype_ok(dtype)) return *w = "unknown dtype", NAPath::kAuto;
  return with_dtype(dtype, [&](auto t) { return choose<decltype(t)>(p, requested, dev, aligned, w, occ); });
}

cudaError_t na_cuda_occupancy(const NAParams& p, NADType dtype, const NACudaDevice& dev, NAOccupancy& occ) noexcept {
  occ = NAOccupancy{};
  if (!dtype_ok(dtype) || p.dh < 1 || p.dw < 1 || p.D > kNAMaxHeadDimCuda) return cudaErrorInvalidValue;
  int current = -1;
  const cudaError_t err = cudaGetDevice(&current);
  if (err != cudaSuccess) return err;
  if (current != dev.id) return cudaErrorInvalidDevice;  // the occupancy API answers for the current device
  return with_dtype(dtype, [&](auto t) { return measure_occupancy<decltype(t)>(p, dev, occ); });
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
  plan.dev = dev;
  if (requested == NAPath::kAuto) {  // the occupancy rule's input: once per plan, cached per device and kernel
    err = na_cuda_occupancy(p, dtype, dev, plan.occ);
    if (err != cudaSuccess) return err;
  }
  plan.path = na_choose_path(p, dtype, requested, dev, true, nullptr, &plan.occ);
  if (plan.path == NAPath::kAuto) return kNAPathNotApplicable;
  plan.unaligned = na_choose_path(p, dtype, requested == NAPath::kTensorCore ? NAPath::kAuto : requested, dev, false);
  err = with_dtype(dtype, [&](auto t) { return prepare<decltype(t)>(plan); });
  if (err != cudaSuccess) return err;
  plan.valid = true;
  return cudaSuccess;
}

std::string na2d_cuda_plan_summary(const NALaunchPlan& plan) {
  std::string s = na_path_name(plan.path);
  if (!plan.valid) return s + " (not planned)";
  if (plan.requested != NAPath::kAuto) return s + " (requested)";
  const NAOccupancyVerdict v = na_occupancy_rule(plan.p, plan.dev, plan.occ);
  if (!v.known) {
    if (plan.path == NAPath::kTensorCore) return s + " (occupancy not measured)";
    return s + " (the tensor-core kernel does not apply)";
  }
  auto n = [](long long x) { return std::to_string(x); };
  auto warps = [&](int w, int blocks) {
    return n(w) + " warps/SM (" + n(blocks) + (blocks == 1 ? " block)" : " blocks)");
  };
  s += " (occupancy rule: tensor-core " + warps(v.tc_warps_per_sm, plan.occ.tc_blocks_per_sm) + ", scalar " +
       warps(v.scalar_warps_per_sm, plan.occ.scalar_blocks_per_sm) + ", " + n(v.grid_blocks) + " blocks, " +
       n(v.fill_blocks) + " fill the GPU; scalar when tensor-core < " + n(kNATcMinWarpsPerSM) +
       " warps/SM, scalar >= " + n(kNAScalarWarpFactor) + "x that, blocks >= fill)";
  return s;
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
