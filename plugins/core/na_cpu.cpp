#include "na_cpu.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <thread>
#include <vector>

#include "na_cpu_item.h"
#include "na_cpu_types.h"
#include "na_index.h"

namespace natx {

// The SIMD kernel's entry points, one per compiled ISA (na_cpu_simd.h).
namespace baseline {
void forward_items(const NACpuPlan& plan, const NAParams& p, NADType dtype, const void* qkv, const void* rpb, void* out,
                   int64_t begin, int64_t end);
}
#if defined(NATX_HAVE_AVX2_KERNEL)
namespace avx2 {
void forward_items(const NACpuPlan& plan, const NAParams& p, NADType dtype, const void* qkv, const void* rpb, void* out,
                   int64_t begin, int64_t end);
}
#endif

namespace {

bool cpu_has_avx2() {
#if defined(NATX_HAVE_AVX2_KERNEL)
  static const bool has =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  return has;
#else
  return false;
#endif
}

// ---- scalar kernel: the plain loop (reference; any D and window) -----------------------------------------------

template <class T>
float dot(const T* a, const T* b, int n) {
  // 8 independent lanes, so the float32 case vectorizes without reassociating one reduction.
  float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += na_to_float(a[i + l]) * na_to_float(b[i + l]);
  float tail = 0.f;
  for (; i < n; ++i) tail += na_to_float(a[i]) * na_to_float(b[i]);
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail;
}

// One item: for each query and head, pass 1 the logits and their max, pass 2 the softmax weights,
// pass 3 the weighted sum of the values (float32), stored once. logits has room for Kh*Kw floats,
// acc for D.
template <class T>
void scalar_item(const NAParams& p, const T* qkv, const T* rpb, T* out, const NACpuItem& it, float* logits,
                 float* acc) {
  const int64_t C = static_cast<int64_t>(p.heads) * p.D;
  const int64_t C3 = 3 * C;
  const int rw = 2 * p.Kw - 1;
  const int64_t rpb_head = static_cast<int64_t>(2 * p.Kh - 1) * rw;
  const T* img = qkv + static_cast<int64_t>(it.b) * p.H * p.W * C3;

  for (int h = it.h0; h < it.h1; ++h) {
    const T* bias = p.has_rpb ? rpb + h * rpb_head : nullptr;
    for (int qy = it.qy0; qy < it.qy1; ++qy) {
      const int y = it.gy + qy * p.dh;
      const NAWindow wy = na_window(y, p.H, p.Kh, p.dh);
      for (int qx = it.qx0; qx < it.qx1; ++qx) {
        const int x = it.gx + qx * p.dw;
        const NAWindow wx = na_window(x, p.W, p.Kw, p.dw);
        const T* q = img + (static_cast<int64_t>(y) * p.W + x) * C3 + static_cast<int64_t>(h) * p.D;
        float mx = -INFINITY;
        int n = 0;
        for (int ty = 0; ty < p.Kh; ++ty) {
          const int ky = na_key_index(wy, ty, p.dh);
          const T* krow = img + static_cast<int64_t>(ky) * p.W * C3 + C + static_cast<int64_t>(h) * p.D;
          const T* brow = bias ? bias + static_cast<int64_t>(na_bias_index(wy, ty, p.Kh)) * rw : nullptr;
          for (int tx = 0; tx < p.Kw; ++tx) {
            const int kx = na_key_index(wx, tx, p.dw);
            float s = p.scale * dot(q, krow + static_cast<int64_t>(kx) * C3, p.D);
            if (brow) s += na_to_float(brow[na_bias_index(wx, tx, p.Kw)]);
            logits[n++] = s;
            mx = std::max(mx, s);
          }
        }
        float sum = 0.f;
        for (int t = 0; t < n; ++t) {
          logits[t] = std::exp(logits[t] - mx);
          sum += logits[t];
        }
        const float inv = 1.f / sum;
        for (int d = 0; d < p.D; ++d) acc[d] = 0.f;
        n = 0;
        for (int ty = 0; ty < p.Kh; ++ty) {
          const int ky = na_key_index(wy, ty, p.dh);
          const T* vrow = img + static_cast<int64_t>(ky) * p.W * C3 + 2 * C + static_cast<int64_t>(h) * p.D;
          for (int tx = 0; tx < p.Kw; ++tx) {
            const float w = logits[n++] * inv;
            const T* v = vrow + static_cast<int64_t>(na_key_index(wx, tx, p.dw)) * C3;
            for (int d = 0; d < p.D; ++d) acc[d] += w * na_to_float(v[d]);
          }
        }
        T* o = out + ((static_cast<int64_t>(it.b) * p.H + y) * p.W + x) * C + static_cast<int64_t>(h) * p.D;
        for (int d = 0; d < p.D; ++d) o[d] = na_from_float<T>(acc[d]);
      }
    }
  }
}

template <class T>
void scalar_items(const NACpuPlan& plan, const NAParams& p, const void* qkv, const void* rpb, void* out, int64_t begin,
                  int64_t end) {
  std::vector<float> logits(static_cast<size_t>(p.Kh) * p.Kw), acc(static_cast<size_t>(p.D));
  for (int64_t i = begin; i < end; ++i)
    scalar_item(p, static_cast<const T*>(qkv), static_cast<const T*>(rpb), static_cast<T*>(out),
                na_cpu_item(plan, p, i), logits.data(), acc.data());
}

}  // namespace

const char* na_cpu_kernel_name(NACpuKernel k) {
  switch (k) {
    case NACpuKernel::kAuto: return "auto";
    case NACpuKernel::kScalar: return "scalar";
    case NACpuKernel::kBaseline: return "baseline";
    case NACpuKernel::kAvx2: return "avx2";
  }
  return "?";
}

std::string na_cpu_kernel_parse(const char* name, NACpuKernel* k) {
  const std::string s = name ? name : "";
  for (NACpuKernel c : {NACpuKernel::kAuto, NACpuKernel::kScalar, NACpuKernel::kBaseline, NACpuKernel::kAvx2}) {
    if (s != na_cpu_kernel_name(c)) continue;
    if (c == NACpuKernel::kAvx2 && !cpu_has_avx2()) {
#if defined(NATX_HAVE_AVX2_KERNEL)
      return "CPU kernel avx2 needs AVX2, FMA and F16C, which this CPU lacks; use auto";
#else
      return "CPU kernel avx2 is not in this build (not an x86-64 build); use auto";
#endif
    }
    *k = c;
    return "";
  }
  return "CPU kernel must be one of auto, scalar, baseline, avx2, got '" + s + "'";
}

NACpuPlan na_cpu_plan(const NAParams& p, NACpuKernel requested) {
  NACpuPlan plan;
  const bool simd_shape = p.D % 8 == 0 && p.D <= kNACpuSimdMaxD && p.Kh <= kNACpuSimdMaxK && p.Kw <= kNACpuSimdMaxK;
  if (requested == NACpuKernel::kScalar || !simd_shape)
    plan.kernel = NACpuKernel::kScalar;
  else if (requested == NACpuKernel::kBaseline)
    plan.kernel = NACpuKernel::kBaseline;
  else
    plan.kernel = cpu_has_avx2() ? NACpuKernel::kAvx2 : NACpuKernel::kBaseline;

  // 8 x 8 queries per tile, as the CUDA kernels: the halo is (8 + K - 1)^2 keys for 64 K^2 products.
  plan.tile = 8;
  plan.y_tiles = ((p.H + p.dh - 1) / p.dh + plan.tile - 1) / plan.tile;  // the longest group
  plan.x_tiles = ((p.W + p.dw - 1) / p.dw + plan.tile - 1) / plan.tile;
  // Enough items to balance threads at batch 1 (e.g. a 7x7 map is one tile): split heads when the
  // (batch, group, tile) items are fewer than 64.
  const int64_t spatial = static_cast<int64_t>(p.B) * p.dh * p.dw * plan.y_tiles * plan.x_tiles;
  plan.head_groups = 1;
  if (spatial > 0 && spatial < 64)
    plan.head_groups = static_cast<int>(std::min<int64_t>(p.heads, (64 + spatial - 1) / spatial));
  plan.heads_per_group = (p.heads + plan.head_groups - 1) / plan.head_groups;
  plan.head_groups = (p.heads + plan.heads_per_group - 1) / plan.heads_per_group;
  plan.items = spatial * plan.head_groups;
  plan.item_work = 2.0 * plan.tile * plan.tile * plan.heads_per_group * p.Kh * p.Kw * p.D;
  return plan;
}

void na2d_forward_cpu_items(const NACpuPlan& plan, const NAParams& p, NADType dtype, const void* qkv, const void* rpb,
                            void* out, int64_t item_begin, int64_t item_end) {
  if (item_begin >= item_end) return;
  switch (plan.kernel) {
#if defined(NATX_HAVE_AVX2_KERNEL)
    case NACpuKernel::kAvx2: return avx2::forward_items(plan, p, dtype, qkv, rpb, out, item_begin, item_end);
#endif
    case NACpuKernel::kBaseline: return baseline::forward_items(plan, p, dtype, qkv, rpb, out, item_begin, item_end);
    default: break;
  }
  switch (dtype) {
    case NADType::kFloat32: return scalar_items<float>(plan, p, qkv, rpb, out, item_begin, item_end);
    case NADType::kFloat16: return scalar_items<NAHalf>(plan, p, qkv, rpb, out, item_begin, item_end);
    case NADType::kBFloat16: return scalar_items<NABFloat16>(plan, p, qkv, rpb, out, item_begin, item_end);
  }
}

void na2d_forward_cpu(const NAParams& p, NADType dtype, const void* qkv, const void* rpb, void* out, int num_threads,
                      NACpuKernel requested) {
  const NACpuPlan plan = na_cpu_plan(p, requested);
  if (plan.items <= 0) return;
  // Below ~1M multiply-adds per thread, threads cost more than they save.
  const int64_t useful = std::max<int64_t>(1, static_cast<int64_t>(plan.items * plan.item_work / 1e6));
  int n = num_threads > 0 ? num_threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  n = static_cast<int>(std::min<int64_t>({static_cast<int64_t>(n), plan.items, useful}));
  if (n <= 1) {
    na2d_forward_cpu_items(plan, p, dtype, qkv, rpb, out, 0, plan.items);
    return;
  }
  // Items are handed out in small chunks from a shared counter (balances border tiles).
  const int64_t chunk = std::max<int64_t>(1, plan.items / (8 * static_cast<int64_t>(n)));
  std::atomic<int64_t> next{0};
  auto worker = [&]() {
    for (;;) {
      const int64_t i0 = next.fetch_add(chunk);
      if (i0 >= plan.items) break;
      na2d_forward_cpu_items(plan, p, dtype, qkv, rpb, out, i0, std::min(plan.items, i0 + chunk));
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(n - 1);
  for (int i = 0; i < n - 1; ++i) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
}

}  // namespace natx
