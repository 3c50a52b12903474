// fp32 -> OCP fp8 (e4m3, e5m2) with cvt.rn.satfinite (sm_89+, PTX ISA 7.8): round to
// nearest even, finite overflow and inf to the largest finite value, NaN to 0x7f, the sign
// of zero kept: the codes of templates/fp8.h's integer code for every input (checked on
// the GPU by tests/test_fp8_kernels.cpp). FNUZ formats and older targets use the integer
// code. Pasted before templates/fp8.h.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
#define RG_FP8_HW_OCP 1
// The instruction writes its first source to the upper byte.
RG_DEVICE unsigned rg_fp8_encode2_e4m3(float lo, float hi) {
  unsigned short r;
  asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(r) : "f"(hi), "f"(lo));
  return r;
}
RG_DEVICE unsigned rg_fp8_encode2_e5m2(float lo, float hi) {
  unsigned short r;
  asm("cvt.rn.satfinite.e5m2x2.f32 %0, %1, %2;" : "=h"(r) : "f"(hi), "f"(lo));
  return r;
}
#endif
