// fp32 pair -> two e2m1 codes in one byte with cvt.rn.satfinite.e2m1x2.f32 (PTX ISA 8.6; only
// the arch-specific targets have it: sm_100a, sm_120a, whose caps say hw_e2m1). Codegen pastes
// this after `#define RG_E2M1_HW 1` and before templates/quant.h, whose quant_codes2 then
// encodes nvfp4 and mxfp4 pairs with it instead of the integer code (rg_e2m1_encode); the
// bytes are the same:
//   - the instruction writes its first source to the high nibble (PTX ISA, cvt: d[7:4] =
//     convert(a), d[3:0] = convert(b)), so element 2i goes second and lands in the low nibble;
//   - round to nearest, ties to even, |x| > 6 and inf to 6 with the sign kept, and the sign of
//     a zero result kept (-0.0 and negatives that round to 0 give 0x8), as rg_e2m1_encode
//     (and CUDA 13.0's cuda_fp4.hpp, whose integer fallback for the instruction does the same);
//   - NaN: e2m1 has no NaN, and the instruction gives +6 (0x7: cuda_fp4.hpp, "NaN converts to
//     positive FP4_MAXNORM"); ropegen's code is 0x0, so a NaN input's nibble is cleared
//     afterwards (two compares and selects per pair, whatever the instruction wrote there).
// Compiled and assembled for sm_100a and sm_120a here (tests/compile/test_e2m1_kernels.cpp);
// no GPU of that class was available, so the bytes have not been compared on one: "e2m1
// kernels: run" does that (every float pattern, hardware against integer code) where one is.
RG_DEVICE unsigned rg_e2m1_hw_encode2(float lo, float hi) {
  unsigned short r;
  asm("{\n\t.reg .b8 rg_e2m1;\n\tcvt.rn.satfinite.e2m1x2.f32 rg_e2m1, %1, %2;\n\tmov.b16 %0, {rg_e2m1, 0};\n\t}"
      : "=h"(r)
      : "f"(hi), "f"(lo));
  unsigned b = r & 0xffu;
  b = lo != lo ? b & 0xf0u : b;
  b = hi != hi ? b & 0x0fu : b;
  return b;
}
