// Row helpers every family shares: raw vectors of VEC elements, fp8 stores, position
// rows, and the cos/sin values of a token. Codegen binds the constants (namespace rg_spec)
// they read; the family templates follow this file.

namespace rg_kernel {
using namespace rg_spec;

// A vector of VEC elements is held as its raw storage (16 bytes at most), so every load
// and store is a single memory instruction; elements are unpacked with shifts.
using Vec = typename rg_raw<VEC * static_cast<int>(sizeof(Elem))>::type;
static_assert(sizeof(Vec) == VEC * sizeof(Elem), "no raw type of the vector's size");
constexpr bool WIDE = sizeof(Elem) == 4;  // one element per 32-bit word, else two

struct alignas(CS_ALIGN) CsVec {
  float e[NJ];
};

RG_DEVICE Vec load_vec(const Elem* p) { return rg_load(reinterpret_cast<const Vec*>(p)); }
RG_DEVICE void store_vec(Elem* p, const Vec& v) { rg_store(reinterpret_cast<Vec*>(p), v); }

RG_DEVICE float get(const Vec& v, int i) {
  const Elem* tag = nullptr;
  if (WIDE) return rg_decode_bits(rg_word(v, i), tag);
  const unsigned w = rg_word(v, i >> 1);
  return rg_decode_bits((i & 1) ? w >> 16 : w & 0xffffu, tag);
}

RG_DEVICE void set(Vec& v, int i, float x) {
  const Elem* tag = nullptr;
  const unsigned b = rg_encode_bits(x, tag);
  if (WIDE) {
    rg_set_word(v, i, b);
    return;
  }
  const unsigned w = rg_word(v, i >> 1);
  rg_set_word(v, i >> 1, (i & 1) ? (w & 0xffffu) | (b << 16) : (w & 0xffff0000u) | b);
}

// Elements i and i + 1 of v (i even) from x0 and x1; for the 16-bit types one word, by the
// target's packed convert where it has one.
RG_DEVICE void set2(Vec& v, int i, float x0, float x1) {
  if (WIDE) {
    set(v, i, x0);
    set(v, i + 1, x1);
    return;
  }
  const Elem* tag = nullptr;
  rg_set_word(v, i >> 1, rg_encode2_bits(x0, x1, tag));
}

// v[i] = f(i, v[i]) for every element, by pairs where VEC is even (one packed convert each).
template <class F>
RG_DEVICE void map_vec(Vec& v, F f) {
  if (VEC % 2 == 0) {
#pragma unroll
    for (int i = 0; i < VEC; i += 2) set2(v, i, f(i, get(v, i)), f(i + 1, get(v, i + 1)));
    return;
  }
#pragma unroll
  for (int i = 0; i < VEC; ++i) set(v, i, f(i, get(v, i)));
}

// How a row is stored: as Elem, or quantized to the fp8 cache type or the fp8 q type
// (x / scale, rounded and saturated by the target's converter).
// kCacheQuant, kQQuant: a quantized cache row, or an fp8 q_out row with a computed scale,
// whose codes and scales the family stores through the codec (templates/quant.h).
enum Store { kElem = 0, kCacheFp8 = 1, kQFp8 = 2, kCacheQuant = 3, kQQuant = 4 };

// BYTES bytes (1, 2, 4 or 8) of codes packed into words (byte k of the run in bits 8 (k % 4)
// of w[k / 4]) stored at p as one access.
template <int BYTES>
RG_DEVICE void store_packed(unsigned char* p, const unsigned* w) {
  if (BYTES == 1) {
    *p = static_cast<unsigned char>(w[0]);
    return;
  }
  using Raw = typename rg_raw<(BYTES >= 2 ? BYTES : 2)>::type;
  Raw r{};
#pragma unroll
  for (int k = 0; k < (BYTES + 3) / 4; ++k) rg_set_word(r, k, w[k]);
  rg_store(reinterpret_cast<Raw*>(p), r);
}

// The fp8 stores' pair encoders, by the type of `enc`: the cache's or q_out's (RowFp8, the
// store's kind chosen per pair, as one loop for both); a family adds a type and an encode2
// of its own (mla's record k_pe).
struct RowFp8 {
  int store;  // kCacheFp8: cache_encode2, else q_encode2
};
RG_DEVICE unsigned encode2(const RowFp8& e, float lo, float hi) {
  return e.store == kCacheFp8 ? cache_encode2(lo, hi) : q_encode2(lo, hi);
}

// The fp8 codes of a vector of VEC elements, x / scale by the encoder of `enc`, packed into
// words (code k in bits 8 (k % 4) of w[k / 4]).
template <class E>
RG_DEVICE void fp8_words(const Vec& x, float scale, const E& enc, unsigned* w) {
#pragma unroll
  for (int k = 0; k < (VEC + 3) / 4; ++k) w[k] = 0;
  // x / scale, the IEEE division per element: the quotients by one reciprocal (rg_div2, as the
  // codec's) measured slower here on the H100 (fp8_e4m3 per-tensor cache, graph mode: 2.71
  // against 2.50 us at 1 token, 97.8 against 100.1% of copy at 8192 tokens, one run each).
#pragma unroll
  for (int i = 0; i < VEC; i += 2) {
    const float lo = get(x, i) / scale, hi = i + 1 < VEC ? get(x, i + 1) / scale : lo;
    const unsigned pair = encode2(enc, lo, hi);
    w[i / 4] |= (i + 1 < VEC ? pair & 0xffffu : pair & 0xffu) << (8 * (i % 4));
  }
}

// Stores the fp8 codes of a vector (fp8_words) at element (byte) offset `off` of a row of codes.
template <class E>
RG_DEVICE void store_fp8_row(void* dst, int off, const Vec& x, float scale, const E& enc) {
  unsigned w[(VEC + 3) / 4];
  fp8_words(x, scale, enc, w);
  store_packed<VEC>(static_cast<unsigned char*>(dst) + off, w);
}

// Stores a vector of VEC elements at element offset `off` of a row.
RG_DEVICE void store_row(void* dst, int off, const Vec& x, int store, float scale) {
  if (store == kElem || (store == kCacheFp8 && !CACHE_FP8) || (store == kQFp8 && !Q_FP8)) {
    store_vec(static_cast<Elem*>(dst) + off, x);
    return;
  }
  store_fp8_row(dst, off, x, scale, RowFp8{store});
}

// Quantized stores (the codec of templates/quant.h): the largest and smallest value of a vector (NaN left out).
// Two elements a word (bf16, f16) where the target has packed max and min: a tree over the
// words, then the two halves (the same values: the max of 16-bit values is one of them).
constexpr bool PACKED_RANGE = RG_PACKED_MINMAX && !WIDE && VEC >= 4;
RG_DEVICE void vec_range(const Vec& x, float& hi, float& lo) {
  hi = -rg_as_float(0x7f800000u);
  lo = rg_as_float(0x7f800000u);
  const Elem* tag = nullptr;
  if (PACKED_RANGE) {
    unsigned mx = rg_word(x, 0), mn = mx;
#pragma unroll
    for (int k = 1; k < VEC / 2; ++k) {
      mx = rg_max2_bits(mx, rg_word(x, k), tag);
      mn = rg_min2_bits(mn, rg_word(x, k), tag);
    }
    hi = rg_quant_max(rg_quant_max(hi, rg_decode_bits(mx & 0xffffu, tag)), rg_decode_bits(mx >> 16, tag));
    lo = rg_quant_min(rg_quant_min(lo, rg_decode_bits(mn & 0xffffu, tag)), rg_decode_bits(mn >> 16, tag));
  } else {
#pragma unroll
    for (int i = 0; i < VEC; ++i) {
      const float v = get(x, i);
      hi = rg_quant_max(hi, v);
      lo = rg_quant_min(lo, v);
    }
  }
}

// The largest |x| of a vector, at least m (NaN left out).
RG_DEVICE float vec_absmax(const Vec& x, float m) {
  const Elem* tag = nullptr;
  if (PACKED_RANGE) {
    unsigned mx = rg_word(x, 0) & 0x7fff7fffu;
#pragma unroll
    for (int k = 1; k < VEC / 2; ++k) mx = rg_max2_bits(mx, rg_word(x, k) & 0x7fff7fffu, tag);
    m = rg_quant_max(rg_quant_max(m, rg_decode_bits(mx & 0xffffu, tag)), rg_decode_bits(mx >> 16, tag));
  } else {
#pragma unroll
    for (int i = 0; i < VEC; ++i) m = rg_quant_max(m, rg_as_float(rg_as_uint(get(x, i)) & 0x7fffffffu));
  }
  return m;
}

// BYTES bytes of packed codes at p, an address aligned to ALIGN bytes (a power of two): one
// access when ALIGN >= BYTES, else BYTES / ALIGN accesses of ALIGN bytes (the records of a
// cache with inline scales need not align as a vector's codes would).
template <int BYTES, int ALIGN>
RG_DEVICE void store_packed_aligned(unsigned char* p, const unsigned* w) {
  if (ALIGN >= BYTES) {
    store_packed<BYTES>(p, w);
    return;
  }
  constexpr int A = ALIGN < BYTES ? ALIGN : BYTES;
#pragma unroll
  for (int k = 0; k < BYTES / A; ++k) {
    if (A >= 4) {
      store_packed<A>(p + k * A, w + k * A / 4);
    } else {
      const unsigned part = w[(k * A) / 4] >> (8 * ((k * A) % 4));
      store_packed<A>(p + k * A, &part);
    }
  }
}

// The codes of a vector packed into words, BYTES bytes (1, 2, 4 or 8), element 2i in the low
// nibble of a byte (byte k in bits 8 (k % 4) of w[k / 4]).
template <int BYTES>
RG_DEVICE void code_words(const rg_codec C, const QuantScale& q, const Vec& x, unsigned* w) {
#pragma unroll
  for (int k = 0; k < (BYTES + 3) / 4; ++k) w[k] = 0;
#pragma unroll
  for (int i = 0; i < VEC; i += 2) {  // codes by pairs (quant.h)
    unsigned c0, c1;
    quant_codes2(C, q, get(x, i), i + 1 < VEC ? get(x, i + 1) : get(x, i), c0, c1);
    const int bit = i * C.bits;  // element 2i in the low nibble of its byte
    w[bit / 32] |= c0 << (bit % 32);
    if (i + 1 < VEC) w[(bit + C.bits) / 32] |= c1 << ((bit + C.bits) % 32);
  }
}

// The codes of a vector (code_words) at an address aligned to ALIGN bytes.
template <int BYTES, int ALIGN = 16>
RG_DEVICE void store_codes(const rg_codec C, const QuantScale& q, const Vec& x, unsigned char* p) {
  unsigned w[(BYTES + 3) / 4];
  code_words<BYTES>(C, q, x, w);
  store_packed_aligned<BYTES, ALIGN>(p, w);
}

// A group's scale bits at p: an f32 (scale_bytes 4) or one e4m3 / e8m0 byte.
RG_DEVICE void store_scale(const rg_codec C, unsigned char* p, unsigned bits) {
  if (C.scale_bytes == 4) *reinterpret_cast<unsigned*>(p) = bits;
  else *p = static_cast<unsigned char>(bits);
}

// The sum of N values p[0], p[stride], ... p[(N - 1) * stride] (block-shared memory) in the
// order a warp's exchanges add N lanes' values: pairwise where N is a power of two ((l0 + l1)
// + (l2 + l3), ...), else one by one; so a target without exchanges gets the same sum.
template <int N>
RG_DEVICE float pairwise_sum(const float* p, int stride = 1) {
  float v[N];
#pragma unroll
  for (int l = 0; l < N; ++l) v[l] = p[l * stride];
  if ((N & (N - 1)) == 0) {
#pragma unroll
    for (int w = 1; w < N; w <<= 1)
#pragma unroll
      for (int l = 0; l + w < N; l += 2 * w) v[l] += v[l + w];
  } else {
#pragma unroll
    for (int l = 1; l < N; ++l) v[0] += v[l];
  }
  return v[0];
}

// The sum of a row's LANES partial values (p[0 .. LANES)), as its lanes' exchanges add them.
RG_DEVICE float lanes_sum(const float* p) { return pairwise_sum<LANES>(p); }

// The stretch of the walked row (codegen's row_segment) a lane covers: its unit within the
// stretch, the first vector's element and the distance to the second (0: one vector), and
// whether it rotates. On a NeoX row a lane takes one vector from each half of a rotated
// stretch, and of a copied one whose halves are whole vectors; else one vector (codegen's
// segment_lanes counts the lanes by the same rule).
struct LaneUnit {
  int unit, off0, half;
  bool rotate;
};
RG_DEVICE LaneUnit lane_unit(int lane) {
  LaneUnit u{0, 0, 0, false};
  int first = 0;
#pragma unroll
  for (int i = 0; i < NUM_SEGMENTS; ++i) {
    const rg_segment sg = row_segment(i);
    const bool paired = NEOX && (sg.rotate || sg.length % (2 * VEC) == 0);
    const int units = paired ? sg.length / (2 * VEC) : sg.length / VEC;
    if (lane >= first && lane < first + units) {
      u.unit = lane - first;
      u.off0 = sg.offset + u.unit * VEC;
      u.half = paired ? sg.length / 2 : 0;
      u.rotate = sg.rotate;
    }
    first += units;
  }
  return u;
}

// Position row r (0 = t, 1 = h, 2 = w) of token t; one row unless positions = mrope/imrope.
// positions = grid: frame, row and column of the token's one position p in the grid.
RG_DEVICE long long position(const ropegen_kernel_args& a, long long t, int r) {
  if (POSITIONS_GRID) {
    const long long p = static_cast<long long>(static_cast<const Index*>(a.positions)[t]);
    return r == 0 ? p / (a.grid_h * a.grid_w) : r == 1 ? (p / a.grid_w) % a.grid_h : p % a.grid_w;
  }
  const long long stride = a.positions_stride ? a.positions_stride : a.num_tokens;
  return static_cast<long long>(static_cast<const Index*>(a.positions)[r * stride + t]);
}

// The limits of kernel_args.h (table_rows, cache_slots): a token with a position outside the
// cos/sin table or a slot at or past the cache is skipped whole, in every checks mode, before
// anything is read through that index. A limit of 0 is no limit: one compare with 0, as before
// limits existed. checks = bounds requires both limits it can use, also refuses a negative
// position with computed cos/sin, and records the first such token.

// Whether a position row of token t lies outside [0, table_rows) (cos_sin = table and
// table_rows > 0), or is negative (computed cos/sin, checks = bounds); `value`: the first row's.
RG_DEVICE bool position_outside(const ropegen_kernel_args& a, long long t, long long& value) {
  if (!ROTATES || !(CHECKED || (COS_SIN_TABLE && a.table_rows > 0))) return false;
  if (POSITIONS_GRID && !COS_SIN_TABLE) {  // the token's own position: a negative one gives a negative row
    value = static_cast<long long>(static_cast<const Index*>(a.positions)[t]);
    return value < 0;
  }
  bool out = false;
#pragma unroll
  for (int r = POSITION_ROWS - 1; r >= 0; --r) {  // the first bad row is the one reported
    const long long pos = position(a, t, r);
    if (COS_SIN_TABLE ? static_cast<unsigned long long>(pos) >= static_cast<unsigned long long>(a.table_rows) : pos < 0) {
      out = true;
      value = pos;
    }
  }
  return out;
}

// Whether a slot lies at or past the cache (cache_slots > 0); a negative slot is padding.
RG_DEVICE bool slot_outside(const ropegen_kernel_args& a, long long slot) {
  return a.cache_slots > 0 && slot >= a.cache_slots;
}

// The position row frequency index j reads (rope-math.md, multimodal RoPE).
RG_DEVICE int row_of(int j) {
  if (POSITION_ROWS == 1) return 0;
  if (!POSITIONS_INTERLEAVED) return j < SECTION0 ? 0 : j < SECTION0 + SECTION1 ? 1 : 2;
  if (j % 3 == 1 && j < 3 * SECTION1) return 1;
  if (j % 3 == 2 && j < 3 * SECTION2) return 2;
  return 0;
}

// ln(x) for x >= 1 in double (the dynamic family's base): x = m 2^e with m near 1 (the
// exponent from x's float bits, exact powers of two), then 2 atanh((m - 1) / (m + 1)).
RG_DEVICE double ln_d(double x) {
  const int e = static_cast<int>((rg_as_uint(static_cast<float>(x)) >> 23) & 0xff) - 127;
  double m = x * static_cast<double>(rg_as_float(static_cast<unsigned>(127 - e) << 23));
  double k = e;
  if (m > 1.4142135623730951) {
    m *= 0.5;
    k += 1;
  } else if (m < 0.7071067811865476) {
    m *= 2;
    k -= 1;
  }
  const double z = (m - 1) / (m + 1), z2 = z * z;
  double sum = 0, term = z;
#pragma unroll
  for (int n = 1; n <= 25; n += 2) {
    sum += term / n;
    term *= z2;
  }
  return k * 0.69314718055994530942 + 2 * sum;
}

// exp(y) in double for -87 < y <= 0: y = k ln2 + r, |r| <= ln2 / 2, Taylor series of e^r.
RG_DEVICE double exp_d(double y) {
  const double k = rg_rint(y * 1.4426950408889634074);
  const double r = (y - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10;
  double sum = 1, term = 1;
#pragma unroll
  for (int n = 1; n <= 16; ++n) {
    term *= r / n;
    sum += term;
  }
  return sum * static_cast<double>(rg_as_float(static_cast<unsigned>(127 + static_cast<int>(k)) << 23));
}

RG_DEVICE void rotate_neox(Vec& lo, Vec& hi, const float* c, const float* s) {
  if (VEC % 2 == 0) {  // elements by pairs: one packed convert each (set2)
#pragma unroll
    for (int i = 0; i < VEC; i += 2) {
      const float a0 = get(lo, i), a1 = get(lo, i + 1);
      const float b0 = get(hi, i), b1 = get(hi, i + 1);
      set2(lo, i, a0 * c[i] - b0 * s[i], a1 * c[i + 1] - b1 * s[i + 1]);
      set2(hi, i, b0 * c[i] + a0 * s[i], b1 * c[i + 1] + a1 * s[i + 1]);
    }
    return;
  }
#pragma unroll
  for (int i = 0; i < VEC; ++i) {
    const float x0 = get(lo, i);
    const float x1 = get(hi, i);
    set(lo, i, x0 * c[i] - x1 * s[i]);
    set(hi, i, x1 * c[i] + x0 * s[i]);
  }
}

RG_DEVICE void rotate_gptj(Vec& v, const float* c, const float* s) {
#pragma unroll
  for (int i = 0; i < VEC / 2; ++i) {
    const float x0 = get(v, 2 * i);
    const float x1 = get(v, 2 * i + 1);
    set2(v, 2 * i, x0 * c[i] - x1 * s[i], x1 * c[i] + x0 * s[i]);
  }
}

// The NJ cos/sin values of frequency indices j0 .. j0 + NJ - 1 for token t: from the
// tables, or computed (the scaling family's frequencies, the token's position rows and
// sequence length, the attention factor).
// cos_sin = table(per_head = true): `head` picks the KV head's table within the position's row.
RG_DEVICE void cos_sin(const ropegen_kernel_args& a, long long t, int j0, float* c, float* s, int head = 0) {
  if (COS_SIN_TABLE) {
    const int col = j0 + (COS_SIN_PER_HEAD ? head * (ROTARY_DIM / 2) : 0);  // j0: the frequency index
    long long pos_row[POSITION_ROWS];
#pragma unroll
    for (int r = 0; r < POSITION_ROWS; ++r) pos_row[r] = position(a, t, r);
#pragma unroll
    for (int r = 0; r < POSITION_ROWS; ++r) {  // one vector load per row; each j takes its row's
      const CsVec cv = *reinterpret_cast<const CsVec*>(a.cos + pos_row[r] * a.cos_sin_stride + col);
      const CsVec sv = *reinterpret_cast<const CsVec*>(a.sin + pos_row[r] * a.cos_sin_stride + col);
#pragma unroll
      for (int i = 0; i < NJ; ++i) {
        if (row_of(j0 + i) != r) continue;
        c[i] = cv.e[i];
        s[i] = sv.e[i];
      }
    }
  } else {
    // The token's frequency set: fixed, or chosen by its sequence length (longrope with
    // choose = runtime), or scaled by it (dynamic with choose = runtime).
    bool use_long = false;
    double ln_base = 0;
    if (LENGTH_RULE != 0) {
      const double len = static_cast<double>(static_cast<const Index*>(a.seq_lens)[t]);
      use_long = LENGTH_RULE == 2 && len > LENGTH_ORIGINAL;
      if (LENGTH_RULE == 1) {
        const double ratio = DYNAMIC_FACTOR * len / LENGTH_ORIGINAL - (DYNAMIC_FACTOR - 1);
        ln_base = LN_THETA + (ratio > 1 ? DYNAMIC_EXPONENT * ln_d(ratio) : 0.0);
      }
    }
    const float attention = use_long ? ATTENTION_LONG : ATTENTION;
    // The positions as the angle's type, converted once (fp32, or double for angle = exact).
    float pf[POSITION_ROWS];
    double pd[POSITION_ROWS];
#pragma unroll
    for (int r = 0; r < POSITION_ROWS; ++r) {
      const long long p = position(a, t, r);
      pf[r] = static_cast<float>(p);
      pd[r] = static_cast<double>(p);
    }
#pragma unroll
    for (int i = 0; i < NJ; ++i) {
      const int j = j0 + i;
      // The row is known only at run time (j0 is the lane's): selects, not an indexed array,
      // keep the positions in registers.
      const int r = row_of(j);
      const float p32 = POSITION_ROWS == 1 || r == 0 ? pf[0] : r == 1 ? pf[POSITION_ROWS > 1 ? 1 : 0]
                                                                      : pf[POSITION_ROWS > 2 ? 2 : 0];
      const double p64 = POSITION_ROWS == 1 || r == 0 ? pd[0] : r == 1 ? pd[POSITION_ROWS > 1 ? 1 : 0]
                                                                       : pd[POSITION_ROWS > 2 ? 2 : 0];
      if (LENGTH_RULE == 1) {  // inv_freq_j = base'^(-2j/d), in double
        const double inv = exp_d(-2.0 * j / ROTARY_DIM * ln_base);
        if (ANGLE_EXACT) rg_sincos_exact(p64 * inv, &s[i], &c[i]);
        else rg_sincos(p32 * static_cast<float>(inv), &s[i], &c[i]);
      } else if (ANGLE_EXACT) {
        rg_sincos_exact(p64 * (use_long ? INV_FREQ_LONG_D[j] : INV_FREQ_D[j]), &s[i], &c[i]);
      } else {
        rg_sincos(p32 * (use_long ? INV_FREQ_LONG[j] : INV_FREQ[j]), &s[i], &c[i]);
      }
      if (ATTENTION != 1.0f || ATTENTION_LONG != 1.0f) {  // the family's attention factor (a table holds it)
        c[i] *= attention;
        s[i] *= attention;
      }
    }
  }
}

// cos_sin = compute with four or more head groups a block: one group's rotating lanes compute
// the token's cos/sin and put them in block-shared memory, and after a barrier the other
// groups' rotating lanes take them there, instead of every group computing the same values (an
// eighth of the indexer's instructions on the H100). A family declares the block's array of
// SHARED_CS_FLOATS (RG_SHARED in its kernel body) and passes its token's part of it
// (2 * ROTARY_DIM / 2 floats a token: cos, then sin).
constexpr bool SHARED_CS = ROTATES && ROTARY_DIM > 0 && !COS_SIN_TABLE && !COS_SIN_PER_HEAD && HEAD_GROUPS >= 4;
constexpr int SHARED_CS_FLOATS = SHARED_CS ? 2 * TOKENS_PER_BLOCK * (ROTARY_DIM / 2) : 1;
RG_DEVICE float* shared_cs_token(float* shared, int item) { return shared + 2 * (item / HEAD_GROUPS) * (ROTARY_DIM / 2); }
RG_DEVICE void put_shared_cs(float* token, int unit, const float* c, const float* s) {
#pragma unroll
  for (int i = 0; i < NJ; ++i) {
    token[unit * NJ + i] = c[i];
    token[ROTARY_DIM / 2 + unit * NJ + i] = s[i];
  }
}
// RG_SHARED_CS_EACH_ROW (the vendor prelude's): whether a family that walks several rows a
// thread takes them again for each row rather than keeping them in registers across its loop.
#ifndef RG_SHARED_CS_EACH_ROW
#define RG_SHARED_CS_EACH_ROW 1
#endif
// EACH_USE: read where used, every time (volatile: the compiler may not hoist the reads out of
// a loop and keep the values in registers across it). A template argument, not a run-time
// flag: with a flag NVRTC made every take volatile (both arms load the same place), and the
// kernels that take once lost their plain loads.
template <class P>
RG_DEVICE void take_shared_cs_through(P p, int unit, float* c, float* s) {
#pragma unroll
  for (int i = 0; i < NJ; ++i) {
    c[i] = p[unit * NJ + i];
    s[i] = p[ROTARY_DIM / 2 + unit * NJ + i];
  }
}
template <bool EACH_USE = false>
RG_DEVICE void take_shared_cs(const float* token, int unit, float* c, float* s) {
  if (EACH_USE) take_shared_cs_through(static_cast<const volatile float*>(token), unit, c, s);
  else take_shared_cs_through(token, unit, c, s);
}

}  // namespace rg_kernel
