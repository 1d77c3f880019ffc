#include "na_cpu.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <thread>
#include <vector>

#include "na_index.h"

namespace natx {
namespace {

// Dot product in 8 independent lanes so that the compiler vectorizes it without
// reassociating a single float reduction.
inline float dot(const float* a, const float* b, int n) {
  float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += a[i + l] * b[i + l];
  float tail = 0.f;
  for (; i < n; ++i) tail += a[i] * b[i];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail;
}

// One output row (b, y): every x, every head. logits has room for Kh*Kw floats.
void row(const NAParams& p, const float* qkv, const float* rpb, float* out, int64_t r, float* logits) {
  const int b = static_cast<int>(r / p.H);
  const int y = static_cast<int>(r % p.H);
  const int64_t C = static_cast<int64_t>(p.heads) * p.D;
  const int64_t C3 = 3 * C;
  const int rw = 2 * p.Kw - 1;
  const int64_t rpb_head = static_cast<int64_t>(2 * p.Kh - 1) * rw;
  const float* img = qkv + static_cast<int64_t>(b) * p.H * p.W * C3;
  const NAWindow wy = na_window(y, p.H, p.Kh, p.dh);

  for (int x = 0; x < p.W; ++x) {
    const NAWindow wx = na_window(x, p.W, p.Kw, p.dw);
    const float* qpix = img + (static_cast<int64_t>(y) * p.W + x) * C3;
    float* opix = out + ((static_cast<int64_t>(b) * p.H + y) * p.W + x) * C;
    for (int h = 0; h < p.heads; ++h) {
      const float* q = qpix + static_cast<int64_t>(h) * p.D;
      const float* bias = p.has_rpb ? rpb + h * rpb_head : nullptr;
      // Pass 1: logits and their max.
      float mx = -INFINITY;
      int n = 0;
      for (int ty = 0; ty < p.Kh; ++ty) {
        const int ky = na_key_index(wy, ty, p.dh);
        const float* krow = img + static_cast<int64_t>(ky) * p.W * C3 + C + static_cast<int64_t>(h) * p.D;
        const float* brow = bias ? bias + static_cast<int64_t>(na_bias_index(wy, ty, p.Kh)) * rw : nullptr;
        for (int tx = 0; tx < p.Kw; ++tx) {
          const int kx = na_key_index(wx, tx, p.dw);
          float s = p.scale * dot(q, krow + static_cast<int64_t>(kx) * C3, p.D);
          if (brow) s += brow[na_bias_index(wx, tx, p.Kw)];
          logits[n++] = s;
          mx = std::max(mx, s);
        }
      }
      // Pass 2: softmax weights.
      float sum = 0.f;
      for (int t = 0; t < n; ++t) {
        logits[t] = std::exp(logits[t] - mx);
        sum += logits[t];
      }
      const float inv = 1.f / sum;
      // Pass 3: weighted sum of values.
      float* o = opix + static_cast<int64_t>(h) * p.D;
      for (int d = 0; d < p.D; ++d) o[d] = 0.f;
      n = 0;
      for (int ty = 0; ty < p.Kh; ++ty) {
        const int ky = na_key_index(wy, ty, p.dh);
        const float* vrow = img + static_cast<int64_t>(ky) * p.W * C3 + 2 * C + static_cast<int64_t>(h) * p.D;
        for (int tx = 0; tx < p.Kw; ++tx) {
          const float w = logits[n++] * inv;
          const float* v = vrow + static_cast<int64_t>(na_key_index(wx, tx, p.dw)) * C3;
          for (int d = 0; d < p.D; ++d) o[d] += w * v[d];
        }
      }
    }
  }
}

}  // namespace

void na2d_forward_cpu_rows(const NAParams& p, const float* qkv, const float* rpb, float* out, int64_t row_begin,
                           int64_t row_end) {
  std::vector<float> logits(static_cast<size_t>(p.Kh) * p.Kw);
  for (int64_t r = row_begin; r < row_end; ++r) row(p, qkv, rpb, out, r, logits.data());
}

void na2d_forward_cpu(const NAParams& p, const float* qkv, const float* rpb, float* out, int num_threads) {
  const int64_t rows = static_cast<int64_t>(p.B) * p.H;
  if (rows <= 0) return;
  // Work per row in multiply-adds; below ~1M per thread, threads cost more than they save.
  const double row_work = 2.0 * p.W * p.heads * p.Kh * p.Kw * p.D;
  int64_t useful = std::max<int64_t>(1, static_cast<int64_t>(rows * row_work / 1e6));
  int n = num_threads > 0 ? num_threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  n = static_cast<int>(std::min<int64_t>({static_cast<int64_t>(n), rows, useful}));
  if (n <= 1) {
    na2d_forward_cpu_rows(p, qkv, rpb, out, 0, rows);
    return;
  }
  // Rows are handed out in small chunks from a shared counter (balances border rows).
  const int64_t chunk = std::max<int64_t>(1, rows / (8 * static_cast<int64_t>(n)));
  std::atomic<int64_t> next{0};
  auto worker = [&]() {
    for (;;) {
      const int64_t r0 = next.fetch_add(chunk);
      if (r0 >= rows) break;
      na2d_forward_cpu_rows(p, qkv, rpb, out, r0, std::min(rows, r0 + chunk));
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(n - 1);
  for (int i = 0; i < n - 1; ++i) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
}

}  // namespace natx
