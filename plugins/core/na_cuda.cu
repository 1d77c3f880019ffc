// Host launchers of the fused neighborhood-attention kernels: the tensor-core kernel
// (na_cuda_tc.cuh) for float16 / bfloat16 where it applies, else the scalar kernel
// (na_cuda_kernel.cuh), which handles every case. See docs/native.md.
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <type_traits>

#include "na_cuda.h"
#include "na_cuda_tc.cuh"

namespace natx {
namespace {

using kern::KernelArgs;

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] != '\0' && v[0] != '0';
}
// NATX_CUDA_NO_SMEM=1 forces the scalar kernel's global-memory path, NATX_CUDA_NO_TC=1
// the scalar kernel for float16/bfloat16 (so that tests reach every path on one GPU).
bool smem_disabled() {
  return env_flag("NATX_CUDA_NO_SMEM");
}
bool tc_disabled() {
  return env_flag("NATX_CUDA_NO_TC");
}

struct DeviceInfo {
  int cc_major = 0;
  int smem_optin = 0;
};

cudaError_t device_info(DeviceInfo& info) {
  int dev = 0;
  cudaError_t err = cudaGetDevice(&dev);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&info.cc_major, cudaDevAttrComputeCapabilityMajor, dev);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&info.smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
  return err;
}

// Tensor-core kernel (float16 / bfloat16, D in {16, 32, 64, 128}); cudaErrorNotSupported
// when it does not apply here, so that the caller falls back to the scalar kernel.
template <typename T>
cudaError_t launch_tc(const NAParams& p, const T* qkv, const T* rpb, T* out, cudaStream_t stream,
                      const DeviceInfo& dev) {
  if (tc_disabled()) return cudaErrorNotSupported;
  if (std::is_same<T, __nv_bfloat16>::value && dev.cc_major < 8) return cudaErrorNotSupported;
  if (reinterpret_cast<uintptr_t>(qkv) % 16 != 0) return cudaErrorNotSupported;  // 16-byte staging loads
  return kern::with_tc_dim(
      p.D,
      [&](auto dim) -> cudaError_t {
        constexpr int D = decltype(dim)::value;
        const kern::TcLayout L = kern::tc_layout(p.Kh, p.Kw, D, static_cast<int>(sizeof(T)));
        if (L.total > static_cast<unsigned>(dev.smem_optin)) return cudaErrorNotSupported;
        KernelArgs<T> a = kern::make_args<T>(p, qkv, rpb, out);
        const long long blocks = kern::grid_blocks(a);
        if (blocks > INT_MAX || p.heads > 65535) return cudaErrorInvalidValue;
        if (L.total > 48 * 1024) {
          const cudaError_t err = cudaFuncSetAttribute(
              kern::na2d_tc_kernel<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(L.total));
          if (err != cudaSuccess) return err;
        }
        const dim3 grid(static_cast<unsigned>(blocks), static_cast<unsigned>(p.heads));
        kern::na2d_tc_kernel<T, D><<<grid, kern::kTcThreads, L.total, stream>>>(a);
        return cudaGetLastError();
      },
      cudaErrorNotSupported);
}

template <typename T, int G, int DC>
cudaError_t launch(const NAParams& p, const T* qkv, const T* rpb, T* out, cudaStream_t stream) {
  KernelArgs<T> a = kern::make_args<T>(p, qkv, rpb, out);
  const long long blocks = kern::grid_blocks(a);
  if (blocks > INT_MAX || p.heads > 65535) return cudaErrorInvalidValue;

  const size_t smem = kern::smem_bytes(a);
  DeviceInfo dev;
  cudaError_t err = device_info(dev);
  if (err != cudaSuccess) return err;
  a.use_smem = (smem <= static_cast<size_t>(dev.smem_optin) && !smem_disabled()) ? 1 : 0;
  const size_t dyn = a.use_smem ? smem : 0;
  if (dyn > 48 * 1024) {
    err = cudaFuncSetAttribute(kern::na2d_fused_kernel<T, G, DC>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               static_cast<int>(dyn));
    if (err != cudaSuccess) return err;
  }
  const dim3 grid(static_cast<unsigned>(blocks), static_cast<unsigned>(p.heads));
  kern::na2d_fused_kernel<T, G, DC><<<grid, kern::kTileY * kern::kTileX * G, dyn, stream>>>(a);
  return cudaGetLastError();
}

template <typename T>
cudaError_t dispatch(const NAParams& p, const void* qkv, const void* rpb, void* out, cudaStream_t stream) {
  if constexpr (!std::is_same<T, float>::value) {
    DeviceInfo dev;
    const cudaError_t err = device_info(dev);
    if (err != cudaSuccess) return err;
    const cudaError_t tc =
        launch_tc<T>(p, static_cast<const T*>(qkv), static_cast<const T*>(rpb), static_cast<T*>(out), stream, dev);
    if (tc != cudaErrorNotSupported) return tc;
  }
  return kern::with_config(p.D, [&](auto g, auto dc) {
    return launch<T, decltype(g)::value, decltype(dc)::value>(p, static_cast<const T*>(qkv), static_cast<const T*>(rpb),
                                                              static_cast<T*>(out), stream);
  });
}

}  // namespace

cudaError_t na2d_forward_cuda(const NAParams& p, NADType dtype, const void* qkv, const void* rpb, void* out,
                              cudaStream_t stream) {
  if (!na_validate(p).empty()) return cudaErrorInvalidValue;
  if (p.D > kNAMaxHeadDimCuda) return cudaErrorInvalidValue;
  if (p.B == 0) return cudaSuccess;
  if (qkv == nullptr || out == nullptr || (p.has_rpb && rpb == nullptr)) return cudaErrorInvalidValue;
  switch (dtype) {
    case NADType::kFloat32: return dispatch<float>(p, qkv, rpb, out, stream);
    case NADType::kFloat16: return dispatch<__half>(p, qkv, rpb, out, stream);
    case NADType::kBFloat16: return dispatch<__nv_bfloat16>(p, qkv, rpb, out, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace natx
