// f16 <-> fp32 in integer code (the host target; exact IEEE rounding to nearest even).
RG_DEVICE float rg_f16_bits_to_f32(unsigned b) {
  const unsigned sign = (b & 0x8000u) << 16;
  const unsigned e = (b >> 10) & 0x1fu;
  const unsigned m = b & 0x3ffu;
  if (e == 0) {  // zero or subnormal: m * 2^-24
    const float v = static_cast<float>(m) * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  if (e == 31) return rg_as_float(sign | 0x7f800000u | (m << 13));
  return rg_as_float(sign | ((e + 112u) << 23) | (m << 13));
}
RG_DEVICE unsigned rg_f32_to_f16_bits(float f) {
  const unsigned x = rg_as_uint(f);
  const unsigned sign = (x >> 16) & 0x8000u;
  const unsigned ax = x & 0x7fffffffu;
  unsigned h;
  if (ax >= 0x7f800000u) {
    h = ax > 0x7f800000u ? 0x7e00u : 0x7c00u;  // NaN, infinity
  } else if (ax >= 0x477ff000u) {
    h = 0x7c00u;  // at or above 65520: rounds to infinity
  } else if (ax < 0x38800000u) {  // below 2^-14: subnormal half or zero
    if (ax <= 0x33000000u) {
      h = 0;  // at most 2^-25: rounds to zero (2^-25 itself is a tie, to even)
    } else {
      const unsigned shift = 126u - (ax >> 23);
      const unsigned m = (ax & 0x7fffffu) | 0x800000u;
      const unsigned rem = m & ((1u << shift) - 1u);
      const unsigned half = 1u << (shift - 1u);
      h = m >> shift;
      if (rem > half || (rem == half && (h & 1u))) ++h;
    }
  } else {
    const unsigned r = ax - 0x38000000u;  // rebias the exponent from 127 to 15
    h = (r + 0xfffu + ((r >> 13) & 1u)) >> 13;
  }
  return sign | h;
}
