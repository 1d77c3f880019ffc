// The SIMD CPU kernel, written once against a small float-vector layer and compiled once per ISA:
// na_cpu_avx2.cpp (8 lanes, AVX2 + FMA + F16C intrinsics) and na_cpu_baseline.cpp (4 lanes, the
// compiler's generic vectors: SSE2 on x86-64, NEON on AArch64). Each of those files defines
// NATX_CPU_ISA (the namespace) before including this header; na_cpu.cpp picks one at run time.
//
// Per item (na_cpu_item.h: an 8x8 tile of queries of one dilation group) and head, the tile's data is
// copied once into float32 scratch (converting 16-bit types): the keys of its halo transposed (per halo
// row, element-major, so that kLanes neighbouring columns of one element load as one vector), the values
// of its halo as rows, its queries (scaled), and the head's bias table as rows padded to whole vectors.
// Per query: pass 1 computes the window's logits kLanes columns of up to 8 rows at a time, one query
// element broadcast against the transposed keys (no horizontal sums), adds the bias, sets the lanes past
// a row to -inf and keeps the max; pass 2 takes exp(s - max) (a -inf logit gets 0) and the sum; pass 3
// accumulates the weighted values (D / kLanes vectors in registers). The output is o / sum, float32
// throughout and rounded once to the output type. docs/native.md ("CPU") gives the reasons and the
// measurements.
#pragma once

#if !defined(NATX_CPU_ISA)
#error "define NATX_CPU_ISA (the namespace of this compilation) before including na_cpu_simd.h"
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "na_cpu.h"
#include "na_cpu_item.h"
#include "na_cpu_types.h"
#include "na_index.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define NATX_CPU_AVX2 1
#else
#define NATX_CPU_AVX2 0
#endif

namespace natx {
namespace NATX_CPU_ISA {

constexpr int kMaxK = kNACpuSimdMaxK;

#if NATX_CPU_AVX2
constexpr int kLanes = 8;
using vf = __m256;
inline vf vzero() {
  return _mm256_setzero_ps();
}
inline vf vset1(float x) {
  return _mm256_set1_ps(x);
}
inline vf vadd(vf a, vf b) {
  return _mm256_add_ps(a, b);
}
inline vf vsub(vf a, vf b) {
  return _mm256_sub_ps(a, b);
}
inline vf vmul(vf a, vf b) {
  return _mm256_mul_ps(a, b);
}
inline vf vfma(vf a, vf b, vf c) {
  return _mm256_fmadd_ps(a, b, c);
}  // a * b + c
inline vf vload(const float* p) {
  return _mm256_loadu_ps(p);
}
inline vf vload(const NAHalf* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline vf vload(const NABFloat16* p) {
  const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}
inline void vstore(float* p, vf v) {
  _mm256_storeu_ps(p, v);
}
inline void vstore(NAHalf* p, vf v) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}

inline vf vmax(vf a, vf b) {
  return _mm256_max_ps(a, b);
}
// The first n lanes of a, the others -inf.
inline vf vfirst(vf a, int n) {
  const __m256i valid = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  return _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), a, _mm256_castsi256_ps(valid));
}
inline float vhsum(vf a) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}
inline float vhmax(vf a) {
  const __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  const __m128 t = _mm_max_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_max_ss(t, _mm_movehdup_ps(t)));
}
// Transposes the 8 x 8 block r[0..7] in place (r[i] lane j -> r[j] lane i).
inline void vtranspose(vf* r) {
  const vf t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const vf t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const vf t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const vf t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const vf u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const vf u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const vf u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const vf u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// exp(x) for x <= 0 (softmax weights): 2^n * e^r with n = round(x / ln 2), r = x - n ln 2 in two parts
// (|r| <= ln(2)/2), e^r = 1 + r P(r) with P of degree 5 fitted for the least maximal relative error on
// that interval (2e-9; measured max relative error of the whole function 8.9e-8 over [-87, 0], 1.2e-7
// for the baseline version without FMA). n comes from adding 1.5 * 2^23, which rounds x / ln 2 to an
// integer in the low mantissa bits. x is clamped at -88
// (n = -127), where the exponent field 2^n is built from is 0, so the result is exactly 0 there and at -inf;
// a NaN stays NaN (max returns its second operand when one is NaN). x is never > 0: s - max(s).
inline vf vexp(vf x) {
  x = _mm256_max_ps(_mm256_set1_ps(-88.f), x);
  const vf magic = _mm256_set1_ps(12582912.f);  // 1.5 * 2^23: bits 0x4B400000
  const vf t = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), magic);
  const vf n = _mm256_sub_ps(t, magic);
  vf r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);  // ln 2 = 0.693359375 - 2.12194440e-4
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440054690583e-4f), r);
  // P(r) = (c1 + c2 r) + r^2 ((c3 + c4 r) + r^2 (c5 + c6 r)) (Estrin).
  const vf r2 = _mm256_mul_ps(r, r);
  const vf p12 = _mm256_fmadd_ps(r, _mm256_set1_ps(0.49999994f), _mm256_set1_ps(1.f));
  const vf p34 = _mm256_fmadd_ps(r, _mm256_set1_ps(0.041668002f), _mm256_set1_ps(0.16666432f));
  const vf p56 = _mm256_fmadd_ps(r, _mm256_set1_ps(0.0013843562f), _mm256_set1_ps(0.0083741294f));
  const vf p36 = _mm256_fmadd_ps(r2, p56, p34);
  const vf e = _mm256_fmadd_ps(r, _mm256_fmadd_ps(r2, p36, p12), _mm256_set1_ps(1.f));
  // 2^n: the exponent field n + 127, from t's low bits (n + 0x4B400000); 0 when n = -127.
  const __m256i pow2n =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(127 - 0x4B400000)), 23);
  return _mm256_mul_ps(e, _mm256_castsi256_ps(pow2n));
}
#else
// The compiler's generic vectors (GCC >= 12, Clang) of 4 lanes: the target's 128-bit SIMD (SSE2 / NEON).
constexpr int kLanes = 4;
typedef float vf __attribute__((vector_size(kLanes * sizeof(float))));
typedef int32_t vi __attribute__((vector_size(kLanes * sizeof(int32_t))));
inline vf vzero() {
  return vf{};
}
inline vf vset1(float x) {
  return vf{} + x;
}
inline vf vadd(vf a, vf b) {
  return a + b;
}
inline vf vsub(vf a, vf b) {
  return a - b;
}
inline vf vmul(vf a, vf b) {
  return a * b;
}
inline vf vfma(vf a, vf b, vf c) {
  return a * b + c;
}
inline vf vmax(vf a, vf b) {
  return a > b ? a : b;
}
inline vf vfirst(vf a, int n) {
  const vi lane = {0, 1, 2, 3};
  return lane < n ? a : vset1(-INFINITY);
}
inline vf vload(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class T>
inline vf vload(const T* p) {
  return vf{na_to_float(p[0]), na_to_float(p[1]), na_to_float(p[2]), na_to_float(p[3])};
}
inline void vstore(float* p, vf v) {
  std::memcpy(p, &v, sizeof v);
}
inline void vstore(NAHalf* p, vf v) {
  for (int i = 0; i < kLanes; ++i) p[i] = na_from_float<NAHalf>(v[i]);
}
inline float vhsum(vf a) {
  return (a[0] + a[2]) + (a[1] + a[3]);
}
inline float vhmax(vf a) {
  return std::max(std::max(a[0], a[1]), std::max(a[2], a[3]));
}
// Transposes the 4 x 4 block r[0..3] in place.
inline void vtranspose(vf* r) {
  const vf t0 = __builtin_shufflevector(r[0], r[1], 0, 4, 1, 5), t1 = __builtin_shufflevector(r[0], r[1], 2, 6, 3, 7);
  const vf t2 = __builtin_shufflevector(r[2], r[3], 0, 4, 1, 5), t3 = __builtin_shufflevector(r[2], r[3], 2, 6, 3, 7);
  r[0] = __builtin_shufflevector(t0, t2, 0, 1, 4, 5);
  r[1] = __builtin_shufflevector(t0, t2, 2, 3, 6, 7);
  r[2] = __builtin_shufflevector(t1, t3, 0, 1, 4, 5);
  r[3] = __builtin_shufflevector(t1, t3, 2, 3, 6, 7);
}
// exp(x) for x <= 0, as the AVX2 version (the same reduction and polynomial, without FMA; n by conversion).
inline vf vexp(vf x) {
  const vi nan = x != x;
  x = nan ? vzero() : (x < -88.f ? vset1(-88.f) : x);
  const vi ni = __builtin_convertvector(x * -1.44269504088896341f + 0.5f, vi);  // round(-x / ln 2), 0..127
  const vf n = -__builtin_convertvector(ni, vf);
  const vf r = (x - n * 0.693359375f) - n * -2.12194440054690583e-4f;
  const vf r2 = r * r;
  const vf p36 = (r * 0.041668002f + 0.16666432f) + r2 * (r * 0.0013843562f + 0.0083741294f);
  const vf e = 1.f + r * ((r * 0.49999994f + 1.f) + r2 * p36);
  const vf pow2n = (vf)((127 - ni) << 23);  // a cast between vector types of one size keeps the bits; 0 at n = -127
  return nan ? vset1(NAN) : e * pow2n;
}
#endif
constexpr int kMaxChunks = (kMaxK + kLanes - 1) / kLanes;

// bfloat16 output: kLanes scalar roundings (one store per query and head; not worth vectorizing).
inline void vstore(NABFloat16* p, vf v) {
  alignas(32) float f[kLanes];
  vstore(f, v);
  for (int i = 0; i < kLanes; ++i) p[i] = na_from_float<NABFloat16>(f[i]);
}

// Per-thread scratch, float32, for one head of one item: the halo's keys (transposed) and values, the tile's
// queries (scaled), the bias table (each row padded so that a window row loads as whole vectors).
struct Scratch {
  std::vector<float> k, v, bias, q;
};

// One axis of an item: queries [q0, q1) of group g (length Lg); their windows start at na_window_start,
// monotonic in q, so the halo is [s0, s1) in group units.
struct Span {
  int g, Lg, q0, q1, s0, s1;
};
inline Span span(int L, int K, int d, int g, int q0, int q1) {
  const int Lg = na_group_len(L, d, g);
  return Span{g, Lg, q0, q1, na_window_start(q0, Lg, K), na_window_start(q1 - 1, Lg, K) + K};
}

constexpr int kRowBlock = 8;  // window rows per dot_rows call (at most)

// Pass 1 for NR window rows: out[r] lane j = q . key (row r, column j), with q (D floats, scaled)
// broadcast one element at a time against the transposed keys kt (row r, element i at
// kt[(r * D + i) * hcp]), so every multiply-add is useful and no horizontal sum is needed.
template <int NR, int D>
inline void dot_rows(const float* q, const float* kt, int64_t hcp, vf* out) {
  vf acc[NR];  // local, so that the accumulators stay in registers
#pragma GCC unroll 8
  for (int r = 0; r < NR; ++r) acc[r] = vzero();
  const int64_t rs = D * hcp;
  for (int i = 0; i < D; ++i) {
    const vf qi = vset1(q[i]);
    const float* k = kt + i * hcp;
#pragma GCC unroll 8
    for (int r = 0; r < NR; ++r) acc[r] = vfma(qi, vload(k + r * rs), acc[r]);
  }
#pragma GCC unroll 8
  for (int r = 0; r < NR; ++r) out[r] = acc[r];
}
template <int D>
inline void dot_rows(int nr, const float* q, const float* kt, int64_t hcp, vf* acc) {
  switch (nr) {
    case 1: return dot_rows<1, D>(q, kt, hcp, acc);
    case 2: return dot_rows<2, D>(q, kt, hcp, acc);
    case 3: return dot_rows<3, D>(q, kt, hcp, acc);
    case 4: return dot_rows<4, D>(q, kt, hcp, acc);
    case 5: return dot_rows<5, D>(q, kt, hcp, acc);
    case 6: return dot_rows<6, D>(q, kt, hcp, acc);
    case 7: return dot_rows<7, D>(q, kt, hcp, acc);
    default: return dot_rows<kRowBlock, D>(q, kt, hcp, acc);
  }
}
// NV = D / kLanes vectors per head row.
template <int NV, class T>
void run_item(const NAParams& p, const T* qkv, const T* rpb, T* out, const NACpuItem& it, Scratch& sc) {
  constexpr int NS = NV * kLanes >= 64 ? 1 : 2;  // accumulator sets: enough independent FMA chains for the values
  constexpr int D = NV * kLanes;
  if (it.qy0 >= it.qy1 || it.qx0 >= it.qx1) return;
  const int64_t C = static_cast<int64_t>(p.heads) * D;
  const int64_t C3 = 3 * C;
  const int chunks = (p.Kw + kLanes - 1) / kLanes;
  const int tail = p.Kw - (chunks - 1) * kLanes;  // valid lanes of a row's last chunk
  const T* img = qkv + static_cast<int64_t>(it.b) * p.H * p.W * C3;
  const Span sy = span(p.H, p.Kh, p.dh, it.gy, it.qy0, it.qy1);
  const Span sx = span(p.W, p.Kw, p.dw, it.gx, it.qx0, it.qx1);
  const int hr = sy.s1 - sy.s0, hc = sx.s1 - sx.s0;  // halo rows and columns
  // Transposed keys: columns padded so that a window row's last chunk loads whole vectors.
  const int hcp = (std::max(hc, hc - p.Kw + chunks * kLanes) + kLanes - 1) / kLanes * kLanes;
  const size_t kt_size = static_cast<size_t>(hr) * D * hcp, halo = static_cast<size_t>(hr) * hc * D;
  if (sc.k.size() < kt_size) sc.k.resize(kt_size);
  if (sc.v.size() < halo) sc.v.resize(halo);
  const size_t tile_q = static_cast<size_t>(sy.q1 - sy.q0) * (sx.q1 - sx.q0) * D;
  if (sc.q.size() < tile_q) sc.q.resize(tile_q);
  const int rw = 2 * p.Kw - 1, brw = rw + kLanes - 1;
  // The padding past a bias row lands in lanes that pass 1 sets to -inf, so its values do not matter.
  if (p.has_rpb && sc.bias.size() < static_cast<size_t>(2 * p.Kh - 1) * brw)
    sc.bias.resize(static_cast<size_t>(2 * p.Kh - 1) * brw);
  float* const kt = sc.k.data();
  float* const vpack = sc.v.data();
  float* const btab = p.has_rpb ? sc.bias.data() : nullptr;
  const vf scale = vset1(p.scale);
  // The window's logits (Kh rows of `chunks` vectors) and weights.
  vf s[kMaxK * kMaxChunks];
  alignas(32) float w[kMaxK * kMaxChunks * kLanes];

  for (int h = it.h0; h < it.h1; ++h) {
    // The halo of this head, converted once: keys transposed (row r, element i, column c at
    // (r * D + i) * hcp + c), values as rows (row r, column c at (r * hc + c) * D).
    float* vdst = vpack;
    for (int r = sy.s0; r < sy.s1; ++r) {
      const T* row = img + (static_cast<int64_t>(r * p.dh + sy.g) * p.W + (sx.s0 * p.dw + sx.g)) * C3 + C +
                     static_cast<int64_t>(h) * D;
      const int64_t step = static_cast<int64_t>(p.dw) * C3;  // next column
      float* ktr = kt + static_cast<size_t>(r - sy.s0) * D * hcp;
      for (int c0 = 0; c0 < hcp; c0 += kLanes)
        for (int i0 = 0; i0 < D; i0 += kLanes) {
          vf blk[kLanes];
          for (int j = 0; j < kLanes; ++j) blk[j] = c0 + j < hc ? vload(row + (c0 + j) * step + i0) : vzero();
          vtranspose(blk);
          for (int j = 0; j < kLanes; ++j) vstore(ktr + static_cast<size_t>(i0 + j) * hcp + c0, blk[j]);
        }
      for (int c = 0; c < hc; ++c, vdst += D)
        for (int i = 0; i < NV; ++i) vstore(vdst + i * kLanes, vload(row + c * step + C + i * kLanes));
    }
    // The tile's queries, scaled: query (qy, qx) at ((qy - q0y) * nx + qx - q0x) * D.
    float* qdst = sc.q.data();
    for (int qy = sy.q0; qy < sy.q1; ++qy)
      for (int qx = sx.q0; qx < sx.q1; ++qx, qdst += D) {
        const T* src =
            img + (static_cast<int64_t>(sy.g + qy * p.dh) * p.W + sx.g + qx * p.dw) * C3 + static_cast<int64_t>(h) * D;
        for (int i = 0; i < NV; ++i) vstore(qdst + i * kLanes, vmul(vload(src + i * kLanes), scale));
      }
    if (btab) {
      const T* src = rpb + static_cast<int64_t>(h) * (2 * p.Kh - 1) * rw;
      for (int r = 0; r < 2 * p.Kh - 1; ++r, src += rw)
        for (int c = 0; c < rw; ++c) btab[static_cast<size_t>(r) * brw + c] = na_to_float(src[c]);
    }

    for (int qy = sy.q0; qy < sy.q1; ++qy) {
      const NAWindow wy{sy.g, qy, sy.Lg, na_window_start(qy, sy.Lg, p.Kh)};  // = na_window(y, ...)
      const int y = sy.g + qy * p.dh;
      for (int qx = sx.q0; qx < sx.q1; ++qx) {
        const NAWindow wx{sx.g, qx, sx.Lg, na_window_start(qx, sx.Lg, p.Kw)};
        const int x = sx.g + qx * p.dw;
        const int64_t pix = static_cast<int64_t>(y) * p.W + x;
        const float* qs = sc.q.data() + (static_cast<size_t>(qy - sy.q0) * (sx.q1 - sx.q0) + (qx - sx.q0)) * D;
        const int bx0 = na_bias_index(wx, 0, p.Kw);

        // Pass 1: every logit of the window (kLanes columns of up to kRowBlock rows at a time; lanes past a
        // row: -inf) and the max.
        vf mx = vset1(-INFINITY);
        const float* kw = kt + static_cast<size_t>(wy.start - sy.s0) * D * hcp + (wx.start - sx.s0);
        for (int ty0 = 0; ty0 < p.Kh; ty0 += kRowBlock) {
          const int nr = std::min(kRowBlock, p.Kh - ty0);
          for (int c = 0; c < chunks; ++c) {
            const int n = c == chunks - 1 ? tail : kLanes;
            vf acc[kRowBlock];
            dot_rows<D>(nr, qs, kw + static_cast<size_t>(ty0) * D * hcp + c * kLanes, hcp, acc);
            for (int r = 0; r < nr; ++r) {
              const int ty = ty0 + r;
              vf l = acc[r];
              if (btab)
                l = vadd(l, vload(btab + static_cast<size_t>(na_bias_index(wy, ty, p.Kh)) * brw + bx0 + c * kLanes));
              l = vfirst(l, n);
              mx = vmax(mx, l);
              s[ty * chunks + c] = l;
            }
          }
        }
        // Pass 2: the weights exp(s - max) (a -inf logit gets 0) and their sum.
        const vf m = vset1(vhmax(mx));
        vf l = vzero();
        for (int r = 0; r < p.Kh * chunks; ++r) {
          const vf e = vexp(vsub(s[r], m));
          l = vadd(l, e);
          vstore(w + r * kLanes, e);
        }
        // Pass 3: the values, weighted.
        vf o[NS][NV];
        for (int a = 0; a < NS; ++a)
          for (int i = 0; i < NV; ++i) o[a][i] = vzero();
        const size_t at0 = (static_cast<size_t>(wy.start - sy.s0) * hc + (wx.start - sx.s0)) * D;
        for (int ty = 0; ty < p.Kh; ++ty) {
          const float* vrow = vpack + at0 + static_cast<size_t>(ty) * hc * D;
          const float* wrow = w + ty * chunks * kLanes;
          int t = 0;
          for (; t + NS <= p.Kw; t += NS)
            for (int a = 0; a < NS; ++a) {
              const vf wt = vset1(wrow[t + a]);
              const float* v = vrow + (t + a) * D;
              for (int i = 0; i < NV; ++i) o[a][i] = vfma(wt, vload(v + i * kLanes), o[a][i]);
            }
          for (; t < p.Kw; ++t) {
            const vf wt = vset1(wrow[t]);
            const float* v = vrow + t * D;
            for (int i = 0; i < NV; ++i) o[0][i] = vfma(wt, vload(v + i * kLanes), o[0][i]);
          }
        }
        const vf inv = vset1(1.f / vhsum(l));
        T* dst = out + (static_cast<int64_t>(it.b) * p.H * p.W + pix) * C + static_cast<int64_t>(h) * D;
        for (int i = 0; i < NV; ++i) {
          vf r = o[0][i];
          for (int a = 1; a < NS; ++a) r = vadd(r, o[a][i]);
          vstore(dst + i * kLanes, vmul(r, inv));
        }
      }
    }
  }
}

template <int NV, class T>
void run_items(const NACpuPlan& plan, const NAParams& p, const T* qkv, const T* rpb, T* out, int64_t begin,
               int64_t end) {
  thread_local Scratch scratch;
  for (int64_t i = begin; i < end; ++i) run_item<NV, T>(p, qkv, rpb, out, na_cpu_item(plan, p, i), scratch);
}

// D = 8 * k for k = 1..16, as NV = D / kLanes vectors.
template <class T>
void forward_typed(const NACpuPlan& plan, const NAParams& p, const T* qkv, const T* rpb, T* out, int64_t begin,
                   int64_t end) {
  switch (p.D) {
#define NATX_CASE(d) \
  case d: return run_items<d / kLanes, T>(plan, p, qkv, rpb, out, begin, end);
    NATX_CASE(8)
    NATX_CASE(16)
    NATX_CASE(24)
    NATX_CASE(32)
    NATX_CASE(40)
    NATX_CASE(48)
    NATX_CASE(56)
    NATX_CASE(64)
    NATX_CASE(72)
    NATX_CASE(80)
    NATX_CASE(88)
    NATX_CASE(96)
    NATX_CASE(104)
    NATX_CASE(112)
    NATX_CASE(120)
    NATX_CASE(128)
#undef NATX_CASE
    default: break;  // na_cpu_plan sends only these head dims here
  }
}

// The entry point na_cpu.cpp calls for this ISA. Takes D % 8 == 0, 8 <= D <= 128, Kh and Kw <= kMaxK.
void forward_items(const NACpuPlan& plan, const NAParams& p, NADType dtype, const void* qkv, const void* rpb, void* out,
                   int64_t begin, int64_t end) {
  switch (dtype) {
    case NADType::kFloat32:
      return forward_typed(plan, p, static_cast<const float*>(qkv), static_cast<const float*>(rpb),
                           static_cast<float*>(out), begin, end);
    case NADType::kFloat16:
      return forward_typed(plan, p, static_cast<const NAHalf*>(qkv), static_cast<const NAHalf*>(rpb),
                           static_cast<NAHalf*>(out), begin, end);
    case NADType::kBFloat16:
      return forward_typed(plan, p, static_cast<const NABFloat16*>(qkv), static_cast<const NABFloat16*>(rpb),
                           static_cast<NABFloat16*>(out), begin, end);
  }
}

}  // namespace NATX_CPU_ISA
}  // namespace natx
