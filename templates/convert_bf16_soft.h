// bf16 <-> fp32 in integer code (targets without a bf16 convert instruction).
RG_DEVICE float rg_bf16_bits_to_f32(unsigned b) { return rg_as_float(b << 16); }
RG_DEVICE unsigned rg_f32_to_bf16_bits(float f) {
  const unsigned x = rg_as_uint(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (x >> 16) | 0x40u;  // NaN stays a quiet NaN
  return (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;                    // round to nearest even
}
