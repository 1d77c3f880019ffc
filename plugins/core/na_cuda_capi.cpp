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
// tc_blocks / scalar_blocks: the two kernels' resident blocks per SM as the occupancy API would
// measure them (0: unknown, i.e. no occupancy given, as before a GPU measured it).
NATX_CAPI int natx_na_choose_path(int B, int H, int W, int heads, int D, int Kh, int Kw, int dh, int dw, int dtype,
                                  int has_rpb, int requested, int cc_major, int smem_optin, int sm_count, int tc_blocks,
                                  int scalar_blocks, int aligned, const char** why) {
  natx::NAParams p{B, H, W, heads, D, Kh, Kw, dh, dw, 0.125f, has_rpb != 0};
  natx::NACudaDevice dev;
  dev.id = 0;
  dev.cc_major = cc_major;
  dev.smem_optin = smem_optin;
  dev.sm_count = sm_count;
  natx::NAOccupancy occ;
  occ.tc_blocks_per_sm = tc_blocks;
  occ.scalar_blocks_per_sm = scalar_blocks;
  return static_cast<int>(natx::na_choose_path(p, static_cast<natx::NADType>(dtype),
                                               static_cast<natx::NAPath>(requested), dev, aligned != 0, why, &occ));
}

// The occupancy rule alone (na_occupancy_rule): returns 1 when it prefers the scalar kernel, else 0;
// out[0..4] = known, tc warps per SM, scalar warps per SM, grid blocks, blocks that fill the GPU.
NATX_CAPI int natx_na_occupancy_rule(int B, int H, int W, int heads, int D, int Kh, int Kw, int dh, int dw,
                                     int sm_count, int tc_blocks, int scalar_blocks, long long* out) {
  natx::NAParams p{B, H, W, heads, D, Kh, Kw, dh, dw, 0.125f, true};
  natx::NACudaDevice dev;
  dev.sm_count = sm_count;
  natx::NAOccupancy occ;
  occ.tc_blocks_per_sm = tc_blocks;
  occ.scalar_blocks_per_sm = scalar_blocks;
  const natx::NAOccupancyVerdict v = natx::na_occupancy_rule(p, dev, occ);
  if (out != nullptr) {
    out[0] = v.known ? 1 : 0;
    out[1] = v.tc_warps_per_sm;
    out[2] = v.scalar_warps_per_sm;
    out[3] = v.grid_blocks;
    out[4] = v.fill_blocks;
  }
  return v.prefer_scalar ? 1 : 0;
}

// The rule's thresholds: out[0] = kNATcMinWarpsPerSM, out[1] = kNAScalarWarpFactor.
NATX_CAPI void natx_na_occupancy_thresholds(int* out) {
  out[0] = natx::kNATcMinWarpsPerSM;
  out[1] = natx::kNAScalarWarpFactor;
}

// What a path (1 scalar, 2 scalar-global, 3 tensor-core) launches: threads per block (returned) and
// dynamic shared memory (*smem); 0 threads when the path has no kernel for these parameters.
NATX_CAPI int natx_cuda_launch_shape(int Kh, int Kw, int D, int dtype, int path, long long* smem) {
  natx::NAParams p{1, Kh, Kw, 1, D, Kh, Kw, 1, 1, 0.125f, true};
  const natx::NALaunchShape s =
      natx::na_cuda_launch_shape(p, static_cast<natx::NADType>(dtype), static_cast<natx::NAPath>(path));
  if (smem != nullptr) *smem = static_cast<long long>(s.dynamic_smem);
  return s.threads;
}

// na2d_cuda_plan_summary of a plan made by hand (no CUDA call): path 0..3, requested 0..3.
NATX_CAPI const char* natx_na_plan_summary(int B, int H, int W, int heads, int D, int Kh, int Kw, int dh, int dw,
                                           int path, int requested, int sm_count, int tc_blocks, int scalar_blocks) {
  static thread_local std::string s;
  natx::NALaunchPlan plan;
  plan.p = natx::NAParams{B, H, W, heads, D, Kh, Kw, dh, dw, 0.125f, true};
  plan.path = static_cast<natx::NAPath>(path);
  plan.requested = static_cast<natx::NAPath>(requested);
  plan.dev.sm_count = sm_count;
  plan.occ.tc_blocks_per_sm = tc_blocks;
  plan.occ.scalar_blocks_per_sm = scalar_blocks;
  plan.valid = true;
  s = natx::na2d_cuda_plan_summary(plan);
  return s.c_str();
}

NATX_CAPI const char* natx_cuda_versions() {
  static std::string s;
  s = natx::na_cuda_versions();
  return s.c_str();
}

NATX_CAPI long long natx_cuda_tc_smem_bytes(int Kh, int Kw, int D) {
  return static_cast<long long>(natx::na_cuda_tc_smem_bytes(Kh, Kw, D));
}
