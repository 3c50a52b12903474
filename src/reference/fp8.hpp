// fp8 storage formats in the reference: decoding written from the format definitions
// (rope-math.md, "fp8 formats"), encoding by nearest-value search over the decoded table.
// Shares no code with templates/fp8.h (the kernels' integer converters): the tests check
// one against the other.
#pragma once

#include <cstdint>

namespace ropegen::reference {

/// The four fp8 formats a KV cache may use.
enum class Fp8Format {
  E4M3,      ///< OCP e4m3 ("e4m3fn"): bias 7, no inf, NaN = S.1111.111, largest 448
  E5M2,      ///< OCP e5m2: bias 15, IEEE-like (inf S.11111.00, NaN S.11111.xx), largest 57344
  E4M3Fnuz,  ///< AMD gfx942 e4m3fnuz: bias 8, largest 240, 0x80 the only NaN, no -0
  E5M2Fnuz,  ///< AMD gfx942 e5m2fnuz: bias 16, largest 57344, 0x80 the only NaN, no -0
};

const char* to_string(Fp8Format f);

/// The exact value of a code: +-inf and NaN where the format has them (NaN of either sign
/// for OCP's S.1111.111 / S.11111.xx; 0x80 is NaN in FNUZ).
double fp8_decode(Fp8Format f, std::uint8_t code);

/// saturate(round_nearest_even(x)) as a code:
/// - the nearest finite value, a tie going to the code whose mantissa is even;
/// - |x| beyond the largest finite value, and +-inf, give the largest finite value of x's sign;
/// - NaN (any sign or payload) gives the canonical NaN: 0x7f for OCP (e4m3 and e5m2; what
///   NVIDIA's cvt.rn.satfinite writes), 0x80 for FNUZ;
/// - a result of zero keeps x's sign in OCP (-0.0 and negatives that round to zero give
///   0x80), and is 0x00 in FNUZ, which has no -0 (its 0x80 is NaN).
std::uint8_t fp8_encode(Fp8Format f, double x);

/// Largest finite value; the code of +max; the canonical NaN code.
double fp8_max(Fp8Format f);
std::uint8_t fp8_max_code(Fp8Format f);
std::uint8_t fp8_nan_code(Fp8Format f);

}  // namespace ropegen::reference
