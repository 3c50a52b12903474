// fp8 formats: the reference (src/reference/fp8.cpp) against the format definitions, and
// the kernels' integer converters (templates/fp8.h, compiled here as plain C++ with the
// host prelude's names) against the reference, bit for bit.
//   decode: all 256 codes of each format against a third formula written here, plus pins;
//   encode: every midpoint between adjacent codes +-64 float ulps, every code +-64 ulps,
//   saturation, NaN, inf, zeros; then every 256th float bit pattern (2^24 per format).
//   ROPEGEN_TEST_FP8_EXHAUSTIVE=1 checks all 2^32 float bit patterns of every format.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "reference/fp8.hpp"

#include "host_names.hpp"
#include "../../templates/fp8.h"
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
