// CPU neighborhood-attention forward (float32). No framework types.
#pragma once

#include <cstdint>

#include "na_params.h"

namespace natx {

// qkv [B, H, W, 3*heads*D], rpb [heads, 2Kh-1, 2Kw-1] (nullable; read when p.has_rpb),
// out [B, H, W, heads*D]. Float32 throughout. num_threads <= 0: one per hardware thread.
// p must be valid (na_validate); the caller checks.
void na2d_forward_cpu(const NAParams& p, const float* qkv, const float* rpb, float* out, int num_threads);

// The same for the rows [row_begin, row_end) of the flattened (B, H) axis, on the
// calling thread: lets an adapter spread rows over its own thread pool.
void na2d_forward_cpu_rows(const NAParams& p, const float* qkv, const float* rpb, float* out, int64_t row_begin,
                           int64_t row_end);

}  // namespace natx
