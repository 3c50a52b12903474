// fp32 -> OCP fp8 (e4m3, e5m2) with cvt.rn.satfinite (sm_89+, PTX ISA 7.8): round to
// nearest even, finite overflow and inf to the largest finite value, the sign of zero
// kept, as templates/fp8.h's integer code. NaN: the instruction may keep the input's sign
// (and, for e5m2, its quiet bit; CUDA's cuda_fp8.hpp emulation does), so a NaN code is made
// the canonical 0x7f afterwards, found by its bits: with saturation no finite input gives
// e4m3's 0x7f (or e5m2's 0x7c..0x7f) in the low 7 bits, so a byte whose low 7 bits reach
// that is NaN (integer steps on the pair, not two float compares and selects per pair).
// The codes equal the integer code's for every input (checked on the GPU by
// tests/compile/test_fp8_kernels.cpp). FNUZ formats and older targets use the integer code.
// Pasted before templates/fp8.h.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
#define RG_FP8_HW_OCP 1
// Each byte of a pair whose low 7 bits are at least `first` (0x7f e4m3, 0x7c e5m2) becomes 0x7f.
RG_DEVICE unsigned rg_fp8_canonical_nan2(unsigned packed, unsigned first) {
  const unsigned top = ((packed & 0x7f7fu) + (0x80u - first) * 0x0101u) & 0x8080u;  // 0x80 in each NaN byte
  if (first == 0x7fu) return packed & ~top;  // e4m3: a NaN byte is S.1111.111, its sign cleared
  const unsigned nan = top >> 7;
  return (packed & ~(nan * 0xffu)) | (nan * 0x7fu);
}
// The instruction writes its first source to the upper byte.
RG_DEVICE unsigned rg_fp8_encode2_e4m3(float lo, float hi) {
  unsigned short r;
  asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(r) : "f"(hi), "f"(lo));
  return rg_fp8_canonical_nan2(r, 0x7fu);
}
RG_DEVICE unsigned rg_fp8_encode2_e5m2(float lo, float hi) {
  unsigned short r;
  asm("cvt.rn.satfinite.e5m2x2.f32 %0, %1, %2;" : "=h"(r) : "f"(hi), "f"(lo));
  return rg_fp8_canonical_nan2(r, 0x7cu);
}
#endif
