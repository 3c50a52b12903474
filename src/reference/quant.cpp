#include "reference/quant.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "reference/reference.hpp"
#include "ropegen/error.hpp"

namespace ropegen::reference {
namespace {

const double kE2m1[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};

float f32_of_bits(std::uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
std::uint32_t bits_of_f32(float f) {
  std::uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

/// An integer rounding of an fp32 value, as the formats name them; the result in double (so
/// a huge value is no overflow here: the caller clamps).
double round_int(QuantRound r, float t) {
  switch (r) {
    case QuantRound::Rne: return std::nearbyint(static_cast<double>(t));  // default mode: ties to even
    case QuantRound::Trunc: return std::trunc(static_cast<double>(t));
    case QuantRound::Rha: {
      // (t +- 0.5) in fp32, truncated: vLLM's formula, whose fp32 addition rounds first.
      const float u = t < 0 ? t - 0.5f : t + 0.5f;
      return std::trunc(static_cast<double>(u));
    }
  }
  return 0;
}

double clamp(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

}  // namespace

QuantFormat quant_format(const KernelSpec& s, Fp8Format fp8) {
  QuantFormat f;
  f.round = s.codec.round;
  f.scale_round = s.codec.scale_round;
  f.floor = static_cast<float>(s.codec.floor);
  f.group = cache_group(s);
  f.bits = cache_bits(s);
  f.scale_bytes = s.scales == Scales::PerTokenHead ? 4 : 1;
  switch (s.cache_dtype) {
    case StoreType::Int8: f.kind = QuantKind::Int8; f.qmax = 127; break;
    case StoreType::Int4: f.kind = QuantKind::Int4; f.qmax = 15; break;
    case StoreType::Nvfp4: f.kind = QuantKind::Nvfp4; f.qmax = 6; f.recipe = s.codec.recipe; break;
    case StoreType::Mxfp4: f.kind = QuantKind::Mxfp4; f.qmax = 6; break;
    default:
      f.kind = QuantKind::Fp8;
      f.fp8 = fp8;
      f.qmax = static_cast<float>(s.codec.qmax ? s.codec.qmax : fp8_max(fp8));
  }
  return f;
}

QuantFormat q_quant_format(const KernelSpec& s, Fp8Format fp8) {
  QuantFormat f;
  f.kind = QuantKind::Fp8;
  f.fp8 = fp8;
  f.qmax = static_cast<float>(fp8_max(fp8));
  f.group = s.head_dim;
  f.bits = 8;
  f.scale_bytes = 4;
  return f;
}

std::uint8_t e2m1_encode(double x) {
  if (std::isnan(x)) return 0;
  const std::uint8_t sign = std::signbit(x) ? 8 : 0;
  const double a = std::fabs(x);
  if (a >= 6) return static_cast<std::uint8_t>(sign | 7);  // saturated
  int best = 7;
  for (int i = 0; i < 8; ++i) {
    const double d = std::fabs(a - kE2m1[i]), db = std::fabs(a - kE2m1[best]);
    // Nearer, or as near with an even code (the tie rule).
    if (d < db || (d == db && i % 2 == 0 && best % 2 == 1)) best = i;
  }
  return static_cast<std::uint8_t>(sign | best);
}

double e2m1_decode(std::uint8_t code) {
  const double m = kE2m1[code & 7];
  return (code & 8) ? -m : m;
}

std::uint8_t e8m0_scale(float amax, MxRound rule) {
  // The power of two p the rule picks, as its exponent k (p = 2^k); the byte is k + 127,
  // clamped to 0..254.
  long k;
  if (rule == MxRound::Rceil) {
    const float t = amax * (1.0f / 6.0f);  // the product with fp32 1/6
    if (t == 0) return 0;
    if (std::isinf(t)) return 254;
    if (t < std::numeric_limits<float>::min()) return 1;  // a subnormal: exponent field 0, plus one
    int e;
    const double m = std::frexp(static_cast<double>(t), &e);  // t = m 2^e, m in [0.5, 1)
    k = m == 0.5 ? e - 1 : e;                                 // the smallest power of two >= t
  } else {
    if (amax == 0 || amax < std::numeric_limits<float>::min()) return 0;  // zero or subnormal: below 2^-126 / 4
    if (std::isinf(amax)) return 128 - 2 + 127;  // inf's exponent field reads as 2^128: / 4
    int e;
    const double m = std::frexp(static_cast<double>(amax), &e);  // amax = (2m) 2^(e - 1), 2m in [1, 2)
    k = e - 1;                                                   // floor_pow2(amax) = 2^(e - 1)
    if (rule == MxRound::Even && 2 * m >= 1.75) k += 1;          // even: a significand >= 1.75 rounds up
    k -= 2;                                                      // / 4
  }
  return static_cast<std::uint8_t>(clamp(static_cast<double>(k + 127), 0, 254));
}

QuantGroup quantize_group(const QuantFormat& f, const float* x, int n, float gs) {
  QuantGroup g;
  g.codes.resize(static_cast<size_t>(n));
  double amax = 0, mx = -INFINITY, mn = INFINITY;
  for (int i = 0; i < n; ++i) {
    if (std::isnan(x[i])) continue;
    amax = std::max(amax, std::fabs(static_cast<double>(x[i])));
    mx = std::max(mx, static_cast<double>(x[i]));
    mn = std::min(mn, static_cast<double>(x[i]));
  }
  const float famax = static_cast<float>(amax);
  switch (f.kind) {
    case QuantKind::Int8:
    case QuantKind::Fp8: {
      const float s = std::max(famax / f.qmax, f.floor);
      const float inv = 1.0f / s;
      g.scale_bits = bits_of_f32(s);
      for (int i = 0; i < n; ++i) {
        const float t = f.divide ? x[i] / s : x[i] * inv;
        if (f.kind == QuantKind::Fp8) {
          g.codes[i] = fp8_encode(f.fp8, t);
        } else if (std::isnan(t)) {
          g.codes[i] = 0;
        } else {
          const double q = clamp(round_int(f.round, static_cast<float>(clamp(t, -128, 127))), -128, 127);
          g.codes[i] = static_cast<std::uint8_t>(static_cast<int>(q) & 0xff);
        }
      }
      break;
    }
    case QuantKind::Int4: {
      const float hi = mx < mn ? 0.0f : static_cast<float>(mx), lo = mx < mn ? 0.0f : static_cast<float>(mn);
      const float s = std::max((hi - lo) / 15.0f, f.floor);
      const float z = -lo / s;
      const double zp = std::isnan(z) ? 0 : clamp(round_int(f.round, z), 0, 15);
      g.scale_bits = (bits_of_f32(s) & ~0xfu) | static_cast<std::uint32_t>(zp);
      for (int i = 0; i < n; ++i) {
        const float t = x[i] / s + static_cast<float>(zp);
        g.codes[i] = static_cast<std::uint8_t>(std::isnan(t) ? zp : clamp(round_int(f.round, static_cast<float>(clamp(t, 0, 15))), 0, 15));
      }
      break;
    }
    case QuantKind::Nvfp4: {
      if (f.recipe == Nvfp4Recipe::Trtllm) {
        // TensorRT-LLM's order (cvt_warp_fp16_to_fp4): enc = 1 / gs (IEEE); sf = enc * (amax *
        // rcp(6)); sfq = e4m3(sf); inv = rcp(sfq * rcp(enc)), guarded by amax != 0.
        if (!f.rcp) throw Error(ErrorKind::Internal, "reference: nvfp4 recipe = trtllm needs the approximate reciprocal");
        const bool valid = gs > 0;
        const float enc = valid ? 1.0f / gs : 0.0f;
        const float r6 = f.rcp(6.0f);
        const std::uint8_t sfq = valid ? fp8_encode(Fp8Format::E4M3, enc * (famax * r6)) : 0;
        const float sfv = static_cast<float>(fp8_decode(Fp8Format::E4M3, sfq));
        const float inv = valid && famax != 0 ? f.rcp(sfv * f.rcp(enc)) : 0.0f;
        g.scale_bits = sfq;
        for (int i = 0; i < n; ++i) g.codes[i] = e2m1_encode(x[i] * inv);
        break;
      }
      if (f.recipe == Nvfp4Recipe::RoundUp) {
        // vLLM's nvfp4_ds_mla block scale: the smallest e4m3 value at least max(amax / 6, 2^-9)
        // (448 where none is), no global scale.
        const float want = std::max(famax / 6.0f, std::ldexp(1.0f, -9));
        std::uint8_t sfq = 0x7e;
        for (int c = 0x7d; c >= 1; --c)
          if (fp8_decode(Fp8Format::E4M3, static_cast<std::uint8_t>(c)) >= want) sfq = static_cast<std::uint8_t>(c);
        const float inv = 1.0f / static_cast<float>(fp8_decode(Fp8Format::E4M3, sfq));
        g.scale_bits = sfq;
        for (int i = 0; i < n; ++i) g.codes[i] = e2m1_encode(x[i] * inv);
        break;
      }
      const float sf = famax > 0 && gs > 0 ? famax / (6.0f * gs) : 0.0f;
      const std::uint8_t sfq = fp8_encode(Fp8Format::E4M3, sf);
      const float sfv = static_cast<float>(fp8_decode(Fp8Format::E4M3, sfq));
      const float inv = sfv != 0 ? 1.0f / (sfv * gs) : 0.0f;
      g.scale_bits = sfq;
      for (int i = 0; i < n; ++i) g.codes[i] = e2m1_encode(x[i] * inv);
      break;
    }
    case QuantKind::Mxfp4: {
      const std::uint8_t e = e8m0_scale(famax, f.scale_round);
      const float inv = static_cast<float>(std::ldexp(1.0, 127 - e));
      g.scale_bits = e;
      for (int i = 0; i < n; ++i) g.codes[i] = e2m1_encode(x[i] * inv);
      break;
    }
  }
  return g;
}

double scale_value(const QuantFormat& f, std::uint32_t bits, float gs) {
  switch (f.kind) {
    case QuantKind::Int8:
    case QuantKind::Fp8: return f32_of_bits(bits);
    case QuantKind::Int4: return f32_of_bits(bits & ~0xfu);
    case QuantKind::Nvfp4: return fp8_decode(Fp8Format::E4M3, static_cast<std::uint8_t>(bits)) * gs;
    case QuantKind::Mxfp4: return std::ldexp(1.0, static_cast<int>(bits & 0xff) - 127);
  }
  return 0;
}

double dequantize(const QuantFormat& f, std::uint8_t code, std::uint32_t bits, float gs) {
  const double s = scale_value(f, bits, gs);
  switch (f.kind) {
    case QuantKind::Int8: return static_cast<std::int8_t>(code) * s;
    case QuantKind::Int4: return (static_cast<double>(code & 0xf) - static_cast<double>(bits & 0xf)) * s;
    case QuantKind::Fp8: return fp8_decode(f.fp8, code) * s;
    default: return e2m1_decode(code) * s;
  }
}

double code_max(const QuantFormat& f) {
  switch (f.kind) {
    case QuantKind::Int8: return 127;
    case QuantKind::Int4: return 15;
    case QuantKind::Fp8: return fp8_max(f.fp8);
    default: return 6;
  }
}

double code_step(const QuantFormat& f, double t) {
  t = std::fabs(t);
  if (f.kind == QuantKind::Int8 || f.kind == QuantKind::Int4) return 1;
  if (f.kind == QuantKind::Fp8) return fp8_step(f.fp8, t);
  return t < 2 ? 0.5 : t < 4 ? 1 : 2;  // e2m1's spacing above t
}

}  // namespace ropegen::reference
