// DeepSeek MLA: RoPE on q's rope part in place, and the cache row kv_c || rotated k_pe.
//
// Per token: q [q_heads, HEAD_DIM] with the rotated stretch [ROTARY_OFFSET, + ROTARY_DIM)
// (q_pe after q_nope, which is not touched); k_pe [ROTARY_DIM] (argument k) and the latent
// kv_c [KV_LORA] (argument v) become one cache row of KV_LORA + ROTARY_DIM elements at the
// token's slot (a negative slot skips the row; q is still rotated). A token outside the
// limits the caller passed (a position outside the cos/sin table, a slot at or past the
// cache: rows.h) is skipped whole: q and the cache keep what they hold.
// LANES threads cover one rotated stretch (NeoX: a vector from each half; GPT-J: one vector
// of pairs); a thread loads its token's cos/sin once and walks the rows of its head group:
// the q heads, then (row Q_HEADS) k_pe, then kv_c in ROTARY_DIM-wide chunks, copied with
// the same lanes, so every thread has about the same work; a remainder of kv_c narrower than
// a chunk is copied afterwards.
// cache_record: the row is a byte record of REC_BYTES (record.cpp binds its parts' offsets):
// the rotated k_pe goes to REC_PE_AT in the dtype or as fp8 codes (REC_PE_FP8: of x /
// k_scale[0] with REC_PE_K_SCALE, else of x), and kv_c is stored by a pass of its own after
// the rows (record_kv_c), in REC_CODEC's format with its scales at REC_KVC_SCALES_AT (group
// s at slot (s % T) * (groups / T) + s / T, T = REC_KVC_SCALE_T: 1 keeps group order).

namespace rg_kernel {
using namespace rg_spec;

constexpr int ROW = KV_LORA + ROTARY_DIM;             // elements of a cache row
constexpr int KV_CHUNKS = KV_LORA / ROTARY_DIM;        // kv_c chunks walked as rows
constexpr int KVC_REST = KV_LORA - KV_CHUNKS * ROTARY_DIM;
constexpr int REST_UNITS = CACHE_RECORD ? 0 : KVC_REST / VEC;  // vectors of the remainder per token
constexpr int ROWS = Q_HEADS + 1 + (CACHE_RECORD ? 0 : KV_CHUNKS);  // rows per token

RG_DEVICE long long slot_of(const ropegen_kernel_args& a, long long t) {
  return a.slot_mapping ? static_cast<long long>(static_cast<const Index*>(a.slot_mapping)[t])
                        : static_cast<long long>(static_cast<const Index*>(a.positions)[t]);
}

// Whether a slot is written: padding (< 0) is not; nor, in a contiguous(order = hnd) cache,
// a slot at or past max_seq.
RG_DEVICE bool writes(const ropegen_kernel_args& a, long long slot) {
  return CACHE_HND && !CACHE_PAGED ? static_cast<unsigned long long>(slot) < static_cast<unsigned long long>(a.max_seq)
                                   : slot >= 0;
}

// cache_record: kv_c of the block's tokens in the record's format. Each thread takes vectors
// of the block's tokens; a quantized group's range is reduced over its lanes by exchanges
// within the warp (REC_SHUFFLE: the group's vectors sit in aligned, consecutive lanes, all
// of one token, so they run or skip together), else through block-shared memory (one barrier,
// reached by every thread of the block); then each vector stores its codes and the group's
// first vector the group's scale. A token that is skipped (padding, outside the limits)
// writes nothing.
constexpr int KV_VECS = KV_LORA / VEC;
constexpr int REC_UNITS = TOKENS_PER_BLOCK * KV_VECS;
constexpr int REC_ITERS = CACHE_RECORD ? (REC_UNITS + BLOCK_THREADS - 1) / BLOCK_THREADS : 1;
constexpr bool REC_QUANT = CACHE_RECORD && REC_CODEC.kind != 0;
constexpr int PER_GROUP = REC_QUANT ? REC_CODEC.group / VEC : 1;  // vectors per scale
constexpr bool REC_SHUFFLE = RG_HAS_SHUFFLE && REC_QUANT && (PER_GROUP & (PER_GROUP - 1)) == 0 && PER_GROUP <= 32 &&
                             BLOCK_THREADS % PER_GROUP == 0;

// A thread's kv_c vectors and their records, loaded at the kernel's start (before the rows)
// so the loads are in flight while the thread walks its rows.
struct RecordIn {
  Vec x[REC_ITERS];
  unsigned char* rec[REC_ITERS];
};

RG_DEVICE void record_load(const ropegen_kernel_args& a, int tid, RecordIn& in) {
#pragma unroll
  for (int it = 0; it < REC_ITERS; ++it) {
    const int u = it * BLOCK_THREADS + tid;
    in.rec[it] = nullptr;
    const long long tt = static_cast<long long>(rg_block_x()) * TOKENS_PER_BLOCK + u / KV_VECS;
    if (u >= REC_UNITS || tt >= a.num_tokens) continue;
    const long long slot = slot_of(a, tt);
    long long bad = 0;
    if (!writes(a, slot) || slot_outside(a, slot) || position_outside(a, tt, bad)) continue;
    in.x[it] = load_vec(static_cast<const Elem*>(a.v) + tt * a.v_stride + (u % KV_VECS) * VEC);
    in.rec[it] = static_cast<unsigned char*>(a.k_cache) + slot * REC_BYTES;
  }
}

RG_DEVICE void record_kv_c(const ropegen_kernel_args& a, int tid, const RecordIn& in) {
  RG_SHARED float hi_s[REC_QUANT && !REC_SHUFFLE ? REC_UNITS : 1];
  RG_SHARED float lo_s[REC_QUANT && !REC_SHUFFLE ? REC_UNITS : 1];
  const Vec* x = in.x;
  unsigned char* const* rec = in.rec;
  float hi[REC_ITERS], lo[REC_ITERS];
#pragma unroll
  for (int it = 0; it < REC_ITERS; ++it) {
    const int u = it * BLOCK_THREADS + tid;
    if (!rec[it] || !REC_QUANT) continue;
    vec_range(x[it], hi[it], lo[it]);
    if (REC_SHUFFLE) {
#pragma unroll
      for (int m = 1; m < PER_GROUP; m <<= 1) {
        hi[it] = rg_quant_max(hi[it], rg_shuffle_xor(hi[it], m, PER_GROUP));
        lo[it] = rg_quant_min(lo[it], rg_shuffle_xor(lo[it], m, PER_GROUP));
      }
    } else {
      hi_s[u] = hi[it];
      lo_s[u] = lo[it];
    }
  }
  if (REC_QUANT && !REC_SHUFFLE) rg_barrier();
  const float gs = REC_CODEC.kind == 4 && REC_CODEC.rule != 2 ? a.k_scale[0] : 1.0f;  // nvfp4's global scale (not round_up's)
#pragma unroll
  for (int it = 0; it < REC_ITERS; ++it) {
    if (!rec[it]) continue;
    const int u = it * BLOCK_THREADS + tid;
    const int e = (u % KV_VECS) * VEC;  // kv_c's element
    if (!REC_QUANT) {
      store_vec(reinterpret_cast<Elem*>(rec[it] + REC_KVC_AT) + e, x[it]);
      continue;
    }
    float h = hi[it], l = lo[it];
    if (!REC_SHUFFLE) {  // the group's vectors in order from the first
      const int first = u - (u % KV_VECS) % PER_GROUP;
      h = hi_s[first];
      l = lo_s[first];
      for (int k = 1; k < PER_GROUP; ++k) {
        h = rg_quant_max(h, hi_s[first + k]);
        l = rg_quant_min(l, lo_s[first + k]);
      }
    }
    const QuantScale q = quant_scale(REC_CODEC, h, l, gs);
    if (e % REC_CODEC.group == 0) {
      constexpr int GROUPS = KV_LORA / (REC_QUANT ? REC_CODEC.group : 1);
      const int g = e / REC_CODEC.group, slot = (g % REC_KVC_SCALE_T) * (GROUPS / REC_KVC_SCALE_T) + g / REC_KVC_SCALE_T;
      store_scale(REC_CODEC, rec[it] + REC_KVC_SCALES_AT + slot * REC_CODEC.scale_bytes, q.bits);
    }
    store_codes<(REC_QUANT ? VEC * REC_CODEC.bits / 8 : 1)>(REC_CODEC, q, x[it], rec[it] + REC_KVC_AT + e * REC_CODEC.bits / 8);
  }
}

// A cache row's vector: kv_c or k_pe (rows.h's cache store), or a record's fp8 k_pe (the
// only such row with a record) by its own encoder.
struct PeFp8 {};
RG_DEVICE unsigned encode2(PeFp8, float lo, float hi) { return rec_pe_encode2(lo, hi); }
RG_DEVICE void store_kv(void* row, int off, const Vec& x, float scale) {
  if (REC_PE_FP8) store_fp8_row(row, off, x, scale, PeFp8{});
  else store_row(row, off, x, kCacheFp8, scale);
}

RG_DEVICE void run(const ropegen_kernel_args& a) {
  const int tid = rg_thread_x();
  const int lane = tid % LANES;
  const int item = tid / LANES;
  const float scale = CACHE_FP8 || REC_PE_K_SCALE ? a.k_scale[0] : 1.0f;
  if (PDL) rg_allow_next_grid();
  // cache_record: the last head split's blocks load their tokens' kv_c first (stored after the rows).
  const bool records = CACHE_RECORD && rg_block_y() == rg_grid_y() - 1;
  RecordIn rin;
  if (records) {
    if (PDL) rg_wait_prior_grid();
    record_load(a, tid, rin);
  }

  // Rotated rows: q_pe of every head, then k_pe into the cache.
  const long long t = static_cast<long long>(rg_block_x()) * TOKENS_PER_BLOCK + item / HEAD_GROUPS;
  if (item < TOKENS_PER_BLOCK * HEAD_GROUPS && t < a.num_tokens) {
    const int group = item % HEAD_GROUPS;
    // The slot's load goes out before cos/sin are computed, checked after them (rope_kv's run).
    const long long slot = slot_of(a, t);
    long long bad = 0;
    bool skip = position_outside(a, t, bad);
    float c[NJ];
    float s[NJ];
    if (!skip) cos_sin(a, t, lane * NJ, c, s);
    else {
#pragma unroll
      for (int i = 0; i < NJ; ++i) c[i] = s[i] = 0.0f;
    }
    skip = skip || slot_outside(a, slot);
    const int off0 = lane * VEC;
    const int off1 = off0 + ROTARY_DIM / 2;
    if (PDL) rg_wait_prior_grid();
    for (int h = rg_block_y() * HEAD_GROUPS + group; h < ROWS && !skip; h += rg_grid_y() * HEAD_GROUPS) {
      const bool is_q = h < Q_HEADS, is_pe = h == Q_HEADS;  // else chunk h - Q_HEADS - 1 of kv_c
      if (!is_q && !writes(a, slot)) continue;
      const int chunk = h - Q_HEADS - 1;
      const Elem* src = is_q    ? static_cast<const Elem*>(a.q) + t * a.q_stride +
                                      static_cast<long long>(h) * HEAD_DIM + ROTARY_OFFSET
                        : is_pe ? static_cast<const Elem*>(a.k) + t * a.k_stride
                                : static_cast<const Elem*>(a.v) + t * a.v_stride + chunk * ROTARY_DIM;
      void* row = CACHE_RECORD ? static_cast<void*>(static_cast<unsigned char*>(a.k_cache) + slot * REC_BYTES + REC_PE_AT)
                               : static_cast<void*>(static_cast<CacheElem*>(a.k_cache) + slot * ROW +
                                                    (is_pe ? KV_LORA : chunk * ROTARY_DIM));
      Vec x0 = load_vec(src + off0);
      if (NEOX) {
        Vec x1 = load_vec(src + off1);
        if (is_q || is_pe) rotate_neox(x0, x1, c, s);
        if (is_q) {
          store_vec(const_cast<Elem*>(src) + off0, x0);
          store_vec(const_cast<Elem*>(src) + off1, x1);
        } else {
          store_kv(row, off0, x0, scale);
          store_kv(row, off1, x1, scale);
        }
      } else {
        if (is_q || is_pe) rotate_gptj(x0, c, s);
        if (is_q) store_vec(const_cast<Elem*>(src) + off0, x0);
        else store_kv(row, off0, x0, scale);
      }
    }
  }

  if (CACHE_RECORD) {  // kv_c into the records, by the blocks of the last head split (the fewest rows)
    if (records) record_kv_c(a, tid, rin);
    return;
  }

  // The remainder of kv_c narrower than a chunk (kv_lora_rank not a multiple of rotary_dim),
  // by the blocks of the first head split only.
  if (REST_UNITS == 0 || rg_block_y() != 0) return;
  if (PDL) rg_wait_prior_grid();
  for (int u = tid; u < TOKENS_PER_BLOCK * REST_UNITS; u += BLOCK_THREADS) {
    const long long tt = static_cast<long long>(rg_block_x()) * TOKENS_PER_BLOCK + u / REST_UNITS;
    if (tt >= a.num_tokens) break;
    const long long slot = slot_of(a, tt);
    long long bad = 0;
    if (!writes(a, slot) || slot_outside(a, slot) || position_outside(a, tt, bad)) continue;
    const int off = KV_CHUNKS * ROTARY_DIM + (u % REST_UNITS) * VEC;
    const Vec x = load_vec(static_cast<const Elem*>(a.v) + tt * a.v_stride + off);
    store_row(static_cast<CacheElem*>(a.k_cache) + slot * ROW, off, x, kCacheFp8, scale);
  }
}

}  // namespace rg_kernel
