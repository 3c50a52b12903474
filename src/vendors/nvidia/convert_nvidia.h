// f16/bf16 <-> fp32 with the hardware convert instructions (sm_80+), rounding to nearest even.
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
  unsigned short h;
  asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(f));
  return h;
}
