// CUDA neighborhood-attention forward. No torch / TensorRT / ONNX Runtime types.
#pragma once

#include <cuda_runtime.h>

#include "na_params.h"

namespace natx {

// qkv [B, H, W, 3*heads*D], rpb [heads, 2Kh-1, 2Kw-1] (same dtype as qkv; nullable,
// read when p.has_rpb), out [B, H, W, heads*D] (same dtype). All device pointers.
// Fused: q.k, bias, online softmax and .v in one pass, float32 accumulation.
// Supports head dim D <= 128 (float32, float16, bfloat16).
// Returns cudaErrorInvalidValue for invalid parameters (nothing is launched),
// otherwise the launch status. Asynchronous on `stream`.
cudaError_t na2d_forward_cuda(const NAParams& p, NADType dtype, const void* qkv, const void* rpb, void* out,
                              cudaStream_t stream);

// Largest head dim na2d_forward_cuda accepts.
constexpr int kNAMaxHeadDimCuda = 128;

}  // namespace natx
