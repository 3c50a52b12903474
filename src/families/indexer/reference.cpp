// The indexer family's reference, written from cache-layouts.md ("Sparse-attention indexer
// cache"), rope-math.md and quant-formats.md, sharing no code with indexer.hip: the norm and
// the rotation in double, the roundings to the dtype by scaling and nearbyint, fp8 codes by
// src/reference/fp8.cpp's search, log2 in double.
//
// The kernel's fp32 norm and rotation lie within a bound of the real values; a value within
// that bound of a rounding boundary of the dtype may land on either side, so a row is a list
// of candidates per element. The steps after the last rounding (amax, the scale, the codes,
// the head weight) are fp32 operations on known floats: the reference does them in fp32 too
// (a double operation of two floats rounded once to float is the IEEE fp32 result for + - *
// / and sqrt), in the specified order, so what follows is compared bit for bit.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "families/indexer/indexer.hpp"
#include "reference/reference.hpp"

namespace ropegen::indexer {
namespace {

constexpr double kU = 1.0 / 16777216.0;  // 2^-24, fp32's unit roundoff

/// x rounded to nearest even in the dtype (bf16: 8 significant bits, f16: 11; their smallest
/// normal exponents -126 and -14 make the subnormals).
double round_dtype(DType t, double x) {
  if (x == 0 || !std::isfinite(x)) return x;
  const int bits = t == DType::BF16 ? 8 : t == DType::F16 ? 11 : 24;
  const int min_exp = t == DType::F16 ? -14 : -126;
  const int e = std::max(std::ilogb(x), min_exp);
  return std::ldexp(std::nearbyint(std::ldexp(x, bits - 1 - e)), e - bits + 1);
}

/// The dtype values a kernel may round to from within `bound` of the real value v.
std::vector<double> roundings(DType t, double v, double bound) {
  std::vector<double> out;
  for (int k = -4; k <= 4; ++k) {
    const double r = round_dtype(t, v + bound * k / 4);
    if (std::find(out.begin(), out.end(), r) == out.end()) out.push_back(r);
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// The LayerNorm of k (two-pass mean and variance), each element with its candidates.
Candidates layernorm(const KernelSpec& s, const std::vector<double>& x, const NormWeights& nw) {
  const double D = static_cast<double>(x.size());
  double sum = 0, abs_sum = 0;
  for (double v : x) {
    sum += v;
    abs_sum += std::fabs(v);
  }
  const double mean = sum / D;
  double var = 0;
  for (double v : x) var += (v - mean) * (v - mean);
  const double eps = static_cast<float>(s.indexer.eps);  // the kernel adds eps in fp32
  const double r = 1 / std::sqrt(var / D + eps);
  Candidates out;
  for (size_t i = 0; i < x.size(); ++i) {
    const double d = x[i] - mean, w = nw.weight[i], b = nw.bias[i];
    const double y = d * r * w + b;
    // fp32: the mean's sum (D u of the magnitudes), the variance and square root (relative
    // D/2 + a few u), three products and the sum; doubled for margin.
    const double bound = 2 * kU * ((std::fabs(d) * (D / 2 + 8) + D * abs_sum / D) * r * std::fabs(w) +
                                   2 * (std::fabs(y) + std::fabs(b)));
    out.push_back(roundings(s.dtype, y, bound));
  }
  return out;
}

/// Rotates the stretch [rotary_offset, + rotary_dim) of a row of candidates with the token's
/// cos/sin; each output's candidates come from every pair of input candidates.
void rotate(const KernelSpec& s, const TokenInput& in, Candidates& x) {
  const int d = s.rotary_dim, off = s.rotary_offset;
  Candidates out = x;
  for (int j = 0; j < d / 2; ++j) {
    const int i0 = off + (s.style == Style::Neox ? j : 2 * j);
    const int i1 = off + (s.style == Style::Neox ? j + d / 2 : 2 * j + 1);
    const double c = in.cos[static_cast<size_t>(j)], sn = in.sin[static_cast<size_t>(j)];
    std::vector<double> y0, y1;
    for (double x0 : x[static_cast<size_t>(i0)])
      for (double x1 : x[static_cast<size_t>(i1)]) {
        // rope-math.md: (x0 c - x1 s, x1 c + x0 s) in fp32; computed cos/sin add the device's
        // sin/cos error.
        const double extra = in.cos_sin_computed ? 4 * kU * (std::fabs(x0) + std::fabs(x1)) : 0;
        const double v0 = x0 * c - x1 * sn, v1 = x1 * c + x0 * sn;
        for (double r : roundings(s.dtype, v0, 4 * kU * (std::fabs(x0 * c) + std::fabs(x1 * sn)) + extra))
          if (std::find(y0.begin(), y0.end(), r) == y0.end()) y0.push_back(r);
        for (double r : roundings(s.dtype, v1, 4 * kU * (std::fabs(x1 * c) + std::fabs(x0 * sn)) + extra))
          if (std::find(y1.begin(), y1.end(), r) == y1.end()) y1.push_back(r);
      }
    out[static_cast<size_t>(i0)] = y0;
    out[static_cast<size_t>(i1)] = y1;
  }
  x = out;
}

Candidates exact(const std::vector<double>& x) {
  Candidates out;
  for (double v : x) out.push_back({v});
  return out;
}

reference::Fp8Format format_of(Encoding e) {
  return e == Encoding::E4m3 ? reference::Fp8Format::E4M3 : reference::Fp8Format::E4M3Fnuz;
}

std::uint32_t bits_of(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

float f32(double x) { return static_cast<float>(x); }

/// The scale of a row with this amax: K: max(amax, 1e-4) / fp8_max; Q: max(amax, 1e-10) *
/// fp32(1 / fp8_max); then ue8m0 if the spec says.
float scale_for(const KernelSpec& s, bool is_k, float amax) {
  const float qmax = f32(divisor(s));
  float sc = is_k ? f32(static_cast<double>(std::max(amax, 1e-4f)) / qmax)
                  : f32(static_cast<double>(std::max(amax, 1e-10f)) * f32(1.0 / divisor(s)));
  return s.indexer.ue8m0 ? ue8m0(sc) : sc;
}

std::uint8_t code_for(const KernelSpec& s, Encoding e, bool is_k, float sc, double x) {
  const float v = is_k && !s.indexer.k_multiply ? f32(x / sc) : f32(x * f32(1.0 / sc));
  return reference::fp8_encode(format_of(e), v);
}

QuantizedRow quantize(const KernelSpec& s, Encoding e, bool is_k, const std::vector<double>& row) {
  float amax = 0;
  for (double v : row) amax = std::max(amax, f32(std::fabs(v)));
  const float sc = scale_for(s, is_k, amax);
  QuantizedRow q;
  q.scale_bits = bits_of(sc);
  for (double v : row) q.codes.push_back(code_for(s, e, is_k, sc, v));
  return q;
}

}  // namespace

float ue8m0(float s) { return f32(std::exp2(std::ceil(static_cast<double>(f32(std::log2(static_cast<double>(s))))))); }

Candidates k_row(const KernelSpec& s, const TokenInput& in, const NormWeights& nw) {
  Candidates x = s.indexer.layernorm ? layernorm(s, in.k, nw) : exact(in.k);
  rotate(s, in, x);
  return x;
}

Candidates q_row(const KernelSpec& s, const TokenInput& in, int head) {
  const auto first = in.q.begin() + static_cast<long>(head) * s.head_dim;
  Candidates x = exact(std::vector<double>(first, first + s.head_dim));
  rotate(s, in, x);
  return x;
}

QuantizedRow quantize_k(const KernelSpec& s, Encoding e, const std::vector<double>& row) {
  return quantize(s, e, true, row);
}
QuantizedRow quantize_q(const KernelSpec& s, Encoding e, const std::vector<double>& row) {
  return quantize(s, e, false, row);
}

float head_weight(const KernelSpec& s, double weight, std::uint32_t q_scale_bits) {
  float qs;
  std::memcpy(&qs, &q_scale_bits, 4);
  return f32(static_cast<double>(f32(weight * qs)) * f32(s.indexer.weights_scale));
}

std::vector<std::uint32_t> possible_scales(const KernelSpec& s, bool is_k, const Candidates& cand) {
  // amax is at least every element's smallest candidate magnitude, and one of the magnitudes.
  float low = 0;
  for (const auto& c : cand) {
    float m = INFINITY;
    for (double v : c) m = std::min(m, f32(std::fabs(v)));
    low = std::max(low, m);
  }
  std::vector<std::uint32_t> out{bits_of(scale_for(s, is_k, low))};
  for (const auto& c : cand)
    for (double v : c) {
      const float a = f32(std::fabs(v));
      const std::uint32_t b = bits_of(scale_for(s, is_k, a));
      if (a >= low && std::find(out.begin(), out.end(), b) == out.end()) out.push_back(b);
    }
  return out;
}

int code_mismatch(const KernelSpec& s, Encoding e, bool is_k, const Candidates& cand, const std::uint8_t* codes,
                  std::uint32_t scale_bits, std::string& why) {
  float sc;
  std::memcpy(&sc, &scale_bits, 4);
  for (size_t i = 0; i < cand.size(); ++i) {
    bool ok = false;
    for (double v : cand[i]) ok = ok || code_for(s, e, is_k, sc, v) == codes[i];
    if (!ok) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "element %zu: code 0x%02x, want 0x%02x (value %.9g, scale %.9g)", i, codes[i],
                    code_for(s, e, is_k, sc, cand[i].front()), cand[i].front(), static_cast<double>(sc));
      why = buf;
      return static_cast<int>(i);
    }
  }
  return -1;
}

long long block_bytes(const KernelSpec& s) { return static_cast<long long>(s.cache.block) * (s.head_dim + 4); }

long long value_offset(const KernelSpec& s, long long slot, int c) {
  const long long B = s.cache.block, D = s.head_dim, t = slot % B;
  const long long base = slot / B * block_bytes(s);
  if (!s.indexer.tiled) return base + t * D + c;
  return base + (t / 16) * 16 * D + (c / 16) * 256 + (t % 16) * 16 + c % 16;
}

long long scale_offset(const KernelSpec& s, long long slot) {
  const long long B = s.cache.block;
  return slot / B * block_bytes(s) + B * s.head_dim + 4 * (slot % B);
}

}  // namespace ropegen::indexer
