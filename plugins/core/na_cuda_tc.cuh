// Tensor-core variant of the fused kernel, for float16 and bfloat16 (bfloat16 on
// sm_80+) with head dim D in {16, 32, 64, 128}. Same block decomposition as the
// scalar kernel (na_cuda_kernel.cuh): one block = one (batch, head, dilation group,
// 8x8 query tile); 4 warps, 16 queries each.
//
// The tile's key/value halo (hy*hx pixels, padded with zeros to a multiple of 16)
// and its 64 queries are staged in shared memory (each warp's 16 query rows inside
// that warp's float scratch, which is free until the queries sit in fragments); each warp then walks the part of
// the halo its 16 queries (2 tile rows) can see, in chunks of 16 keys, with WMMA
// (16x16x16, float32 accumulation):
//   pass 1: S = Q K^T per chunk -> masked to each query's window, bias added ->
//           running row max and row sum (base 2);
//   pass 2: S again -> P = exp2(S - max) / sum (exact softmax, stored as T) ->
//           O += P V, accumulated in float32 fragments; O is written once.
// Keys outside a query's window are masked, so the dense 16-key chunks compute
// about (K+1)(8+K-1) / K^2 (2.3x for K 7) more products than needed, on tensor cores.
// Uses only the WMMA API (warp-level, layout-opaque), so that emu/na_cuda_emu.cpp
// can run it on the CPU too.
#pragma once

#if defined(__CUDACC__)
#include <mma.h>
#endif

#include "na_cuda_kernel.cuh"

namespace natx {
namespace kern {

constexpr int kTcWarps = 4;  // 4 x 16 queries = the 8x8 tile
constexpr int kTcThreads = kTcWarps * 32;

// Shared-memory layout of the tensor-core kernel, in bytes (every region 128-byte aligned).
struct TcLayout {
  int S;     // row stride (elements) of staged q/k/v rows: D + 8 (16-byte aligned rows, no ldmatrix conflicts)
  int SO;    // row stride (floats) of the per-warp float scratch: D + 4
  int npix;  // halo pixels reserved, multiple of 16
  unsigned k_off, v_off, scr_off, p_off, rpb_off, total;  // q rows: aliased into each warp's scratch
};

__host__ __device__ inline unsigned tc_align(unsigned x) {
  return (x + 127u) & ~127u;
}

__host__ __device__ inline TcLayout tc_layout(int Kh, int Kw, int D, int elem_bytes) {
  TcLayout L;
  L.S = D + 8;
  L.SO = D + 4;
  L.npix = ((kTileY + Kh - 1) * (kTileX + Kw - 1) + 15) / 16 * 16;
  const unsigned kv = static_cast<unsigned>(L.npix) * L.S * elem_bytes;
  L.k_off = 0;
  L.v_off = tc_align(L.k_off + kv);
  // A warp's 16 staged q rows (16 * S * elem_bytes) fit its scratch (16 * SO * 4 bytes): they live
  // there until loaded into fragments (50,432 -> 45,312 bytes for K 7, D 32, 16-bit: under 48 KB,
  // two blocks per SM on sm_86 / sm_89).
  static_assert(kTileY * kTileX == kTcWarps * 16, "one warp per 16 queries");
  L.scr_off = tc_align(L.v_off + kv);
  L.p_off = tc_align(L.scr_off + static_cast<unsigned>(kTcWarps) * 16 * L.SO * 4);
  L.rpb_off = tc_align(L.p_off + static_cast<unsigned>(kTcWarps) * 16 * 16 * elem_bytes);
  L.total = tc_align(L.rpb_off + static_cast<unsigned>((2 * Kh - 1) * (2 * Kw - 1)) * 4);
  return L;
}

// 16-byte copy (8 half / bfloat16 values).
__device__ __forceinline__ void copy16(void* dst, const void* src) {
  *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
}
__device__ __forceinline__ void zero16(void* dst) {
  *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0);
}

template <typename T, int D>
__device__ __forceinline__ void na2d_tc_body(const KernelArgs<T>& a) {
  namespace wmma = nvcuda::wmma;
  constexpr int VEC = 16 / sizeof(T);  // elements per 16-byte vector
  constexpr int NV = D / VEC;          // vectors per pixel row
  constexpr int NK = D / 16;           // 16-wide slices of D
  const NAParams& p = a.p;
  const int C = p.heads * D;
  const long long C3 = 3LL * C;

  BlockTile bt;
  if (!block_tile(a, bt)) return;  // uniform over the block
  const int sy0 = na_window_start(bt.py0, bt.Lgy, p.Kh);
  const int sx0 = na_window_start(bt.px0, bt.Lgx, p.Kw);
  const int hy = na_window_start(min(bt.py0 + kTileY, bt.Lgy) - 1, bt.Lgy, p.Kh) + p.Kh - sy0;
  const int hx = na_window_start(min(bt.px0 + kTileX, bt.Lgx) - 1, bt.Lgx, p.Kw) + p.Kw - sx0;
  const int npix = hy * hx;
  const int nchunk = (npix + 15) / 16;

  const TcLayout L = tc_layout(p.Kh, p.Kw, D, static_cast<int>(sizeof(T)));
  unsigned char* sm = NATX_SMEM_BASE;
  T* ks = reinterpret_cast<T*>(sm + L.k_off);
  T* vs = reinterpret_cast<T*>(sm + L.v_off);
  // Query row qi of the tile: in the scratch of warp qi / 16 (32-byte aligned: 16 * SO * 4 is a
  // multiple of 64 bytes, rows S * elem_bytes a multiple of 16).
  auto qrow = [&](int qi) {
    return reinterpret_cast<T*>(sm + L.scr_off + static_cast<unsigned>(qi / 16) * 16 * L.SO * 4) + (qi % 16) * L.S;
  };
  float* rb = reinterpret_cast<float*>(sm + L.rpb_off);
  const int S = L.S, SO = L.SO;
  const T* img = a.qkv + static_cast<long long>(bt.b) * p.H * p.W * C3;

  // ---- stage k, v (halo, zero padded to whole chunks), q (64 queries), bias (float, base 2)
  for (int i = threadIdx.x; i < nchunk * 16 * NV; i += blockDim.x) {
    const int pix = i / NV;
    const int d = (i - pix * NV) * VEC;
    if (pix < npix) {
      const int r = pix / hx;
      const int c = pix - r * hx;
      const int y = (sy0 + r) * p.dh + bt.gy;
      const int x = (sx0 + c) * p.dw + bt.gx;
      const T* src = img + (static_cast<long long>(y) * p.W + x) * C3 + C + bt.h * D + d;
      copy16(ks + pix * S + d, src);
      copy16(vs + pix * S + d, src + C);
    } else {
      zero16(ks + pix * S + d);
      zero16(vs + pix * S + d);
    }
  }
  for (int i = threadIdx.x; i < kTileY * kTileX * NV; i += blockDim.x) {
    const int qi = i / NV;
    const int d = (i - qi * NV) * VEC;
    const int qy = bt.py0 + qi / kTileX;
    const int qx = bt.px0 + qi % kTileX;
    if (qy < bt.Lgy && qx < bt.Lgx) {
      const int y = qy * p.dh + bt.gy;
      const int x = qx * p.dw + bt.gx;
      copy16(qrow(qi) + d, img + (static_cast<long long>(y) * p.W + x) * C3 + bt.h * D + d);
    } else {
      zero16(qrow(qi) + d);
    }
  }
  const int rw = 2 * p.Kw - 1;
  if (p.has_rpb) {
    const int n = (2 * p.Kh - 1) * rw;
    const T* src = a.rpb + static_cast<long long>(bt.h) * n;
    for (int i = threadIdx.x; i < n; i += blockDim.x) rb[i] = Cvt<T>::to(src[i]) * kLog2e;
  }
  __syncthreads();

  // ---- per warp: 16 queries; per lane: half a row (8 of the 16 keys of a chunk) of one query
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  float* scr = reinterpret_cast<float*>(sm + L.scr_off) + warp * 16 * SO;
  T* ps = reinterpret_cast<T*>(sm + L.p_off) + warp * 16 * 16;
  const int row = lane >> 1;
  const int col0 = (lane & 1) * 8;
  const int qi = warp * 16 + row;
  const int qy = bt.py0 + qi / kTileX;
  const int qx = bt.px0 + qi % kTileX;
  const bool active = qy < bt.Lgy && qx < bt.Lgx;
  // this query's window, in halo coordinates; bias index = (K-1) + (key - query), group units
  const int wy0 = active ? na_window_start(qy, bt.Lgy, p.Kh) - sy0 : 0;
  const int wx0 = active ? na_window_start(qx, bt.Lgx, p.Kw) - sx0 : 0;
  const int brow0 = (p.Kh - 1) + sy0 - qy;
  const int bcol0 = (p.Kw - 1) + sx0 - qx;

  // The chunks this warp needs: its 16 queries are 2 tile rows, whose windows cover
  // halo rows [r_lo, r_hi) only (warp-uniform bounds, as WMMA needs).
  static_assert(kTileX * 2 == 16, "a warp's 16 queries must be two tile rows");
  int c_lo = 0, c_hi = 0;
  const int qya = bt.py0 + 2 * warp;
  if (qya < bt.Lgy) {
    const int qyb = min(qya + 1, bt.Lgy - 1);
    const int r_lo = na_window_start(qya, bt.Lgy, p.Kh) - sy0;
    const int r_hi = na_window_start(qyb, bt.Lgy, p.Kh) - sy0 + p.Kh;
    c_lo = (r_lo * hx) / 16;
    c_hi = (r_hi * hx + 15) / 16;
  }

  wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> qf[NK];
#pragma unroll
  for (int kk = 0; kk < NK; ++kk) wmma::load_matrix_sync(qf[kk], qrow(warp * 16) + kk * 16, S);
  __syncwarp();  // the q rows live in scr, which scores() overwrites

  // S = Q K^T for keys [16*chunk, 16*chunk+16) into scr (16 x 16, row major).
  auto scores = [&](int chunk) {
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> sf;
    wmma::fill_fragment(sf, 0.f);
#pragma unroll
    for (int kk = 0; kk < NK; ++kk) {
      wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> kf;
      wmma::load_matrix_sync(kf, ks + chunk * 16 * S + kk * 16, S);
      wmma::mma_sync(sf, qf[kk], kf, sf);
    }
    wmma::store_matrix_sync(scr, sf, SO, wmma::mem_row_major);
    __syncwarp();
  };
  // The lane's 8 logits of a chunk (base 2), -inf outside the query's window.
  auto logits = [&](int chunk, float (&s)[8]) {
    const int j0 = chunk * 16 + col0;
    int r = j0 / hx;
    int c = j0 - r * hx;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      float v = -INFINITY;
      if (active && j0 + i < npix && r >= wy0 && r < wy0 + p.Kh && c >= wx0 && c < wx0 + p.Kw) {
        v = scr[row * SO + col0 + i] * a.q_scale;
        if (p.has_rpb) v += rb[(brow0 + r) * rw + bcol0 + c];
      }
      s[i] = v;
      if (++c == hx) {
        c = 0;
        ++r;
      }
    }
  };

  // Pass 1: row max and row sum.
  float m = -INFINITY, l = 0.f;
  for (int chunk = c_lo; chunk < c_hi; ++chunk) {
    scores(chunk);
    float s[8];
    logits(chunk, s);
    float cm = s[0];
#pragma unroll
    for (int i = 1; i < 8; ++i) cm = fmaxf(cm, s[i]);
    cm = fmaxf(cm, __shfl_xor_sync(0xffffffffu, cm, 1));
    const float mn = fmaxf(m, cm);
    float add = 0.f;
    if (mn != -INFINITY) {
#pragma unroll
      for (int i = 0; i < 8; ++i) add += exp2f(s[i] - mn);  // exp2(-inf) = 0
    }
    add += __shfl_xor_sync(0xffffffffu, add, 1);
    l = (m == -INFINITY ? 0.f : l * exp2f(m - mn)) + add;
    m = mn;
    __syncwarp();  // scr is rewritten by the next chunk
  }
  const float inv = l > 0.f ? 1.f / l : 0.f;

  // Pass 2: O = softmax(S) V.
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> of[NK];
#pragma unroll
  for (int nn = 0; nn < NK; ++nn) wmma::fill_fragment(of[nn], 0.f);
  for (int chunk = c_lo; chunk < c_hi; ++chunk) {
    scores(chunk);
    float s[8];
    logits(chunk, s);
#pragma unroll
    for (int i = 0; i < 8; ++i) ps[row * 16 + col0 + i] = Cvt<T>::from(s[i] == -INFINITY ? 0.f : exp2f(s[i] - m) * inv);
    __syncwarp();
    wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> pf;
    wmma::load_matrix_sync(pf, ps, 16);
#pragma unroll
    for (int nn = 0; nn < NK; ++nn) {
      wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> vf;
      wmma::load_matrix_sync(vf, vs + chunk * 16 * S + nn * 16, S);
      wmma::mma_sync(of[nn], pf, vf, of[nn]);
    }
    __syncwarp();  // ps and scr are rewritten by the next chunk
  }

  // Output: fragments -> scr (16 x D floats) -> global, the lane's half row.
#pragma unroll
  for (int nn = 0; nn < NK; ++nn) wmma::store_matrix_sync(scr + nn * 16, of[nn], SO, wmma::mem_row_major);
  __syncwarp();
  if (active) {
    const int y = qy * p.dh + bt.gy;
    const int x = qx * p.dw + bt.gx;
    T* op = a.out + ((static_cast<long long>(bt.b) * p.H + y) * p.W + x) * C + bt.h * D;
    constexpr int HALF = D / 2;
    const int d0 = (lane & 1) * HALF;
#pragma unroll
    for (int d = 0; d < HALF; ++d) op[d0 + d] = Cvt<T>::from(scr[row * SO + d0 + d]);
  }
}

template <typename T, int D>
__global__ void __launch_bounds__(kTcThreads) na2d_tc_kernel(const KernelArgs<T> a) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  if constexpr (std::is_same<T, __nv_bfloat16>::value) {
    __trap();  // bfloat16 WMMA needs sm_80; the launcher never picks this
  } else {
    na2d_tc_body<T, D>(a);
  }
#else
  na2d_tc_body<T, D>(a);
#endif
}

// Calls f(std::integral_constant<int, D>) when the tensor-core kernel handles head dim D; else returns fallback.
template <typename F, typename R>
R with_tc_dim(int D, F&& f, R fallback) {
  using std::integral_constant;
  switch (D) {
    case 16: return f(integral_constant<int, 16>{});
    case 32: return f(integral_constant<int, 32>{});
    case 64: return f(integral_constant<int, 64>{});
    case 128: return f(integral_constant<int, 128>{});
    default: return fallback;
  }
}

}  // namespace kern
}  // namespace natx
