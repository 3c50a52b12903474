#include "reference/fp8.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

namespace ropegen::reference {
namespace {

/// A format's fields as its definition states them.
struct Fields {
  int exponent_bits, mantissa_bits, bias;
  bool fnuz;  ///< 0x80 is the only NaN, no -0, no inf, every other top exponent is finite
};

Fields fields(Fp8Format f) {
  switch (f) {
    case Fp8Format::E4M3: return {4, 3, 7, false};
    case Fp8Format::E5M2: return {5, 2, 15, false};
    case Fp8Format::E4M3Fnuz: return {4, 3, 8, true};
    case Fp8Format::E5M2Fnuz: return {5, 2, 16, true};
  }
  return {4, 3, 7, false};
}

/// The finite codes sorted by value; a zero is listed once, as 0x00.
struct Table {
  std::vector<double> value;
  std::vector<std::uint8_t> code;
};

const Table& table(Fp8Format f) {
  static const std::array<Table, 4> tables = [] {
    std::array<Table, 4> t;
    for (int i = 0; i < 4; ++i) {
      std::vector<std::pair<double, std::uint8_t>> v;
      for (int c = 0; c < 256; ++c) {
        const double x = fp8_decode(static_cast<Fp8Format>(i), static_cast<std::uint8_t>(c));
        if (std::isfinite(x) && !(x == 0 && c != 0)) v.push_back({x, static_cast<std::uint8_t>(c)});
      }
      std::sort(v.begin(), v.end());
      for (const auto& p : v) {
        t[i].value.push_back(p.first);
        t[i].code.push_back(p.second);
      }
    }
    return t;
  }();
  return tables[static_cast<int>(f)];
}

}  // namespace

const char* to_string(Fp8Format f) {
  switch (f) {
    case Fp8Format::E4M3: return "e4m3";
    case Fp8Format::E5M2: return "e5m2";
    case Fp8Format::E4M3Fnuz: return "e4m3fnuz";
    case Fp8Format::E5M2Fnuz: return "e5m2fnuz";
  }
  return "?";
}

double fp8_decode(Fp8Format f, std::uint8_t code) {
  const Fields d = fields(f);
  const int sign = code >> 7;
  const int e = (code >> d.mantissa_bits) & ((1 << d.exponent_bits) - 1);
  const int m = code & ((1 << d.mantissa_bits) - 1);
  const int top = (1 << d.exponent_bits) - 1;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (d.fnuz) {
    if (code == 0x80) return nan;
  } else if (d.exponent_bits == 4) {
    if (e == top && m == (1 << d.mantissa_bits) - 1) return sign ? -nan : nan;  // S.1111.111
  } else if (e == top) {  // e5m2: IEEE-like
    if (m != 0) return sign ? -nan : nan;
    return sign ? -HUGE_VAL : HUGE_VAL;
  }
  // Subnormals (e == 0) have the exponent of the smallest normal and no implicit 1.
  const double magnitude = e == 0 ? std::ldexp(m, 1 - d.bias - d.mantissa_bits)
                                  : std::ldexp((1 << d.mantissa_bits) + m, e - d.bias - d.mantissa_bits);
  return sign ? -magnitude : magnitude;
}

double fp8_max(Fp8Format f) { return table(f).value.back(); }
std::uint8_t fp8_max_code(Fp8Format f) { return table(f).code.back(); }
std::uint8_t fp8_nan_code(Fp8Format f) { return fields(f).fnuz ? 0x80 : 0x7f; }

std::uint8_t fp8_encode(Fp8Format f, double x) {
  if (std::isnan(x)) return fp8_nan_code(f);
  const Table& t = table(f);
  if (x >= t.value.back()) return t.code.back();
  if (x <= t.value.front()) return t.code.front();
  // t.value[hi - 1] < x <= t.value[hi]: the nearest of the two, a tie to the even code.
  const size_t hi = static_cast<size_t>(std::lower_bound(t.value.begin(), t.value.end(), x) - t.value.begin());
  const size_t lo = hi - 1;
  const double below = x - t.value[lo], above = t.value[hi] - x;
  size_t pick = below < above ? lo : above < below ? hi : (t.code[lo] % 2 == 0 ? lo : hi);
  if (t.value[pick] == 0 && std::signbit(x) && !fields(f).fnuz) return 0x80;  // -0 and tiny negatives
  return t.code[pick];
}

}  // namespace ropegen::reference
