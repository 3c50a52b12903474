// Storage types shared by all kernels. Everything computes in fp32; a value is rounded
// once, to nearest even, when it is stored. The bit conversions (rg_*_bits_*) come from
// the target's convert_*.h: hardware instructions where the target has them, integer code
// elsewhere; all round to nearest even, so every target stores the same bits.

// A stretch of a head row, rotated or copied (codegen lists a row's segments).
struct rg_segment {
  int offset, length;
  bool rotate;
};

struct rg_bf16 { unsigned short bits; };
struct rg_f16 { unsigned short bits; };

RG_DEVICE float rg_to_f32(float x) { return x; }
RG_DEVICE float rg_to_f32(rg_bf16 x) { return rg_bf16_bits_to_f32(x.bits); }
RG_DEVICE float rg_to_f32(rg_f16 x) { return rg_f16_bits_to_f32(x.bits); }
RG_DEVICE void rg_from_f32(float f, float& out) { out = f; }
RG_DEVICE void rg_from_f32(float f, rg_bf16& out) { out.bits = static_cast<unsigned short>(rg_f32_to_bf16_bits(f)); }
RG_DEVICE void rg_from_f32(float f, rg_f16& out) { out.bits = static_cast<unsigned short>(rg_f32_to_f16_bits(f)); }

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

// Two elements' bits in one word (x0 in the low half), for the 16-bit types: the target's
// packed convert where its convert header has one (RG_PACKED_CVT), else two conversions.
#ifndef RG_PACKED_CVT
#define RG_PACKED_CVT 0
RG_DEVICE unsigned rg_f32x2_to_bf16x2_bits(float lo, float hi) { return rg_f32_to_bf16_bits(lo) | (rg_f32_to_bf16_bits(hi) << 16); }
RG_DEVICE unsigned rg_f32x2_to_f16x2_bits(float lo, float hi) { return rg_f32_to_f16_bits(lo) | (rg_f32_to_f16_bits(hi) << 16); }
#endif
RG_DEVICE unsigned rg_encode2_bits(float x0, float, const float*) { return rg_as_uint(x0); }  // fp32: one element a word, not called
RG_DEVICE unsigned rg_encode2_bits(float x0, float x1, const rg_bf16*) { return rg_f32x2_to_bf16x2_bits(x0, x1); }
RG_DEVICE unsigned rg_encode2_bits(float x0, float x1, const rg_f16*) { return rg_f32x2_to_f16x2_bits(x0, x1); }

// Packed max and min of the two 16-bit elements of a word (NaN left out), by the storage
// type's tag: the target's instructions where its convert header has them (RG_PACKED_MINMAX),
// else never called (the callers test RG_PACKED_MINMAX, a constant).
#ifndef RG_PACKED_MINMAX
#define RG_PACKED_MINMAX 0
RG_DEVICE unsigned rg_bf16x2_max(unsigned a, unsigned) { return a; }
RG_DEVICE unsigned rg_bf16x2_min(unsigned a, unsigned) { return a; }
RG_DEVICE unsigned rg_f16x2_max(unsigned a, unsigned) { return a; }
RG_DEVICE unsigned rg_f16x2_min(unsigned a, unsigned) { return a; }
#endif
RG_DEVICE unsigned rg_max2_bits(unsigned a, unsigned b, const rg_bf16*) { return rg_bf16x2_max(a, b); }
RG_DEVICE unsigned rg_min2_bits(unsigned a, unsigned b, const rg_bf16*) { return rg_bf16x2_min(a, b); }
RG_DEVICE unsigned rg_max2_bits(unsigned a, unsigned b, const rg_f16*) { return rg_f16x2_max(a, b); }
RG_DEVICE unsigned rg_min2_bits(unsigned a, unsigned b, const rg_f16*) { return rg_f16x2_min(a, b); }
RG_DEVICE unsigned rg_max2_bits(unsigned a, unsigned, const float*) { return a; }  // fp32: one element a word
RG_DEVICE unsigned rg_min2_bits(unsigned a, unsigned, const float*) { return a; }
