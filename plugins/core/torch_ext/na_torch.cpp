// Torch binding of the CUDA kernel core, for scripts/gpu_check.py only (built on the
// fly with torch.utils.cpp_extension.load together with ../na_cuda.cu and ../na_params.cpp).
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/extension.h>

#include "na_cuda.h"
#include "na_params.h"

namespace {

natx::NADType dtype_of(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat32: return natx::NADType::kFloat32;
    case torch::kFloat16: return natx::NADType::kFloat16;
    case torch::kBFloat16: return natx::NADType::kBFloat16;
    default: TORCH_CHECK(false, "na2d: qkv must be float32, float16 or bfloat16, got ", t.scalar_type());
  }
}

// out = NA(qkv, rpb) written into the caller's `out` (so that it can be poisoned first).
void na2d_qkv_out(const torch::Tensor& qkv, const c10::optional<torch::Tensor>& rpb, torch::Tensor& out, int64_t heads,
                  int64_t kh, int64_t kw, int64_t dh, int64_t dw, double scale, int64_t path) {
  TORCH_CHECK(path >= 0 && path <= 3, "na2d: path must be 0 (auto), 1 (scalar), 2 (scalar-global) or 3 (tensor-core)");
  TORCH_CHECK(qkv.is_cuda() && qkv.dim() == 4 && qkv.is_contiguous(),
              "na2d: qkv must be a contiguous CUDA [B, H, W, 3*heads*D] tensor");
  TORCH_CHECK(heads > 0 && qkv.size(3) % (3 * heads) == 0, "na2d: qkv last axis must be 3*heads*D");
  const int64_t D = qkv.size(3) / (3 * heads);
  TORCH_CHECK(out.is_cuda() && out.is_contiguous() && out.scalar_type() == qkv.scalar_type() &&
                  out.sizes() == torch::IntArrayRef({qkv.size(0), qkv.size(1), qkv.size(2), heads * D}),
              "na2d: out must be a contiguous [B, H, W, heads*D] tensor of qkv's dtype");
  const void* rpb_ptr = nullptr;
  if (rpb.has_value()) {
    TORCH_CHECK(rpb->is_cuda() && rpb->is_contiguous() && rpb->scalar_type() == qkv.scalar_type() &&
                    rpb->sizes() == torch::IntArrayRef({heads, 2 * kh - 1, 2 * kw - 1}),
                "na2d: rpb must be a contiguous [heads, 2Kh-1, 2Kw-1] tensor of qkv's dtype");
    rpb_ptr = rpb->data_ptr();
  }
  natx::NAParams p{};
  p.B = static_cast<int>(qkv.size(0));
  p.H = static_cast<int>(qkv.size(1));
  p.W = static_cast<int>(qkv.size(2));
  p.heads = static_cast<int>(heads);
  p.D = static_cast<int>(D);
  p.Kh = static_cast<int>(kh);
  p.Kw = static_cast<int>(kw);
  p.dh = static_cast<int>(dh);
  p.dw = static_cast<int>(dw);
  p.scale = static_cast<float>(scale);
  p.has_rpb = rpb_ptr != nullptr;
  const c10::cuda::CUDAGuard guard(qkv.device());
  const cudaError_t err =
      natx::na2d_forward_cuda(p, dtype_of(qkv), qkv.data_ptr(), rpb_ptr, out.data_ptr(),
                              c10::cuda::getCurrentCUDAStream().stream(), static_cast<natx::NAPath>(path));
  const std::string why = natx::na_validate(p);
  TORCH_CHECK(err == cudaSuccess, "na2d_forward_cuda: ", natx::na_cuda_status_name(err), ": ",
              natx::na_cuda_status_string(err), why.empty() ? "" : " (", why, why.empty() ? "" : ")", "; ",
              natx::na_cuda_versions());
}

// Parameters of a shape for the path queries (the scale does not affect the path).
natx::NAParams shape_params(int64_t B, int64_t H, int64_t W, int64_t heads, int64_t D, int64_t kh, int64_t kw,
                            int64_t dh, int64_t dw, bool has_rpb) {
  return natx::NAParams{static_cast<int>(B),
                        static_cast<int>(H),
                        static_cast<int>(W),
                        static_cast<int>(heads),
                        static_cast<int>(D),
                        static_cast<int>(kh),
                        static_cast<int>(kw),
                        static_cast<int>(dh),
                        static_cast<int>(dw),
                        0.125f,
                        has_rpb};
}

natx::NADType dtype_named(const std::string& dtype) {
  return dtype == "float16"    ? natx::NADType::kFloat16
         : dtype == "bfloat16" ? natx::NADType::kBFloat16
                               : natx::NADType::kFloat32;
}

// The path the launcher takes for these parameters on the current device (with the occupancy it
// measures for kAuto, as na2d_cuda_plan does), and why a forced one does not apply ("" when it does).
std::pair<std::string, std::string> na2d_path(int64_t B, int64_t H, int64_t W, int64_t heads, int64_t D, int64_t kh,
                                              int64_t kw, int64_t dh, int64_t dw, const std::string& dtype,
                                              bool has_rpb, int64_t requested, bool aligned) {
  const natx::NAParams p = shape_params(B, H, W, heads, D, kh, kw, dh, dw, has_rpb);
  const natx::NADType dt = dtype_named(dtype);
  int dev = 0;
  TORCH_CHECK(cudaGetDevice(&dev) == cudaSuccess, "na2d_path: no CUDA device");
  natx::NACudaDevice info;
  TORCH_CHECK(natx::na_cuda_device(dev, info) == cudaSuccess, "na2d_path: device query failed");
  natx::NAOccupancy occ;
  if (static_cast<natx::NAPath>(requested) == natx::NAPath::kAuto) {
    const cudaError_t err = natx::na_cuda_occupancy(p, dt, info, occ);
    TORCH_CHECK(err == cudaSuccess, "na2d_path: occupancy query: ", natx::na_cuda_status_string(err));
  }
  const char* why = "";
  const natx::NAPath path =
      natx::na_choose_path(p, dt, static_cast<natx::NAPath>(requested), info, aligned, &why, &occ);
  return {natx::na_path_name(path), why};
}

// The kernel the launcher runs for these parameters on the current device (qkv 16-byte aligned):
// path, registers, shared memory, threads, resident blocks per SM; and the occupancy rule's inputs
// and verdict (both kernels' blocks and warps per SM, SM count, grid blocks, blocks that fill the GPU;
// zeros where the tensor-core kernel does not apply or the path was forced).
py::dict na2d_kernel_info(int64_t B, int64_t H, int64_t W, int64_t heads, int64_t D, int64_t kh, int64_t kw, int64_t dh,
                          int64_t dw, const std::string& dtype, bool has_rpb, int64_t requested) {
  const natx::NAParams p = shape_params(B, H, W, heads, D, kh, kw, dh, dw, has_rpb);
  const natx::NADType dt = dtype_named(dtype);
  natx::NALaunchPlan plan;
  cudaError_t err = natx::na2d_cuda_plan(p, dt, static_cast<natx::NAPath>(requested), plan);
  TORCH_CHECK(err == cudaSuccess, "na2d_kernel_info: ", natx::na_cuda_status_string(err));
  natx::NAKernelInfo info;
  err = natx::na2d_cuda_kernel_info(plan, info);
  TORCH_CHECK(err == cudaSuccess, "na2d_kernel_info: ", natx::na_cuda_status_string(err));
  py::dict d;
  d["path"] = natx::na_path_name(info.path);
  d["regs"] = info.regs;
  d["static_smem"] = info.static_smem;
  d["dynamic_smem"] = info.dynamic_smem;
  d["threads"] = info.threads;
  d["blocks_per_sm"] = info.blocks_per_sm;
  const natx::NAOccupancyVerdict v = natx::na_occupancy_rule(p, plan.dev, plan.occ);
  d["tc_blocks_per_sm"] = plan.occ.tc_blocks_per_sm;
  d["scalar_blocks_per_sm"] = plan.occ.scalar_blocks_per_sm;
  d["tc_warps_per_sm"] = v.tc_warps_per_sm;
  d["scalar_warps_per_sm"] = v.scalar_warps_per_sm;
  d["sm_count"] = plan.dev.sm_count;
  d["grid_blocks"] = v.grid_blocks;
  d["fill_blocks"] = v.fill_blocks;
  d["rule_known"] = v.known;
  d["rule_prefers_scalar"] = v.prefer_scalar;
  return d;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("na2d_qkv_out", &na2d_qkv_out, "fused NA forward into out", py::arg("qkv"), py::arg("rpb"), py::arg("out"),
        py::arg("heads"), py::arg("kh"), py::arg("kw"), py::arg("dh"), py::arg("dw"), py::arg("scale"),
        py::arg("path") = 0);
  m.def("na2d_path", &na2d_path, "the launcher's path choice on the current device");
  m.def("na2d_kernel_info", &na2d_kernel_info, "registers, shared memory and occupancy of the kernel that runs");
  m.def("cuda_versions", &natx::na_cuda_versions, "CUDA runtime and driver versions");
  m.def(
      "occupancy_thresholds", [] { return std::make_pair(natx::kNATcMinWarpsPerSM, natx::kNAScalarWarpFactor); },
      "the occupancy rule's thresholds: (tensor-core min warps per SM, scalar warp factor)");
}
