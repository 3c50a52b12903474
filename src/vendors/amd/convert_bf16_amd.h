// bf16 <-> fp32 in integer code for AMD: the same results as templates/convert_bf16_soft.h,
// with the NaN case as a select rather than an early return. From the early return the
// compilers make a branch per converted element (exec-mask save, two paths, restore); the
// select is one v_cndmask. Default bf16 kernel: hipRTC (ROCm 5.2) gfx90a 713 -> 633
// instructions and 64 -> 60 VGPRs; clang 19 gfx942 51 -> 46 VGPRs.
RG_DEVICE float rg_bf16_bits_to_f32(unsigned b) { return rg_as_float(b << 16); }
RG_DEVICE unsigned rg_f32_to_bf16_bits(float f) {
  const unsigned x = rg_as_uint(f);
  const unsigned quiet = (x >> 16) | 0x40u;                         // NaN stays a quiet NaN
  const unsigned rounded = (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;  // round to nearest even
  return (x & 0x7fffffffu) > 0x7f800000u ? quiet : rounded;
}
