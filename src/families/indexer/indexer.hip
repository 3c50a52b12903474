// DeepSeek-V3.2's sparse-attention indexer: the K cache write and the fp8 Q with its head
// weights, in one launch (cache-layouts.md, "Sparse-attention indexer cache").
//
// Per token, ROWS = Q_HEADS + 1 rows of HEAD_DIM (128) values:
//   K (row Q_HEADS): optional LayerNorm (two-pass fp32 mean and variance, fp32 weight and
//     bias), rounded to Elem; RoPE on [ROTARY_OFFSET, + ROTARY_DIM), rounded to Elem;
//     s = max(amax, 1e-4) / FP8_MAX (UE8M0: rounded up to a power of two); codes e4m3(x / s)
//     (K_DIVIDE) or e4m3(x * (1 / s)); written to the token's block record: BLOCK * HEAD_DIM
//     value bytes (token-major, or TILED in 16 x 16-byte tiles), then BLOCK fp32 scales.
//     A negative slot (padding) writes nothing.
//   Q head h: RoPE, rounded to Elem; q_s = max(amax, 1e-10) * (1 / FP8_MAX) (UE8M0 as K);
//     q_out = e4m3(q * (1 / q_s)); head_weights[h] = weights[h] * q_s * WEIGHTS_SCALE.
// A token outside the limits the caller passed (a position outside the cos/sin table, a slot
// at or past cache_slots) is skipped whole.
// A row's scale needs all of its values, so one thread takes a whole row: the threads of a
// token (its lane groups, and the head split over grid y) walk its rows, each in passes that
// recompute the values from the inputs (L1-resident) rather than holding the row.

namespace rg_kernel {
using namespace rg_spec;

constexpr int ROWS = Q_HEADS + 1;
constexpr int RECORD = BLOCK * (HEAD_DIM + 4);  // bytes of a block record

// x rounded to Elem (the activation dtype) and back.
RG_DEVICE float round_elem(float x) {
  const Elem* tag = nullptr;
  return rg_decode_bits(rg_encode_bits(x, tag), tag);
}

RG_DEVICE float load_elem(const Elem* p) { return rg_to_f32(*p); }

// exp2f(ceilf(log2f(s))) for a positive normal s, as the peers write it, with a correctly
// rounded log2f: log2f(s) = e + d, d = log2(1 + m 2^-23) > 0 for a mantissa m > 0, rounds
// down to the integer e when d is below half an ulp of e + d: then the scale is 2^e < s.
// d ~ m 2^-23 / ln 2 for the small m concerned, so the test is m * 2 / ln 2 < 2^p, with
// 2^p the binade of |e + d| (|e|'s, or the one below when e < 0 and |e| is a power of two).
RG_DEVICE float ue8m0(float s) {
  const unsigned u = rg_as_uint(s);
  const int e = static_cast<int>(u >> 23) - 127;
  const unsigned m = u & 0x7fffffu;
  if (m == 0) return s;
  int p = -1;  // e = 0: log2f(s) = d > 0, never 0
  if (e != 0) {
    const int a = e < 0 ? -e : e;
    p = 0;
    while ((2 << p) <= a) ++p;
    if (e < 0 && (a & (a - 1)) == 0) --p;
  }
  const bool down = p >= 0 && static_cast<float>(m) * 2.8853900817779268f < static_cast<float>(1 << p);
  return rg_as_float(static_cast<unsigned>(127 + e + (down ? 0 : 1)) << 23);
}

// A row's source: its elements and, for K with LAYERNORM, the norm's statistics and weights.
struct RowSource {
  const Elem* x;
  float mean, r;     // LAYERNORM: the mean and 1 / sqrt(var + eps)
  const float* w;    // LAYERNORM: weight and bias; null: the row as loaded
  const float* b;
};

// Element i of the row before RoPE: as loaded, or normalized and rounded to Elem.
RG_DEVICE float before_rope(const RowSource& src, int i) {
  const float x = load_elem(src.x + i);
  return src.w ? round_elem((x - src.mean) * src.r * src.w[i] + src.b[i]) : x;
}

// What a pass over a row does with each value: its amax (dst null), or its codes x / s
// (divide) or x * inv at byte c of the row's place (K: in its block record, token tb of the
// block; Q: tb < 0, the bytes in order).
struct Pass {
  float m;
  unsigned char* dst;
  float s, inv;
  bool divide;
  long long tb;
};

RG_DEVICE void visit(Pass& p, int c, float x) {
  if (!p.dst) {
    const float v = x < 0.0f ? -x : x;
    p.m = v > p.m ? v : p.m;  // NaN left out
    return;
  }
  const float v = p.divide ? x / p.s : x * p.inv;
  const long long tb = p.tb;
  const long long at = tb < 0 ? c
                       : TILED ? (tb / 16) * 16 * HEAD_DIM + (c / 16) * 256 + (tb % 16) * 16 + c % 16
                               : tb * HEAD_DIM + c;
  p.dst[at] = static_cast<unsigned char>(indexer_fp8(v));
}

// Visits every element of the row after RoPE (rounded to Elem): the rotated pairs, NJ at a
// time with their cos/sin, then the elements outside the rotated stretch. The row is not
// stored: the passes over it (amax, then codes) recompute each value from the source by the
// same operations, so they see the same values with no row array in local memory.
RG_DEVICE void for_values(const ropegen_kernel_args& a, long long t, const RowSource& src, Pass& p) {
  for (int j0 = 0; j0 < ROTARY_DIM / 2; j0 += NJ) {
    float c[NJ];
    float s[NJ];
    cos_sin(a, t, j0, c, s);
#pragma unroll
    for (int i = 0; i < NJ; ++i) {
      const int j = j0 + i;
      const int i0 = ROTARY_OFFSET + (NEOX ? j : 2 * j), i1 = ROTARY_OFFSET + (NEOX ? j + ROTARY_DIM / 2 : 2 * j + 1);
      const float x0 = before_rope(src, i0), x1 = before_rope(src, i1);
      visit(p, i0, round_elem(x0 * c[i] - x1 * s[i]));
      visit(p, i1, round_elem(x1 * c[i] + x0 * s[i]));
    }
  }
  for (int i = 0; i < HEAD_DIM; ++i)
    if (i < ROTARY_OFFSET || i >= ROTARY_OFFSET + ROTARY_DIM) visit(p, i, before_rope(src, i));
}

RG_DEVICE float amax_of(const ropegen_kernel_args& a, long long t, const RowSource& src) {
  Pass p{0.0f, nullptr, 0.0f, 0.0f, false, -1};
  for_values(a, t, src, p);
  return p.m;
}

// K: normalize, rotate, quantize, and write the block record of the slot.
RG_DEVICE void k_row(const ropegen_kernel_args& a, long long t, long long slot) {
  RowSource src{static_cast<const Elem*>(a.k) + t * a.k_stride, 0.0f, 1.0f, nullptr, nullptr};
  if (LAYERNORM) {  // two passes: the mean, then the variance around it
    float sum = 0.0f;
    for (int i = 0; i < HEAD_DIM; ++i) sum += load_elem(src.x + i);
    src.mean = sum / HEAD_DIM;
    float var = 0.0f;
    for (int i = 0; i < HEAD_DIM; ++i) {
      const float d = load_elem(src.x + i) - src.mean;
      var += d * d;
    }
    src.r = 1.0f / rg_sqrt(var / HEAD_DIM + LN_EPS);
    src.w = static_cast<const float*>(a.k_norm_weight);
    src.b = static_cast<const float*>(a.q_norm_weight);  // the bias (k_norm_bias)
  }
  const float m = amax_of(a, t, src);
  float s = (m > 1e-4f ? m : 1e-4f) / FP8_MAX;
  if (UE8M0) s = ue8m0(s);
  const float inv = 1.0f / s;
  unsigned char* rec = static_cast<unsigned char*>(a.k_cache) + (slot / BLOCK) * RECORD;
  const long long tb = slot % BLOCK;
  Pass p{0.0f, rec, s, inv, K_DIVIDE, tb};
  for_values(a, t, src, p);
  *reinterpret_cast<float*>(rec + BLOCK * HEAD_DIM + 4 * tb) = s;
}

// Q head h: rotate, quantize to q_out, and write its head weight.
RG_DEVICE void q_row(const ropegen_kernel_args& a, long long t, int h) {
  const RowSource src{static_cast<const Elem*>(a.q) + t * a.q_stride + static_cast<long long>(h) * HEAD_DIM, 0.0f,
                      1.0f, nullptr, nullptr};
  const float m = amax_of(a, t, src);
  float qs = (m > 1e-10f ? m : 1e-10f) * INV_FP8_MAX;
  if (UE8M0) qs = ue8m0(qs);
  const float inv = 1.0f / qs;
  unsigned char* dst = static_cast<unsigned char*>(a.q_out) + t * a.q_out_stride + static_cast<long long>(h) * HEAD_DIM;
  Pass p{0.0f, dst, qs, inv, false, -1};
  for_values(a, t, src, p);
  const float w = static_cast<const float*>(a.v)[t * a.v_stride + h];
  a.q_out_scales[t * Q_HEADS + h] = w * qs * WEIGHTS_SCALE;
}

RG_DEVICE void run(const ropegen_kernel_args& a) {
  const int tid = rg_thread_x();
  constexpr int PER_TOKEN = HEAD_GROUPS * LANES;  // threads of a token in one block
  const long long t = static_cast<long long>(rg_block_x()) * TOKENS_PER_BLOCK + tid / PER_TOKEN;
  if (PDL) rg_allow_next_grid();
  if (tid >= TOKENS_PER_BLOCK * PER_TOKEN || t >= a.num_tokens) return;
  if (PDL) rg_wait_prior_grid();
  long long bad = 0;
  const long long slot = static_cast<long long>(static_cast<const Index*>(a.slot_mapping)[t]);
  if (position_outside(a, t, bad) || slot_outside(a, slot)) return;
  for (int r = rg_block_y() * PER_TOKEN + tid % PER_TOKEN; r < ROWS; r += rg_grid_y() * PER_TOKEN) {
    if (r < Q_HEADS) q_row(a, t, r);
    else if (slot >= 0) k_row(a, t, slot);
  }
}

}  // namespace rg_kernel
