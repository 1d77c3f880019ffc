// The one place with neighborhood-attention index arithmetic (window start,
// key index, bias index). Used by the CPU kernel and the CUDA kernel alike, so
// that both implement exactly the contract in DESIGN.md ("The NA op contract").
//
// Per axis (length L, kernel K, dilation d, nb = K / 2), for query index i:
//   group g = i % d, position in group p = i / d,
//   group length Lg = ceil(L / d), minus 1 when g >= d - (ceil(L / d) * d - L),
//   window start (group units) s = max(p - nb, 0) + (p + nb >= Lg) * (Lg - p - nb - 1)
//                                 = clamp(p - nb, 0, Lg - K)   (given Lg >= K),
//   keys i_t = (s + t) * d + g, t = 0..K-1,  bias index (K - 1) + (s + t - p).
#pragma once

#if defined(__CUDACC__)
#define NATX_HD __host__ __device__
#else
#define NATX_HD
#endif

namespace natx {

// Number of positions of dilation group g along an axis of length L.
NATX_HD inline int na_group_len(int L, int d, int g) {
  const int c = (L + d - 1) / d;
  return (g >= d - (c * d - L)) ? c - 1 : c;
}

// Window start, in group units, for position p of a group of length Lg.
NATX_HD inline int na_window_start(int p, int Lg, int K) {
  const int nb = K / 2;
  const int lo = p - nb > 0 ? p - nb : 0;
  return lo + ((p + nb >= Lg) ? (Lg - p - nb - 1) : 0);
}

// One axis of one query's neighborhood.
struct NAWindow {
  int g;      // dilation group
  int p;      // position in group
  int Lg;     // group length
  int start;  // window start, group units
};

NATX_HD inline NAWindow na_window(int i, int L, int K, int d) {
  NAWindow w;
  w.g = i % d;
  w.p = i / d;
  w.Lg = na_group_len(L, d, w.g);
  w.start = na_window_start(w.p, w.Lg, K);
  return w;
}

// Index along the axis (pixels) of window key t.
NATX_HD inline int na_key_index(const NAWindow& w, int t, int d) {
  return (w.start + t) * d + w.g;
}

// Row (or column) of the relative-position bias table for window key t.
NATX_HD inline int na_bias_index(const NAWindow& w, int t, int K) {
  return (K - 1) + (w.start + t - w.p);
}

}  // namespace natx
