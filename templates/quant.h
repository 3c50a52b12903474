// The codec of quantized caches (quant-formats.md), shared by the families: a row is cut
// into groups of `group` elements, each group gets a scale computed from its values (amax,
// or max and min for int4), and every element is stored as a code of `bits` bits. Codegen
// binds each store's rg_codec (namespace rg_spec: CACHE_CODEC, Q_CODEC), a constant every
// function here is given; this file has the arithmetic, in the operation order the formats
// specify (fp32, IEEE division).
//
//   int8  (1): s = max(amax / 127, floor); code = round(clamp(x * (1 / s), -128, 127))
//   int4  (2): s = max((max - min) / 15, floor); zp = clamp(rha(-min / s), 0, 15);
//              code = clamp(rha(x / s + zp), 0, 15) (the codec's round replaces rha); the stored
//              scale is s with zp in its low 4 bits
//   fp8   (3): s = max(amax / qmax, floor); code = fp8(x * (1 / s)) (saturating, RNE), or
//              fp8(x / s) where the codec divides (vLLM's fp8_ds_mla store)
//   nvfp4 (4): sf = amax / (6 gs) (0 unless amax > 0 and gs > 0); sfq = e4m3(sf);
//              inv = 1 / (sfq * gs) (0 if sfq is 0); code = e2m1(x * inv)
//              recipe trtllm (rule 1, NVIDIA: RG_RCP_APPROX): enc = 1 / gs; sf = enc * (amax *
//              rcp(6)); sfq = e4m3(sf); inv = rcp(sfq * rcp(enc)) (0 if amax is 0), rcp the
//              approximate reciprocal
//              recipe round_up (rule 2, MLA records): sf = max(amax / 6, 2^-9); sfq = e4m3(sf),
//              the next e4m3 value up where it decodes below sf (448 stays); inv = 1 / sfq; gs unused
//   mxfp4 (5): e = the group's e8m0 exponent (the codec's rule); code = e2m1(x * 2^(127 - e))
// NaN inputs are left out of amax, max and min; their code is 0 (int8), the zero point
// (int4), fp8's NaN code (fp8), 0x0 (e2m1); so is an inf divided by an inf scale. The tests
// compare every function here with src/reference/quant.cpp. Pasted after the fp8 encoders and
// before the spec's bindings, which hold the rg_codec constants.

// A quantized store's format and parameters (one per store: CACHE_CODEC, Q_CODEC). kind: 0 none, 1 int8, 2 int4, 3 fp8 with computed scales, 4 nvfp4,
// 5 mxfp4; fp8: 0 e4m3, 1 e5m2, 2 e4m3fnuz, 3 e5m2fnuz (the target's encoding).
struct rg_codec {
  int kind, bits, group, round, rule;  // round: rne, trunc, rha; rule: mxfp4's rceil, floor, even; nvfp4's exact, trtllm
  float qmax, floor;
  int fp8, scale_bytes;
  int divide;  // fp8: x / s instead of x * (1 / s)
};

namespace rg_kernel {

// x / s for many x and one s, bit for bit the IEEE quotient (the division the formats specify),
// without a division per element: y = 1 / s once (IEEE), then per element q = x * y and one
// FMA correction, q + (x - q * s) * y (Markstein's correction: with y the correctly rounded
// reciprocal and q within an ulp of x / s, the corrected quotient is the correctly rounded
// one). The correction is exact only where nothing overflows or underflows, so the true
// division stays for the rest: a divisor outside [2^-120, 2^120], a quotient outside
// [-2^120, 2^120] or NaN (an inf or NaN x, an overflowing quotient), a nonzero x below
// 2^-100 in magnitude. An exact q (remainder 0, e.g. x = +-0) is kept as it is, sign
// included. tests/unit/test_reference.cpp compares it with x / s on every bf16 and f16 x
// for thousands of divisors, every power of two among them, and random floats.
// RG_RECIPROCAL_DIV (the vendor prelude's): 0 where the target's IEEE division is short and
// has no branch (AMD: v_div_scale, v_div_fmas, v_div_fixup), so rg_div2 keeps it.
#ifndef RG_RECIPROCAL_DIV
#define RG_RECIPROCAL_DIV 1
#endif
struct rg_divisor {
  float s, y;
  bool fast;
};
RG_DEVICE rg_divisor rg_make_divisor(float s) {
  const float a = rg_as_float(rg_as_uint(s) & 0x7fffffffu);
  return rg_divisor{s, 1.0f / s, a >= rg_as_float(0x03800000u) && a <= rg_as_float(0x7b800000u)};
}
// The corrected quotient; `slow` is set where the true division must replace it.
RG_DEVICE float rg_div_fast(float x, const rg_divisor& d, bool& slow) {
  float q = x * d.y;
  const float r = rg_fmaf(-q, d.s, x);
  if (r != 0.0f) q = rg_fmaf(r, d.y, q);
  const float ax = rg_as_float(rg_as_uint(x) & 0x7fffffffu), aq = rg_as_float(rg_as_uint(q) & 0x7fffffffu);
  slow = slow || !d.fast || !(aq <= rg_as_float(0x7b800000u)) || (ax < rg_as_float(0x0d800000u) && ax != 0.0f);  // 2^120, 2^-100
  return q;
}
// Two quotients in place, the true divisions (rare) in one branch for the pair rather than one
// per element. A pair, not a whole vector: the registers a vector's quotients and inputs would
// hold at once cost occupancy (measured on the H100: 62 -> 72 registers, 9% slower at 8192 tokens).
RG_DEVICE void rg_div2(float& a, float& b, const rg_divisor& d) {
  if (!RG_RECIPROCAL_DIV) {  // the target's division has no branch: it stays
    a = a / d.s;
    b = b / d.s;
    return;
  }
  bool slow = false;
  const float qa = rg_div_fast(a, d, slow), qb = rg_div_fast(b, d, slow);
  if (slow) {
    a = a / d.s;
    b = b / d.s;
  } else {
    a = qa;
    b = qb;
  }
}

// The larger (smaller) of a and b, b left out when it is NaN of any kind (a max instruction
// would let a signaling NaN through, quieted).
RG_DEVICE float rg_quant_max(float a, float b) { return b > a ? b : a; }
RG_DEVICE float rg_quant_min(float a, float b) { return b < a ? b : a; }

// rint(t) for |t| < 2^22, biased by 1.5 * 2^23: the sum is rounded to an integer (to nearest,
// ties to even), so its low mantissa bits are rint(t)'s two's-complement low bits and the sum
// minus the bias is rint(t). One add where rint and a float-to-int conversion would be two
// (conversions run at an eighth of the adds' rate on NVIDIA GPUs).
constexpr float kRintBias = 12582912.0f;
RG_DEVICE float rg_rint_biased(float t) { return t + kRintBias; }

// e2m1: magnitudes 0, 0.5, 1, 1.5, 2, 3, 4, 6 (codes 0..7), sign in bit 3; round to nearest,
// ties to the even code, saturating at 6. The sign is x's sign bit (-0.0 and negatives that
// round to 0 give 0x8, as FlashInfer's encoder); NaN gives 0x0. Two encoders of the same
// bytes, selects only (a chain of selects compiled to branches, a fifth of a decode launch's
// time); RG_E2M1_BY_BITS (the vendor prelude's) picks one, by registers and instructions on
// the target (gfx942: the compares, 70-73 VGPRs against 74-75):
// - by bits: below 2 the magnitudes step by 0.5, so the code is rint(2|x|) (0..4, ties to
//   even); from 2 on e2m1 keeps one mantissa bit, so |x|'s fp32 bits rounded to one mantissa
//   bit (nearest, ties to even) give exponent and bit, 4 + 2 (E - 128) + m, saturated at 7;
// - by compares: the code's magnitude counts the rounding boundaries |x| passes (a tie goes
//   to the even code: > at 0.25, 1.25, 2.5 and 5, >= at 0.75, 1.75 and 3.5).
#ifndef RG_E2M1_BY_BITS
#define RG_E2M1_BY_BITS 1
#endif
RG_DEVICE unsigned rg_e2m1_by_bits(float x) {
  const unsigned u = rg_as_uint(x);
  const unsigned b = u & 0x7fffffffu;
  const float a = rg_as_float(b);
  const bool small = a < 2.0f;
  const unsigned lo = rg_as_uint(rg_rint_biased(small ? a + a : 0.0f)) & 0x7u;  // rint(2|x|), 0..4
  const unsigned r = ((b + 0x1fffffu + ((b >> 22) & 1u)) >> 22) - 252u;  // a >= 2: 4..
  const unsigned m = small ? lo : r < 7u ? r : 7u;
  return x != x ? 0u : ((u >> 28) & 0x8u) | m;
}
RG_DEVICE unsigned rg_e2m1_by_compares(float x) {
  const unsigned sign = (rg_as_uint(x) >> 28) & 0x8u;
  const float a = rg_as_float(rg_as_uint(x) & 0x7fffffffu);
  const unsigned m = static_cast<unsigned>(a > 0.25f) + static_cast<unsigned>(a >= 0.75f) +
                     static_cast<unsigned>(a > 1.25f) + static_cast<unsigned>(a >= 1.75f) +
                     static_cast<unsigned>(a > 2.5f) + static_cast<unsigned>(a >= 3.5f) + static_cast<unsigned>(a > 5.0f);
  return x != x ? 0u : sign | m;
}
RG_DEVICE unsigned rg_e2m1_encode(float x) { return RG_E2M1_BY_BITS ? rg_e2m1_by_bits(x) : rg_e2m1_by_compares(x); }

// mxfp4's scale byte (e8m0: 2^(e - 127)) for a group's amax, by the rule:
//   0 rceil: t = amax * (1/6 in fp32); t's exponent field, plus one if its mantissa is nonzero
//   1 floor: floor_pow2(amax) / 4 (OCP): amax's exponent field - 2
//   2 even:  (bits(amax) + 0x200000) & 0xff800000, then / 4
// clamped to 0..254 (255 is e8m0's NaN).
RG_DEVICE unsigned rg_e8m0_scale(float amax, int rule) {
  int e;
  if (rule == 0) {
    const unsigned t = rg_as_uint(amax * rg_as_float(0x3e2aaaabu));
    e = static_cast<int>(t >> 23) + ((t & 0x7fffffu) != 0u ? 1 : 0);
  } else if (rule == 1) {
    e = static_cast<int>(rg_as_uint(amax) >> 23) - 2;
  } else {
    e = static_cast<int>(((rg_as_uint(amax) + 0x200000u) & 0xff800000u) >> 23) - 2;
  }
  return static_cast<unsigned>(e < 0 ? 0 : e > 254 ? 254 : e);
}

// 2^(127 - e) for a scale byte e in 0..254 (2^127 .. 2^-127, the last a subnormal).
RG_DEVICE float rg_e8m0_inverse(unsigned e) {
  const int k = 127 - static_cast<int>(e);
  return k >= -126 ? rg_as_float(static_cast<unsigned>(k + 127) << 23) : rg_as_float(0x00400000u);
}

// Rounds a scaled value to an integer: 0 rne, 1 trunc, 2 rha (t +- 0.5, truncated).
RG_DEVICE float rg_quant_round(int round, float t) {
  if (round == 0) return rg_rintf(t);
  if (round == 1) return static_cast<float>(static_cast<int>(t));
  return static_cast<float>(static_cast<int>(t < 0.0f ? t - 0.5f : t + 0.5f));
}

// Two fp8 codes of the codec's format, lo | hi << 8, by its encoder: one pair instruction
// where the target converts (a code alone would convert a pair and keep half of it).
RG_DEVICE unsigned rg_quant_fp8x2(int format, float lo, float hi) {
  if (format == 0) return rg_fp8_encode2_e4m3(lo, hi);
  if (format == 1) return rg_fp8_encode2_e5m2(lo, hi);
  if (format == 2) return rg_fp8_encode2_e4m3fnuz(lo, hi);
  return rg_fp8_encode2_e5m2fnuz(lo, hi);
}

// A group's scale, from the largest and smallest of its values (NaN left out; hi = -inf and
// lo = +inf when it has none): what the codes are computed with (`inv` multiplies, or for
// int4 `s` divides, with the zero point `zp`) and the bits the scale tensor stores.
struct QuantScale {
  float inv;
  float s;
  float zp;
  unsigned bits;  // f32 bits (int8, int4, fp8), an e4m3 byte (nvfp4), an e8m0 byte (mxfp4)
  rg_divisor div;  // s, where the codes divide by it (int4, fp8 with divide)
};

RG_DEVICE QuantScale quant_scale(const rg_codec c, float hi, float lo, float gs) {
  const float amax = rg_quant_max(rg_quant_max(0.0f, hi), -lo);
  QuantScale q{0.0f, 0.0f, 0.0f, 0u, rg_divisor{1.0f, 1.0f, true}};
  if (c.kind == 1 || c.kind == 3) {
    q.s = rg_quant_max(amax / c.qmax, c.floor);
    if (c.divide) q.div = rg_make_divisor(q.s);
    else q.inv = 1.0f / q.s;
    q.bits = rg_as_uint(q.s);
  } else if (c.kind == 2) {
    const float mx = hi < lo ? 0.0f : hi, mn = hi < lo ? 0.0f : lo;  // a row of NaN: as zeros
    q.s = rg_quant_max((mx - mn) / 15.0f, c.floor);
    const float z = -mn / q.s;  // clamped before it is rounded: the same result, and no overflow
    q.zp = z != z ? 0.0f : rg_quant_round(c.round, z < 0.0f ? 0.0f : z > 15.0f ? 15.0f : z);
    q.bits = (rg_as_uint(q.s) & ~0xfu) | static_cast<unsigned>(q.zp);
    q.div = rg_make_divisor(q.s);
  } else if (c.kind == 4) {
#ifdef RG_RCP_APPROX
    // recipe = trtllm: TensorRT-LLM's cvt_warp_fp16_to_fp4 with SFScaleVal = enc = 1 / gs (an
    // IEEE division: ropegen reads the decode scale gs). Its guard is amax != 0, so a group
    // whose scale rounds to 0 gets inv = rcp(0) = inf (codes +-6, NaN -> 0 for zeros); a gs that
    // is not > 0 writes scale 0 and codes 0, as recipe exact.
    if (c.rule == 1) {
      const float enc = gs > 0.0f ? 1.0f / gs : 0.0f;
      q.bits = gs > 0.0f ? rg_fp8_encode_e4m3(enc * (amax * rg_rcp_approx_ftz(6.0f))) : 0u;
      const float sfq = rg_fp8_decode_e4m3(q.bits);
      q.inv = gs > 0.0f && amax != 0.0f ? rg_rcp_approx_ftz(sfq * rg_rcp_approx_ftz(enc)) : 0.0f;
      return q;
    }
#endif
    if (c.rule == 2) {  // round_up: the scale never below amax / 6, so no code saturates
      const float sf = rg_quant_max(amax / 6.0f, rg_as_float(0x3b000000u));  // 2^-9
      q.bits = rg_fp8_encode_e4m3(sf);
      if (rg_fp8_decode_e4m3(q.bits) < sf && q.bits < 0x7eu) q.bits += 1u;  // positive e4m3 codes are ordered
      q.inv = 1.0f / rg_fp8_decode_e4m3(q.bits);
      return q;
    }
    const float sf = amax > 0.0f && gs > 0.0f ? amax / (6.0f * gs) : 0.0f;
    q.bits = rg_fp8_encode_e4m3(sf);
    const float sfq = rg_fp8_decode_e4m3(q.bits);
    q.inv = sfq != 0.0f ? 1.0f / (sfq * gs) : 0.0f;
  } else if (c.kind == 5) {
    q.bits = rg_e8m0_scale(amax, c.rule);
    q.inv = rg_e8m0_inverse(q.bits);
  }
  return q;
}

// Whether the codes divide by the scale (int4, fp8 with divide) rather than multiply by its inverse.
RG_DEVICE bool quant_divides(const rg_codec c) { return c.kind == 2 || (c.kind == 3 && c.divide != 0); }

// The code of one element of int8, int4, nvfp4 or mxfp4 (c.bits bits, in the low bits of the
// result) from its scaled value t: x / s where the codec divides (quant_divides), else x * inv;
// int4's zero point is added here. NaN is replaced by the value whose code it gets (selects,
// not a branch per element).
RG_DEVICE unsigned quant_code_of(const rg_codec c, float t, const QuantScale& q) {
  if (c.kind == 1) {  // t is NaN for a NaN x, and for +-inf when the scale is inf
    t = t != t ? 0.0f : t < -128.0f ? -128.0f : t > 127.0f ? 127.0f : t;
    if (c.round == 0) return rg_as_uint(rg_rint_biased(t)) & 0xffu;  // rne: rint's low byte
    return static_cast<unsigned>(static_cast<int>(rg_quant_round(c.round, t))) & 0xffu;
  }
  if (c.kind == 2) {
    t += q.zp;
    t = t != t ? q.zp : t < 0.0f ? 0.0f : t > 15.0f ? 15.0f : t;  // clamped before it is rounded: the same code
    if (c.round == 2) return static_cast<unsigned>(t + 0.5f);  // rha of t >= 0 (-0.0 included)
    return static_cast<unsigned>(rg_quant_round(c.round, t));
  }
  return rg_e2m1_encode(t);  // nvfp4, mxfp4 (fp8's codes are made by pairs: quant_codes2)
}

// int4's code of x without the quotient x / s: t' = fma(x, 1 / s, zp) is within 2^-17 of
// the specified t = fl(fl(x / s) + zp) where the codes are decided (|t| <= 16.5: twice
// |x / s| 2^-24 for the reciprocal's and the quotient's roundings, an ulp for the sums'), so
// where t' is at least 2^-16 from every rounding boundary of the codec's round (the halves for
// rne and rha, whose codes there are both rint(t'); the integers 1 to 15 for trunc, an x of
// +-0 aside, whose t' is zp exactly) both give round(clamp(t, 0, 15)) alike. Returns false,
// code unset, where x is that close, t' is NaN (it stays NaN through the selects and fails
// the test), or the scale is outside the divisor's fast range: rg_div2's quotients decide
// those. rne and rha round by rg_rint_biased. tests/unit/test_reference.cpp compares it with
// the division on every bf16 and f16 x for many scales and zero points, and on each
// boundary's neighbours.
RG_DEVICE bool int4_code_by_reciprocal(const rg_codec c, const QuantScale& q, float x, unsigned& code) {
  if (!RG_RECIPROCAL_DIV || !q.div.fast) return false;
  const float t = rg_fmaf(x, q.div.y, q.zp);
  const float eps = rg_as_float(0x37800000u);  // 2^-16
  if (c.round == 1) {  // trunc
    const float e = rg_as_float(rg_as_uint(t - rg_rintf(t)) & 0x7fffffffu);
    if (t != t || (e < eps && x != 0.0f && t > 0.5f && t < 15.5f)) return false;
    code = static_cast<unsigned>(t < 0.0f ? 0.0f : t > 15.0f ? 15.0f : t);
    return true;
  }
  const float u = t < 0.0f ? 0.0f : t > 15.0f ? 15.0f : t;  // NaN stays NaN
  const float m = rg_rint_biased(u);
  const float e = rg_as_float(rg_as_uint(u - (m - kRintBias)) & 0x7fffffffu);
  if (!(rg_as_float(rg_as_uint(e - 0.5f) & 0x7fffffffu) >= eps)) return false;
  code = rg_as_uint(m) & 0xfu;
  return true;
}

// The codes of two elements of a group (a pair: the codecs that divide do it by rg_div2).
RG_DEVICE void quant_codes2(const rg_codec c, const QuantScale& q, float x0, float x1, unsigned& c0, unsigned& c1) {
  // int4: a pair whose codes both come without the division (the division's path for both else)
  if (c.kind == 2 && int4_code_by_reciprocal(c, q, x0, c0) && int4_code_by_reciprocal(c, q, x1, c1)) return;
  if (quant_divides(c)) rg_div2(x0, x1, q.div);
  else {
    x0 *= q.inv;
    x1 *= q.inv;
  }
  if (c.kind == 3) {  // fp8: the pair's codes by one conversion
    const unsigned b = rg_quant_fp8x2(c.fp8, x0, x1);
    c0 = b & 0xffu;
    c1 = (b >> 8) & 0xffu;
    return;
  }
#ifdef RG_E2M1_HW
  // e2m1 (nvfp4, mxfp4) where the target converts pairs (codegen defines RG_E2M1_HW from its
  // caps and pastes the vendor's rg_e2m1_hw_encode2 before this file): x0 in the low nibble,
  // the bytes of rg_e2m1_encode.
  if (c.kind == 4 || c.kind == 5) {
    const unsigned b = rg_e2m1_hw_encode2(x0, x1);
    c0 = b & 0xfu;
    c1 = b >> 4;
    return;
  }
#endif
  c0 = quant_code_of(c, x0, q);
  c1 = quant_code_of(c, x1, q);
}

}  // namespace rg_kernel
