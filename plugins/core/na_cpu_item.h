// One work item of a CPU plan (na_cpu.h: NACpuPlan), decoded. Shared by the scalar and SIMD kernels.
#pragma once

#include <algorithm>
#include <cstdint>

#include "na_cpu.h"
#include "na_index.h"

namespace natx {

// A tile of queries of one dilation group (gy, gx): rows y = gy + dh * qy for qy in [qy0, qy1),
// columns x = gx + dw * qx for qx in [qx0, qx1) (group units; empty when a range is), heads [h0, h1).
struct NACpuItem {
  int b;
  int gy, gx;
  int qy0, qy1, qx0, qx1;
  int h0, h1;
};

// Item i in the order (b, gy, gx, y tile, x tile, head group), head group fastest.
inline NACpuItem na_cpu_item(const NACpuPlan& plan, const NAParams& p, int64_t i) {
  NACpuItem it;
  const int hg = static_cast<int>(i % plan.head_groups);
  i /= plan.head_groups;
  const int xt = static_cast<int>(i % plan.x_tiles);
  i /= plan.x_tiles;
  const int yt = static_cast<int>(i % plan.y_tiles);
  i /= plan.y_tiles;
  it.gx = static_cast<int>(i % p.dw);
  i /= p.dw;
  it.gy = static_cast<int>(i % p.dh);
  it.b = static_cast<int>(i / p.dh);
  it.qy0 = yt * plan.tile;
  it.qy1 = std::min(na_group_len(p.H, p.dh, it.gy), it.qy0 + plan.tile);
  it.qx0 = xt * plan.tile;
  it.qx1 = std::min(na_group_len(p.W, p.dw, it.gx), it.qx0 + plan.tile);
  it.h0 = hg * plan.heads_per_group;
  it.h1 = std::min(p.heads, it.h0 + plan.heads_per_group);
  return it;
}

}  // namespace natx
