// Quantized cache formats in the reference (quant-formats.md): int8 and int4 with a scale per
// (token, head), fp8 with a scale per (token, head), NVFP4 and MXFP4. Written from the
// formulas, sharing no code with templates/quant.h: e2m1 by nearest-value search over its
// eight magnitudes, e4m3 by src/reference/fp8.cpp's search, e8m0 exponents from frexp, the
// integer roundings from the C library. The operations the formats do in fp32 (the scale's
// division, the reciprocal, x * inv) are done in fp32 here too, in the same order: that order
// decides the bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "fp8.hpp"
#include "ropegen/spec.hpp"

namespace ropegen::reference {

enum class QuantKind { Int8, Int4, Fp8, Nvfp4, Mxfp4 };

/// One quantized cache format with its parameters.
struct QuantFormat {
  QuantKind kind = QuantKind::Int8;
  Fp8Format fp8 = Fp8Format::E4M3;  ///< Fp8: the element format
  QuantRound round = QuantRound::Rne;
  MxRound scale_round = MxRound::Rceil;
  float floor = 1e-6f;  ///< int8, int4, fp8: the smallest scale
  float qmax = 127;     ///< int8, fp8: amax / qmax is the scale
  int group = 0;        ///< elements per scale
  int bits = 8;         ///< per code
  int scale_bytes = 4;  ///< f32 (int8, int4, fp8) or 1 (an e4m3 or e8m0 byte)
  bool divide = false;  ///< fp8: codes of x / s (vLLM's fp8_ds_mla) instead of x * (1 / s)
  Nvfp4Recipe recipe = Nvfp4Recipe::Exact;  ///< nvfp4
  /// nvfp4 recipe = trtllm: the approximate reciprocal (NVIDIA's rcp.approx.ftz.f32), given
  /// as a function because the host cannot compute it: src/verify passes the values the
  /// device returned; the unit tests pass functions of their own. Unset: quantize_group
  /// throws Error(Internal) for that recipe.
  std::function<float(float)> rcp;
};

/// The format of a spec's cache (quantized_cache(spec) must hold); `fp8` is the element
/// format the target stores for an fp8 cache_dtype.
QuantFormat quant_format(const KernelSpec& spec, Fp8Format fp8);
/// The format of q_out with q_scales = per_token_head: `fp8` codes, one f32 scale per head row
/// (max(amax / the format's largest value, 1e-6)).
QuantFormat q_quant_format(const KernelSpec& spec, Fp8Format fp8);

/// e2m1: round to the nearest of 0, 0.5, 1, 1.5, 2, 3, 4, 6, a tie to the even code,
/// saturating at 6; the sign from x's sign bit; NaN gives 0.
std::uint8_t e2m1_encode(double x);
double e2m1_decode(std::uint8_t code);
/// The e8m0 byte of a group's amax under an MXFP4 scale rule (quant-formats.md).
std::uint8_t e8m0_scale(float amax, MxRound rule);

/// A quantized group: one code per element (in the low bits) and the scale's stored bits.
struct QuantGroup {
  std::vector<std::uint8_t> codes;
  std::uint32_t scale_bits = 0;
};

/// Quantizes n values (the row's values as the kernel holds them: exact in fp32). `gs`: the
/// global scale (nvfp4).
QuantGroup quantize_group(const QuantFormat& f, const float* x, int n, float gs);

/// The value a code stands for, given the group's stored scale bits.
double dequantize(const QuantFormat& f, std::uint8_t code, std::uint32_t scale_bits, float gs);

/// The decode scale (the value of one code step at 1: s, sf * gs or 2^(e - 127)) of stored bits.
double scale_value(const QuantFormat& f, std::uint32_t scale_bits, float gs);

/// The largest magnitude a code reaches, in units of the scale (127, 7.5-ish for int4 is
/// 15, the fp8 format's largest value, 6 for e2m1).
double code_max(const QuantFormat& f);

/// The step between neighbouring code values at magnitude t (in units of the scale): 1 for
/// the integers, the format's spacing for fp8 and e2m1.
double code_step(const QuantFormat& f, double t);

}  // namespace ropegen::reference
