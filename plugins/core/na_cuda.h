// CUDA neighborhood-attention forward. No torch / TensorRT / ONNX Runtime types.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <string>

#include "na_params.h"

namespace natx {

// Largest head dim na2d_forward_cuda accepts.
constexpr int kNAMaxHeadDimCuda = 128;

// Which kernel runs. kAuto: the tensor-core kernel where it applies (float16 / bfloat16, D 16, 32,
// 64 or 128, bfloat16 only on sm_80+, its shared memory fits, qkv 16-byte aligned) unless the
// occupancy rule (na_occupancy_rule) prefers the scalar kernel; else the scalar kernel. kScalar:
// the scalar kernel, its key/value halo in shared memory where that fits the device, else read
// from global memory. kScalarGlobal: the scalar kernel from global memory. kTensorCore: the
// tensor-core kernel, or kNAPathNotApplicable. (Tests, comparisons.)
enum class NAPath : int { kAuto = 0, kScalar = 1, kScalarGlobal = 2, kTensorCore = 3 };
const char* na_path_name(NAPath path) noexcept;

// Status returned when a forced path (kTensorCore) does not apply to the parameters
// on this device: distinct from every CUDA error code (cudaGetErrorName does not know it; use
// na_cuda_status_name / na_cuda_status_string).
constexpr cudaError_t kNAPathNotApplicable = static_cast<cudaError_t>(0x4e41);
const char* na_cuda_status_name(cudaError_t status) noexcept;
const char* na_cuda_status_string(cudaError_t status) noexcept;

// What the path choice needs to know of a device; queried once per device and process.
struct NACudaDevice {
  int id = -1;
  int cc_major = 0, cc_minor = 0;
  int smem_optin = 0;  // cudaDevAttrMaxSharedMemoryPerBlockOptin (bytes)
  int sm_count = 0;    // cudaDevAttrMultiProcessorCount
};
// Attributes of `device` (cached after the first successful query; thread-safe).
cudaError_t na_cuda_device(int device, NACudaDevice& out) noexcept;

// Dynamic shared memory (bytes) of the tensor-core kernel for a (Kh, Kw) window and head dim D
// (16, 32, 64, 128) of a 16-bit dtype; 0 for other D.
size_t na_cuda_tc_smem_bytes(int Kh, int Kw, int D) noexcept;

// What a path launches for these parameters (pure): threads per block and dynamic shared memory
// (bytes). kAuto, and kTensorCore where it has no variant (float32, D not 16/32/64/128): 0, 0.
struct NALaunchShape {
  int threads = 0;
  size_t dynamic_smem = 0;
};
NALaunchShape na_cuda_launch_shape(const NAParams& p, NADType dtype, NAPath path) noexcept;

// Resident blocks per SM of the two kernels kAuto chooses between, for one shape on one device:
// cudaOccupancyMaxActiveBlocksPerMultiprocessor with each kernel's block size and dynamic shared
// memory (registers included). 0: not known. Measured by na_cuda_occupancy (needs a GPU; cached per
// device, kernel and shared-memory size) when a plan is made, never per launch; described in tests.
struct NAOccupancy {
  int tc_blocks_per_sm = 0;      // the tensor-core kernel (kern::kTcThreads = 128 threads)
  int scalar_blocks_per_sm = 0;  // the scalar kernel on the path kScalar takes (64 * G threads)
};

// The occupancy rule's thresholds. Not yet tuned by GPU timings (docs/native.md, "Choosing the
// kernel by occupancy"; scripts/gpu_check.py reports both kernels' times next to the rule's choice).
constexpr int kNATcMinWarpsPerSM = 8;   // below this the tensor-core kernel may lose: < 2 warps per scheduler
constexpr int kNAScalarWarpFactor = 2;  // ... to a scalar kernel keeping at least this many times its warps

// The occupancy rule (pure). kAuto leaves an applicable tensor-core kernel for the scalar kernel when
// all three hold: the tensor-core kernel keeps fewer than kNATcMinWarpsPerSM warps resident per SM;
// the scalar kernel keeps at least kNAScalarWarpFactor times as many; the grid has enough blocks to
// fill every SM at the scalar kernel's occupancy (blocks >= sm_count * scalar_blocks_per_sm). Unknown
// occupancy (a 0) or SM count keeps the tensor-core kernel.
struct NAOccupancyVerdict {
  bool known = false;          // both occupancies and the SM count were given
  bool prefer_scalar = false;  // the rule takes the scalar kernel
  int tc_warps_per_sm = 0;     // resident warps per SM of each kernel
  int scalar_warps_per_sm = 0;
  long long grid_blocks = 0;  // thread blocks of the launch (both kernels: one per 8x8 tile)
  long long fill_blocks = 0;  // blocks that fill every SM at the scalar kernel's occupancy
};
NAOccupancyVerdict na_occupancy_rule(const NAParams& p, const NACudaDevice& dev, const NAOccupancy& occ) noexcept;

// The path the launcher takes for these parameters on `dev` (pure: no CUDA call).
// `requested` kAuto chooses: the tensor-core kernel where it applies unless the occupancy rule
// (with `occ`; nullptr: occupancy unknown) prefers the scalar kernel, else the scalar kernel. A
// forced path is returned when it applies, else kAuto with *why (optional) saying why not.
// `aligned`: qkv is 16-byte aligned (tensor-core staging).
NAPath na_choose_path(const NAParams& p, NADType dtype, NAPath requested, const NACudaDevice& dev, bool aligned,
                      const char** why = nullptr, const NAOccupancy* occ = nullptr) noexcept;

// Measures `occ` for kAuto on the current device `dev` (needs a GPU): for parameters where the
// tensor-core kernel applies (qkv aligned), both kernels' blocks per SM, after allowing each its dynamic
// shared memory; else zeros. Cached per device, kernel and shared-memory size: a map lookup after the
// first call. cudaSuccess, or the CUDA error of a query.
cudaError_t na_cuda_occupancy(const NAParams& p, NADType dtype, const NACudaDevice& dev, NAOccupancy& occ) noexcept;

// A launch prepared once per shape (e.g. in TensorRT's onShapeChange) and reused per call:
// parameters checked, device queried, occupancy measured (kAuto), path chosen, kernel attributes set.
struct NALaunchPlan {
  NAParams p{};
  NADType dtype = NADType::kFloat32;
  NAPath requested = NAPath::kAuto;
  NAPath path = NAPath::kAuto;       // the chosen one (never kAuto once planned)
  NAPath unaligned = NAPath::kAuto;  // the path for a qkv that is not 16-byte aligned
  NAOccupancy occ{};                 // measured for kAuto where the tensor-core kernel applies
  NACudaDevice dev{};                // the device planned for
  int device = -1;
  bool valid = false;
};
// Plans on the current device. cudaErrorInvalidValue for invalid parameters (no CUDA call),
// kNAPathNotApplicable when a forced path does not apply, else a CUDA error or cudaSuccess.
cudaError_t na2d_cuda_plan(const NAParams& p, NADType dtype, NAPath requested, NALaunchPlan& plan) noexcept;

// One line on a plan's path and why (pure), e.g. "scalar (occupancy rule: tensor-core 4 warps/SM
// (1 block), scalar 8 warps/SM (2 blocks), 3136 blocks, 80 fill the GPU; ...)"; for logs (the
// TensorRT plugin logs it at verbose level per planned shape).
std::string na2d_cuda_plan_summary(const NALaunchPlan& plan);

// Launches a plan (re-planned when the current device is not the plan's). Asynchronous.
cudaError_t na2d_forward_cuda_planned(NALaunchPlan& plan, const void* qkv, const void* rpb, void* out,
                                      cudaStream_t stream) noexcept;

// qkv [B, H, W, 3*heads*D], rpb [heads, 2Kh-1, 2Kw-1] (same dtype as qkv; nullable,
// read when p.has_rpb), out [B, H, W, heads*D] (same dtype). All device pointers.
// Fused: q.k, bias, online softmax and .v in one pass, float32 accumulation.
// Supports head dim D <= 128 (float32, float16, bfloat16).
// Returns cudaErrorInvalidValue for invalid parameters (nothing is launched),
// kNAPathNotApplicable (forced path only), otherwise the launch status. Asynchronous on `stream`.
// Plans and launches in one call.
cudaError_t na2d_forward_cuda(const NAParams& p, NADType dtype, const void* qkv, const void* rpb, void* out,
                              cudaStream_t stream, NAPath path = NAPath::kAuto) noexcept;

// The path asked for by the environment, read once per process: NATX_CUDA_NO_TC=1 -> the
// scalar kernel; with NATX_CUDA_NO_SMEM=1 too -> its global-memory path; else kAuto.
NAPath na_cuda_env_path() noexcept;

// The kernel a plan launches for a 16-byte aligned qkv, as the device sees it (needs a GPU): registers
// per thread, static and dynamic shared memory per block, threads per block, and resident blocks per
// SM (cudaOccupancyMaxActiveBlocksPerMultiprocessor). For scripts/gpu_check.py's report.
struct NAKernelInfo {
  NAPath path = NAPath::kAuto;
  int regs = 0;
  size_t static_smem = 0, dynamic_smem = 0;
  int threads = 0;
  int blocks_per_sm = 0;
};
cudaError_t na2d_cuda_kernel_info(const NALaunchPlan& plan, NAKernelInfo& info) noexcept;

// "CUDA runtime 13.0, driver 12.8 (CUDA runtime newer than the driver: ...)" for error messages.
std::string na_cuda_versions() noexcept;

}  // namespace natx
