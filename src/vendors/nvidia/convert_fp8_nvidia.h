// fp32 -> OCP fp8 (e4m3, e5m2) with cvt.rn.satfinite (sm_89+, PTX ISA 7.8): round to
// nearest even, finite overflow and inf to the largest finite value, the sign of zero
// kept, as templates/fp8.h's integer code. NaN: the instruction may keep the input's sign
// (and, for e5m2, its quiet bit; CUDA's cuda_fp8.hpp emulation does), so a NaN input is
// given the canonical 0x7f afterwards. The codes equal the integer code's for every input
// (checked on the GPU by tests/compile/test_fp8_kernels.cpp). FNUZ formats and older
// targets use the integer code. Pasted before templates/fp8.h.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
#define RG_FP8_HW_OCP 1
RG_DEVICE unsigned rg_fp8_canonical_nan2(unsigned packed, float lo, float hi) {
  if (lo != lo) packed = (packed & 0xff00u) | 0x7fu;
  if (hi != hi) packed = (packed & 0x00ffu) | 0x7f00u;
  return packed;
}
// The instruction writes its first source to the upper byte.
RG_DEVICE unsigned rg_fp8_encode2_e4m3(float lo, float hi) {
  unsigned short r;
  asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(r) : "f"(hi), "f"(lo));
  return rg_fp8_canonical_nan2(r, lo, hi);
}
RG_DEVICE unsigned rg_fp8_encode2_e5m2(float lo, float hi) {
  unsigned short r;
  asm("cvt.rn.satfinite.e5m2x2.f32 %0, %1, %2;" : "=h"(r) : "f"(hi), "f"(lo));
  return rg_fp8_canonical_nan2(r, lo, hi);
}
#endif
