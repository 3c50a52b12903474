// f16 <-> fp32 with the hardware convert instructions (v_cvt_f16_f32 rounds to nearest even).
RG_DEVICE float rg_f16_bits_to_f32(unsigned b) {
  return static_cast<float>(__builtin_bit_cast(_Float16, static_cast<unsigned short>(b)));
}
RG_DEVICE unsigned rg_f32_to_f16_bits(float f) {
  return __builtin_bit_cast(unsigned short, static_cast<_Float16>(f));
}
