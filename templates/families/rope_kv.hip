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

// One head row to process: read src, write dst (may be src), rotate or copy.
struct Task {
  const Elem* src;
  Elem* dst;
  bool rotate;
};

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

// Source row of head task h (Q heads, then K heads, then V heads) of token t.
RG_DEVICE const Elem* task_src(const ropegen_kernel_args& a, long long t, int h) {
  if (HAS_Q && h < Q_HEADS)
    return static_cast<const Elem*>(a.q) + t * a.q_stride + static_cast<long long>(h) * HEAD_DIM;
  if (HAS_Q) h -= Q_HEADS;
  const bool is_v = HAS_CACHE && h >= KV_HEADS;
  const int kv_head = is_v ? h - KV_HEADS : h;
  const Elem* src = is_v ? static_cast<const Elem*>(a.v) + t * a.v_stride
                         : static_cast<const Elem*>(a.k) + t * a.k_stride;
  return src + static_cast<long long>(kv_head) * HEAD_DIM;
}

RG_DEVICE Task task_for(const ropegen_kernel_args& a, long long t, int h, long long slot) {
  const Elem* src = task_src(a, t, h);
  if (HAS_Q && h < Q_HEADS) return Task{src, const_cast<Elem*>(src), true};  // q in place
  if (HAS_Q) h -= Q_HEADS;
  if (!HAS_CACHE) return Task{src, const_cast<Elem*>(src), true};  // rope: K in place
  // Padding (a negative slot) is skipped; so is, in a contiguous(order = hnd) cache, a slot at
  // or past max_seq, which would land in the next head's rows: one unsigned compare for both.
  const bool skip = CACHE_HND && !CACHE_PAGED
                        ? static_cast<unsigned long long>(slot) >= static_cast<unsigned long long>(a.max_seq)
                        : slot < 0;
  if (skip) return Task{src, nullptr, false};
  const bool is_v = h >= KV_HEADS;
  const int kv_head = is_v ? h - KV_HEADS : h;
  Elem* cache = static_cast<Elem*>(is_v ? a.v_cache : a.k_cache);
  return Task{src, cache + cache_row(slot, kv_head, a.max_seq) * HEAD_DIM, ROTATES && !is_v};
}

RG_DEVICE void rotate_neox(Vec& lo, Vec& hi, const float* c, const float* s) {
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
    set(v, 2 * i, x0 * c[i] - x1 * s[i]);
    set(v, 2 * i + 1, x1 * c[i] + x0 * s[i]);
  }
}

RG_DEVICE void run(const ropegen_kernel_args& a) {
  const unsigned tid = static_cast<unsigned>(rg_thread_x());  // unsigned: lane is known to be in [0, LANES)
  const int lane = static_cast<int>(tid % LANES);
  const int item = static_cast<int>(tid / LANES);
  if (item >= TOKENS_PER_BLOCK * HEAD_GROUPS) return;
  const long long t = static_cast<long long>(rg_block_x()) * TOKENS_PER_BLOCK + item / HEAD_GROUPS;
  if (t >= a.num_tokens) return;
  const int group = item % HEAD_GROUPS;

  // The segment and unit this lane covers.
  int first = 0, unit = 0, off0 = 0, half = 0;
  bool rot_lane = false;
#pragma unroll
  for (int i = 0; i < NUM_SEGMENTS; ++i) {
    const rg_segment sg = row_segment(i);
    const int units = sg.rotate && NEOX ? sg.length / (2 * VEC) : sg.length / VEC;
    if (lane >= first && lane < first + units) {
      unit = lane - first;
      off0 = sg.offset + unit * VEC;
      half = sg.rotate && NEOX ? sg.length / 2 : 0;
      rot_lane = sg.rotate;
    }
    first += units;
  }
  const bool two_vectors = NEOX && rot_lane;  // also for copies: same lanes, same vectors
  const int off1 = off0 + half;

  // The first task's source row depends on neither the position nor the slot: with
  // PREFETCH_FIRST its loads are issued before the position -> cos/sin chain, so the two
  // memory round trips overlap (at decode sizes a thread has about one task).
  // Under PDL the next kernel may start launching now; this one reads q, k, v only after
  // the previous kernel is done (below), the indices and tables before.
  if (PDL) rg_allow_next_grid();
  const int h_first = rg_block_y() * HEAD_GROUPS + group;
  Vec f0{}, f1{};
  if (PREFETCH_FIRST && h_first < NUM_TASKS) {
    const Elem* src = task_src(a, t, h_first);
    f0 = load_vec(src + off0);
    if (two_vectors) f1 = load_vec(src + off1);
  }

  // checks = bounds: a token whose position is outside the table (or negative) or whose slot
  // is past the cache is skipped whole, before anything is read through the index; one
  // thread per token records the first violation (after the PDL wait, below).
  int bad_kind = 0;
  long long bad_value = 0, bad_limit = 0;
  if (CHECKED) {
    if (ROTATES) {
      const long long pos = static_cast<const Index*>(a.positions)[t];
      if (pos < 0 || (COS_SIN_TABLE && pos >= a.table_rows)) {
        bad_kind = 1;
        bad_value = pos;
        bad_limit = COS_SIN_TABLE ? a.table_rows : 0;
      }
    }
    if (HAS_CACHE && bad_kind == 0) {
      const long long sl = a.slot_mapping ? static_cast<long long>(static_cast<const Index*>(a.slot_mapping)[t])
                                          : static_cast<long long>(static_cast<const Index*>(a.positions)[t]);
      if (sl >= a.cache_slots) {  // negative: padding, skipped below as without checks
        bad_kind = 2;
        bad_value = sl;
        bad_limit = a.cache_slots;
      }
    }
  }
  const bool skip_token = CHECKED && bad_kind != 0;

  float c[NJ];
  float s[NJ];
  if (rot_lane && !skip_token) {
    const long long pos = static_cast<const Index*>(a.positions)[t];
    const int j0 = unit * NJ;
    if (COS_SIN_TABLE) {
      const CsVec cv = *reinterpret_cast<const CsVec*>(a.cos + pos * a.cos_sin_stride + j0);
      const CsVec sv = *reinterpret_cast<const CsVec*>(a.sin + pos * a.cos_sin_stride + j0);
#pragma unroll
      for (int i = 0; i < NJ; ++i) {
        c[i] = cv.e[i];
        s[i] = sv.e[i];
      }
    } else {
      const float p = static_cast<float>(pos);
#pragma unroll
      for (int i = 0; i < NJ; ++i) {
        rg_sincos(p * INV_FREQ[j0 + i], &s[i], &c[i]);
        if (ATTENTION != 1.0f) {  // the scaling family's attention factor (a table holds it already)
          c[i] *= ATTENTION;
          s[i] *= ATTENTION;
        }
      }
    }
  } else {
#pragma unroll
    for (int i = 0; i < NJ; ++i) c[i] = s[i] = 0.0f;
  }

  long long slot = 0;
  if (HAS_CACHE) {
    slot = a.slot_mapping ? static_cast<long long>(static_cast<const Index*>(a.slot_mapping)[t])
                          : static_cast<long long>(static_cast<const Index*>(a.positions)[t]);
  }

  if (PDL) rg_wait_prior_grid();
  if (skip_token) {
    if (lane == 0 && group == 0 && rg_block_y() == 0 &&
        rg_atomic_cas_u64(a.bounds_error, 0ull, 1ull) == 0ull) {
      a.bounds_error[1] = static_cast<unsigned long long>(t);
      a.bounds_error[2] = static_cast<unsigned long long>(bad_value);
      a.bounds_error[3] = static_cast<unsigned long long>(bad_limit) | (static_cast<unsigned long long>(bad_kind) << 56);
    }
    return;
  }
  for (int h = h_first; h < NUM_TASKS; h += rg_grid_y() * HEAD_GROUPS) {
    const Task task = task_for(a, t, h, slot);
    if (!task.dst) continue;
    const bool fetched = PREFETCH_FIRST && h == h_first;
    Vec x0 = fetched ? f0 : load_vec(task.src + off0);
    if (two_vectors) {
      Vec x1 = fetched ? f1 : load_vec(task.src + off1);
      if (task.rotate) rotate_neox(x0, x1, c, s);
      store_vec(task.dst + off0, x0);
      store_vec(task.dst + off1, x1);
    } else {
      if (task.rotate && rot_lane) rotate_gptj(x0, c, s);
      store_vec(task.dst + off0, x0);
    }
  }
}

}  // namespace rg_kernel
