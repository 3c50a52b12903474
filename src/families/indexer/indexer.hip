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
// token (its lane groups, and the head split over grid y) walk its rows.

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

// Applies RoPE to a row of floats (rounded to Elem after), with token t's cos/sin.
RG_DEVICE void rope_row(const ropegen_kernel_args& a, long long t, float* x) {
#pragma unroll 1
  for (int j0 = 0; j0 < ROTARY_DIM / 2; j0 += NJ) {
    float c[NJ];
    float s[NJ];
    cos_sin(a, t, j0, c, s);
#pragma unroll
    for (int i = 0; i < NJ; ++i) {
      const int j = j0 + i;
      const int i0 = ROTARY_OFFSET + (NEOX ? j : 2 * j), i1 = ROTARY_OFFSET + (NEOX ? j + ROTARY_DIM / 2 : 2 * j + 1);
      const float x0 = x[i0], x1 = x[i1];
      x[i0] = round_elem(x0 * c[i] - x1 * s[i]);
      x[i1] = round_elem(x1 * c[i] + x0 * s[i]);
    }
  }
}

RG_DEVICE float amax_of(const float* x) {
  float m = 0.0f;
#pragma unroll 8
  for (int i = 0; i < HEAD_DIM; ++i) {
    const float v = x[i] < 0.0f ? -x[i] : x[i];
    m = v > m ? v : m;  // NaN left out
  }
  return m;
}

// K: normalize, rotate, quantize, and write the block record of the slot.
RG_DEVICE void k_row(const ropegen_kernel_args& a, long long t, long long slot) {
  float x[HEAD_DIM];
  const Elem* src = static_cast<const Elem*>(a.k) + t * a.k_stride;
#pragma unroll 8
  for (int i = 0; i < HEAD_DIM; ++i) x[i] = load_elem(src + i);
  if (LAYERNORM) {
    const float* w = static_cast<const float*>(a.k_norm_weight);
    const float* b = static_cast<const float*>(a.q_norm_weight);  // the bias (k_norm_bias)
    float sum = 0.0f;
    for (int i = 0; i < HEAD_DIM; ++i) sum += x[i];
    const float mean = sum / HEAD_DIM;
    float var = 0.0f;
    for (int i = 0; i < HEAD_DIM; ++i) var += (x[i] - mean) * (x[i] - mean);
    const float r = 1.0f / rg_sqrt(var / HEAD_DIM + LN_EPS);
    for (int i = 0; i < HEAD_DIM; ++i) x[i] = round_elem((x[i] - mean) * r * w[i] + b[i]);
  }
  rope_row(a, t, x);
  float s = (amax_of(x) > 1e-4f ? amax_of(x) : 1e-4f) / FP8_MAX;
  if (UE8M0) s = ue8m0(s);
  const float inv = 1.0f / s;
  unsigned char* rec = static_cast<unsigned char*>(a.k_cache) + (slot / BLOCK) * RECORD;
  const long long tb = slot % BLOCK;
#pragma unroll 4
  for (int c = 0; c < HEAD_DIM; ++c) {
    const float v = K_DIVIDE ? x[c] / s : x[c] * inv;
    const long long at = TILED ? (tb / 16) * 16 * HEAD_DIM + (c / 16) * 256 + (tb % 16) * 16 + c % 16 : tb * HEAD_DIM + c;
    rec[at] = static_cast<unsigned char>(indexer_fp8(v));
  }
  *reinterpret_cast<float*>(rec + BLOCK * HEAD_DIM + 4 * tb) = s;
}

// Q head h: rotate, quantize to q_out, and write its head weight.
RG_DEVICE void q_row(const ropegen_kernel_args& a, long long t, int h) {
  float x[HEAD_DIM];
  const Elem* src = static_cast<const Elem*>(a.q) + t * a.q_stride + static_cast<long long>(h) * HEAD_DIM;
#pragma unroll 8
  for (int i = 0; i < HEAD_DIM; ++i) x[i] = load_elem(src + i);
  rope_row(a, t, x);
  const float m = amax_of(x);
  float qs = (m > 1e-10f ? m : 1e-10f) * INV_FP8_MAX;
  if (UE8M0) qs = ue8m0(qs);
  const float inv = 1.0f / qs;
  unsigned char* dst = static_cast<unsigned char*>(a.q_out) + t * a.q_out_stride + static_cast<long long>(h) * HEAD_DIM;
#pragma unroll 4
  for (int c = 0; c < HEAD_DIM; ++c) {
    const float v = x[c] * inv;
    dst[c] = static_cast<unsigned char>(indexer_fp8(v));
  }
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
