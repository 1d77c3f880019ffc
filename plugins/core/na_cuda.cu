// Host launcher of the fused neighborhood-attention kernel (na_cuda_kernel.cuh).
// No tensor cores: see docs/native.md.
#include <climits>
#include <cstdlib>

#include "na_cuda.h"
#include "na_cuda_kernel.cuh"

namespace natx {
namespace {

using kern::KernelArgs;

// NATX_CUDA_NO_SMEM=1 forces the global-memory path (tests reach both paths on one GPU).
bool smem_disabled() {
  const char* v = std::getenv("NATX_CUDA_NO_SMEM");
  return v != nullptr && v[0] != '\0' && v[0] != '0';
}

template <typename T, int G, int DC>
cudaError_t launch(const NAParams& p, const T* qkv, const T* rpb, T* out, cudaStream_t stream) {
  KernelArgs<T> a = kern::make_args<T>(p, qkv, rpb, out);
  const long long blocks = kern::grid_blocks(a);
  if (blocks > INT_MAX || p.heads > 65535) return cudaErrorInvalidValue;

  const size_t smem = kern::smem_bytes(a);
  int dev = 0, optin = 0;
  cudaError_t err = cudaGetDevice(&dev);
  if (err != cudaSuccess) return err;
  err = cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
  if (err != cudaSuccess) return err;
  a.use_smem = (smem <= static_cast<size_t>(optin) && !smem_disabled()) ? 1 : 0;
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
  return kern::with_config(p.D, [&](auto g, auto dc) {
    return launch<T, decltype(g)::value, decltype(dc)::value>(p, static_cast<const T*>(qkv),
                                                              static_cast<const T*>(rpb), static_cast<T*>(out), stream);
  });
}

}  // namespace

cudaError_t na2d_forward_cuda(const NAParams& p, NADType dtype, const void* qkv, const void* rpb, void* out,
                              cudaStream_t stream) {
  if (na_validate(p) != nullptr) return cudaErrorInvalidValue;
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
