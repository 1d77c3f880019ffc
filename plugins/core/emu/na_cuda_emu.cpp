// Runs the CUDA kernels of na_cuda_kernel.cuh and na_cuda_tc.cuh on the CPU, for
// tests on machines without a GPU: every CUDA thread of a block is a std::thread,
// __syncthreads is a std::barrier over the block, __syncwarp one over the warp,
// __shfl_xor_sync exchanges through memory with a barrier over the thread group,
// and WMMA fragments hold whole 16x16 tiles (loads check the alignment rules of the
// real API; stores are done by lane 0 only, so a missing __syncwarp shows). Slow and
// only for small shapes; proves the kernels' indexing, staging, masking, shuffles
// and softmax, not their speed. libnatx_cuda_emu.so stays in the build tree.
// Compiled by the host C++ compiler (C++20) against the CUDA headers only.
#include <algorithm>
#include <barrier>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <cstdio>
#include <cstdlib>
#include <type_traits>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <vector_functions.h>
#include <vector_types.h>

// ---- the CUDA built-ins the kernel uses, per emulated thread ---------------
thread_local uint3 threadIdx;
thread_local uint3 blockIdx;
thread_local uint3 blockDim;

namespace emu {
struct Block {
  std::barrier<>* block_bar;
  std::vector<std::unique_ptr<std::barrier<>>>* group_bars;
  std::vector<std::unique_ptr<std::barrier<>>>* warp_bars;
  float* exchange;
  int G;
  unsigned char* smem;
};

[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "natx_cuda_emu: %s\n", what);
  std::abort();
}
thread_local Block blk;
}  // namespace emu

inline void __syncthreads() {
  emu::blk.block_bar->arrive_and_wait();
}
inline void __syncwarp(unsigned = 0xffffffffu) {
  (*emu::blk.warp_bars)[threadIdx.x / 32]->arrive_and_wait();
}

inline float __shfl_xor_sync(unsigned /*mask*/, float v, int lane_mask) {
  const int t = static_cast<int>(threadIdx.x);
  const int G = emu::blk.G;
  std::barrier<>& bar = *(*emu::blk.group_bars)[t / G];
  emu::blk.exchange[t] = v;
  bar.arrive_and_wait();
  const float r = emu::blk.exchange[(t - t % G) + ((t % G) ^ lane_mask)];
  bar.arrive_and_wait();
  return r;
}

using std::min;

// ---- WMMA, 16x16x16 only, whole tiles per thread ---------------------------
namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
  float x[16 * 16];  // logical element (r, c) at x[r * 16 + c]
};

inline float to_f(float v) {
  return v;
}
inline float to_f(__half v) {
  return __half2float(v);
}
inline float to_f(__nv_bfloat16 v) {
  return __bfloat162float(v);
}

inline void check(const void* ptr, unsigned ldm, size_t elem) {
  if (reinterpret_cast<uintptr_t>(ptr) % 32 != 0) emu::fail("WMMA pointer not 32-byte aligned");
  if ((ldm * elem) % 16 != 0) emu::fail("WMMA ldm not a multiple of 16 bytes");
}

template <typename Use, typename T, typename Layout>
void load_matrix_sync(fragment<Use, 16, 16, 16, T, Layout>& f, const T* p, unsigned ldm) {
  static_assert(!std::is_same<Use, accumulator>::value, "not emulated");
  check(p, ldm, sizeof(T));
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 16; ++c)
      f.x[r * 16 + c] = to_f(std::is_same<Layout, row_major>::value ? p[r * ldm + c] : p[c * ldm + r]);
}

template <typename T>
void fill_fragment(fragment<accumulator, 16, 16, 16, T>& f, float v) {
  for (float& e : f.x) e = v;
}

template <typename A, typename B>
void mma_sync(fragment<accumulator, 16, 16, 16, float>& d, const A& a, const B& b,
              const fragment<accumulator, 16, 16, 16, float>& c) {
  float r[256];
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) {
      float acc = c.x[i * 16 + j];
      for (int k = 0; k < 16; ++k) acc += a.x[i * 16 + k] * b.x[k * 16 + j];
      r[i * 16 + j] = acc;
    }
  std::memcpy(d.x, r, sizeof r);
}

inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 16, float>& f, unsigned ldm,
                              layout_t layout) {
  check(p, ldm, sizeof(float));
  if (threadIdx.x % 32 != 0) return;  // lane 0 writes: readers must __syncwarp first
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 16; ++c) (layout == mem_row_major ? p[r * ldm + c] : p[c * ldm + r]) = f.x[r * 16 + c];
}
}  // namespace wmma
}  // namespace nvcuda

#define __launch_bounds__(...)
#define NATX_SMEM_BASE (emu::blk.smem)
#include "../na_cuda_tc.cuh"

namespace {

// Runs kernel(a) over the grid (blocks, heads) with nthreads threads of which groups
// of G exchange through __shfl_xor_sync, and smem_size bytes of shared memory.
template <typename Kernel, typename Args>
void run_grid(Kernel kernel, const Args& a, long long blocks, int heads, int nthreads, int G, size_t smem_size) {
  std::vector<unsigned char> smem(smem_size + 128);
  unsigned char* base = smem.data() + (128 - reinterpret_cast<uintptr_t>(smem.data()) % 128) % 128;
  std::vector<float> exchange(nthreads);
  for (unsigned by = 0; by < static_cast<unsigned>(heads); ++by) {
    for (long long bx = 0; bx < blocks; ++bx) {
      std::memset(smem.data(), 0xFF, smem.size());  // NaN garbage: staging must overwrite what is read
      std::barrier<> block_bar(nthreads);
      std::vector<std::unique_ptr<std::barrier<>>> group_bars, warp_bars;
      for (int i = 0; i < nthreads / G; ++i) group_bars.push_back(std::make_unique<std::barrier<>>(G));
      for (int i = 0; i < (nthreads + 31) / 32; ++i)
        warp_bars.push_back(std::make_unique<std::barrier<>>(std::min(32, nthreads - 32 * i)));
      std::vector<std::thread> threads;
      threads.reserve(nthreads);
      for (int t = 0; t < nthreads; ++t) {
        threads.emplace_back([&, t] {
          threadIdx = uint3{static_cast<unsigned>(t), 0, 0};
          blockIdx = uint3{static_cast<unsigned>(bx), by, 0};
          blockDim = uint3{static_cast<unsigned>(nthreads), 1, 1};
          emu::blk = emu::Block{&block_bar, &group_bars, &warp_bars, exchange.data(), G, base};
          kernel(a);
          // An exited thread no longer takes part in barriers (as on the GPU).
          block_bar.arrive_and_drop();
          group_bars[t / G]->arrive_and_drop();
          warp_bars[t / 32]->arrive_and_drop();
        });
      }
      for (auto& th : threads) th.join();
    }
  }
}

// mode: 0 scalar kernel, global memory; 1 scalar kernel, shared memory; 2 tensor-core kernel.
template <typename T>
const char* run(const natx::NAParams& p, const void* qkv, const void* rpb, void* out, int mode) {
  using namespace natx::kern;
  KernelArgs<T> a = make_args<T>(p, static_cast<const T*>(qkv), static_cast<const T*>(rpb), static_cast<T*>(out));
  if (mode == 2) {
    if constexpr (std::is_same<T, float>::value) {
      return "the tensor-core kernel takes float16 / bfloat16 only";
    } else {
      if (reinterpret_cast<uintptr_t>(qkv) % 16 != 0) return "qkv must be 16-byte aligned for the tensor-core kernel";
      return with_tc_dim(
          p.D,
          [&](auto dim) -> const char* {
            constexpr int D = decltype(dim)::value;
            const TcLayout L = tc_layout(p.Kh, p.Kw, D, static_cast<int>(sizeof(T)));
            run_grid(na2d_tc_kernel<T, D>, a, grid_blocks(a), p.heads, kTcThreads, 32, L.total);
            return nullptr;
          },
          "the tensor-core kernel takes head dim 16, 32, 64 or 128 only");
    }
  }
  a.use_smem = mode == 1 ? 1 : 0;
  with_config(p.D, [&](auto g, auto dc) {
    constexpr int G = decltype(g)::value;
    constexpr int DC = decltype(dc)::value;
    run_grid(na2d_fused_kernel<T, G, DC>, a, grid_blocks(a), p.heads, kTileY * kTileX * G, G,
             a.use_smem ? smem_bytes(a) : 0);
    return 0;
  });
  return nullptr;
}

}  // namespace

// dtype: 0 float32, 1 float16, 2 bfloat16 (16-bit values passed as raw bits);
// mode: see run(). Returns nullptr on success, else why not.
extern "C" __attribute__((visibility("default"))) const char* natx_na2d_forward_cuda_emu(
    int B, int H, int W, int heads, int D, int Kh, int Kw, int dh, int dw, float scale, int dtype, const void* qkv,
    const void* rpb, void* out, int mode) {
  natx::NAParams p{B, H, W, heads, D, Kh, Kw, dh, dw, scale, rpb != nullptr};
  thread_local std::string why;  // the message returned stays valid until this thread's next call
  why = natx::na_validate(p);
  if (!why.empty()) return why.c_str();
  if (D > 128) return "head dim must be <= 128";
  if (B == 0) return nullptr;
  switch (dtype) {
    case 0: return run<float>(p, qkv, rpb, out, mode);
    case 1: return run<__half>(p, qkv, rpb, out, mode);
    case 2: return run<__nv_bfloat16>(p, qkv, rpb, out, mode);
    default: return "dtype must be 0, 1 or 2";
  }
}
