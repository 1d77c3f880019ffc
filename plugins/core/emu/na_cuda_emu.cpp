// Runs the CUDA kernel of na_cuda_kernel.cuh on the CPU, for tests on machines
// without a GPU: every CUDA thread of a block is a std::thread, __syncthreads is
// a std::barrier over the block, __shfl_xor_sync exchanges through memory with a
// barrier over the thread group. Slow and only for small shapes; proves the
// kernel's indexing, shared-memory staging, shuffles and online softmax, not its
// speed. libnatx_cuda_emu.so stays in the build tree. Compiled by the host C++
// compiler (C++20) against the CUDA headers only.
#include <algorithm>
#include <barrier>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include <vector_types.h>

// ---- the CUDA built-ins the kernel uses, per emulated thread ---------------
thread_local uint3 threadIdx;
thread_local uint3 blockIdx;
thread_local uint3 blockDim;

namespace emu {
struct Block {
  std::barrier<>* block_bar;
  std::vector<std::unique_ptr<std::barrier<>>>* group_bars;
  float* exchange;
  int G;
  unsigned char* smem;
};
thread_local Block blk;
}  // namespace emu

inline void __syncthreads() { emu::blk.block_bar->arrive_and_wait(); }

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

#define __launch_bounds__(...)
#define NATX_SMEM_BASE (emu::blk.smem)
#include "../na_cuda_kernel.cuh"

namespace {

template <typename T>
void run(const natx::NAParams& p, const void* qkv, const void* rpb, void* out, int use_smem) {
  using namespace natx::kern;
  KernelArgs<T> a = make_args<T>(p, static_cast<const T*>(qkv), static_cast<const T*>(rpb), static_cast<T*>(out));
  a.use_smem = use_smem;
  with_config(p.D, [&](auto g, auto dc) {
    constexpr int G = decltype(g)::value;
    constexpr int DC = decltype(dc)::value;
    const int nthreads = kTileY * kTileX * G;
    std::vector<unsigned char> smem(use_smem ? smem_bytes(a) : 16);
    std::vector<float> exchange(nthreads);
    const long long blocks = grid_blocks(a);
    for (unsigned by = 0; by < static_cast<unsigned>(p.heads); ++by) {
      for (long long bx = 0; bx < blocks; ++bx) {
        std::memset(smem.data(), 0xFF, smem.size());  // NaN-ish garbage: staging must overwrite what is read
        std::barrier<> block_bar(nthreads);
        std::vector<std::unique_ptr<std::barrier<>>> group_bars;
        for (int i = 0; i < nthreads / G; ++i) group_bars.push_back(std::make_unique<std::barrier<>>(G));
        std::vector<std::thread> threads;
        threads.reserve(nthreads);
        for (int t = 0; t < nthreads; ++t) {
          threads.emplace_back([&, t] {
            threadIdx = uint3{static_cast<unsigned>(t), 0, 0};
            blockIdx = uint3{static_cast<unsigned>(bx), by, 0};
            blockDim = uint3{static_cast<unsigned>(nthreads), 1, 1};
            emu::blk = emu::Block{&block_bar, &group_bars, exchange.data(), G, smem.data()};
            na2d_fused_kernel<T, G, DC>(a);
            // An exited thread no longer takes part in barriers (as on the GPU).
            block_bar.arrive_and_drop();
            group_bars[t / G]->arrive_and_drop();
          });
        }
        for (auto& th : threads) th.join();
      }
    }
    return 0;
  });
}

}  // namespace

// dtype: 0 float32, 1 float16, 2 bfloat16 (16-bit values passed as raw bits).
// Returns nullptr on success, else the validation message.
extern "C" __attribute__((visibility("default"))) const char* natx_na2d_forward_cuda_emu(
    int B, int H, int W, int heads, int D, int Kh, int Kw, int dh, int dw, float scale, int dtype, const void* qkv,
    const void* rpb, void* out, int use_smem) {
  natx::NAParams p{B, H, W, heads, D, Kh, Kw, dh, dw, scale, rpb != nullptr};
  if (const char* msg = natx::na_validate(p)) return msg;
  if (D > 128) return "head dim must be <= 128";
  if (B == 0) return nullptr;
  switch (dtype) {
    case 0: run<float>(p, qkv, rpb, out, use_smem); break;
    case 1: run<__half>(p, qkv, rpb, out, use_smem); break;
    case 2: run<__nv_bfloat16>(p, qkv, rpb, out, use_smem); break;
    default: return "dtype must be 0, 1 or 2";
  }
  return nullptr;
}
