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
#include <cmath>
#include <cstdint>
#include <cstring>
#include <ios>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "reference/quant.hpp"

#include "host_names.hpp"
#include "../../templates/fp8.h"

#include "../../templates/quant.h"
#undef RG_DEVICE

// One codec per format and parameters, as codegen binds them: kind, bits, group, round
// (rne, trunc, rha), mx rule (rceil, floor, even), qmax, floor, fp8 format, scale bytes.
namespace codecs {
constexpr rg_codec int8_rne{1, 8, 64, 0, 0, 127.0f, 1e-6f, 0, 4}, int8_trunc{1, 8, 64, 1, 0, 127.0f, 1e-6f, 0, 4},
    int8_rha{1, 8, 64, 2, 0, 127.0f, 1e-6f, 0, 4}, int4_rha{2, 4, 64, 2, 0, 15.0f, 1e-6f, 0, 4},
    int4_rne{2, 4, 64, 0, 0, 15.0f, 1e-6f, 0, 4}, fp8_e4m3{3, 8, 64, 0, 0, 448.0f, 1e-6f, 0, 4},
    fp8_e5m2{3, 8, 64, 0, 0, 57344.0f, 1e-6f, 1, 4}, fp8_e4m3fnuz{3, 8, 64, 0, 0, 224.0f, 1e-6f, 2, 4},
    nvfp4{4, 4, 16, 0, 0, 6.0f, 1e-6f, 0, 1}, mx_rceil{5, 4, 32, 0, 0, 6.0f, 1e-6f, 0, 1},
    mx_floor{5, 4, 32, 0, 1, 6.0f, 1e-6f, 0, 1}, mx_even{5, 4, 32, 0, 2, 6.0f, 1e-6f, 0, 1};
}  // namespace codecs


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
  for (float v : x) r.codes.push_back(static_cast<std::uint8_t>(rg_kernel::quant_code(c, v, q)));
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

TEST_CASE("quant: e2m1 encoder against the reference (every bf16, f16, boundary, and a float sweep)") {
  long long failures = 0;
  auto check = [&](float x) {
    const unsigned k = rg_kernel::rg_e2m1_encode(x), r = ref::e2m1_encode(x);
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
