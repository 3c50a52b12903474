// f16/bf16 <-> fp32 with the hardware convert instructions, rounding to nearest even (bf16:
// sm_80+; before that, integer code).
RG_DEVICE float rg_f16_bits_to_f32(unsigned b) {
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(static_cast<unsigned short>(b)));
  return f;
}
RG_DEVICE unsigned rg_f32_to_f16_bits(float f) {
  unsigned short h;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
  return h;
}
RG_DEVICE float rg_bf16_bits_to_f32(unsigned b) { return __uint_as_float(b << 16); }
RG_DEVICE unsigned rg_f32_to_bf16_bits(float f) {
#if __CUDA_ARCH__ >= 800
  unsigned short h;
  asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(f));
  return h;
#else
  // sm_75 has no bf16 convert instruction: round to nearest even in integer code.
  const unsigned x = __float_as_uint(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (x >> 16) | 0x40u;  // NaN stays a quiet NaN
  return (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
#endif
}

// Two floats to a word of two bf16 (f16): lo in the low half, one convert instruction for the
// pair (sm_80+: cvt.rn.bf16x2.f32 / cvt.rn.f16x2.f32, round to nearest even, each half as
// the single convert gives it) instead of one per element and a merge. rope_common.h's
// rg_encode2_bits takes them where RG_PACKED_CVT is 1.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define RG_PACKED_CVT 1
RG_DEVICE unsigned rg_f32x2_to_bf16x2_bits(float lo, float hi) {
  unsigned d;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(d) : "f"(hi), "f"(lo));
  return d;
}
RG_DEVICE unsigned rg_f32x2_to_f16x2_bits(float lo, float hi) {
  unsigned d;
  asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(d) : "f"(hi), "f"(lo));
  return d;
}
#endif

// Packed max and min of two 16-bit elements a word (sm_80+: max/min.bf16x2, .f16x2): each
// half the larger (smaller) of its pair, a NaN operand left out (the other returned; two NaN
// give a NaN). rows.h's vector ranges take them where RG_PACKED_MINMAX is 1.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define RG_PACKED_MINMAX 1
RG_DEVICE unsigned rg_bf16x2_max(unsigned a, unsigned b) {
  unsigned d;
  asm("max.bf16x2 %0, %1, %2;" : "=r"(d) : "r"(a), "r"(b));
  return d;
}
RG_DEVICE unsigned rg_bf16x2_min(unsigned a, unsigned b) {
  unsigned d;
  asm("min.bf16x2 %0, %1, %2;" : "=r"(d) : "r"(a), "r"(b));
  return d;
}
RG_DEVICE unsigned rg_f16x2_max(unsigned a, unsigned b) {
  unsigned d;
  asm("max.f16x2 %0, %1, %2;" : "=r"(d) : "r"(a), "r"(b));
  return d;
}
RG_DEVICE unsigned rg_f16x2_min(unsigned a, unsigned b) {
  unsigned d;
  asm("min.f16x2 %0, %1, %2;" : "=r"(d) : "r"(a), "r"(b));
  return d;
}
#endif
