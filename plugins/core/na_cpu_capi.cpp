// Plain C entry points to the kernel core, for tests (ctypes) only: libnatx_cpu_capi.so,
// left in the build tree (NATX_BUILD_TESTS), not installed next to the plugins.
//
// Every function returns nullptr when the input is accepted, else the one-line message of the
// rule it breaks; the message lives in thread-local storage until the thread's next call.
#include <cstdint>
#include <string>
#include <utility>

#include "na_cpu.h"
#include "na_params.h"

#define NATX_CAPI extern "C" __attribute__((visibility("default")))

namespace {

const char* result(std::string msg) {
  thread_local std::string last;
  if (msg.empty()) return nullptr;
  last = std::move(msg);
  return last.c_str();
}

}  // namespace

NATX_CAPI const char* natx_na2d_forward_cpu(int B, int H, int W, int heads, int D, int Kh, int Kw, int dh, int dw,
                                            float scale, const float* qkv, const float* rpb, float* out,
                                            int num_threads) {
  natx::NAParams p{B, H, W, heads, D, Kh, Kw, dh, dw, scale, rpb != nullptr};
  std::string err = natx::na_validate(p);
  if (!err.empty()) return result(std::move(err));
  natx::na2d_forward_cpu(p, qkv, rpb, out, num_threads);
  return nullptr;
}

// The same with the element type (dtype: 0 float32, 1 float16, 2 bfloat16; qkv, rpb and out all of it, 16-bit
// types as raw words) and a kernel by name (na_cpu.h: auto, scalar, baseline, avx2).
NATX_CAPI const char* natx_na2d_forward_cpu_ex(int B, int H, int W, int heads, int D, int Kh, int Kw, int dh, int dw,
                                               float scale, const void* qkv, const void* rpb, void* out,
                                               int num_threads, int dtype, const char* kernel) {
  natx::NAParams p{B, H, W, heads, D, Kh, Kw, dh, dw, scale, rpb != nullptr};
  natx::NACpuKernel k;
  std::string err = natx::na_cpu_kernel_parse(kernel, &k);
  if (err.empty()) err = natx::na_validate(p);
  if (err.empty() && (dtype < 0 || dtype > 2)) err = "dtype must be 0, 1 or 2, got " + std::to_string(dtype);
  if (!err.empty()) return result(std::move(err));
  natx::na2d_forward_cpu(p, static_cast<natx::NADType>(dtype), qkv, rpb, out, num_threads, k);
  return nullptr;
}

// The kernel that runs for these parameters when `kernel` is requested ("scalar", "baseline" or "avx2"), or
// the reason it cannot ("CPU kernel ...").
NATX_CAPI const char* natx_cpu_kernel_for(int B, int H, int W, int heads, int D, int Kh, int Kw, int dh, int dw,
                                          const char* kernel) {
  natx::NACpuKernel k;
  std::string err = natx::na_cpu_kernel_parse(kernel, &k);
  if (!err.empty()) return result(std::move(err));
  const natx::NAParams p{B, H, W, heads, D, Kh, Kw, dh, dw, 1.f, false};
  return natx::na_cpu_kernel_name(natx::na_cpu_plan(p, k).kernel);
}

// The op's attribute rules (natx::na_check_attrs), as the TensorRT plugin and the ONNX Runtime op
// apply them. `which`: 0 all four in order, 1 num_heads, 2 kernel_size, 3 dilation, 4 scale.
NATX_CAPI const char* natx_na_check_attrs(int which, int64_t num_heads, int64_t kh, int64_t kw, int64_t dh, int64_t dw,
                                          float scale) {
  switch (which) {
    case 0: return result(natx::na_check_attrs(num_heads, kh, kw, dh, dw, scale));
    case 1: return result(natx::na_check_num_heads(num_heads));
    case 2: return result(natx::na_check_kernel_size(kh, kw));
    case 3: return result(natx::na_check_dilation(dh, dw));
    case 4: return result(natx::na_check_scale(scale));
    default: return result("natx_na_check_attrs: which must be 0..4, got " + std::to_string(which));
  }
}

// The shape rules: qkv dims (rank 4) and rpb dims (rank 3) for given attributes; a dim < 0 is unknown.
NATX_CAPI const char* natx_na_check_qkv_dims(const int64_t* dims, int rank, int64_t num_heads, int64_t kh, int64_t kw,
                                             int64_t dh, int64_t dw) {
  return result(natx::na_check_qkv_dims(dims, rank, num_heads, kh, kw, dh, dw));
}

NATX_CAPI const char* natx_na_check_rpb_dims(const int64_t* dims, int rank, int64_t num_heads, int64_t kh, int64_t kw) {
  return result(natx::na_check_rpb_dims(dims, rank, num_heads, kh, kw));
}

// The limits the rules use: 0 num_heads, 1 kernel_size, 2 dilation; -1 otherwise.
NATX_CAPI int64_t natx_na_limit(int which) {
  switch (which) {
    case 0: return natx::kNAMaxNumHeads;
    case 1: return natx::kNAMaxKernelSize;
    case 2: return natx::kNAMaxDilation;
    default: return -1;
  }
}
