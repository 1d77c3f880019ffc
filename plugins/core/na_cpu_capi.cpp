// Plain C entry point to the CPU kernel, for tests (ctypes) only: libnatx_cpu_capi.so,
// left in the build tree, not installed next to the plugins.
#include "na_cpu.h"
#include "na_params.h"

extern "C" __attribute__((visibility("default"))) const char* natx_na2d_forward_cpu(
    int B, int H, int W, int heads, int D, int Kh, int Kw, int dh, int dw, float scale, const float* qkv,
    const float* rpb, float* out, int num_threads) {
  natx::NAParams p{B, H, W, heads, D, Kh, Kw, dh, dw, scale, rpb != nullptr};
  if (const char* msg = natx::na_validate(p)) return msg;
  natx::na2d_forward_cpu(p, qkv, rpb, out, num_threads);
  return nullptr;
}
