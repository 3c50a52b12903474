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
// A row's LANES threads hold it in registers (two vectors each on a NeoX row): the LayerNorm's
// sums and the amax meet across them (below); a token's rows are split over its head groups
// and grid y.

namespace rg_kernel {
using namespace rg_spec;

constexpr int ROWS = Q_HEADS + 1;
constexpr int RECORD = BLOCK * (HEAD_DIM + 4);  // bytes of a block record

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
    p = static_cast<int>(rg_as_uint(static_cast<float>(a)) >> 23) - 127;  // floor(log2(a)), a <= 127 exact
    if (e < 0 && (a & (a - 1)) == 0) --p;
  }
  const bool down = p >= 0 && static_cast<float>(m) * 2.8853900817779268f < static_cast<float>(1 << p);
  return rg_as_float(static_cast<unsigned>(127 + e + (down ? 0 : 1)) << 23);
}

// 1 / s, IEEE; with UE8M0 scales (powers of two) from the exponent alone where 2^-e is a normal
// float (every scale the kernel computes from finite rows), else the division.
RG_DEVICE float reciprocal(float s) {
  const unsigned e = rg_as_uint(s) >> 23;  // s > 0
  if (UE8M0 && e >= 1u && e <= 253u) return rg_as_float((254u - e) << 23);
  return 1.0f / s;
}

// A row is walked by LANES threads, as rope_kv walks a head (rows.h's lane_unit over the
// stretches before, inside and after the rotation that shape() names): on a NeoX row a lane
// holds one vector from each half of a stretch whose halves are whole vectors (the rotated one
// always), else one vector. A row's statistics (LayerNorm's sum and sum of
// squares, the amax) meet by exchanges within the warp (ROW_SHUFFLE: LANES a power of two
// within a warp), else through block-shared memory, summed in the exchanges' order (every thread of the block
// passes the same barriers: the row loop runs a count of iterations the whole block shares).
constexpr bool ROW_SHUFFLE = RG_HAS_SHUFFLE && (LANES & (LANES - 1)) == 0 && LANES <= 32;

// Sum (max: the larger, NaN left out) of v over the row's lanes; the same on every lane.
template <bool MAX>
RG_DEVICE float row_reduce(float v, float* partial, int tid, int item) {
  if (ROW_SHUFFLE) {
#pragma unroll
    for (int m = 1; m < LANES; m <<= 1) {
      const float o = rg_shuffle_xor(v, m, LANES);
      v = MAX ? (o > v ? o : v) : v + o;
    }
    return v;
  }
  partial[tid] = v;
  rg_barrier();
  float r = partial[item * LANES];
  if (MAX)
    for (int l = 1; l < LANES; ++l) {
      const float o = partial[item * LANES + l];
      r = o > r ? o : r;
    }
  else
    r = lanes_sum(partial + item * LANES);  // the exchanges' order: the same sum on every target
  rg_barrier();
  return r;
}

// The fp8 codes of a vector (x / s or x * inv), stored as one access where the place is aligned.
RG_DEVICE void store_codes8(unsigned char* p, const Vec& x, float s, float inv, bool divide) {
  unsigned w[(VEC + 3) / 4];
#pragma unroll
  for (int k = 0; k < (VEC + 3) / 4; ++k) w[k] = 0;
  const rg_divisor d = rg_make_divisor(divide ? s : 1.0f);  // x / s: one reciprocal for the row (quant.h)
#pragma unroll
  for (int i = 0; i < VEC; i += 2) {  // two codes per conversion (the pair instruction where the target has one)
    float v0 = get(x, i), v1 = i + 1 < VEC ? get(x, i + 1) : v0;
    if (divide) rg_div2(v0, v1, d);
    else {
      v0 *= inv;
      v1 *= inv;
    }
    const unsigned pair = indexer_fp8x2(v0, v1);
    w[i / 4] |= (i + 1 < VEC ? pair & 0xffffu : pair & 0xffu) << (8 * (i % 4));
  }
  if (reinterpret_cast<unsigned long long>(p) % VEC == 0) {
    store_packed<VEC>(p, w);
    return;
  }
#pragma unroll
  for (int i = 0; i < VEC; ++i) p[i] = static_cast<unsigned char>(w[i / 4] >> (8 * (i % 4)));
}

// Where code c of K's row goes in its block record (token tb of the block).
RG_DEVICE long long k_at(long long tb, int c) {
  return TILED ? (tb / 16) * 16 * HEAD_DIM + (c / 16) * 256 + (tb % 16) * 16 + c % 16 : tb * HEAD_DIM + c;
}

RG_DEVICE void run(const ropegen_kernel_args& a) {
  const int tid = rg_thread_x();
  const int lane = tid % LANES;
  const int item = tid / LANES;
  if (PDL) rg_allow_next_grid();
  if (item >= TOKENS_PER_BLOCK * HEAD_GROUPS) return;
  const long long t = static_cast<long long>(rg_block_x()) * TOKENS_PER_BLOCK + item / HEAD_GROUPS;
  if (t >= a.num_tokens) return;
  const int group = item % HEAD_GROUPS;
  long long bad = 0;
  const long long slot = static_cast<long long>(static_cast<const Index*>(a.slot_mapping)[t]);
  if (position_outside(a, t, bad) || slot_outside(a, slot)) return;

  // The stretch and unit this lane covers (rows.h).
  const LaneUnit lu = lane_unit(lane);
  const int unit = lu.unit, off0 = lu.off0, half = lu.half;
  const bool rot_lane = lu.rotate;
  const bool two = half != 0;
  const int off1 = off0 + half;
  // cos_sin = compute: computed by one head group, taken by the others after a barrier
  // (below; rows.h's SHARED_CS); tables: each lane loads its own.
  RG_SHARED float cs_shared[SHARED_CS_FLOATS];
  float* const cs_token = shared_cs_token(cs_shared, item);
  float c[NJ], s[NJ];
  if (rot_lane && (!SHARED_CS || group == 0)) cos_sin(a, t, unit * NJ, c, s);
  if (SHARED_CS && rot_lane && group == 0) put_shared_cs(cs_token, unit, c, s);
  if (PDL) rg_wait_prior_grid();

  RG_SHARED float partial[ROW_SHUFFLE ? 1 : BLOCK_THREADS];
  const int step = rg_grid_y() * HEAD_GROUPS;
  const int iterations = (ROWS + step - 1) / step;
  // Row `it`'s vectors (and a q row's head weight); the next row's are loaded before this one's
  // reductions (its loads in flight behind this row's exchanges and stores).
  const int r0 = rg_block_y() * HEAD_GROUPS + group;
  auto fetch = [&](int it, Vec& y0, Vec& y1, float& wt) {
    const int r = r0 + it * step;
    const bool is_k = r == Q_HEADS;
    if (!(r < ROWS && (!is_k || slot >= 0))) return;
    const Elem* src = is_k ? static_cast<const Elem*>(a.k) + t * a.k_stride
                           : static_cast<const Elem*>(a.q) + t * a.q_stride + static_cast<long long>(r) * HEAD_DIM;
    y0 = load_vec(src + off0);
    y1 = load_vec(src + (two ? off1 : off0));  // not y0 copied: that waits for y0's load (rope_kv's load_row)
    if (!is_k && lane == 0) wt = static_cast<const float*>(a.v)[t * a.v_stride + r];  // q head r's weight
  };
  Vec n0{}, n1{};
  float nw = 0.0f;
  fetch(0, n0, n1, nw);
  // The groups take the shared cos/sin row by row (below; RG_SHARED_CS_EACH_ROW), not once
  // before the loop: read again each row, they need no registers across it (sm_90: 80 -> 64
  // registers, a third more warps resident).
  constexpr bool CS_EACH_ROW = SHARED_CS && RG_SHARED_CS_EACH_ROW;
  if (SHARED_CS) {  // the token's first row in flight meanwhile
    rg_barrier();
    if (!CS_EACH_ROW && rot_lane && group != 0) take_shared_cs(cs_token, unit, c, s);
  }
  for (int it = 0; it < iterations; ++it) {
    const int r = r0 + it * step;
    const bool is_k = r == Q_HEADS;
    const bool active = r < ROWS && (!is_k || slot >= 0);  // padding: no K record
    Vec x0 = n0, x1 = n1;
    const float weight = nw;
    if (it + 1 < iterations) fetch(it + 1, n0, n1, nw);
    if (ROW_SHUFFLE && !active) continue;  // a row's lanes skip together
    if (LAYERNORM && (is_k || !ROW_SHUFFLE)) {  // K: two passes, the mean, then the variance around it
      float sum = 0.0f;
      if (active && is_k)
#pragma unroll
        for (int i = 0; i < VEC; ++i) sum += get(x0, i) + (two ? get(x1, i) : 0.0f);
      const float mean = row_reduce<false>(sum, partial, tid, item) / HEAD_DIM;
      float var = 0.0f;
      if (active && is_k)
#pragma unroll
        for (int i = 0; i < VEC; ++i) {
          const float d0 = get(x0, i) - mean, d1 = two ? get(x1, i) - mean : 0.0f;
          var += d0 * d0 + d1 * d1;
        }
      const float rs = 1.0f / rg_sqrt(row_reduce<false>(var, partial, tid, item) / HEAD_DIM + LN_EPS);
      if (active && is_k) {
        const float* w = static_cast<const float*>(a.k_norm_weight);
        const float* b = static_cast<const float*>(a.q_norm_weight);  // the bias (k_norm_bias)
        map_vec(x0, [&](int i, float x) { return (x - mean) * rs * w[off0 + i] + b[off0 + i]; });
        if (two) map_vec(x1, [&](int i, float x) { return (x - mean) * rs * w[off1 + i] + b[off1 + i]; });
      }
    }
    if (active && rot_lane) {
      if (CS_EACH_ROW) take_shared_cs<true>(cs_token, unit, c, s);
      if (NEOX) rotate_neox(x0, x1, c, s);
      else rotate_gptj(x0, c, s);
    }
    float m = 0.0f;  // the row's amax, NaN left out (rows.h)
    if (active) {
      m = vec_absmax(x0, m);
      if (two) m = vec_absmax(x1, m);
    }
    m = row_reduce<true>(m, partial, tid, item);
    if (!active) continue;
    if (is_k) {
      float sc = (m > 1e-4f ? m : 1e-4f) / FP8_MAX;
      if (UE8M0) sc = ue8m0(sc);
      const float inv = reciprocal(sc);
      unsigned char* rec = static_cast<unsigned char*>(a.k_cache) + (slot / BLOCK) * RECORD;
      const long long tb = slot % BLOCK;
      store_codes8(rec + k_at(tb, off0), x0, sc, inv, K_DIVIDE);
      if (two) store_codes8(rec + k_at(tb, off1), x1, sc, inv, K_DIVIDE);
      if (lane == 0) *reinterpret_cast<float*>(rec + BLOCK * HEAD_DIM + 4 * tb) = sc;
    } else {
      float qs = (m > 1e-10f ? m : 1e-10f) * INV_FP8_MAX;
      if (UE8M0) qs = ue8m0(qs);
      const float inv = reciprocal(qs);
      unsigned char* dst = static_cast<unsigned char*>(a.q_out) + t * a.q_out_stride + static_cast<long long>(r) * HEAD_DIM;
      store_codes8(dst + off0, x0, qs, inv, false);
      if (two) store_codes8(dst + off1, x1, qs, inv, false);
      if (lane == 0) a.q_out_scales[t * Q_HEADS + r] = weight * qs * WEIGHTS_SCALE;
    }
  }
}

}  // namespace rg_kernel
