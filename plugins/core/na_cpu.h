// CPU neighborhood-attention forward. No framework types.
//
// Layouts (the op contract, docs/contract.md): qkv [B, H, W, 3*heads*D] ordered (3, heads, D),
// rpb [heads, 2Kh-1, 2Kw-1] (nullable; read when p.has_rpb), out [B, H, W, heads*D]; all three in
// the same element type (float32, float16 or bfloat16; 16-bit types are converted in the kernel,
// accumulation is float32). p must be valid (na_validate); the callers check.
//
// Kernels (NACpuKernel): `scalar` is the plain loop kept as the reference and for shapes the SIMD
// kernel does not take; `baseline` is the SIMD kernel compiled for the build's baseline ISA
// (x86-64: SSE2; AArch64: NEON); `avx2` the same source compiled for AVX2 + FMA + F16C, chosen at run
// time when the CPU has them. docs/native.md ("CPU kernel") describes the design.
#pragma once

#include <cstdint>
#include <string>

#include "na_params.h"

namespace natx {

enum class NACpuKernel : int { kAuto = 0, kScalar = 1, kBaseline = 2, kAvx2 = 3 };

// The SIMD kernel takes D a multiple of 8 up to kNACpuSimdMaxD and Kh, Kw up to kNACpuSimdMaxK; the scalar
// kernel runs every other shape.
constexpr int kNACpuSimdMaxD = 128;
constexpr int kNACpuSimdMaxK = 31;

// "auto", "scalar", "baseline", "avx2".
const char* na_cpu_kernel_name(NACpuKernel k);
// Parses a name as above into a kernel this build and CPU can run; "" when accepted, else one line: the
// values allowed, or why this CPU cannot run it (e.g. avx2 without AVX2).
std::string na_cpu_kernel_parse(const char* name, NACpuKernel* k);

// How one call is split into work items: an item is one (batch, dilation group, tile of up to
// tile x tile queries of that group, group of heads); the tile's windows overlap, so its keys and
// values (the halo, at most (tile + Kh - 1) x (tile + Kw - 1) pixels) are read once per head.
// Items are independent and each output element is computed by exactly one item with the same
// arithmetic whatever the split, so the result does not depend on the number of threads.
struct NACpuPlan {
  NACpuKernel kernel = NACpuKernel::kScalar;  // resolved: never kAuto
  int tile = 8;                               // queries per tile side (group units)
  int y_tiles = 1, x_tiles = 1;               // tiles per dilation group (of the longest group)
  int head_groups = 1;
  int heads_per_group = 1;
  int64_t items = 0;
  double item_work = 0;  // multiply-adds per item (upper bound), for chunking
};

// The plan for p: `requested` kAuto picks the fastest kernel this CPU supports that takes the shape
// (the SIMD limits above); a forced SIMD kernel runs the scalar kernel for the shapes it does not take.
// `requested` must come from na_cpu_kernel_parse (or be kAuto / kScalar / kBaseline).
NACpuPlan na_cpu_plan(const NAParams& p, NACpuKernel requested = NACpuKernel::kAuto);

// Items [item_begin, item_end) of `plan` on the calling thread: lets an adapter spread items over
// its own thread pool. `dtype` names the element type of qkv, rpb and out.
void na2d_forward_cpu_items(const NACpuPlan& plan, const NAParams& p, NADType dtype, const void* qkv, const void* rpb,
                            void* out, int64_t item_begin, int64_t item_end);

// The whole call on std::threads (num_threads <= 0: one per hardware thread; small calls stay on
// the calling thread).
void na2d_forward_cpu(const NAParams& p, NADType dtype, const void* qkv, const void* rpb, void* out, int num_threads,
                      NACpuKernel requested = NACpuKernel::kAuto);

// float32 shorthand.
inline void na2d_forward_cpu(const NAParams& p, const float* qkv, const float* rpb, float* out, int num_threads) {
  na2d_forward_cpu(p, NADType::kFloat32, qkv, rpb, out, num_threads);
}

}  // namespace natx
