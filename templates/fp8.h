// fp8 storage (rope-math.md, "fp8 formats"): fp32 -> code is saturate(round_nearest_even(x)),
// code -> fp32 is exact. Four formats: OCP e4m3 (e4m3fn) and e5m2; FNUZ e4m3fnuz and
// e5m2fnuz (AMD gfx942). For every float input the encoders give:
//   - the nearest finite value; a tie goes to the even code (mantissa LSB 0);
//   - beyond the largest finite value, and +-inf: the largest finite value of that sign
//     (as NVIDIA's cvt.rn.satfinite; e5m2's inf code is never written);
//   - NaN of any sign or payload: 0x7f in OCP formats, 0x80 in FNUZ;
//   - a zero result keeps the sign in OCP (-0.0 and negatives that round to zero give
//     0x80) and is 0x00 in FNUZ, which has no -0 (its 0x80 is NaN).
// The integer code here (rg_fp8_soft_*) is portable. Where the vendor's convert_fp8_*.h
// (pasted before this header) has instructions for the target, it defines RG_FP8_HW_OCP
// or RG_FP8_HW_FNUZ and rg_fp8_hw_encode2_<format>, which give the same codes; the public
// rg_fp8_encode_* use them. tests/unit/test_reference.cpp checks the integer code against
// src/reference/fp8.cpp; tests/compile/test_fp8_kernels.cpp checks instructions against it.

// Format constants: mantissa bits, bias, largest finite magnitude code, the NaN code and
// whether the format is FNUZ (no -0, 0x80 the only NaN) or OCP e5m2 (inf at 0x7c).
#define RG_FP8_E4M3 3, 7, 0x7eu, 0x7fu, false, false
#define RG_FP8_E5M2 2, 15, 0x7bu, 0x7fu, false, true
#define RG_FP8_E4M3FNUZ 3, 8, 0x7fu, 0x80u, true, false
#define RG_FP8_E5M2FNUZ 2, 16, 0x7fu, 0x80u, true, false

template <int M, int BIAS, unsigned MAX, unsigned NAN_CODE, bool FNUZ, bool IEEE>
RG_DEVICE unsigned rg_fp8_soft_encode(float x) {
  const unsigned u = rg_as_uint(x);
  const unsigned a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return NAN_CODE;
  unsigned mag = 0;  // float zeros and subnormals are far below half the smallest fp8 subnormal
  if (a >= 0x00800000u) {
    const int e = static_cast<int>(a >> 23) - 127 + BIAS;  // the fp8 biased exponent, if normal
    const unsigned sig = (a & 0x7fffffu) | 0x800000u;       // 24-bit significand
    // Bits of sig below the fp8 mantissa: 23 - M, and 1 - e more where the result is subnormal.
    const int shift = 23 - M + (e < 1 ? 1 - e : 0);
    if (shift <= 24) {  // else below half the smallest subnormal: zero
      const unsigned q = sig >> shift, rest = sig & ((1u << shift) - 1u), half = 1u << (shift - 1);
      const unsigned r = q + ((rest > half || (rest == half && (q & 1u))) ? 1u : 0u);
      // A carry out of the mantissa moves to the next binade (or subnormal -> normal) by itself.
      mag = e < 1 ? r : (static_cast<unsigned>(e) << M) + r - (1u << M);
    }
    if (mag > MAX) mag = MAX;  // finite overflow and inf saturate
  }
  if (FNUZ && mag == 0) return 0u;
  return ((u >> 24) & 0x80u) | mag;
}

template <int M, int BIAS, unsigned MAX, unsigned NAN_CODE, bool FNUZ, bool IEEE>
RG_DEVICE float rg_fp8_soft_decode(unsigned code) {
  code &= 0xffu;
  const unsigned sign = (code & 0x80u) << 24, mag = code & 0x7fu;
  if (FNUZ ? code == 0x80u : mag > MAX) {
    // OCP: e4m3's S.1111.111, e5m2's S.11111.xx (inf at xx = 00); FNUZ: 0x80.
    return rg_as_float(sign | (IEEE && mag == 0x7cu ? 0x7f800000u : 0x7fc00000u));
  }
  const unsigned e = mag >> M, m = mag & ((1u << M) - 1u);
  if (e == 0) {  // subnormal: m * 2^(1 - BIAS - M), exact in fp32
    const float v = static_cast<float>(m) * rg_as_float(static_cast<unsigned>(127 + 1 - BIAS - M) << 23);
    return rg_as_float(sign | rg_as_uint(v));
  }
  return rg_as_float(sign | ((e + 127u - BIAS) << 23) | (m << (23 - M)));
}

// Public names: rg_fp8_encode_<format>(x), rg_fp8_encode2_<format>(lo, hi) = two codes
// packed as lo | hi << 8 (what the instructions convert at once), rg_fp8_decode_<format>.
// The vendor header defines the encode2 of the formats its target converts in hardware.
#ifndef RG_FP8_HW_OCP
RG_DEVICE unsigned rg_fp8_encode2_e4m3(float lo, float hi) {
  return rg_fp8_soft_encode<RG_FP8_E4M3>(lo) | rg_fp8_soft_encode<RG_FP8_E4M3>(hi) << 8;
}
RG_DEVICE unsigned rg_fp8_encode2_e5m2(float lo, float hi) {
  return rg_fp8_soft_encode<RG_FP8_E5M2>(lo) | rg_fp8_soft_encode<RG_FP8_E5M2>(hi) << 8;
}
#endif
#ifndef RG_FP8_HW_FNUZ
RG_DEVICE unsigned rg_fp8_encode2_e4m3fnuz(float lo, float hi) {
  return rg_fp8_soft_encode<RG_FP8_E4M3FNUZ>(lo) | rg_fp8_soft_encode<RG_FP8_E4M3FNUZ>(hi) << 8;
}
RG_DEVICE unsigned rg_fp8_encode2_e5m2fnuz(float lo, float hi) {
  return rg_fp8_soft_encode<RG_FP8_E5M2FNUZ>(lo) | rg_fp8_soft_encode<RG_FP8_E5M2FNUZ>(hi) << 8;
}
#endif
RG_DEVICE unsigned rg_fp8_encode_e4m3(float x) { return rg_fp8_encode2_e4m3(x, x) & 0xffu; }
RG_DEVICE unsigned rg_fp8_encode_e5m2(float x) { return rg_fp8_encode2_e5m2(x, x) & 0xffu; }
RG_DEVICE unsigned rg_fp8_encode_e4m3fnuz(float x) { return rg_fp8_encode2_e4m3fnuz(x, x) & 0xffu; }
RG_DEVICE unsigned rg_fp8_encode_e5m2fnuz(float x) { return rg_fp8_encode2_e5m2fnuz(x, x) & 0xffu; }
RG_DEVICE float rg_fp8_decode_e4m3(unsigned code) { return rg_fp8_soft_decode<RG_FP8_E4M3>(code); }
RG_DEVICE float rg_fp8_decode_e5m2(unsigned code) { return rg_fp8_soft_decode<RG_FP8_E5M2>(code); }
RG_DEVICE float rg_fp8_decode_e4m3fnuz(unsigned code) { return rg_fp8_soft_decode<RG_FP8_E4M3FNUZ>(code); }
RG_DEVICE float rg_fp8_decode_e5m2fnuz(unsigned code) { return rg_fp8_soft_decode<RG_FP8_E5M2FNUZ>(code); }
