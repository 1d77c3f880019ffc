// The fused neighborhood-attention CUDA kernel and its host-side argument setup.
// Included by na_cuda.cu (nvcc) and by emu/na_cuda_emu.cpp, which runs this very
// kernel on the CPU (one std::thread per CUDA thread) so that its logic is tested
// on machines without a GPU. Keep to: blockIdx/threadIdx/blockDim .x/.y,
// __syncthreads, __shfl_xor_sync on float, min, exp2f, fmaxf, NATX_SMEM_BASE.
//
// One thread block = one (batch, head, dilation group, 8x8 tile of queries in
// group coordinates). The keys and values of the tile's halo (at most
// (8+Kh-1) x (8+Kw-1) pixels of the same dilation group) are staged in shared
// memory once; when they do not fit the device's shared memory, the same kernel
// reads them straight from global memory (L1/L2 cached). Each query is handled
// by G threads (G = 1, 2, 4, 8 for D <= 16, 32, 64, 128), each holding up to 16
// of its dims in registers; partial q.k sums are combined with warp shuffles.
// Softmax is online (running max and sum), accumulation is float32 for every dtype.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <math.h>

#include <cstddef>
#include <type_traits>

#include "na_index.h"
#include "na_params.h"

namespace natx {
namespace kern {

constexpr int kTileY = 8;
constexpr int kTileX = 8;
constexpr float kLog2e = 1.4426950408889634f;

template <typename T>
struct Cvt;
template <>
struct Cvt<float> {
  static __device__ __forceinline__ float to(float x) { return x; }
  static __device__ __forceinline__ float from(float x) { return x; }
};
template <>
struct Cvt<__half> {
  static __device__ __forceinline__ float to(__half x) { return __half2float(x); }
  static __device__ __forceinline__ __half from(float x) { return __float2half_rn(x); }
};
template <>
struct Cvt<__nv_bfloat16> {
  static __device__ __forceinline__ float to(__nv_bfloat16 x) { return __bfloat162float(x); }
  static __device__ __forceinline__ __nv_bfloat16 from(float x) { return __float2bfloat16_rn(x); }
};

template <typename T>
struct KernelArgs {
  NAParams p;
  const T* qkv;
  const T* rpb;
  T* out;
  int tiles_y, tiles_x;  // tiles per dilation group (sized for the longest group)
  int use_smem;          // stage the key/value halo in shared memory
  int S;                 // shared-memory row stride (elements) of one pixel's k or v
  float q_scale;         // scale * log2(e): logits are kept in base 2
};

// This block's (batch, head, dilation group, tile); false when the tile lies
// outside its (shorter) dilation group. grid = (tiles * dh * dw * B, heads).
struct BlockTile {
  int b, h, gy, gx;  // batch, head, dilation group
  int Lgy, Lgx;      // group lengths
  int py0, px0;      // first query of the tile, group units
};

template <typename T>
__device__ __forceinline__ bool block_tile(const KernelArgs<T>& a, BlockTile& t) {
  const NAParams& p = a.p;
  long long bid = blockIdx.x;
  const int tiles = a.tiles_y * a.tiles_x;
  const int tile = static_cast<int>(bid % tiles);
  bid /= tiles;
  t.gx = static_cast<int>(bid % p.dw);
  bid /= p.dw;
  t.gy = static_cast<int>(bid % p.dh);
  t.b = static_cast<int>(bid / p.dh);
  t.h = blockIdx.y;
  t.Lgy = na_group_len(p.H, p.dh, t.gy);
  t.Lgx = na_group_len(p.W, p.dw, t.gx);
  t.py0 = (tile / a.tiles_x) * kTileY;
  t.px0 = (tile % a.tiles_x) * kTileX;
  return t.py0 < t.Lgy && t.px0 < t.Lgx;
}

#ifndef NATX_SMEM_BASE
extern __shared__ __align__(128) unsigned char natx_smem[];  // WMMA needs 32-byte aligned tiles
#define NATX_SMEM_BASE natx_smem
#endif

template <typename T, int G, int DC>
__global__ void __launch_bounds__(kTileY * kTileX * G) na2d_fused_kernel(const KernelArgs<T> a) {
  const NAParams& p = a.p;
  const int C = p.heads * p.D;
  const long long C3 = 3LL * C;

  BlockTile bt;
  if (!block_tile(a, bt)) return;  // uniform over the block
  const int b = bt.b, h = bt.h, gy = bt.gy, gx = bt.gx, Lgy = bt.Lgy, Lgx = bt.Lgx, py0 = bt.py0, px0 = bt.px0;

  // Halo of the tile, in group units: window starts are monotonic in p.
  const int sy0 = na_window_start(py0, Lgy, p.Kh);
  const int sx0 = na_window_start(px0, Lgx, p.Kw);
  const int hy = na_window_start(min(py0 + kTileY, Lgy) - 1, Lgy, p.Kh) + p.Kh - sy0;
  const int hx = na_window_start(min(px0 + kTileX, Lgx) - 1, Lgx, p.Kw) + p.Kw - sx0;

  const T* img = a.qkv + static_cast<long long>(b) * p.H * p.W * C3;
  const T* kbase;    // key of halo pixel (0, 0), this head
  long long rs, cs;  // element strides between halo rows / columns
  long long voff;    // value = key + voff

  if (a.use_smem) {
    T* ks = reinterpret_cast<T*>(NATX_SMEM_BASE);
    T* vs = ks + (kTileY + p.Kh - 1) * (kTileX + p.Kw - 1) * a.S;
    const int n = hy * hx * p.D;
    for (int idx = threadIdx.x; idx < n; idx += blockDim.x) {
      const int d = idx % p.D;
      const int pix = idx / p.D;
      const int r = pix / hx;
      const int c = pix - r * hx;
      const int y = (sy0 + r) * p.dh + gy;
      const int x = (sx0 + c) * p.dw + gx;
      const T* src = img + (static_cast<long long>(y) * p.W + x) * C3 + C + h * p.D + d;
      ks[pix * a.S + d] = src[0];
      vs[pix * a.S + d] = src[C];
    }
    __syncthreads();
    kbase = ks;
    rs = static_cast<long long>(hx) * a.S;
    cs = a.S;
    voff = vs - ks;
  } else {
    kbase = img + (static_cast<long long>(sy0 * p.dh + gy) * p.W + (sx0 * p.dw + gx)) * C3 + C + h * p.D;
    rs = static_cast<long long>(p.dh) * p.W * C3;
    cs = static_cast<long long>(p.dw) * C3;
    voff = C;
  }

  // This thread: query (py, px) of the tile, dims g, g+G, g+2G, ...
  const int g = threadIdx.x % G;
  const int qi = threadIdx.x / G;
  const int py = py0 + qi / kTileX;
  const int px = px0 + qi % kTileX;
  if (py >= Lgy || px >= Lgx) return;  // no barrier below; the G threads of a query exit together

  const int y = py * p.dh + gy;
  const int x = px * p.dw + gx;
  const T* qp = img + (static_cast<long long>(y) * p.W + x) * C3 + h * p.D;

  float q[DC], acc[DC];
#pragma unroll
  for (int k = 0; k < DC; ++k) {
    const int d = g + G * k;
    q[k] = d < p.D ? Cvt<T>::to(qp[d]) * a.q_scale : 0.f;
    acc[k] = 0.f;
  }

  const int sy = na_window_start(py, Lgy, p.Kh);
  const int sx = na_window_start(px, Lgx, p.Kw);
  const int rw = 2 * p.Kw - 1;
  const T* bias = p.has_rpb ? a.rpb + static_cast<long long>(h) * (2 * p.Kh - 1) * rw + ((p.Kh - 1) + sy - py) * rw +
                                  ((p.Kw - 1) + sx - px)
                            : nullptr;
  const unsigned lane = threadIdx.x & 31u;
  const unsigned gmask = G == 1 ? 1u << lane : ((1u << G) - 1u) << (lane & ~static_cast<unsigned>(G - 1));

  float m = -INFINITY, l = 0.f;
  for (int ty = 0; ty < p.Kh; ++ty) {
    const T* krow = kbase + (sy - sy0 + ty) * rs + (sx - sx0) * cs;
    for (int tx = 0; tx < p.Kw; ++tx) {
      const T* kp = krow + tx * cs;
      float s = 0.f;
#pragma unroll
      for (int k = 0; k < DC; ++k) {
        const int d = g + G * k;
        if (d < p.D) s += q[k] * Cvt<T>::to(kp[d]);
      }
#pragma unroll
      for (int o = G / 2; o > 0; o >>= 1) s += __shfl_xor_sync(gmask, s, o);
      if (bias) s += Cvt<T>::to(bias[ty * rw + tx]) * kLog2e;
      if (s > m) {                        // new running max: rescale (the G threads of a query agree bit for bit)
        const float corr = exp2f(m - s);  // 0 for the first key (m = -inf)
        l *= corr;
#pragma unroll
        for (int k = 0; k < DC; ++k) acc[k] *= corr;
        m = s;
      }
      // -inf logit (masked by the bias): weight 0. Also keeps exp2f(-inf - -inf) = NaN out
      // while every logit so far was -inf (m still -inf).
      const float e = s == -INFINITY ? 0.f : exp2f(s - m);
      l += e;
      const T* vp = kp + voff;
#pragma unroll
      for (int k = 0; k < DC; ++k) {
        const int d = g + G * k;
        if (d < p.D) acc[k] += e * Cvt<T>::to(vp[d]);
      }
    }
  }

  const float inv = 1.f / l;
  T* op = a.out + ((static_cast<long long>(b) * p.H + y) * p.W + x) * C + h * p.D;
#pragma unroll
  for (int k = 0; k < DC; ++k) {
    const int d = g + G * k;
    if (d < p.D) op[d] = Cvt<T>::from(acc[k] * inv);
  }
}

// Shared-memory row stride (elements) for one pixel's D values, padded so that
// consecutive pixels start in different banks (odd number of 32-bit words).
template <typename T>
int smem_stride(int D) {
  if (sizeof(T) == 4) return D % 2 == 0 ? D + 1 : D;
  int s = (D + 1) & ~1;  // whole 32-bit words
  if ((s / 2) % 2 == 0) s += 2;
  return s;
}

// Kernel arguments for p (use_smem left 0), and the dynamic shared memory the
// shared-memory path needs.
template <typename T>
KernelArgs<T> make_args(const NAParams& p, const T* qkv, const T* rpb, T* out) {
  KernelArgs<T> a;
  a.p = p;
  a.qkv = qkv;
  a.rpb = rpb;
  a.out = out;
  const int Lh = (p.H + p.dh - 1) / p.dh;
  const int Lw = (p.W + p.dw - 1) / p.dw;
  a.tiles_y = (Lh + kTileY - 1) / kTileY;
  a.tiles_x = (Lw + kTileX - 1) / kTileX;
  a.use_smem = 0;
  a.S = smem_stride<T>(p.D);
  a.q_scale = p.scale * kLog2e;
  return a;
}

template <typename T>
size_t smem_bytes(const KernelArgs<T>& a) {
  return 2ull * (kTileY + a.p.Kh - 1) * (kTileX + a.p.Kw - 1) * a.S * sizeof(T);
}

template <typename T>
long long grid_blocks(const KernelArgs<T>& a) {
  return static_cast<long long>(a.tiles_y) * a.tiles_x * a.p.dh * a.p.dw * a.p.B;
}

// Calls f(std::integral_constant<int, G>, std::integral_constant<int, DC>) for head dim D (<= 128).
template <typename F>
auto with_config(int D, F&& f) {
  using std::integral_constant;
  if (D <= 8) return f(integral_constant<int, 1>{}, integral_constant<int, 8>{});
  if (D <= 16) return f(integral_constant<int, 1>{}, integral_constant<int, 16>{});
  if (D <= 32) return f(integral_constant<int, 2>{}, integral_constant<int, 16>{});
  if (D <= 64) return f(integral_constant<int, 4>{}, integral_constant<int, 16>{});
  return f(integral_constant<int, 8>{}, integral_constant<int, 16>{});
}

}  // namespace kern
}  // namespace natx
