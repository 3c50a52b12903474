// Storage types and conversions shared by all kernels. Everything computes in fp32; a
// value is rounded once, to nearest even, when it is stored. The conversions are plain
// integer code so every target (GPU or host) rounds bit-identically.

struct rg_bf16 { unsigned short bits; };
struct rg_f16 { unsigned short bits; };

RG_DEVICE float rg_to_f32(float x) { return x; }
RG_DEVICE float rg_to_f32(rg_bf16 x) { return rg_as_float(static_cast<unsigned>(x.bits) << 16); }
RG_DEVICE float rg_to_f32(rg_f16 x) {
  const unsigned sign = (static_cast<unsigned>(x.bits) & 0x8000u) << 16;
  const unsigned e = (x.bits >> 10) & 0x1fu;
  const unsigned m = x.bits & 0x3ffu;
  if (e == 0) {  // zero or subnormal: m * 2^-24
    const float v = static_cast<float>(m) * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  if (e == 31) return rg_as_float(sign | 0x7f800000u | (m << 13));
  return rg_as_float(sign | ((e + 112u) << 23) | (m << 13));
}

RG_DEVICE void rg_from_f32(float f, float& out) { out = f; }
RG_DEVICE void rg_from_f32(float f, rg_bf16& out) {
  const unsigned x = rg_as_uint(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) {  // NaN stays a quiet NaN
    out.bits = static_cast<unsigned short>((x >> 16) | 0x40u);
    return;
  }
  out.bits = static_cast<unsigned short>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}
RG_DEVICE void rg_from_f32(float f, rg_f16& out) {
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
  out.bits = static_cast<unsigned short>(sign | h);
}

// Element <-> bits of its storage type, selected by a tag pointer so one template body
// serves every dtype.
RG_DEVICE float rg_decode_bits(unsigned b, const float*) { return rg_as_float(b); }
RG_DEVICE float rg_decode_bits(unsigned b, const rg_bf16*) { return rg_to_f32(rg_bf16{static_cast<unsigned short>(b)}); }
RG_DEVICE float rg_decode_bits(unsigned b, const rg_f16*) { return rg_to_f32(rg_f16{static_cast<unsigned short>(b)}); }
RG_DEVICE unsigned rg_encode_bits(float x, const float*) { return rg_as_uint(x); }
RG_DEVICE unsigned rg_encode_bits(float x, const rg_bf16*) {
  rg_bf16 e;
  rg_from_f32(x, e);
  return e.bits;
}
RG_DEVICE unsigned rg_encode_bits(float x, const rg_f16*) {
  rg_f16 e;
  rg_from_f32(x, e);
  return e.bits;
}
