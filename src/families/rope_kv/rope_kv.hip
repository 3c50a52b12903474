// RoPE and KV-cache append for a whole batch in one launch.
//
// Codegen binds the constants of namespace rg_spec (head sizes, dtype, vector width,
// launch shape, the row's segments); this file is the algorithm. A head row is a list of
// segments (row_segment(i)), each rotated or copied, split into "units" of one lane:
//  - NeoX, rotated segment: one vector from each half, so a thread holds both elements of
//    each of its pairs and every element is read exactly once;
//  - GPT-J, rotated segment: one vector of adjacent pairs;
//  - copied segment: one vector that passes through unchanged.
// LANES threads cover one head row. A thread serves one token and walks the head tasks of
// its head group (Q heads, then K heads, then V heads), reusing the cos/sin values it
// loaded once for that token. Blocks cover TOKENS_PER_BLOCK tokens along x; the launch may
// split the head tasks across blocks along y (decode batches).

namespace rg_kernel {
using namespace rg_spec;

// Which tensor a task's row belongs to: its norm (qk_norm's weights, v_norm) and its bias
// follow. kRowGate: the gate half of a q head (gate = interleaved), copied to gate_out.
enum { kRowQ = 0, kRowK = 1, kRowV = 2, kRowGate = 3 };

// One head row to process: read src, write dst (may be src) and dst2 (when not null, always
// Elem), rotate or copy; qk_norm applies to the rows that rotate, v_norm to v's.
struct Task {
  const Elem* src;
  void* dst;
  Elem* dst2;
  bool rotate;
  int store;     // Store
  float scale;   // fp8 stores; nvfp4: the global scale
  int row;       // kRowQ, kRowK, kRowV
  unsigned char* scales;  // quantized cache: the row's scales (k/v_cache_scales)
  int scale_step;         // scales apart (1; 4 for swizzled v scales)
  int head;               // the head within its tensor (span = all_heads weights)
  int layout;             // 0: a contiguous row; order = amd, amd_shuffle: 1 K's pieces, 2 V's elements
};

// Whether a task's row is normalized, and by one RMS over the token's heads (all_heads).
RG_DEVICE bool row_norm(const Task& t) { return (QK_NORM && t.rotate) || (V_NORM && t.row == kRowV); }
RG_DEVICE bool token_norm(const Task& t) { return NORM_ALL_HEADS && t.rotate; }

// cos_sin = table(per_head = true): a rotating task's cos/sin, from its KV head's table (a q
// head reads its group's, so q and k of a group turn alike); loaded per task.
RG_DEVICE void head_cos_sin(const ropegen_kernel_args& a, long long t, const Task& task, int j0, bool rot_lane,
                            float* c, float* s) {
  if (!COS_SIN_PER_HEAD || !rot_lane || !task.rotate) return;
  cos_sin(a, t, j0, c, s, task.row == kRowQ ? task.head / (Q_HEADS / KV_HEADS) : task.head);
}

// heads = strided: the caller's head stride (0: head_dim); packed: head_dim.
RG_DEVICE long long head_stride(long long given) { return HEAD_STRIDES && given ? given : HEAD_DIM; }
// q's head stride: gate = interleaved puts each head's gate after its q (2 * head_dim apart).
RG_DEVICE long long q_head_stride(const ropegen_kernel_args& a) {
  return GATED ? 2LL * HEAD_DIM : head_stride(a.q_head_stride);
}
// The first gate task (gate = interleaved): the last Q_HEADS tasks.
constexpr int GATE_FIRST = GATED ? NUM_TASKS - Q_HEADS : NUM_TASKS;

// Row index (in units of HEAD_DIM elements) of a slot in the cache.
RG_DEVICE long long cache_row(long long slot, int kv_head, long long max_seq) {
  if (CACHE_PAGED) {
    const long long block = slot / CACHE_BLOCK;
    const long long offset = slot - block * CACHE_BLOCK;
    return CACHE_HND ? (block * KV_HEADS + kv_head) * CACHE_BLOCK + offset
                     : (block * CACHE_BLOCK + offset) * KV_HEADS + kv_head;
  }
  return CACHE_HND ? kv_head * max_seq + slot : slot * KV_HEADS + kv_head;
}

// Element offset of the row of (slot, kv_head) in k_cache and in v_cache (not quantized:
// a quantized cache's codes and scales are addressed by cache_row). order = strided: the
// run-time strides of the argument block (0: the nhd layout's), one set for K and V.
RG_DEVICE long long cache_elem(const ropegen_kernel_args& a, long long slot, int kv_head, bool is_v) {
  if (CACHE_AMD != 0) {  // the row's origin: K's first piece, V's first element (store_amd places the rest)
    const long long page = slot / CACHE_BLOCK, t = slot - page * CACHE_BLOCK;
    const long long head = (page * KV_HEADS + kv_head) * HEAD_DIM * CACHE_BLOCK;
    if (!is_v) return head + t * CACHE_X;
    return CACHE_AMD == 1 ? head + t : head + (t / CACHE_X) * HEAD_DIM * CACHE_X + t % CACHE_X;
  }
  if (CACHE_STRIDED) {
    const long long head = a.cache_head_stride ? a.cache_head_stride : HEAD_DIM;
    const long long token = a.cache_token_stride ? a.cache_token_stride : KV_HEADS * HEAD_DIM;
    const long long page = a.cache_block_stride ? a.cache_block_stride : CACHE_BLOCK * KV_HEADS * HEAD_DIM;
    const long long block = slot / CACHE_BLOCK;
    return block * page + (slot - block * CACHE_BLOCK) * token + kv_head * head;
  }
  return cache_row(slot, kv_head, a.max_seq) * HEAD_DIM;
}

// The cache slot of token t: slot_mapping[t], else its position (contiguous caches); window =
// ring: ring_base[t] plus the ring slot of its position, -1 (padding) for a negative base or
// position. Sinks keep their slot; later positions cycle through L = W - S slots after the
// sinks, padded to a page (TensorRT-LLM's getKVTokenIdx).
RG_DEVICE long long token_slot(const ropegen_kernel_args& a, long long t) {
  if (RING) {
    const long long pos = static_cast<long long>(static_cast<const Index*>(a.positions)[t]);
    const long long base = static_cast<long long>(static_cast<const Index*>(a.ring_base)[t]);
    if (base < 0 || pos < 0) return -1;
    constexpr long long BUBBLE = (CACHE_BLOCK - RING_SINKS % CACHE_BLOCK) % CACHE_BLOCK;
    constexpr long long L = RING_WINDOW - RING_SINKS;
    return base + (pos < RING_SINKS ? pos : RING_SINKS + BUBBLE + (pos - RING_SINKS) % L);
  }
  return a.slot_mapping ? static_cast<long long>(static_cast<const Index*>(a.slot_mapping)[t])
                        : static_cast<long long>(static_cast<const Index*>(a.positions)[t]);
}

// Source row of head task h (Q heads, then K heads, then V heads) of token t; null for K
// heads when op = rope is given no k.
RG_DEVICE const Elem* task_src(const ropegen_kernel_args& a, long long t, int h) {
  if (GATED && h >= GATE_FIRST)  // the gate half of q head h - GATE_FIRST
    return static_cast<const Elem*>(a.q) + t * a.q_stride + static_cast<long long>(h - GATE_FIRST) * q_head_stride(a) +
           HEAD_DIM;
  if (HAS_Q && h < Q_HEADS)
    return static_cast<const Elem*>(a.q) + t * a.q_stride + static_cast<long long>(h) * q_head_stride(a);
  if (HAS_Q) h -= Q_HEADS;
  const bool is_v = HAS_CACHE && h >= KV_HEADS && !V_FROM_K;  // v_source = k: v's rows are k's
  const int kv_head = HAS_CACHE && h >= KV_HEADS ? h - KV_HEADS : h;
  if (!HAS_CACHE && !a.k) return nullptr;
  const Elem* src = is_v ? static_cast<const Elem*>(a.v) + t * a.v_stride
                         : static_cast<const Elem*>(a.k) + t * a.k_stride;
  return src + static_cast<long long>(kv_head) * head_stride(is_v ? a.v_head_stride : a.k_head_stride);
}

// `scales`: per_tensor k and v scales, loaded once at the kernel's start.
RG_DEVICE Task task_for(const ropegen_kernel_args& a, long long t, int h, long long slot, const float* scales) {
  const Elem* src = task_src(a, t, h);
  if (GATED && h >= GATE_FIRST) {  // copied to gate_out, heads packed
    const int g = h - GATE_FIRST;
    return Task{src, static_cast<Elem*>(a.gate_out) + t * a.gate_out_stride + static_cast<long long>(g) * HEAD_DIM,
                nullptr, false, kElem, 1.0f, kRowGate, nullptr, 1, g};
  }
  if (HAS_Q && h < Q_HEADS) {  // q in place, or to q_out (fp8: q / q_scale)
    if (Q_FP8) {
      unsigned char* out = static_cast<unsigned char*>(a.q_out) + t * a.q_out_stride + static_cast<long long>(h) * HEAD_DIM;
      if (Q_QUANT != 0)  // the scale per (token, head) the kernel computes: q_out_scales [tokens, q_heads]
        return Task{src, out, nullptr, true, kQQuant, 1.0f, kRowQ,
                    reinterpret_cast<unsigned char*>(a.q_out_scales + t * Q_HEADS + h), 1, h};
      return Task{src, out, nullptr, true, kQFp8, a.q_scale[0], kRowQ, nullptr, 1, h};
    }
    Elem* out = SEPARATE_OUTPUTS && a.q_out ? static_cast<Elem*>(a.q_out) + t * a.q_out_stride + static_cast<long long>(h) * HEAD_DIM
                        : const_cast<Elem*>(src);
    return Task{src, out, nullptr, true, kElem, 1.0f, kRowQ, nullptr, 1, h};
  }
  if (HAS_Q) h -= Q_HEADS;
  Elem* k_out = SEPARATE_OUTPUTS && a.k_out && h < KV_HEADS
                    ? static_cast<Elem*>(a.k_out) + t * a.k_out_stride + static_cast<long long>(h) * HEAD_DIM
                    : nullptr;
  if (!HAS_CACHE) return Task{src, k_out ? k_out : const_cast<Elem*>(src), nullptr, src != nullptr, kElem, 1.0f, kRowK, nullptr, 1, h};  // rope: K
  // Padding (a negative slot) is skipped; so is, in a contiguous(order = hnd) cache, a slot at
  // or past max_seq, which would land in the next head's rows: one unsigned compare for both.
  const bool skip = CACHE_HND && !CACHE_PAGED
                        ? static_cast<unsigned long long>(slot) >= static_cast<unsigned long long>(a.max_seq)
                        : slot < 0;
  const bool is_v = h >= KV_HEADS;
  const int kv_head = is_v ? h - KV_HEADS : h;
  const int row_kind = is_v ? kRowV : kRowK;
  // A padding token's k_out row is still written (it is an activation, not a cache row).
  if (skip) return Task{src, k_out, nullptr, ROTATES && !is_v, kElem, 1.0f, row_kind, nullptr, 1, kv_head};
  const long long row = cache_row(slot, kv_head, a.max_seq);
  if (CACHE_QUANT != 0) {  // codes (CACHE_CODEC.bits each) and the row's scales (templates/quant.h)
    constexpr rg_codec C = CACHE_CODEC;
    constexpr long long CODE_BYTES = HEAD_DIM * C.bits / 8, SCALE_BYTES = (HEAD_DIM / C.group) * C.scale_bytes;
    unsigned char* base = static_cast<unsigned char*>(is_v ? a.v_cache : a.k_cache);
    // The scales' region and the row within it: the scale tensor and the cache row (SCALES_AT
    // 0); the page's scales after its codes and the row within the page (1); row 2: the
    // scales follow the row's codes.
    long long at = row;
    unsigned char* codes = base + row * CODE_BYTES;
    unsigned char* region = static_cast<unsigned char*>(is_v ? a.v_cache_scales : a.k_cache_scales);
    if (SCALES_AT == 1) {
      constexpr long long ROWS = static_cast<long long>(CACHE_BLOCK) * KV_HEADS;  // rows a page
      const long long page = slot / CACHE_BLOCK;
      at = row - page * ROWS;
      // Pages cache_block_stride bytes apart (K and V pages in one allocation), 0: packed.
      const long long stride = a.cache_block_stride ? a.cache_block_stride : ROWS * (CODE_BYTES + SCALE_BYTES);
      unsigned char* page_at = base + page * stride;
      codes = page_at + at * CODE_BYTES;
      region = page_at + ROWS * CODE_BYTES;
    } else if (SCALES_AT == 2) {
      codes = base + row * (CODE_BYTES + SCALE_BYTES);
      region = codes + CODE_BYTES;
      at = 0;
    }
    // order = amd, amd_shuffle (8-bit codes, scale tensors): the row's origin as cache_elem's
    // (store_quant_range places each code).
    if (CACHE_AMD != 0) codes = base + cache_elem(a, slot, kv_head, is_v);
    unsigned char* sc = region + at * SCALE_BYTES;
    if (V_SCALES_SWIZZLED && is_v) {  // tile (page, head) of [block, S]: (t / 4) * 4S + 4s + t % 4
      const long long in_page = slot % CACHE_BLOCK;
      sc = region + (at - in_page) * (HEAD_DIM / C.group) + (in_page / 4) * 4 * (HEAD_DIM / C.group) + in_page % 4;
      return Task{src, codes, k_out, false, kCacheQuant, scales[1], kRowV, sc, 4, kv_head};
    }
    return Task{src,      codes, k_out, ROTATES && !is_v, kCacheQuant, is_v ? scales[1] : scales[0], row_kind, sc, 1,
                kv_head, CACHE_AMD == 0 ? 0 : is_v ? 2 : 1};
  }
  CacheElem* cache = static_cast<CacheElem*>(is_v ? a.v_cache : a.k_cache);
  float scale = 1.0f;
  if (CACHE_FP8) scale = SCALES_PER_HEAD ? (is_v ? a.v_scale : a.k_scale)[kv_head] : (is_v ? scales[1] : scales[0]);
  return Task{src, cache + cache_elem(a, slot, kv_head, is_v), k_out, ROTATES && !is_v, kCacheFp8, scale, row_kind,
              nullptr, 1, kv_head, CACHE_AMD == 0 ? 0 : is_v ? 2 : 1};
}

// cache_tail = zero: a token whose next token does not write slot + 1 of the same page ends
// a run of written slots; its threads zero the rest of that page (below cache_slots when
// set) in the K and V head rows of their tasks, so readers of whole pages read zeros there.
// Nothing else in the launch writes those slots while a sequence's tokens come in slot order.
RG_DEVICE void clear_tail(const ropegen_kernel_args& a, long long t, long long slot, int h_first, int h_step, int off0,
                          int off1, bool two_vectors) {
  if (slot < 0) return;
  long long end = (slot / CACHE_BLOCK + 1) * CACHE_BLOCK;
  if (a.cache_slots > 0 && end > a.cache_slots) end = a.cache_slots;
  if (slot + 1 >= end || (t + 1 < a.num_tokens && token_slot(a, t + 1) == slot + 1)) return;
  for (int h = h_first; h < NUM_TASKS; h += h_step) {
    const int k = HAS_Q ? h - Q_HEADS : h;
    if (k < 0 || k >= 2 * KV_HEADS) continue;  // q's tasks, and the gate halves after the cache's
    if (CACHE_QUANT != 0) {  // a quantized row: its codes and its scales (zero bytes: value 0)
      constexpr rg_codec C = CACHE_CODEC;
      const float none[2] = {1.0f, 1.0f};
      for (long long r = slot + 1; r < end; ++r) {
        const Task z = task_for(a, t, h, r, none);
        for (int part = 0; part < (two_vectors ? 2 : 1); ++part) {
          const int off = part ? off1 : off0;
          unsigned char* codes = static_cast<unsigned char*>(z.dst) + off * C.bits / 8;
#pragma unroll
          for (int b = 0; b < VEC * C.bits / 8; ++b) rg_store(codes + b, static_cast<unsigned char>(0));
          if (off % C.group == 0)
            for (int b = 0; b < C.scale_bytes; ++b)
              rg_store(z.scales + (off / C.group) * C.scale_bytes * z.scale_step + b, static_cast<unsigned char>(0));
        }
      }
      continue;
    }
    const bool is_v = k >= KV_HEADS;
    const int kv_head = is_v ? k - KV_HEADS : k;
    CacheElem* cache = static_cast<CacheElem*>(is_v ? a.v_cache : a.k_cache);
    for (long long r = slot + 1; r < end; ++r) {
      CacheElem* row = cache + cache_elem(a, r, kv_head, is_v);
      store_row(row, off0, Vec{}, kCacheFp8, 1.0f);  // +0 in every element type (fp8 too)
      if (two_vectors) store_row(row, off1, Vec{}, kCacheFp8, 1.0f);
    }
  }
}

// The rotation of one task's vector(s).
RG_DEVICE void rotate(const Task& task, Vec& x0, Vec& x1, const float* c, const float* s, bool two_vectors,
                      bool rot_lane) {
  if (two_vectors) {
    if (task.rotate && rot_lane) rotate_neox(x0, x1, c, s);
  } else if (task.rotate && rot_lane) {
    rotate_gptj(x0, c, s);
  }
}

// order = amd, amd_shuffle: K's row lies in 16-byte pieces of CACHE_X elements (of the cache:
// 1-byte codes are bytes), CACHE_BLOCK * CACHE_X apart (a vector never spans two: VEC divides
// CACHE_X); V's elements lie CACHE_BLOCK (amd) or CACHE_X (amd_shuffle) apart, stored one by one.
constexpr long long AMD_V_STEP = CACHE_AMD == 1 ? CACHE_BLOCK : CACHE_X;
RG_DEVICE long long amd_k_piece(int off) { return (off / CACHE_X) * CACHE_BLOCK * CACHE_X + off % CACHE_X; }

// The 1-byte codes of the vector at element `off` (packed into words: fp8_words, code_words)
// where the task's layout puts them: K's in their piece at once, V's byte by byte.
RG_DEVICE void store_amd_codes(const Task& task, int off, const unsigned* w) {
  unsigned char* row = static_cast<unsigned char*>(task.dst);
  if (task.layout == 1) {
    store_packed<VEC>(row + amd_k_piece(off), w);
    return;
  }
  row += off * AMD_V_STEP;  // the rest: constant offsets
#pragma unroll
  for (int i = 0; i < VEC; ++i) rg_store(row + i * AMD_V_STEP, static_cast<unsigned char>(w[i / 4] >> (8 * (i % 4))));
}

// A vector in the dtype, or as fp8 codes (x / scale, encoded by pairs as store_row's).
RG_DEVICE void store_amd(const Task& task, const Vec& x, int off) {
  if (CACHE_FP8) {
    unsigned w[(VEC + 3) / 4];
    fp8_words(x, task.scale, RowFp8{kCacheFp8}, w);
    store_amd_codes(task, off, w);
    return;
  }
  if (task.layout == 1) {
    store_vec(static_cast<Elem*>(task.dst) + amd_k_piece(off), x);
    return;
  }
  Elem* row = static_cast<Elem*>(task.dst);
#pragma unroll
  for (int i = 0; i < VEC; ++i) {
    const long long at = (off + i) * AMD_V_STEP;
    if (WIDE) rg_store(reinterpret_cast<unsigned*>(row) + at, rg_word(x, i));
    else
      rg_store(reinterpret_cast<unsigned short*>(row) + at,
               static_cast<unsigned short>((rg_word(x, i >> 1) >> (16 * (i & 1))) & 0xffffu));
  }
}

// The stores of one task's rotated vector(s); a quantized row's codes are stored by
// store_quant (below) instead.
RG_DEVICE void store(const Task& task, const Vec& x0, const Vec& x1, bool two_vectors, int off0, int off1) {
  if (CACHE_AMD != 0 && CACHE_QUANT == 0 && task.layout != 0) {  // constant false for every other layout (and the
                                                                   // quantized caches': store_quant_range)
    store_amd(task, x0, off0);
    if (two_vectors) store_amd(task, x1, off1);
  } else if (task.store != kCacheQuant && task.store != kQQuant) {
    store_row(task.dst, off0, x0, task.store, task.scale);
    if (two_vectors) store_row(task.dst, off1, x1, task.store, task.scale);
  }
  if (task.dst2) {
    store_vec(task.dst2 + off0, x0);
    if (two_vectors) store_vec(task.dst2 + off1, x1);
  }
}

// Stores the codes of the vector at element `off` of a quantized row, given its group's
// largest and smallest values; the lane holding the group's first vector writes the scale.
RG_DEVICE void store_quant_range(const rg_codec C, const Task& task, const Vec& x, int off, float h, float l) {
  const QuantScale q = quant_scale(C, h, l, task.scale);
  if (off % C.group == 0) {
    store_scale(C, task.scales + (off / C.group) * C.scale_bytes * task.scale_step, q.bits);
  }
  // A cache with inline scales: its records may align less than a vector's codes (ALIGN).
  constexpr int ALIGN = CACHE_RECORD_ALIGN;
  const bool cache = task.store == kCacheQuant;
  if (CACHE_AMD != 0 && task.layout != 0) {  // 8-bit codes in AMD's layouts
    unsigned w[(VEC + 3) / 4];
    code_words<VEC>(C, q, x, w);
    store_amd_codes(task, off, w);
    return;
  }
  unsigned char* p = static_cast<unsigned char*>(task.dst) + (C.bits == 4 ? off / 2 : off);
  if (C.bits == 4) {
    if (cache) store_codes<(VEC >= 2 ? VEC / 2 : 1), ALIGN>(C, q, x, p);
    else store_codes<(VEC >= 2 ? VEC / 2 : 1)>(C, q, x, p);
  } else {
    if (cache) store_codes<VEC, ALIGN>(C, q, x, p);
    else store_codes<VEC>(C, q, x, p);
  }
}

// The group's range from block-shared memory: `hi`, `lo` hold the ranges of the item's
// vectors (HEAD_DIM / VEC per item), written before a barrier.
RG_DEVICE void store_quant(const rg_codec C, const Task& task, const Vec& x, int off, const float* hi, const float* lo) {
  const int PER_GROUP = C.group / VEC;
  const int first = off / C.group * PER_GROUP;
  float h = hi[first], l = lo[first];
  for (int k = 1; k < PER_GROUP; ++k) {
    h = rg_quant_max(h, hi[first + k]);
    l = rg_quant_min(l, lo[first + k]);
  }
  store_quant_range(C, task, x, off, h, l);
}

// The range over `lanes` consecutive, aligned lanes (a power of two), by exchanges within the warp.
RG_DEVICE void range_reduce(float& h, float& l, int lanes) {
  for (int m = 1; m < lanes; m <<= 1) {
    h = rg_quant_max(h, rg_shuffle_xor(h, m, LANES));
    l = rg_quant_min(l, rg_shuffle_xor(l, m, LANES));
  }
}
// The largest value over `lanes` consecutive, aligned lanes, as range_reduce's h.
RG_DEVICE float max_reduce(float h, int lanes) {
  for (int m = 1; m < lanes; m <<= 1) h = rg_quant_max(h, rg_shuffle_xor(h, m, LANES));
  return h;
}

// A quantized row by exchanges within the warp (QUANT_SHUFFLE: one segment, LANES a power of
// two within a warp, groups that do not straddle the two NeoX halves): no barrier, no
// block-shared memory. A row-wide group reduces over all LANES, both vectors; a smaller one
// over its group / VEC lanes, each vector on its own.
// The symmetric formats (all but int4) need only the group's amax: one value reduced, not a
// largest and a smallest (half the exchanges; gfx942's nvfp4 kernel 73 -> 71 VGPRs), given to
// quant_scale as the range [-amax, amax], which gives it the same amax.
RG_DEVICE void store_quant_shuffle(const rg_codec C, const Task& task, const Vec& x0, const Vec& x1, bool two_vectors,
                                   int off0, int off1) {
  if (C.kind != 2) {
    float a0 = vec_absmax(x0, 0.0f), a1 = two_vectors ? vec_absmax(x1, 0.0f) : 0.0f;
    if (C.group >= HEAD_DIM) {
      a0 = a1 = max_reduce(rg_quant_max(a0, a1), LANES);
    } else {
      a0 = max_reduce(a0, C.group / VEC);
      if (two_vectors) a1 = max_reduce(a1, C.group / VEC);
    }
    store_quant_range(C, task, x0, off0, a0, -a0);
    if (two_vectors) store_quant_range(C, task, x1, off1, a1, -a1);
    return;
  }
  float h0, l0, h1 = -rg_as_float(0x7f800000u), l1 = rg_as_float(0x7f800000u);
  vec_range(x0, h0, l0);
  if (two_vectors) vec_range(x1, h1, l1);
  if (C.group >= HEAD_DIM) {
    h0 = rg_quant_max(h0, h1);
    l0 = rg_quant_min(l0, l1);
    range_reduce(h0, l0, LANES);
    h1 = h0;
    l1 = l0;
  } else {
    range_reduce(h0, l0, C.group / VEC);
    if (two_vectors) range_reduce(h1, l1, C.group / VEC);
  }
  store_quant_range(C, task, x0, off0, h0, l0);
  if (two_vectors) store_quant_range(C, task, x1, off1, h1, l1);
}

// The stores of one task's finished vector(s) (quantized rows: by exchanges within the warp;
// the block-shared path stores them in run()).
RG_DEVICE void store_all(const Task& task, const Vec& x0, const Vec& x1, bool two_vectors, int off0, int off1) {
  if (QUANT_SHUFFLE && CACHE_QUANT != 0 && task.store == kCacheQuant)
    store_quant_shuffle(CACHE_CODEC, task, x0, x1, two_vectors, off0, off1);
  else if (QUANT_SHUFFLE && Q_QUANT != 0 && task.store == kQQuant)
    store_quant_shuffle(Q_CODEC, task, x0, x1, two_vectors, off0, off1);
  store(task, x0, x1, two_vectors, off0, off1);
}

// q_temperature's factor for position p, in fp32 as the models' code evaluates it.
RG_DEVICE float temperature(long long p) {
  const float p1 = static_cast<float>(p) + 1.0f;
  if (Q_TEMPERATURE == 1) return rg_logf(rg_floorf(p1 / Q_FLOOR_SCALE) + 1.0f) * Q_ATTN_SCALE + 1.0f;
  return p1 > Q_LOGN_BASE ? rg_logf(p1) / Q_LOG_BASE : 1.0f;
}

// q rows times q_temperature's factor `f`: the last step before the store.
RG_DEVICE void temper(const Task& task, Vec& x0, Vec& x1, bool two_vectors, float f) {
  if (Q_TEMPERATURE == 0 || task.row != kRowQ) return;
  auto times_f = [&](int, float x) { return x * f; };
  map_vec(x0, times_f);
  if (two_vectors) map_vec(x1, times_f);
}

// The rotation and stores of one task, its row's vector(s) loaded.
RG_DEVICE void finish(const Task& task, Vec x0, Vec x1, const float* c, const float* s, bool two_vectors,
                      bool rot_lane, int off0, int off1, float f) {
  rotate(task, x0, x1, c, s, two_vectors, rot_lane);
  temper(task, x0, x1, two_vectors, f);
  store_all(task, x0, x1, two_vectors, off0, off1);
}

// A norm: y = x * r * w (NORM_WEIGHT 1: x * r * (1 + w); 2 and v rows: x * r), r = 1 /
// sqrt(mean(x^2) + eps) over the head (span = all_heads: over the token's heads).
RG_DEVICE void normalize(Vec& x, const Vec& w, float r, bool weighted) {
  map_vec(x, [&](int i, float xi) {
    const float wi = get(w, i);
    return weighted ? xi * r * (NORM_WEIGHT == 1 ? 1.0f + wi : wi) : xi * r;
  });
}

// The sum of squares of a lane's vector(s).
// bias = qkv: the bias of a task's row (q's rows over q and gate, 2 * head_dim per head when
// gated; k's and v's head_dim per head).
RG_DEVICE const Elem* row_bias(const ropegen_kernel_args& a, const Task& task) {
  const long long qs = GATED ? 2LL * HEAD_DIM : HEAD_DIM;
  if (task.row == kRowQ) return static_cast<const Elem*>(a.q_bias) + task.head * qs;
  if (task.row == kRowGate) return static_cast<const Elem*>(a.q_bias) + task.head * qs + HEAD_DIM;
  return static_cast<const Elem*>(task.row == kRowK ? a.k_bias : a.v_bias) + static_cast<long long>(task.head) * HEAD_DIM;
}

// x + bias in fp32, rounded to the element type (what a separate bias add would store).
RG_DEVICE Vec add_bias(Vec x, const Elem* bias) {
  const Vec b = load_vec(bias);
  map_vec(x, [&](int i, float xi) { return xi + get(b, i); });
  return x;
}

// A task's row as its lanes hold it: the first task's from the prefetch, the others loaded;
// bias = qkv: with its bias added.
// Task h's source row loaded ahead (PREFETCH_FIRST) into f0, f1; they keep what they hold
// past the last task or for a task without a source.
RG_DEVICE void prefetch_row(const ropegen_kernel_args& a, long long t, int h, int off0, int off1, bool two_vectors,
                            Vec& f0, Vec& f1) {
  if (h >= NUM_TASKS) return;
  const Elem* src = task_src(a, t, h);
  if (!src) return;
  f0 = load_vec(src + off0);
  if (two_vectors) f1 = load_vec(src + off1);
}

RG_DEVICE void load_row(const ropegen_kernel_args& a, const Task& task, bool fetched, const Vec& f0, const Vec& f1,
                        int off0, int off1, bool two_vectors, Vec& x0, Vec& x1) {
  // One lane's vectors load together: x1 is read again from x0's place when the lane holds
  // one vector (the same value), not copied from x0, which would wait for x0's load before
  // the second one is issued (two memory round trips per row; seen in the H100's SASS).
  x0 = fetched ? f0 : load_vec(task.src + off0);
  x1 = fetched ? f1 : load_vec(task.src + (two_vectors ? off1 : off0));
  if (HAS_BIAS) {
    const Elem* b = row_bias(a, task);
    x0 = add_bias(x0, b + off0);
    x1 = two_vectors ? add_bias(x1, b + off1) : x0;
  }
}

// The norm weights of a task's row: its head's stretch of heads * head_dim weights (span =
// all_heads), else the head_dim weights every head shares.
RG_DEVICE void load_weights(const ropegen_kernel_args& a, const Task& task, int off0, int off1, bool two_vectors,
                            Vec& w0, Vec& w1) {
  const Elem* weight = static_cast<const Elem*>(task.row == kRowQ ? a.q_norm_weight : a.k_norm_weight) +
                       (NORM_ALL_HEADS ? task.head * HEAD_DIM : 0);
  w0 = load_vec(weight + off0);
  if (two_vectors) w1 = load_vec(weight + off1);
}

// v[i] with i known only at run time, by selects over the unrolled indices (the array stays in
// registers, as an indexed local array would not).
template <int N> RG_DEVICE Vec pick(const Vec (&v)[N], int i) {
  Vec r = v[0];
#pragma unroll
  for (int k = 1; k < N; ++k)
    if (i == k) r = v[k];
  return r;
}

RG_DEVICE float squares(const Vec& x0, const Vec& x1, bool two_vectors) {
  float ss = 0.0f;
#pragma unroll
  for (int i = 0; i < VEC; ++i) {
    const float e0 = get(x0, i);
    ss += e0 * e0;
    if (two_vectors) {
      const float e1 = get(x1, i);
      ss += e1 * e1;
    }
  }
  return ss;
}

// span = all_heads, the token's threads a power of two: its q and k squares meet in one
// pairwise tree over the token's threads in thread order: over TOKEN_WIDTH lanes by exchanges
// within the wave (a target without them adds the same tree from block-shared memory), then the
// TOKEN_PARTS waves' sums through block-shared memory, one barrier (none with one part). Every
// thread of the token ends with both sums.
RG_DEVICE void token_tree_sums(float& q, float& k, unsigned tid) {
  RG_SHARED float part_sums[NORM_ALL_HEADS && TOKEN_WIDTH ? 2 * BLOCK_THREADS / TOKEN_WIDTH : 1];
  constexpr int W = TOKEN_WIDTH ? TOKEN_WIDTH : 1;
  if (RG_HAS_SHUFFLE) {
#pragma unroll
    for (int m = 1; m < W; m <<= 1) {
      q += rg_shuffle_xor(q, m, W);
      k += rg_shuffle_xor(k, m, W);
    }
    if (TOKEN_PARTS == 1) return;
    if (tid % W == 0) {
      part_sums[2 * (tid / W)] = q;
      part_sums[2 * (tid / W) + 1] = k;
    }
  } else {
    RG_SHARED float lane_sums[NORM_ALL_HEADS && TOKEN_WIDTH && !RG_HAS_SHUFFLE ? 2 * BLOCK_THREADS : 1];
    lane_sums[tid] = q;
    lane_sums[BLOCK_THREADS + tid] = k;
    rg_barrier();
    if (tid % W == 0) {
      part_sums[2 * (tid / W)] = pairwise_sum<W>(lane_sums + tid);
      part_sums[2 * (tid / W) + 1] = pairwise_sum<W>(lane_sums + BLOCK_THREADS + tid);
    }
  }
  rg_barrier();
  const int first = static_cast<int>(tid / (W * TOKEN_PARTS)) * TOKEN_PARTS;  // the token's first part
  q = pairwise_sum<TOKEN_PARTS>(part_sums + 2 * first, 2);
  k = pairwise_sum<TOKEN_PARTS>(part_sums + 2 * first + 1, 2);
}

RG_DEVICE void run(const ropegen_kernel_args& a) {
  const unsigned tid = static_cast<unsigned>(rg_thread_x());  // unsigned: lane is known to be in [0, LANES)
  const int lane = static_cast<int>(tid % LANES);
  const int item = static_cast<int>(tid / LANES);
  if (item >= TOKENS_PER_BLOCK * HEAD_GROUPS) return;
  const long long t = static_cast<long long>(rg_block_x()) * TOKENS_PER_BLOCK + item / HEAD_GROUPS;
  if (t >= a.num_tokens) return;
  const int group = item % HEAD_GROUPS;

  // The stretch and unit this lane covers (rows.h).
  const LaneUnit lu = lane_unit(lane);
  const int unit = lu.unit, off0 = lu.off0, half = lu.half;
  const bool rot_lane = lu.rotate;
  const bool two_vectors = half != 0;  // a NeoX pair: rotated, or copied in halves
  const int off1 = off0 + half;

  // The first task's source row depends on neither the position nor the slot: with
  // PREFETCH_FIRST its loads are issued before the position -> cos/sin chain, so the two
  // memory round trips overlap (at decode sizes a thread has about one task).
  // Under PDL the next kernel may start launching now; this one reads q, k, v only after
  // the previous kernel is done (below), the indices and tables before.
  if (PDL) rg_allow_next_grid();
  // fp8 cache with per-tensor scales: both scales load now, beside the other loads that do
  // not depend on the previous kernel, not after the slot inside the task loop.
  float scales[2] = {1.0f, 1.0f};
  if ((CACHE_FP8 && !SCALES_PER_HEAD && CACHE_QUANT == 0) || CACHE_QUANT == 4) {  // nvfp4: the global scales
    scales[0] = a.k_scale[0];
    scales[1] = a.v_scale[0];
  }
  const int h_first = rg_block_y() * HEAD_GROUPS + group;
  Vec f0{}, f1{};
  if (PREFETCH_FIRST) prefetch_row(a, t, h_first, off0, off1, two_vectors, f0, f1);

  // A token whose position is outside the table or whose slot is past the cache (the limits
  // the caller passed; checks = bounds: always, and a negative position too) is skipped
  // whole, before anything is read through the index: q, k, q_out, k_out and the cache keep
  // what they hold. With checks = bounds one thread per token records the first such token
  // (after the PDL wait, below).
  int bad_kind = 0;
  long long bad_value = 0;
  if (position_outside(a, t, bad_value)) bad_kind = 1;
  // The slot's load goes out before cos/sin are computed (checked after them): computing
  // waits for the position and the frequencies, and a load issued after it would add a
  // memory round trip to a decode launch's chain.
  long long slot = 0;
  if (HAS_CACHE) slot = token_slot(a, t);

  // cos_sin = compute: computed by one head group, taken by the others after a barrier
  // (below; rows.h's SHARED_CS); tables: each lane loads its own; per head: in the task loops.
  RG_SHARED float cs_shared[SHARED_CS_FLOATS];
  float* const cs_token = shared_cs_token(cs_shared, item);
  float c[NJ];
  float s[NJ];
  // span = all_heads with sums = write and order = pre rotates nothing: no cos/sin (shared, the
  // values would be stored and a barrier waited for; the kernel ran 1.7x longer on the H100).
  constexpr bool NEEDS_CS = !(NORM_SUMS == 1 && !NORM_POST);
  constexpr bool SHARE_CS = SHARED_CS && NEEDS_CS;
  if (NEEDS_CS && rot_lane && bad_kind == 0 && !COS_SIN_PER_HEAD && (!SHARE_CS || group == 0)) {
    cos_sin(a, t, unit * NJ, c, s);
    if (SHARE_CS) put_shared_cs(cs_token, unit, c, s);
  } else {
#pragma unroll
    for (int i = 0; i < NJ; ++i) c[i] = s[i] = 0.0f;
  }

  if (HAS_CACHE && bad_kind == 0 && slot_outside(a, slot)) {  // negative: padding, skipped in task_for
    bad_kind = 2;
    bad_value = slot;
  }

  if (PDL) rg_wait_prior_grid();
  // A skipped token's threads leave before any barrier (the qk_norm loop below), so the
  // barriers count only the threads that stay; all of those run the same iterations.
  if (bad_kind != 0) {
    if (CHECKED && lane == 0 && group == 0 && rg_block_y() == 0 &&
        rg_atomic_cas_u64(a.bounds_error, 0ull, 1ull) == 0ull) {
      const long long limit = bad_kind == 2 ? a.cache_slots : COS_SIN_TABLE ? a.table_rows : 0;
      a.bounds_error[1] = static_cast<unsigned long long>(t);
      a.bounds_error[2] = static_cast<unsigned long long>(bad_value);
      a.bounds_error[3] = static_cast<unsigned long long>(limit) | (static_cast<unsigned long long>(bad_kind) << 56);
    }
    return;
  }
  if (SHARE_CS) {  // every thread that stays passes it (a skipped token's threads have left)
    rg_barrier();
    if (rot_lane && group != 0) take_shared_cs(cs_token, unit, c, s);
  }
  const int h_step = rg_grid_y() * HEAD_GROUPS;
  if (CACHE_TAIL_ZERO) clear_tail(a, t, slot, h_first, h_step, off0, off1, two_vectors);
  const float temp = Q_TEMPERATURE != 0 ? temperature(position(a, t, 0)) : 1.0f;
  constexpr bool QUANT = CACHE_QUANT != 0 || Q_QUANT != 0;
  constexpr bool QUANT_SHARED = QUANT && !QUANT_SHUFFLE;  // the group ranges go through block-shared memory
  constexpr bool ROW_NORM = (QK_NORM && !NORM_ALL_HEADS) || V_NORM;  // a reduction over one row's lanes
  if (!QK_NORM && !V_NORM && !QUANT_SHARED) {
    for (int h = h_first; h < NUM_TASKS; h += h_step) {
      // With PREFETCH_FIRST every task's row was loaded one task ahead: the next one's loads
      // are issued now, in flight behind this task's rotation and stores (a thread walks
      // several tasks from a few hundred tokens up). Rows of different tasks never overlap.
      const Vec p0 = f0, p1 = f1;
      if (PREFETCH_FIRST) prefetch_row(a, t, h + h_step, off0, off1, two_vectors, f0, f1);
      const Task task = task_for(a, t, h, slot, scales);
      if (!task.dst || !task.src) continue;
      // A copied stretch of a row rotated in place stays where it is: nothing to move (unless
      // q_temperature scales it or a bias is added).
      if (!rot_lane && task.dst == static_cast<const void*>(task.src) && !task.dst2 &&
          !(Q_TEMPERATURE != 0 && task.row == kRowQ) && !HAS_BIAS)
        continue;
      Vec x0, x1;
      load_row(a, task, PREFETCH_FIRST, p0, p1, off0, off1, two_vectors, x0, x1);
      head_cos_sin(a, t, task, unit * NJ, rot_lane, c, s);
      finish(task, x0, x1, c, s, two_vectors, rot_lane, off0, off1, temp);
    }
    return;
  }
  const int first_of_block = rg_block_y() * HEAD_GROUPS;
  const int iterations = (NUM_TASKS - first_of_block + h_step - 1) / h_step;  // the same for the whole block
  // span = all_heads: every row a group writes is read once, before the token's reduction, when
  // a group walks at most KEEP tasks (8): a thread's loads are all in flight together and the
  // rows stay in registers across the reduction's barriers. (Kept rows for the per-head norms
  // too measured slower on the H100: 47% of the copy bandwidth at 8192 tokens against 55% for
  // MiniMax's per-head norm, 76% against 95% for Gemma 4's global layer; so they read per task.)
  // span = all_heads: one RMS over all of the token's q rows and one over its k rows. The plan
  // keeps a token's head groups in one block (whole_token, grid y = 1), a few tasks per group;
  // each lane sums the squares of its share (of the kept rows), then the sums meet in a fixed
  // order: one pairwise tree (token_tree_sums) where the token's threads are a power of two,
  // else steps through block-shared memory: an item's lanes (lane 0: q, lane 1: k), then up to
  // 8 chunks of the token's items, then every thread adds the chunks. No thread sums more than
  // a few values. sums = read (NORM_SUMS 2): the token's sums come from norm_sums, added
  // over the ranks by the caller; sums = write (1): the sums go to norm_sums and the kernel ends.
  constexpr int TASKS_PER_GROUP = (NUM_TASKS + HEAD_GROUPS - 1) / HEAD_GROUPS;  // grid y = 1; fewer with more
  constexpr int KEEP = NORM_ALL_HEADS && NORM_SUMS != 2 && TASKS_PER_GROUP <= 8 ? TASKS_PER_GROUP : 0;
  constexpr int CHUNKS = HEAD_GROUPS > 8 && HEAD_GROUPS * LANES >= 16 ? 8 : 0;
  constexpr int PER_CHUNK = CHUNKS ? (HEAD_GROUPS + CHUNKS - 1) / CHUNKS : 1;
  float r_tok[2] = {1.0f, 1.0f};  // q, k
  Vec kx0[KEEP ? KEEP : 1] = {}, kx1[KEEP ? KEEP : 1] = {};  // KEEP: the tasks' rows, as read
  // One task per group also keeps its weights; with more, registers are dearer than reading the
  // weights (the same for every token, so cached) after the reduction.
  constexpr bool KEEP_WEIGHTS = KEEP == 1;
  Vec kw0{}, kw1{};
  float sums[2] = {0.0f, 0.0f};  // all_heads: this thread's share of the token's q and k squares
  // The squares of a row about to be normalized over the token (rotated first with order = post).
  auto add_squares = [&](const Task& task, Vec x0, Vec x1) {
    if (NORM_POST) {
      head_cos_sin(a, t, task, unit * NJ, rot_lane, c, s);
      rotate(task, x0, x1, c, s, two_vectors, rot_lane);
    }
    const float sq = squares(x0, x1, two_vectors);  // selects, not an indexed array: registers
    if (task.row == kRowQ) sums[0] += sq;
    else sums[1] += sq;
  };
  if (NORM_ALL_HEADS && NORM_SUMS == 2) {
    r_tok[0] = 1.0f / rg_sqrt(a.norm_sums[2 * t] / (NORM_RANKS * (Q_HEADS * HEAD_DIM)) + NORM_EPS);
    r_tok[1] = 1.0f / rg_sqrt(a.norm_sums[2 * t + 1] / (NORM_RANKS * (KV_HEADS * HEAD_DIM)) + NORM_EPS);
  } else if (NORM_ALL_HEADS) {
#pragma unroll
    for (int it = 0; it < KEEP; ++it) {  // every row the group writes, kept
      const int h = h_first + it * h_step;
      if (h >= NUM_TASKS) break;
      const Task task = task_for(a, t, h, slot, scales);
      if (!task.src) continue;
      load_row(a, task, PREFETCH_FIRST && h == h_first, f0, f1, off0, off1, two_vectors, kx0[it], kx1[it]);
      if (!token_norm(task)) continue;
      if (KEEP_WEIGHTS && NORM_WEIGHT != 2 && NORM_SUMS == 0) load_weights(a, task, off0, off1, two_vectors, kw0, kw1);
      add_squares(task, kx0[it], kx1[it]);
    }
    for (int it = 0; !KEEP && it < iterations; ++it) {  // more tasks than registers: read here, again below
      const int h = h_first + it * h_step;
      if (h >= NUM_TASKS) break;
      const Task task = task_for(a, t, h, slot, scales);
      if (!task.src || !token_norm(task)) continue;
      Vec x0, x1;
      load_row(a, task, PREFETCH_FIRST && h == h_first, f0, f1, off0, off1, two_vectors, x0, x1);
      add_squares(task, x0, x1);
    }
    float q = sums[0], k = sums[1];
    if (TOKEN_WIDTH) {
      token_tree_sums(q, k, tid);
    } else {
      RG_SHARED float lane_sums[NORM_ALL_HEADS && !TOKEN_WIDTH ? 2 * BLOCK_THREADS : 1];
      RG_SHARED float item_sums[NORM_ALL_HEADS && !TOKEN_WIDTH ? 2 * TOKENS_PER_BLOCK * HEAD_GROUPS : 1];
      RG_SHARED float chunk_sums[NORM_ALL_HEADS && !TOKEN_WIDTH && CHUNKS ? 2 * TOKENS_PER_BLOCK * CHUNKS : 1];
      lane_sums[2 * tid] = sums[0];
      lane_sums[2 * tid + 1] = sums[1];
      rg_barrier();
      if (lane < 2) {
        for (int kind = lane; kind < 2; kind += LANES > 1 ? 2 : 1) {
          float v = 0.0f;
          for (int l = 0; l < LANES; ++l) v += lane_sums[2 * (item * LANES + l) + kind];
          item_sums[2 * item + kind] = v;
        }
      }
      rg_barrier();
      const int token_first = item - group;  // the token's first item
      const int tok = item / HEAD_GROUPS;    // the token within the block
      q = k = 0.0f;
      if (CHUNKS) {
        const int tt = group * LANES + lane;  // the thread within the token's threads
        if (tt < 2 * CHUNKS) {
          const int kind = tt % 2, chunk = tt / 2;
          float v = 0.0f;
          for (int g = chunk * PER_CHUNK; g < (chunk + 1) * PER_CHUNK && g < HEAD_GROUPS; ++g)
            v += item_sums[2 * (token_first + g) + kind];
          chunk_sums[2 * (tok * CHUNKS + chunk) + kind] = v;
        }
        rg_barrier();
        for (int ch = 0; ch < CHUNKS; ++ch) {
          q += chunk_sums[2 * (tok * CHUNKS + ch)];
          k += chunk_sums[2 * (tok * CHUNKS + ch) + 1];
        }
      } else {
        for (int g = 0; g < HEAD_GROUPS; ++g) {
          q += item_sums[2 * (token_first + g)];
          k += item_sums[2 * (token_first + g) + 1];
        }
      }
    }
    if (NORM_SUMS == 1) {  // every thread of the token holds both sums; one writes them
      if (group == 0 && lane == 0) {
        a.norm_sums[2 * t] = q;
        a.norm_sums[2 * t + 1] = k;
      }
      return;
    }
    r_tok[0] = 1.0f / rg_sqrt(q / (NORM_RANKS * (Q_HEADS * HEAD_DIM)) + NORM_EPS);
    r_tok[1] = 1.0f / rg_sqrt(k / (NORM_RANKS * (KV_HEADS * HEAD_DIM)) + NORM_EPS);
  }
  // A norm over one row (qk_norm per head, v_norm): its sum of squares is reduced over its
  // LANES threads by exchanges within the warp (ROW_SHUFFLE), else through block-shared memory,
  // in a fixed order: pairwise where LANES is a power of two (what the exchanges compute), lane
  // by lane otherwise; the same result on every target. A quantized cache: each vector's range
  // goes to block-shared memory, and every lane reads its group's. Each shared array is written, then read after a barrier, then
  // written again only after another barrier (with both, each one's barrier is the other's
  // second).
  RG_SHARED float partial[ROW_NORM && !ROW_SHUFFLE ? BLOCK_THREADS : 1];
  constexpr int ROW_VECS = HEAD_DIM / VEC;
  RG_SHARED float q_hi[QUANT_SHARED ? TOKENS_PER_BLOCK * HEAD_GROUPS * ROW_VECS : 1];
  RG_SHARED float q_lo[QUANT_SHARED ? TOKENS_PER_BLOCK * HEAD_GROUPS * ROW_VECS : 1];
  for (int it = 0; it < iterations; ++it) {
    const int h = h_first + it * h_step;
    Task task{nullptr, nullptr, nullptr, false, kElem, 1.0f, kRowQ, nullptr, 1, 0};
    if (h < NUM_TASKS) task = task_for(a, t, h, slot, scales);
    const bool active = task.dst && task.src;
    if (active) head_cos_sin(a, t, task, unit * NJ, rot_lane, c, s);
    const bool norm = active && row_norm(task);
    const bool weighted = norm && task.row != kRowV && NORM_WEIGHT != 2;
    Vec x0{}, x1{}, w0{}, w1{};
    float ss = 0.0f;
    if (active) {
      if (KEEP) {  // read before the token's reduction
        x0 = pick(kx0, it);
        x1 = pick(kx1, it);
      } else {
        load_row(a, task, PREFETCH_FIRST && h == h_first, f0, f1, off0, off1, two_vectors, x0, x1);
      }
      if (weighted && KEEP_WEIGHTS && token_norm(task)) {
        w0 = kw0;
        w1 = kw1;
      } else if (weighted) {  // the weights load beside the row, before the reduction
        load_weights(a, task, off0, off1, two_vectors, w0, w1);
      }
      if (NORM_POST) rotate(task, x0, x1, c, s, two_vectors, rot_lane);  // order = post: normalize the rotated row
      if (norm && !token_norm(task)) ss = squares(x0, x1, two_vectors);
    }
    float r = 1.0f;
    if (ROW_NORM && ROW_SHUFFLE) {  // a butterfly: every lane of the row gets the pairwise sum
      float sum = ss;
#pragma unroll
      for (int m = 1; m < LANES; m <<= 1) sum += rg_shuffle_xor(sum, m, LANES);
      r = 1.0f / rg_sqrt(sum / HEAD_DIM + (task.row == kRowV ? V_NORM_EPS : NORM_EPS));
    } else if (ROW_NORM) {
      partial[tid] = ss;
      rg_barrier();
      const float sum = lanes_sum(partial + item * LANES);  // the butterfly's order (rows.h)
      if (!QUANT_SHARED) rg_barrier();
      r = 1.0f / rg_sqrt(sum / HEAD_DIM + (task.row == kRowV ? V_NORM_EPS : NORM_EPS));
    }
    if (norm) {
      if (token_norm(task)) r = task.row == kRowQ ? r_tok[0] : r_tok[1];
      normalize(x0, w0, r, weighted);
      if (two_vectors) normalize(x1, w1, r, weighted);
    }
    if (!NORM_POST && active) rotate(task, x0, x1, c, s, two_vectors, rot_lane);
    if (active) temper(task, x0, x1, two_vectors, temp);
    if (!QUANT_SHARED) {
      if (active) store_all(task, x0, x1, two_vectors, off0, off1);
      continue;
    }
    {
      const bool quant = active && (task.store == kCacheQuant || task.store == kQQuant);
      if (quant) {
        vec_range(x0, q_hi[item * ROW_VECS + off0 / VEC], q_lo[item * ROW_VECS + off0 / VEC]);
        if (two_vectors) vec_range(x1, q_hi[item * ROW_VECS + off1 / VEC], q_lo[item * ROW_VECS + off1 / VEC]);
      }
      rg_barrier();
      if (quant) {  // one inlined copy per codec, each folded to its constants
        const float* hi = q_hi + item * ROW_VECS;
        const float* lo = q_lo + item * ROW_VECS;
        if (CACHE_QUANT != 0 && task.store == kCacheQuant) {
          store_quant(CACHE_CODEC, task, x0, off0, hi, lo);
          if (two_vectors) store_quant(CACHE_CODEC, task, x1, off1, hi, lo);
        } else if (Q_QUANT != 0) {
          store_quant(Q_CODEC, task, x0, off0, hi, lo);
          if (two_vectors) store_quant(Q_CODEC, task, x1, off1, hi, lo);
        }
      }
      if (!ROW_NORM || ROW_SHUFFLE) rg_barrier();
    }
    if (active) store(task, x0, x1, two_vectors, off0, off1);
  }
}

}  // namespace rg_kernel
