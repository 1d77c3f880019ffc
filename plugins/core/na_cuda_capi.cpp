// Plain C entry point to the CUDA launcher, for tests (ctypes) only: libnatx_cuda_capi.so,
// left in the build tree. Without a GPU it still shows that invalid parameters are
// refused before CUDA is touched, and that a missing device is an error, not a crash.
#include <cuda_runtime.h>

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
