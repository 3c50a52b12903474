// src/reference: the independent references of the fp8 and quantized formats.
//
// fp8 formats: the reference (src/reference/fp8.cpp) against the format definitions, and
// the kernels' integer converters (templates/fp8.h, compiled here as plain C++ with the
// host prelude's names) against the reference, bit for bit.
//   decode: all 256 codes of each format against a third formula written here, plus pins;
//   encode: every midpoint between adjacent codes +-64 float ulps, every code +-64 ulps,
//   saturation, NaN, inf, zeros; then every 256th float bit pattern (2^24 per format).
//   ROPEGEN_TEST_FP8_EXHAUSTIVE=1 checks all 2^32 float bit patterns of every format.
//
// Quantized cache formats: the kernels' codec (templates/quant.h, compiled here as plain C++
// with the host prelude's names, given each format's rg_codec) against the independent reference
// (src/reference/quant.cpp), bit for bit on codes and scales; values pinned from the
// published formulas; the round-trip error of each format.
//   e2m1 and the e8m0 rules: all 65536 bf16 and all 65536 f16 inputs, every rounding
//   boundary and its midpoints +-4 float ulps, a sweep of every 61st float bit pattern;
//   groups: each of the 65536 bf16 values inside groups of three scales, zero groups, -0.0,
//   NaN, inf, subnormals and saturating values, for every format and parameter.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ios>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "reference/fp8.hpp"
#include "reference/quant.hpp"

#include "host_names.hpp"
#include "../../templates/fp8.h"

// nvfp4 recipe = trtllm: the approximate reciprocal the codec calls (on NVIDIA the device's
// rcp.approx.ftz.f32, which the host cannot compute); here the function a test sets, the same
// one the reference is given, so codec and reference are compared on their operation order.
float (*g_rcp)(float) = nullptr;
float rg_rcp_approx_ftz(float x) { return g_rcp(x); }
#define RG_RCP_APPROX 1
#include "../../templates/quant.h"
#undef RG_DEVICE

using ropegen::reference::Fp8Format;
using ropegen::reference::fp8_decode;
using ropegen::reference::fp8_encode;

namespace {

constexpr Fp8Format kFormats[] = {Fp8Format::E4M3, Fp8Format::E5M2, Fp8Format::E4M3Fnuz, Fp8Format::E5M2Fnuz};

unsigned kernel_encode(Fp8Format f, float x) {
  switch (f) {
    case Fp8Format::E4M3: return rg_fp8_encode_e4m3(x);
    case Fp8Format::E5M2: return rg_fp8_encode_e5m2(x);
    case Fp8Format::E4M3Fnuz: return rg_fp8_encode_e4m3fnuz(x);
    case Fp8Format::E5M2Fnuz: return rg_fp8_encode_e5m2fnuz(x);
  }
  return 0x100;
}
unsigned kernel_encode2(Fp8Format f, float lo, float hi) {
  switch (f) {
    case Fp8Format::E4M3: return rg_fp8_encode2_e4m3(lo, hi);
    case Fp8Format::E5M2: return rg_fp8_encode2_e5m2(lo, hi);
    case Fp8Format::E4M3Fnuz: return rg_fp8_encode2_e4m3fnuz(lo, hi);
    case Fp8Format::E5M2Fnuz: return rg_fp8_encode2_e5m2fnuz(lo, hi);
  }
  return 0x10000;
}
float kernel_decode(Fp8Format f, unsigned c) {
  switch (f) {
    case Fp8Format::E4M3: return rg_fp8_decode_e4m3(c);
    case Fp8Format::E5M2: return rg_fp8_decode_e5m2(c);
    case Fp8Format::E4M3Fnuz: return rg_fp8_decode_e4m3fnuz(c);
    case Fp8Format::E5M2Fnuz: return rg_fp8_decode_e5m2fnuz(c);
  }
  return 0;
}

/// The definition once more, in a third form: sign, exponent and mantissa fields, then
/// (-1)^s * 2^(e - bias) * (1 + m / 2^M), or 2^(1 - bias) * (m / 2^M) when e == 0.
/// Specials: e4m3 S.1111.111 NaN; e5m2 S.11111.00 inf, S.11111.xx NaN; FNUZ 0x80 NaN.
double by_definition(Fp8Format f, int code) {
  const bool e4 = f == Fp8Format::E4M3 || f == Fp8Format::E4M3Fnuz;
  const bool fnuz = f == Fp8Format::E4M3Fnuz || f == Fp8Format::E5M2Fnuz;
  const int M = e4 ? 3 : 2;
  const int bias = f == Fp8Format::E4M3 ? 7 : f == Fp8Format::E5M2 ? 15 : f == Fp8Format::E4M3Fnuz ? 8 : 16;
  const int s = code >> 7, e = (code & 0x7f) >> M, m = code & ((1 << M) - 1);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (fnuz && code == 0x80) return nan;
  if (f == Fp8Format::E4M3 && e == 15 && m == 7) return nan;
  if (f == Fp8Format::E5M2 && e == 31) return m ? nan : (s ? -1 : 1) * std::numeric_limits<double>::infinity();
  const double sign = s ? -1.0 : 1.0;
  if (e == 0) return sign * std::pow(2.0, 1 - bias) * (m / std::pow(2.0, M));
  return sign * std::pow(2.0, e - bias) * (1.0 + m / std::pow(2.0, M));
}

bool same(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return a == b && std::signbit(a) == std::signbit(b);
}

std::string hex(std::uint32_t u) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%x", u);
  return b;
}

float from_bits(std::uint32_t u) { return rg_as_float(u); }
std::uint32_t bits(float x) { return rg_as_uint(x); }

/// The finite values of a format, sorted, with their codes (one zero: 0x00), from the
/// test's own formula.
std::vector<std::pair<double, int>> sorted_values(Fp8Format f) {
  std::vector<std::pair<double, int>> v;
  for (int c = 0; c < 256; ++c) {
    const double x = by_definition(f, c);
    if (std::isfinite(x) && !(x == 0 && c != 0)) v.push_back({x, c});
  }
  std::sort(v.begin(), v.end());
  return v;
}

/// What the definition of saturate(round_nearest_even(x)) gives, with the zero and NaN
/// rules of rope-math.md (see reference/fp8.hpp): the answer for inputs next to a known
/// boundary, written independently of the reference's search.
bool fnuz(Fp8Format f) { return f == Fp8Format::E4M3Fnuz || f == Fp8Format::E5M2Fnuz; }
int with_zero_sign(Fp8Format f, int code, double x) {
  return (code == 0 && std::signbit(x) && !fnuz(f)) ? 0x80 : code;
}

}  // namespace

TEST_CASE("fp8: every code of every format decodes as the definition says") {
  long long checks = 0;
  for (Fp8Format f : kFormats) {
    CAPTURE(ropegen::reference::to_string(f));
    int nans = 0, infs = 0;
    for (int c = 0; c < 256; ++c) {
      CAPTURE(c);
      const double want = by_definition(f, c);
      CHECK(same(fp8_decode(f, static_cast<std::uint8_t>(c)), want));
      CHECK(same(kernel_decode(f, static_cast<unsigned>(c)), want));  // exact in fp32
      nans += std::isnan(want);
      infs += std::isinf(want);
      checks += 2;
    }
    // NaN and inf counts per format: e4m3 two NaNs; e5m2 6 NaNs and 2 infs; FNUZ one NaN.
    CHECK(nans == (f == Fp8Format::E4M3 ? 2 : f == Fp8Format::E5M2 ? 6 : 1));
    CHECK(infs == (f == Fp8Format::E5M2 ? 2 : 0));
  }
  // Pinned codes.
  auto pin = [&](Fp8Format f, int code, double value) {
    CAPTURE(ropegen::reference::to_string(f));
    CAPTURE(code);
    CHECK(same(fp8_decode(f, static_cast<std::uint8_t>(code)), value));
    CHECK(same(by_definition(f, code), value));
    checks += 2;
  };
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  pin(Fp8Format::E4M3, 0x7e, 448);
  pin(Fp8Format::E4M3, 0x7f, nan);
  pin(Fp8Format::E4M3, 0xff, nan);
  pin(Fp8Format::E4M3, 0x08, std::ldexp(1, -6));
  pin(Fp8Format::E4M3, 0x01, std::ldexp(1, -9));
  pin(Fp8Format::E4M3, 0x80, -0.0);
  pin(Fp8Format::E4M3, 0x78, 256);
  pin(Fp8Format::E5M2, 0x7b, 57344);
  pin(Fp8Format::E5M2, 0x7c, inf);
  pin(Fp8Format::E5M2, 0xfc, -inf);
  pin(Fp8Format::E5M2, 0x7d, nan);
  pin(Fp8Format::E5M2, 0x01, std::ldexp(1, -16));
  pin(Fp8Format::E5M2, 0x04, std::ldexp(1, -14));
  pin(Fp8Format::E4M3Fnuz, 0x7f, 240);
  pin(Fp8Format::E4M3Fnuz, 0xff, -240);
  pin(Fp8Format::E4M3Fnuz, 0x80, nan);
  pin(Fp8Format::E4M3Fnuz, 0x01, std::ldexp(1, -10));
  pin(Fp8Format::E5M2Fnuz, 0x7f, 57344);
  pin(Fp8Format::E5M2Fnuz, 0x80, nan);
  pin(Fp8Format::E5M2Fnuz, 0x7c, 32768);
  pin(Fp8Format::E5M2Fnuz, 0x01, std::ldexp(1, -17));
  CHECK(ropegen::reference::fp8_max(Fp8Format::E4M3) == 448);
  CHECK(ropegen::reference::fp8_max(Fp8Format::E5M2) == 57344);
  CHECK(ropegen::reference::fp8_max(Fp8Format::E4M3Fnuz) == 240);
  CHECK(ropegen::reference::fp8_max(Fp8Format::E5M2Fnuz) == 57344);
  MESSAGE("fp8 decode: " << checks << " checks (4 formats x 256 codes, reference and kernel decoders, and pins)");
}

TEST_CASE("fp8: the reference rounds to nearest even and saturates at every boundary") {
  long long checks = 0;
  for (Fp8Format f : kFormats) {
    CAPTURE(ropegen::reference::to_string(f));
    const auto v = sorted_values(f);
    const double max = v.back().first;
    const int max_code = v.back().second, nan_code = fnuz(f) ? 0x80 : 0x7f;
    auto expect = [&](double x, int want) {
      CAPTURE(x);
      CHECK(int(fp8_encode(f, x)) == want);
      ++checks;
    };
    // Each value encodes to its own code; for the zeros, to the one of its sign.
    for (const auto& p : v) expect(p.first, p.second);
    expect(-0.0, fnuz(f) ? 0x00 : 0x80);
    // Each pair of neighbours: the midpoint goes to the even code; +-1..64 float ulps
    // (and the next doubles) away from it, to the nearer one.
    for (size_t i = 0; i + 1 < v.size(); ++i) {
      const double lo = v[i].first, hi = v[i + 1].first, mid = (lo + hi) / 2;
      const int clo = v[i].second, chi = v[i + 1].second;
      REQUIRE(static_cast<double>(static_cast<float>(mid)) == mid);  // the midpoints are floats
      expect(mid, with_zero_sign(f, (clo & 1) == 0 ? clo : chi, mid));
      expect(std::nextafter(mid, -HUGE_VAL), with_zero_sign(f, clo, mid));
      expect(std::nextafter(mid, HUGE_VAL), with_zero_sign(f, chi, mid));
      float below = static_cast<float>(mid), above = below;
      for (int k = 1; k <= 64; ++k) {
        below = std::nextafter(below, -HUGE_VALF);
        above = std::nextafter(above, HUGE_VALF);
        if (below > lo) expect(below, with_zero_sign(f, clo, below));
        if (above < hi) expect(above, with_zero_sign(f, chi, above));
      }
    }
    // Saturation: at and beyond the largest finite value, both signs, up to inf.
    for (double x : {max, std::nextafter(max, HUGE_VAL), max * 1.0625, max * 1.125, max * 2, 1e30,
                     static_cast<double>(std::numeric_limits<float>::max()), HUGE_VAL}) {
      expect(x, max_code);
      expect(-x, max_code | 0x80);
    }
    // NaN of either sign and any payload.
    for (std::uint32_t u : {0x7fc00000u, 0xffc00000u, 0x7f800001u, 0xff800001u, 0x7fffffffu, 0xffffffffu})
      expect(from_bits(u), nan_code);
    // Tiny values: float subnormals and below half the smallest subnormal.
    for (double x : {std::ldexp(1.0, -149), std::ldexp(1.0, -126), v[v.size() / 2 + 1].first / 2.5}) {
      expect(x, 0x00);
      expect(-x, fnuz(f) ? 0x00 : 0x80);
    }
  }
  MESSAGE("fp8 reference rounding: " << checks << " checks (midpoints +-64 float ulps, saturation, NaN, inf, zeros)");
}

TEST_CASE("fp8: the kernels' integer converters give the reference's codes") {
  long long checks = 0;
  for (Fp8Format f : kFormats) {
    CAPTURE(ropegen::reference::to_string(f));
    long long bad = 0, n = 0;
    auto check = [&](float x) {
      const unsigned got = kernel_encode(f, x), want = fp8_encode(f, x);
      if (got != want && bad++ < 8) FAIL_CHECK("x bits " << hex(bits(x)) << ": kernel " << hex(got) << ", reference " << hex(want));
      ++n;
    };
    // Every code's value and every midpoint between neighbours, +-64 float ulps.
    const auto v = sorted_values(f);
    std::vector<float> anchors;
    for (size_t i = 0; i < v.size(); ++i) {
      anchors.push_back(static_cast<float>(v[i].first));
      if (i + 1 < v.size()) anchors.push_back(static_cast<float>((v[i].first + v[i + 1].first) / 2));
    }
    anchors.push_back(std::numeric_limits<float>::infinity());
    anchors.push_back(-std::numeric_limits<float>::infinity());
    for (float a : anchors) {
      const std::uint32_t u = bits(a);
      for (std::uint32_t d = 0; d <= 64; ++d) {
        check(from_bits(u + d));
        check(from_bits(u - d));
      }
    }
    // Every 256th bit pattern (offset so both zeros, NaNs and infinities' neighbours vary).
    for (std::uint64_t p = 0; p < (1ull << 32); p += 256) {
      check(from_bits(static_cast<std::uint32_t>(p)));
      check(from_bits(static_cast<std::uint32_t>(p + 0x7f)));
    }
    // The packed form: two codes, lo | hi << 8.
    for (size_t i = 0; i + 1 < anchors.size(); ++i) {
      const unsigned got = kernel_encode2(f, anchors[i], anchors[i + 1]);
      CHECK(got == (unsigned(fp8_encode(f, anchors[i])) | unsigned(fp8_encode(f, anchors[i + 1])) << 8));
      ++n;
    }
    CHECK(bad == 0);
    checks += n;
  }
  MESSAGE("fp8 kernel integer encode vs reference: " << checks << " inputs (4 formats)");
}

TEST_CASE("fp8: all 2^32 float inputs, kernel integer code against the reference (ROPEGEN_TEST_FP8_EXHAUSTIVE=1)") {
  const char* on = std::getenv("ROPEGEN_TEST_FP8_EXHAUSTIVE");
  if (!on || std::string(on) != "1") return;
  const auto t0 = std::chrono::steady_clock::now();
  long long checks = 0;
  for (Fp8Format f : kFormats) {
    CAPTURE(ropegen::reference::to_string(f));
    // Over each sign's bit patterns up to inf the reference's code never decreases; its
    // runs of equal codes are found by bisection with the reference itself, then every
    // pattern is compared with the code of its run. NaN patterns all give the NaN code.
    long long bad = 0;
    for (std::uint32_t sign : {0u, 0x80000000u}) {
      std::uint32_t p = sign;
      const std::uint32_t end = sign | 0x7f800000u;
      while (true) {
        const unsigned code = fp8_encode(f, from_bits(p));
        std::uint32_t lo = p, hi = end;  // last pattern with this code: in [lo, hi]
        while (lo < hi) {
          const std::uint32_t m = lo + (hi - lo + 1) / 2;
          if (fp8_encode(f, from_bits(m)) == code) lo = m;
          else hi = m - 1;
        }
        for (std::uint32_t q = p;; ++q) {
          bad += kernel_encode(f, from_bits(q)) != code;
          if (q == lo) break;
        }
        checks += lo - p + 1;
        if (lo == end) break;
        p = lo + 1;
      }
      const unsigned nan_code = fp8_encode(f, std::numeric_limits<double>::quiet_NaN());
      for (std::uint32_t q = end + 1;; ++q) {
        bad += kernel_encode(f, from_bits(q)) != nan_code;
        ++checks;
        if (q == (sign | 0x7fffffffu)) break;
      }
    }
    CHECK(bad == 0);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("fp8 exhaustive: " << checks << " inputs (4 x 2^32) in " << s << " s");
  CHECK(checks == 4 * (1ll << 32));
}

// One codec per format and parameters, as codegen binds them: kind, bits, group, round
// (rne, trunc, rha), mx rule (rceil, floor, even), qmax, floor, fp8 format, scale bytes.
namespace codecs {
constexpr rg_codec int8_rne{1, 8, 64, 0, 0, 127.0f, 1e-6f, 0, 4}, int8_trunc{1, 8, 64, 1, 0, 127.0f, 1e-6f, 0, 4},
    int8_rha{1, 8, 64, 2, 0, 127.0f, 1e-6f, 0, 4}, int4_rha{2, 4, 64, 2, 0, 15.0f, 1e-6f, 0, 4},
    int4_rne{2, 4, 64, 0, 0, 15.0f, 1e-6f, 0, 4}, fp8_e4m3{3, 8, 64, 0, 0, 448.0f, 1e-6f, 0, 4},
    fp8_e5m2{3, 8, 64, 0, 0, 57344.0f, 1e-6f, 1, 4}, fp8_e4m3fnuz{3, 8, 64, 0, 0, 224.0f, 1e-6f, 2, 4},
    nvfp4{4, 4, 16, 0, 0, 6.0f, 1e-6f, 0, 1}, mx_rceil{5, 4, 32, 0, 0, 6.0f, 1e-6f, 0, 1},
    mx_floor{5, 4, 32, 0, 1, 6.0f, 1e-6f, 0, 1}, mx_even{5, 4, 32, 0, 2, 6.0f, 1e-6f, 0, 1},
    nvfp4_trtllm{4, 4, 16, 0, 1, 6.0f, 1e-6f, 0, 1};
}  // namespace codecs

// Reciprocals for the trtllm instances: the IEEE one, and one an ulp high with subnormal
// inputs and results flushed (rcp.approx.ftz.f32 is within an ulp and flushes; its exact
// values are the device's).
float rcp_ieee(float x) { return 1.0f / x; }
float rcp_ulp_high(float x) {
  if (std::fpclassify(x) == FP_SUBNORMAL) x = std::copysign(0.0f, x);
  const float r = 1.0f / x;
  if (std::fpclassify(r) == FP_SUBNORMAL) return std::copysign(0.0f, r);
  return std::isfinite(r) && r != 0 ? std::nextafter(r, std::copysign(INFINITY, r)) : r;
}


namespace ref = ropegen::reference;
using ropegen::MxRound;
using ropegen::QuantRound;

namespace {

float f32(std::uint32_t b) { return rg_as_float(b); }
float bf16(unsigned h) { return f32(static_cast<std::uint32_t>(h) << 16); }
float f16(unsigned h) {
  const unsigned e = (h >> 10) & 0x1f, m = h & 0x3ff, s = h >> 15;
  double v = e == 0 ? std::ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : std::ldexp(1024 + m, static_cast<int>(e) - 25);
  return static_cast<float>(s ? -v : v);
}

/// The codec of one instance applied to a group, as the kernel does: range with NaN left
/// out, one scale, one code per element.
struct Result {
  std::vector<std::uint8_t> codes;
  std::uint32_t bits;
};
Result run_codec(const rg_codec c, const std::vector<float>& x, float gs) {
  float hi = -INFINITY, lo = INFINITY;
  for (float v : x) {  // as the kernel's vec_range, NaN left out
    hi = v > hi ? v : hi;
    lo = v < lo ? v : lo;
  }
  const auto q = rg_kernel::quant_scale(c, hi, lo, gs);
  Result r{{}, q.bits};
  for (size_t i = 0; i < x.size(); i += 2) {  // by pairs, as the kernels' store_codes (an odd last one alone)
    unsigned c0, c1;
    rg_kernel::quant_codes2(c, q, x[i], i + 1 < x.size() ? x[i + 1] : x[i], c0, c1);
    r.codes.push_back(static_cast<std::uint8_t>(c0));
    if (i + 1 < x.size()) r.codes.push_back(static_cast<std::uint8_t>(c1));
  }
  return r;
}

struct Instance {
  const char* name;
  ref::QuantFormat format;
  Result (*run)(const std::vector<float>&, float);
};

ref::QuantFormat fmt(ref::QuantKind k, int bits, int group, QuantRound r = QuantRound::Rne, MxRound mx = MxRound::Rceil,
                     float qmax = 127, ref::Fp8Format f8 = ref::Fp8Format::E4M3) {
  ref::QuantFormat f;
  f.kind = k;
  f.bits = bits;
  f.group = group;
  f.round = r;
  f.scale_round = mx;
  f.qmax = qmax;
  f.fp8 = f8;
  f.scale_bytes = k == ref::QuantKind::Nvfp4 || k == ref::QuantKind::Mxfp4 ? 1 : 4;
  return f;
}

ref::QuantFormat trtllm(float (*rcp)(float)) {
  ref::QuantFormat f = fmt(ref::QuantKind::Nvfp4, 4, 16, QuantRound::Rne, MxRound::Rceil, 6);
  f.recipe = ropegen::Nvfp4Recipe::Trtllm;
  f.rcp = rcp;
  return f;
}

const std::vector<Instance>& instances() {
  using K = ref::QuantKind;
  static const std::vector<Instance> v = {
      {"int8 rne", fmt(K::Int8, 8, 64), [](const std::vector<float>& x, float g) { return run_codec(codecs::int8_rne, x, g); }},
      {"int8 trunc", fmt(K::Int8, 8, 64, QuantRound::Trunc),
       [](const std::vector<float>& x, float g) { return run_codec(codecs::int8_trunc, x, g); }},
      {"int8 rha", fmt(K::Int8, 8, 64, QuantRound::Rha),
       [](const std::vector<float>& x, float g) { return run_codec(codecs::int8_rha, x, g); }},
      {"int4 rha", fmt(K::Int4, 4, 64, QuantRound::Rha, MxRound::Rceil, 15),
       [](const std::vector<float>& x, float g) { return run_codec(codecs::int4_rha, x, g); }},
      {"int4 rne", fmt(K::Int4, 4, 64, QuantRound::Rne, MxRound::Rceil, 15),
       [](const std::vector<float>& x, float g) { return run_codec(codecs::int4_rne, x, g); }},
      {"fp8 e4m3", fmt(K::Fp8, 8, 64, QuantRound::Rne, MxRound::Rceil, 448, ref::Fp8Format::E4M3),
       [](const std::vector<float>& x, float g) { return run_codec(codecs::fp8_e4m3, x, g); }},
      {"fp8 e5m2", fmt(K::Fp8, 8, 64, QuantRound::Rne, MxRound::Rceil, 57344, ref::Fp8Format::E5M2),
       [](const std::vector<float>& x, float g) { return run_codec(codecs::fp8_e5m2, x, g); }},
      {"fp8 e4m3fnuz (qmax 224)", fmt(K::Fp8, 8, 64, QuantRound::Rne, MxRound::Rceil, 224, ref::Fp8Format::E4M3Fnuz),
       [](const std::vector<float>& x, float g) { return run_codec(codecs::fp8_e4m3fnuz, x, g); }},
      {"nvfp4", fmt(K::Nvfp4, 4, 16, QuantRound::Rne, MxRound::Rceil, 6),
       [](const std::vector<float>& x, float g) { return run_codec(codecs::nvfp4, x, g); }},
      {"mxfp4 rceil", fmt(K::Mxfp4, 4, 32, QuantRound::Rne, MxRound::Rceil, 6),
       [](const std::vector<float>& x, float g) { return run_codec(codecs::mx_rceil, x, g); }},
      {"mxfp4 floor", fmt(K::Mxfp4, 4, 32, QuantRound::Rne, MxRound::Floor, 6),
       [](const std::vector<float>& x, float g) { return run_codec(codecs::mx_floor, x, g); }},
      {"mxfp4 even", fmt(K::Mxfp4, 4, 32, QuantRound::Rne, MxRound::Even, 6),
       [](const std::vector<float>& x, float g) { return run_codec(codecs::mx_even, x, g); }},
      {"nvfp4 trtllm (IEEE reciprocal)", trtllm(rcp_ieee),
       [](const std::vector<float>& x, float g) {
         g_rcp = rcp_ieee;
         return run_codec(codecs::nvfp4_trtllm, x, g);
       }},
      {"nvfp4 trtllm (reciprocal an ulp high, ftz)", trtllm(rcp_ulp_high),
       [](const std::vector<float>& x, float g) {
         g_rcp = rcp_ulp_high;
         return run_codec(codecs::nvfp4_trtllm, x, g);
       }},
  };
  return v;
}

/// The kernel's and the reference's bytes for one group; "" when equal.
std::string compare(const Instance& in, const std::vector<float>& x, float gs) {
  const Result k = in.run(x, gs);
  const ref::QuantGroup r = ref::quantize_group(in.format, x.data(), static_cast<int>(x.size()), gs);
  if (k.bits != r.scale_bits) {
    std::string xs;
    for (float v : x) xs += " " + std::to_string(v);
    return std::string(in.name) + ": scale bits " + std::to_string(k.bits) + " vs reference " +
           std::to_string(r.scale_bits) + " for the group" + xs;
  }
  for (size_t i = 0; i < x.size(); ++i)
    if (k.codes[i] != r.codes[i]) {
      char buf[400];
      std::snprintf(buf, sizeof buf, "%s: element %zu = %a (scale bits %u): code %u vs reference %u", in.name, i,
                    static_cast<double>(x[i]), k.bits, k.codes[i], r.codes[i]);
      return buf;
    }
  return "";
}

}  // namespace

TEST_CASE("quant: rg_div2 (one reciprocal per divisor) is the IEEE quotient x / s, bit for bit") {
  // Divisors: every power of two (subnormal to 2^127, both signs), scales of the kinds the
  // formats compute (amax / 448, / 57344, / 127, / 15, the 1e-6 floor), the edges of the fast
  // path's range and their neighbours, zero, inf, NaN, and random bit patterns.
  std::vector<float> divisors;
  for (int e = -149; e <= 127; ++e)
    for (float sgn : {1.0f, -1.0f}) divisors.push_back(sgn * std::ldexp(1.0f, e));
  for (float q : {448.0f, 57344.0f, 127.0f, 15.0f, 240.0f, 224.0f})
    for (unsigned h = 0x3000; h < 0x4800; h += 97) divisors.push_back(bf16(h) / q);
  for (std::uint32_t b : {0x03800000u, 0x7b800000u, 0x0d800000u, 0x00800000u, 0x7f7fffffu, 0x358637bdu})
    for (int d = -2; d <= 2; ++d) divisors.push_back(f32(b + static_cast<std::uint32_t>(d)));
  for (float v : {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1.0f, 3.0f, 0.1f, 6.0f}) divisors.push_back(v);
  std::mt19937 rng(20261207);
  for (int i = 0; i < 300; ++i) divisors.push_back(f32(static_cast<std::uint32_t>(rng())));
  long long failures = 0, checked = 0;
  auto check = [&](float x, const rg_kernel::rg_divisor& d, float s) {
    float k = x, partner = x;  // a pair of equal elements: each quotient on its own
    rg_kernel::rg_div2(k, partner, d);
    const float r = x / s;
    ++checked;
    if (rg_as_uint(k) != rg_as_uint(r) && !(k != k && r != r) && failures++ < 5)
      FAIL_CHECK(std::hexfloat << x << " / " << s << ": " << k << " vs IEEE " << r);
  };
  for (float s : divisors) {
    const rg_kernel::rg_divisor d = rg_kernel::rg_make_divisor(s);
    for (unsigned h = 0; h < 65536; ++h) {
      check(bf16(h), d, s);
      check(f16(h), d, s);
    }
    // rg_div2: a pair, the true division for both when one needs it (each bf16 value beside
    // one that does: an inf, NaN, zero or tiny element, or a plain one).
    for (unsigned h = 0; h < 65536; h += 7) {
      for (unsigned other : {0x7f80u, 0x7fc1u, 0x8000u, 0x0001u, 0x3f80u}) {
        float a = bf16(h), b = bf16(other);
        const float ia = a, ib = b;
        rg_kernel::rg_div2(a, b, d);
        for (const auto& [got, in] : {std::pair<float, float>{a, ia}, std::pair<float, float>{b, ib}})
          if (rg_as_uint(got) != rg_as_uint(in / s) && !(got != got && in != in) && failures++ < 5)
            FAIL_CHECK("rg_div2: " << in << " / " << s << ": " << got << " vs IEEE " << in / s);
      }
    }
  }
  // Random float x (every exponent) against random and special divisors.
  for (int i = 0; i < 4000000; ++i) {
    const float s = (i & 7) == 0 ? divisors[rng() % divisors.size()] : f32(static_cast<std::uint32_t>(rng()));
    check(f32(static_cast<std::uint32_t>(rng())), rg_kernel::rg_make_divisor(s), s);
  }
  MESSAGE("rg_div2: " << checked << " quotients, " << divisors.size() << " divisors");
  CHECK(failures == 0);
}

TEST_CASE("quant: int4's codes by the reciprocal are the codes of the IEEE quotient (every bf16 and f16, each boundary)") {
  // The definition (docs/dsl.md): t = fl(fl(x / s) + zp); NaN -> zp; else round(clamp(t, 0, 15))
  // by rne, trunc, or rha ((t + 0.5) in fp32, truncated). Scales from groups of many ranges
  // (zero points 0 to 15), the floor, and the ends of the reciprocal's fast range.
  auto defined = [](int round, float x, float s, float zp) -> unsigned {
    const float t = x / s + zp;
    if (t != t) return static_cast<unsigned>(zp);
    const float u = t < 0.0f ? 0.0f : t > 15.0f ? 15.0f : t;
    if (round == 0) return static_cast<unsigned>(std::nearbyint(u));
    if (round == 1) return static_cast<unsigned>(u);
    return static_cast<unsigned>(u + 0.5f);
  };
  std::vector<std::pair<float, float>> ranges;  // (hi, lo) of a group
  std::mt19937 rng(4);
  for (int zp = 0; zp <= 15; ++zp)
    for (float m : {1.0f, 0.37f, 3.3e-3f, 11.0f, 2.5e4f, 1e-5f})
      ranges.push_back({m * static_cast<float>(15 - zp), -m * static_cast<float>(zp) - m * 0.01f * static_cast<float>(rng() % 7)});
  for (int i = 0; i < 24; ++i) ranges.push_back({bf16(0x3c00u + rng() % 0x0c00u), -bf16(0x3c00u + rng() % 0x0c00u)});
  ranges.push_back({1e-9f, -1e-9f});                     // the floor
  ranges.push_back({3e37f, -2e37f});                     // a scale above the fast range: the division
  ranges.push_back({f32(0x7b800000u) * 14.0f, 0.0f});  // near its top
  long long failures = 0, checked = 0, fast = 0;
  for (int round = 0; round <= 2; ++round) {
    const rg_codec c{2, 4, 64, round, 0, 15.0f, 1e-6f, 0, 4};
    for (const auto& [hi, lo] : ranges) {
      const auto q = rg_kernel::quant_scale(c, hi, lo, 1.0f);
      auto check = [&](float x) {
        // A pair of x and a plain partner (the fast path), and x beside a NaN (always the division).
        for (float other : {0.0f, NAN}) {
          unsigned c0 = 99, c1 = 99;
          fast += rg_kernel::int4_code_by_reciprocal(c, q, x, c0) && rg_kernel::int4_code_by_reciprocal(c, q, other, c1) ? 1 : 0;
          rg_kernel::quant_codes2(c, q, x, other, c0, c1);
          ++checked;
          const unsigned want = defined(round, x, q.s, q.zp);
          if ((c0 != want || c1 != defined(round, other, q.s, q.zp)) && failures++ < 8)
            FAIL_CHECK("int4 round " << round << ": x = " << std::hexfloat << x << " s = " << q.s << " zp = " << q.zp
                                      << ": code " << c0 << " (partner " << c1 << ") vs " << want);
        }
      };
      for (unsigned h = 0; h < 65536; ++h) {
        check(bf16(h));
        check(f16(h));
      }
      // Each rounding boundary's x (k + 0.5 and k, from -1 to 17, minus zp, times s) and 6
      // float ulps either side.
      for (int k2 = -2; k2 <= 34; ++k2) {
        const float x0 = (static_cast<float>(k2) * 0.5f - q.zp) * q.s;
        for (int d = -6; d <= 6; ++d) check(f32(rg_as_uint(x0) + static_cast<std::uint32_t>(d)));
      }
    }
  }
  MESSAGE("int4 by reciprocal: " << checked << " pairs, " << fast << " decided without the division");
  CHECK(fast > checked / 4);  // the fast path is the common one (a NaN partner sends half to the division)
  CHECK(failures == 0);
}

TEST_CASE("quant: both e2m1 encoders against the reference (every bf16, f16, boundary, and a float sweep)") {
  long long failures = 0;
  auto check = [&](float x) {
    const unsigned r = ref::e2m1_encode(x);
    for (unsigned k : {rg_kernel::rg_e2m1_by_bits(x), rg_kernel::rg_e2m1_by_compares(x)})  // the two encoders (quant.h)
      if (k != r && failures++ < 5) FAIL_CHECK("e2m1(" << x << " = " << std::hexfloat << x << "): " << k << " vs reference " << r);
  };
  for (unsigned h = 0; h < 65536; ++h) {
    check(bf16(h));
    check(f16(h));
  }
  // Every boundary and midpoint, +-4 float ulps, both signs.
  for (double b : {0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 6.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0})
    for (int d = -4; d <= 4; ++d)
      for (float sgn : {1.0f, -1.0f}) check(sgn * f32(rg_as_uint(static_cast<float>(b)) + d));
  for (std::uint64_t u = 0; u < (1ull << 32); u += 4099) check(f32(static_cast<std::uint32_t>(u)));
  CHECK(failures == 0);
}

TEST_CASE("quant: e2m1 pins from the OCP MX specification's E2M1 table and round-to-nearest-even") {
  // OCP Microscaling Formats (MX) v1.0, section 5.3.3: E2M1 values 0, 0.5, 1, 1.5, 2, 3, 4, 6.
  const double values[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
  for (int c = 0; c < 16; ++c) CHECK(ref::e2m1_decode(static_cast<std::uint8_t>(c)) == (c & 8 ? -values[c & 7] : values[c & 7]));
  // Ties to even (quant-formats.md's boundary list): 0.25 -> 0, 0.75 -> 1, 1.25 -> 1, 1.75 -> 2,
  // 2.5 -> 2, 3.5 -> 4, 5 -> 4; saturation at 6; the sign bit on top; NaN -> 0x0.
  const std::pair<float, unsigned> pins[] = {{0.25f, 0x0}, {0.75f, 0x2}, {1.25f, 0x2}, {1.75f, 0x4}, {2.5f, 0x4},
                                             {3.5f, 0x6},  {5.0f, 0x6},  {7.0f, 0x7},  {1e30f, 0x7}, {-0.5f, 0x9},
                                             {-0.0f, 0x8}, {-0.1f, 0x8}, {NAN, 0x0},   {-NAN, 0x0},  {INFINITY, 0x7},
                                             {-INFINITY, 0xf}, {0.2500001f, 0x1}, {2.4999998f, 0x4}};
  for (const auto& p : pins) {
    CHECK_MESSAGE(ref::e2m1_encode(p.first) == p.second, p.first);
    CHECK_MESSAGE(rg_kernel::rg_e2m1_encode(p.first) == p.second, p.first);
  }
}

TEST_CASE("quant: e8m0 scale rules against the reference, with pins") {
  const MxRound rules[] = {MxRound::Rceil, MxRound::Floor, MxRound::Even};
  long long failures = 0;
  for (int r = 0; r < 3; ++r) {
    auto check = [&](float a) {
      const unsigned k = rg_kernel::rg_e8m0_scale(a, r), w = ref::e8m0_scale(a, rules[r]);
      if (k != w && failures++ < 5)
        FAIL_CHECK("rule " << r << ", amax " << std::hexfloat << a << ": " << k << " vs reference " << w);
    };
    for (unsigned h = 0; h < 32768; ++h) {  // amax is never NaN (NaN is left out of it)
      if (!std::isnan(bf16(h))) check(bf16(h));
      if (!std::isnan(f16(h))) check(f16(h));
    }
    check(INFINITY);
    for (std::uint64_t u = 0; u < 0x7f800000ull; u += 4099) check(f32(static_cast<std::uint32_t>(u)));
  }
  CHECK(failures == 0);
  // Worked examples from the published rules (quant-formats.md, AITER mx_quant_utils.h and the
  // OCP MX v1.0 spec, section 6.3): rceil takes amax * fp32(1/6) = 0x3E2AAAAB.
  CHECK(ref::e8m0_scale(6.0f, MxRound::Rceil) == 127);   // 6 * 0.16666667 rounds to 1.0: 2^0
  CHECK(ref::e8m0_scale(6.1f, MxRound::Rceil) == 128);   // 1.0166: 2^1
  CHECK(ref::e8m0_scale(0.0f, MxRound::Rceil) == 0);     // a zero group: scale byte 0 (AITER's generic quantizer)
  CHECK(ref::e8m0_scale(7.0f, MxRound::Floor) == 127);   // floor_pow2(7) = 4, / 4 = 1
  CHECK(ref::e8m0_scale(7.0f, MxRound::Even) == 128);    // 7 = 1.75 * 4 rounds up to 8, / 4 = 2
  CHECK(ref::e8m0_scale(6.5f, MxRound::Even) == 127);    // 1.625 * 4 stays 4, / 4 = 1
  CHECK(ref::e8m0_scale(1.0f, MxRound::Floor) == 125);   // 1 / 4 = 2^-2
  CHECK(ref::e8m0_scale(INFINITY, MxRound::Rceil) == 254);  // 255 is e8m0's NaN: clamped
}

TEST_CASE("quant: every format's groups against the reference, bit for bit") {
  std::mt19937_64 rng(7);
  for (const Instance& in : instances()) {
    const std::string name = in.name;
    CAPTURE(name);
    const int n = in.format.group;
    long long failures = 0;
    auto check = [&](const std::vector<float>& x, float gs) {
      const std::string m = compare(in, x, gs);
      if (!m.empty() && failures++ < 5) FAIL_CHECK(m);
    };
    const bool nv = in.format.kind == ref::QuantKind::Nvfp4;
    // Every bf16 value in a group with companions at three scales (the value may set amax,
    // or sit far below it, or saturate), for nvfp4 with two global scales.
    const float companions[3] = {0.75f, 3.0f, 300.0f};
    for (unsigned h = 0; h < 65536; ++h) {
      const float v = bf16(h);
      for (int c = 0; c < 3; ++c) {
        std::vector<float> x(static_cast<size_t>(n));
        for (int i = 0; i < n; ++i) x[i] = companions[c] * (i % 2 ? -1.0f : 1.0f) * static_cast<float>(i % 5) / 4.0f;
        x[static_cast<size_t>(h % n)] = v;
        check(x, nv ? (c == 1 ? 0.02f : 1.0f) : 1.0f);
      }
    }
    // Special groups.
    const float tiny = std::numeric_limits<float>::denorm_min();
    const std::vector<std::vector<float>> special = {
        std::vector<float>(static_cast<size_t>(n), 0.0f),   std::vector<float>(static_cast<size_t>(n), -0.0f),
        std::vector<float>(static_cast<size_t>(n), NAN),    std::vector<float>(static_cast<size_t>(n), tiny),
        std::vector<float>(static_cast<size_t>(n), 1e38f),  std::vector<float>(static_cast<size_t>(n), -3.0f),
    };
    for (const auto& x : special) check(x, 0.5f);
    std::vector<float> mixed(static_cast<size_t>(n), 1.0f);
    mixed[0] = NAN;
    mixed[1] = INFINITY;
    mixed[2] = -INFINITY;
    mixed[3] = -0.0f;
    check(mixed, 1.0f);
    mixed[0] = f32(0x7fa00000u);  // a signaling NaN is left out too
    mixed[1] = 1.5f;
    mixed[2] = -0.25f;
    check(mixed, 1.0f);
    // nvfp4's guards: a global scale of 0, negative, NaN, inf; saturating block scales.
    if (nv)
      for (float gs : {0.0f, -1.0f, NAN, INFINITY, 1e-6f, 1e6f}) check(std::vector<float>(static_cast<size_t>(n), 2.0f), gs);
    // Random groups of normal values at many magnitudes.
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (int t = 0; t < 3000; ++t) {
      std::vector<float> x(static_cast<size_t>(n));
      const float m = std::ldexp(1.0f, static_cast<int>(rng() % 40) - 20);
      for (float& v : x) v = normal(rng) * m;
      check(x, nv ? std::ldexp(1.0f, static_cast<int>(rng() % 20) - 10) : 1.0f);
    }
    CHECK(failures == 0);
  }
}

TEST_CASE("quant: nvfp4 recipe trtllm: TensorRT-LLM's order, the reciprocal's inputs and its guard") {
  // cvt_warp_fp16_to_fp4 (TensorRT-LLM, FlashInfer's copy of quantization_utils.cuh) with
  // SFScaleVal = enc = 1 / gs: sf = enc * (amax * rcp(6)), sfq = e4m3(sf), inv = rcp(sfq *
  // rcp(enc)) where amax != 0. The reference asks for exactly those three reciprocals.
  std::vector<float> asked;
  ref::QuantFormat f = trtllm(nullptr);
  f.rcp = [&asked](float x) {
    asked.push_back(x);
    return 1.0f / x;
  };
  std::vector<float> x(16, 0.0f);
  x[0] = 3.0f;
  x[1] = -1.0f;
  x[2] = 0.5f;
  const ref::QuantGroup g = ref::quantize_group(f, x.data(), 16, 0.5f);
  // enc = 2; sf = 2 * (3 * fp32(1/6)) = 1 (e4m3 0x38); inv = 1 / (1 * (1 / 2)) = 2.
  REQUIRE(asked.size() == 3);
  CHECK(asked[0] == 6.0f);
  CHECK(asked[1] == 2.0f);
  CHECK(asked[2] == 0.5f);
  CHECK(g.scale_bits == 0x38u);
  CHECK(g.codes[0] == 0x7u);  // 6
  CHECK(g.codes[1] == 0xcu);  // -2
  CHECK(g.codes[2] == 0x2u);  // 1
  CHECK(g.codes[3] == 0x0u);
  // The guard is amax != 0, not sfq != 0: a group whose block scale rounds to 0 gets inv =
  // rcp(0) = inf, so its nonzero values code as +-6 and its zeros (0 * inf is NaN) as 0x0;
  // recipe exact writes scale 0 and codes 0 there.
  std::vector<float> small(16, 0.0f);
  small[0] = 1e-5f;
  small[1] = -1e-5f;
  const ref::QuantGroup t = ref::quantize_group(f, small.data(), 16, 1.0f);
  CHECK(t.scale_bits == 0u);
  CHECK(t.codes[0] == 0x7u);
  CHECK(t.codes[1] == 0xfu);
  CHECK(t.codes[2] == 0x0u);
  ref::QuantFormat exact = f;
  exact.recipe = ropegen::Nvfp4Recipe::Exact;
  const ref::QuantGroup e = ref::quantize_group(exact, small.data(), 16, 1.0f);
  CHECK(e.scale_bits == 0u);
  CHECK(e.codes[0] == 0x0u);
  CHECK(e.codes[1] == 0x8u);  // -1e-5 * 0 = -0.0: the sign kept
  // A global scale that is not > 0: scale 0 and codes of zero (x * 0, signed), as recipe exact.
  for (float gs : {0.0f, -1.0f, NAN}) {
    const ref::QuantGroup z = ref::quantize_group(f, x.data(), 16, gs);
    const ref::QuantGroup ze = ref::quantize_group(exact, x.data(), 16, gs);
    CHECK(z.scale_bits == 0u);
    CHECK(z.codes == ze.codes);
    for (std::uint8_t c : z.codes) CHECK((c & 7u) == 0u);
  }
  // The codec (templates/quant.h) agrees, with the same reciprocal.
  g_rcp = rcp_ieee;
  const Result k = run_codec(codecs::nvfp4_trtllm, small, 1.0f);
  CHECK(k.bits == 0u);
  CHECK(k.codes[0] == 0x7u);
  CHECK(k.codes[1] == 0xfu);
  CHECK(k.codes[2] == 0x0u);
  // Without the reciprocal the reference refuses rather than guess.
  const ref::QuantFormat none = trtllm(nullptr);
  CHECK_THROWS(ref::quantize_group(none, x.data(), 16, 0.5f));
}

TEST_CASE("quant: pinned groups from the published formulas") {
  const auto& in = instances();
  auto find = [&](const char* name) -> const Instance& {
    for (const auto& i : in)
      if (std::string(i.name) == name) return i;
    return in.front();
  };
  // vLLM's per-token-head int8 (quant-formats.md: s = max(amax / 127, 1e-6), q = x * (1 / s),
  // converted by truncation in its Triton store): amax 127 gives s = 1 exactly.
  {
    std::vector<float> x(64, 0.0f);
    x[0] = 127.0f;
    x[1] = 3.5f;
    x[2] = -2.5f;
    x[3] = 300.0f;  // saturates (amax is then 300, so pin separately below)
    x[3] = 0.0f;
    const Result rne = find("int8 rne").run(x, 1), tr = find("int8 trunc").run(x, 1), rha = find("int8 rha").run(x, 1);
    CHECK(rne.bits == 0x3f800000u);
    CHECK(rne.codes[1] == 4);
    CHECK(rne.codes[2] == 0xfe);  // -2
    CHECK(tr.codes[1] == 3);
    CHECK(tr.codes[2] == 0xfe);  // -2
    CHECK(rha.codes[1] == 4);
    CHECK(rha.codes[2] == 0xfd);  // -3
    CHECK(rne.codes[0] == 127);
  }
  // A zero head: s = 1e-6 (vLLM's floor), all codes 0.
  {
    const Result r = find("int8 rne").run(std::vector<float>(64, 0.0f), 1);
    CHECK(r.bits == rg_as_uint(1e-6f));
    for (auto c : r.codes) CHECK(c == 0);
  }
  // vLLM's int4: values {-1, 2}: s = 3 / 15 = fp32 0.2, zp = rha(1 / 0.2) = 5; 2 -> 15, -1 -> 0;
  // the stored scale is s with zp in its low 4 bits.
  {
    std::vector<float> x(64, 0.5f);
    x[0] = -1.0f;
    x[1] = 2.0f;
    const Result r = find("int4 rha").run(x, 1);
    CHECK(r.bits == ((rg_as_uint(0.2f) & ~0xfu) | 5u));
    CHECK(r.codes[0] == 0);
    CHECK(r.codes[1] == 15);
    CHECK(r.codes[2] == 8);  // 0.5 / 0.2 = 2.5 + 5 = 7.5 -> rha 8
  }
  // The fp32 rha rule: t + 0.5 rounds in fp32 first (0.49999997 + 0.5 = 1.0 in fp32), so a
  // value just below a half rounds up, as vLLM's formula does.
  {
    std::vector<float> x(64, 0.0f);
    x[0] = 127.0f;
    x[1] = 0.49999997f;
    CHECK(find("int8 rha").run(x, 1).codes[1] == 1);
    CHECK(find("int8 rne").run(x, 1).codes[1] == 0);
  }
  // FlashInfer's NVFP4 append (page.cuh), recipe exact: gs = 0.5, amax = 3: sf = 3 / (6 * 0.5)
  // = 1 -> e4m3 0x38; inv = 1 / (1 * 0.5) = 2; 3 -> 6 (0x7), -1.1 -> -2.2 -> -2 (0xc),
  // 0.3 -> 0.6 -> 0.5 (0x1).
  {
    std::vector<float> x(16, 0.0f);
    x[0] = 3.0f;
    x[1] = -1.1f;
    x[2] = 0.3f;
    const Result r = find("nvfp4").run(x, 0.5f);
    CHECK(r.bits == 0x38u);
    CHECK(r.codes[0] == 0x7);
    CHECK(r.codes[1] == 0xc);
    CHECK(r.codes[2] == 0x1);
    CHECK(r.codes[3] == 0x0);
  }
  // OCP MX v1.0 with the floor rule: amax 6 -> scale 2^(floor(log2 6) - 2) = 1; 6 -> code 7,
  // 2.9 -> 3 (code 5).
  {
    std::vector<float> x(32, 0.0f);
    x[0] = 6.0f;
    x[1] = -2.9f;
    const Result r = find("mxfp4 floor").run(x, 1);
    CHECK(r.bits == 127u);
    CHECK(r.codes[0] == 0x7);
    CHECK(r.codes[1] == 0xd);
  }
}

TEST_CASE("quant: round trip within each format's bound (reported per format)") {
  std::mt19937_64 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const Instance& in : instances()) {
    const ref::QuantFormat& f = in.format;
    double worst = 0;  // |x - dequantize(quantize(x))| / amax of the group
    for (int t = 0; t < 2000; ++t) {
      std::vector<float> x(static_cast<size_t>(f.group));
      double amax = 0;
      for (float& v : x) {
        v = normal(rng);
        amax = std::max(amax, std::fabs(static_cast<double>(v)));
      }
      const float gs = 1.0f / 448;
      const ref::QuantGroup q = ref::quantize_group(f, x.data(), f.group, gs);
      const double s = ref::scale_value(f, q.scale_bits, gs);
      for (int i = 0; i < f.group; ++i) {
        const double d = ref::dequantize(f, q.codes[i], q.scale_bits, gs);
        const double err = std::fabs(d - x[i]);
        // Half a step of the code grid at the value (a whole step for truncation), plus what
        // saturation cuts off, plus for int4 the zero point's half step.
        const double tt = std::fabs(x[i]) / s;
        double bound = s * ref::code_step(f, std::min(tt, ref::code_max(f))) *
                       (f.round == QuantRound::Trunc ? 1.0 : 0.5) + s * std::max(0.0, tt - ref::code_max(f));
        if (f.kind == ref::QuantKind::Int4) bound = s;  // the zero point's rounding adds half a step
        CHECK_MESSAGE(err <= bound * (1 + 1e-6), in.name << " value " << x[i] << " -> " << d);
        worst = std::max(worst, err / amax);
      }
    }
    MESSAGE(std::string(in.name) << ": round trip |x - dq(q(x))| <= " << worst << " * amax of the group (2000 normal groups)");
  }
}
