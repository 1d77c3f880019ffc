// Plain C entry point to the CUDA launcher, for tests (ctypes) only: libnatx_cuda_capi.so,
// left in the build tree. Without a GPU it still shows that invalid parameters are
// refused before CUDA is touched, and that a missing device is an error, not a crash.
#include <cuda_runtime.h>

#include <string>

#include "na_cuda.h"
#include "na_params.h"

#define NATX_CAPI extern "C" __attribute__((visibility("default")))

NATX_CAPI int natx_na2d_forward_cuda_status(int B, int H, int W, int heads, int D, int Kh, int Kw, int dh, int dw,
                                            float scale, int dtype, const void* qkv, const void* rpb, void* out) {
  natx::NAParams p{B, H, W, heads, D, Kh, Kw, dh, dw, scale, rpb != nullptr};
  return static_cast<int>(natx::na2d_forward_cuda(p, static_cast<natx::NADType>(dtype), qkv, rpb, out, nullptr));
}

NATX_CAPI const char* natx_cuda_error_name(int err) {
  return cudaGetErrorName(static_cast<cudaError_t>(err));
}

NATX_CAPI const char* natx_cuda_status_name(int err) {
  return natx::na_cuda_status_name(static_cast<cudaError_t>(err));
}

// The launcher with a forced path (0 auto, 1 scalar, 2 scalar-global, 3 tensor-core).
NATX_CAPI int natx_na2d_forward_cuda_path(int B, int H, int W, int heads, int D, int Kh, int Kw, int dh, int dw,
                                          float scale, int dtype, const void* qkv, const void* rpb, void* out,
                                          int path) {
  natx::NAParams p{B, H, W, heads, D, Kh, Kw, dh, dw, scale, rpb != nullptr};
  return static_cast<int>(natx::na2d_forward_cuda(p, static_cast<natx::NADType>(dtype), qkv, rpb, out, nullptr,
                                                  static_cast<natx::NAPath>(path)));
}

// The launcher's path choice for a described device (no CUDA call): the path (0 = none applies
// to a forced request; `why` then says why), for tests of the choice on machines without a GPU.
NATX_CAPI int natx_na_choose_path(int B, int H, int W, int heads, int D, int Kh, int Kw, int dh, int dw, int dtype,
                                  int has_rpb, int requested, int cc_major, int smem_optin, int aligned,
                                  const char** why) {
  natx::NAParams p{B, H, W, heads, D, Kh, Kw, dh, dw, 0.125f, has_rpb != 0};
  natx::NACudaDevice dev;
  dev.id = 0;
  dev.cc_major = cc_major;
  dev.smem_optin = smem_optin;
  return static_cast<int>(natx::na_choose_path(p, static_cast<natx::NADType>(dtype),
                                               static_cast<natx::NAPath>(requested), dev, aligned != 0, why));
}

NATX_CAPI const char* natx_cuda_versions() {
  static std::string s;
  s = natx::na_cuda_versions();
  return s.c_str();
}

NATX_CAPI long long natx_cuda_tc_smem_bytes(int Kh, int Kw, int D) {
  return static_cast<long long>(natx::na_cuda_tc_smem_bytes(Kh, Kw, D));
}
