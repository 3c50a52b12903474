// fp32 -> fp8 with v_cvt_pk_fp8_f32 / v_cvt_pk_bf8_f32: FNUZ formats on gfx942 (CDNA3),
// OCP formats on gfx950 and gfx12. The instruction rounds to nearest even but does not
// saturate (an overflow becomes NaN or inf), so the input is clamped to the largest finite
// value first; fmax/fmin turn NaN into a number, so NaN is selected afterwards. FNUZ: a
// zero result is 0x00 whatever the sign (0x80 is NaN there). The codes are those of
// templates/fp8.h's integer code for every input. Pasted before templates/fp8.h.
#if defined(__gfx940__) || defined(__gfx941__) || defined(__gfx942__)
#define RG_FP8_HW_FNUZ 1
#elif defined(__gfx950__) || defined(__gfx1200__) || defined(__gfx1201__)
#define RG_FP8_HW_OCP 1
#endif

#if defined(RG_FP8_HW_FNUZ) || defined(RG_FP8_HW_OCP)
RG_DEVICE float rg_fp8_clamp(float x, float max) { return __builtin_fminf(__builtin_fmaxf(x, -max), max); }
// One byte of a packed result, with NaN and (FNUZ) zero fixed up.
RG_DEVICE unsigned rg_fp8_fix(unsigned code, float x, bool fnuz) {
  if (x != x) return fnuz ? 0x80u : 0x7fu;
  if (fnuz && (code & 0x7fu) == 0) return 0u;
  return code;
}
RG_DEVICE unsigned rg_fp8_fix2(unsigned packed, float lo, float hi, bool fnuz) {
  return rg_fp8_fix(packed & 0xffu, lo, fnuz) | rg_fp8_fix((packed >> 8) & 0xffu, hi, fnuz) << 8;
}
#endif

#if defined(RG_FP8_HW_FNUZ)
RG_DEVICE unsigned rg_fp8_encode2_e4m3fnuz(float lo, float hi) {
  const int r = __builtin_amdgcn_cvt_pk_fp8_f32(rg_fp8_clamp(lo, 240.0f), rg_fp8_clamp(hi, 240.0f), 0, false);
  return rg_fp8_fix2(static_cast<unsigned>(r), lo, hi, true);
}
RG_DEVICE unsigned rg_fp8_encode2_e5m2fnuz(float lo, float hi) {
  const int r = __builtin_amdgcn_cvt_pk_bf8_f32(rg_fp8_clamp(lo, 57344.0f), rg_fp8_clamp(hi, 57344.0f), 0, false);
  return rg_fp8_fix2(static_cast<unsigned>(r), lo, hi, true);
}
#elif defined(RG_FP8_HW_OCP)
RG_DEVICE unsigned rg_fp8_encode2_e4m3(float lo, float hi) {
  const int r = __builtin_amdgcn_cvt_pk_fp8_f32(rg_fp8_clamp(lo, 448.0f), rg_fp8_clamp(hi, 448.0f), 0, false);
  return rg_fp8_fix2(static_cast<unsigned>(r), lo, hi, false);
}
RG_DEVICE unsigned rg_fp8_encode2_e5m2(float lo, float hi) {
  const int r = __builtin_amdgcn_cvt_pk_bf8_f32(rg_fp8_clamp(lo, 57344.0f), rg_fp8_clamp(hi, 57344.0f), 0, false);
  return rg_fp8_fix2(static_cast<unsigned>(r), lo, hi, false);
}
#endif
