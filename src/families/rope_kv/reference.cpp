// The rope_kv family's reference for one token: q heads rotated (in place or to q_out),
// k heads rotated (rope) or appended with v to the cache (rotated for rope_kv_append), at
// the cache layouts of design.md. Independent of the template (rope_kv.hip).
#include "families/rope_kv/rope_kv.hpp"
#include "reference/reference.hpp"

#include <algorithm>

namespace ropegen {
namespace {

/// Element offset of (slot, kv_head, 0) in a cache, from the layouts in design.md; order =
/// strided: page * page stride + offset in page * token stride + head * head stride (0: nhd).
long long cache_offset(const reference::Problem& p, long long slot, int h) {
  const KernelSpec& s = p.spec;
  const long long max_seq = p.max_seq;
  const long long H = s.kv_heads, D = s.head_dim;
  if (s.cache.kind == CacheKind::Paged && s.cache.order == CacheOrder::Strided) {
    const long long B = s.cache.block;
    const long long hs = p.cache_strides[0] ? p.cache_strides[0] : D;
    const long long ts = p.cache_strides[1] ? p.cache_strides[1] : H * D;
    const long long ps = p.cache_strides[2] ? p.cache_strides[2] : B * H * D;
    return (slot / B) * ps + (slot % B) * ts + h * hs;
  }
  if (s.cache.kind == CacheKind::Contiguous) {
    if (s.cache.order == CacheOrder::Hnd) return (h * max_seq + slot) * D;  // [H, S, D]
    return (slot * H + h) * D;                                            // [S, H, D]
  }
  const long long B = s.cache.block, blk = slot / B, off = slot % B;
  // order = amd, amd_shuffle: the logical [N, B, H, D]; verify places the elements in memory.
  if (s.cache.order != CacheOrder::Hnd) return ((blk * B + off) * H + h) * D;  // [N, B, H, D]
  return ((blk * H + h) * B + off) * D;                                        // [N, H, B, D]
}

/// Where a quantized cache keeps the row of (slot, h): the element (codes of `bits` bits)
/// its codes start at and the byte of its first scale, in the cache's buffer (scales_at =
/// page | row) or in its scale tensor (tensor), from the layouts of docs/dsl.md: with C =
/// head_dim * bits / 8 code bytes and S = (head_dim / group) * scale_bytes scale bytes a row,
///  - tensor: codes at row * C of the cache, scales at row * S of the scale tensor;
///  - page: page n of a side at n * B * H * (C + S), its rows' codes first (row r of the page
///    at r * C; r = t * H + h for nhd, h * B + t for hnd), then their scales (r * S after
///    B * H * C); nvfp4's swizzled v scales: the (page, head) tile of [B, S] at h * B * S of
///    the page's scales, scale s of page offset t at (t / 4) * 4S + 4s + t % 4;
///    Pages are cache_strides[2] bytes apart when set (K and V pages in one buffer, v's origin
///    v_cache_offset bytes in).
///  - row: row r's C code bytes at r * (C + 4), its fp32 scale right after them.
struct QuantPlace {
  long long codes;  ///< element offset (of the cache's code width)
  long long scale;  ///< byte offset
  int step = 1;     ///< scales apart (4: swizzled)
};

QuantPlace quant_place(const reference::Problem& p, long long slot, int h, bool v) {
  const KernelSpec& s = p.spec;
  const reference::QuantFormat& f = p.quant;
  const long long D = s.head_dim, H = s.kv_heads, B = s.cache.block;
  const long long C = D * f.bits / 8, S = D / f.group * f.scale_bytes;
  const bool swizzled = v && s.cache_dtype == StoreType::Nvfp4 && s.codec.v_swizzled;
  const long long row = cache_offset(p, slot, h) / D;  // the (slot, head) row's index in the cache
  QuantPlace q{row * D, row * S};
  if (s.codec.scales_at == ScalesAt::Row) {
    q.codes = row * (C + 4) * 8 / f.bits;
    q.scale = row * (C + 4) + C;
    return q;
  }
  const long long n = slot / B, t = slot % B;
  long long scales = 0;  // the byte its page's (its tile's) scales start at
  if (s.codec.scales_at == ScalesAt::Page) {
    const long long stride = p.cache_strides[2] ? p.cache_strides[2] : B * H * (C + S);
    const long long page = n * stride + (v ? p.v_cache_offset : 0);
    const long long r = s.cache.order == CacheOrder::Hnd ? h * B + t : t * H + h;
    q.codes = (page + r * C) * 8 / f.bits;
    q.scale = page + B * H * C + r * S;
    scales = page + B * H * C;
  }
  if (swizzled) {  // hnd: the (page, head) tile; scales from the tensor's origin or the page's region
    const long long tile = scales + ((s.codec.scales_at == ScalesAt::Page ? 0 : n * H) + h) * B * S;
    q.scale = tile + (t / 4) * 4 * S + t % 4;
    q.step = 4;
  }
  return q;
}

}  // namespace

void rope_kv_expect_token(const reference::Problem& p, reference::RowWriter& w, long long t) {
  const KernelSpec& s = p.spec;
  w.bias = nullptr;
  w.table_head = 0;
  if (reference::outside_limits(p, t)) return;  // skipped whole: q, k, q_out, k_out, caches untouched
  const long long D = s.head_dim;
  auto hs = [&](const reference::TensorView& v) { return v.head_stride ? v.head_stride : D; };
  const long long pos = p.positions.empty() ? 0 : p.positions[static_cast<size_t>(t)];
  // qk_norm of q's or k's head h: its weights (span = all_heads: the head's stretch of the
  // token's weights) and, with all_heads, the mean square over the token's heads of the
  // tensor, rotated first with order = post.
  const QkNorm& qn = s.qk_norm;
  const int group = s.q_heads / s.kv_heads;  // q heads per KV head
  // bias = qkv: each row's bias (kind 0 q, 1 k, 2 v, 3 q's gate half), null without one.
  const bool gated = s.uses_rope() && s.gate == Gate::Interleaved;
  auto bias_of = [&](int kind, int h) -> const double* {
    const std::vector<double>& b = kind == 1 ? p.k_bias : kind == 2 ? p.v_bias : p.q_bias;
    if (b.empty()) return nullptr;
    if (kind == 0 || kind == 3) return b.data() + h * (gated ? 2 * D : D) + (kind == 3 ? D : 0);
    return b.data() + h * D;
  };
  // The rows of q's (kind 0) or k's (kind 1) head h read next: their bias, and the KV head
  // whose table turns them (cos_sin = table(per_head = true): a q head turns by its group's).
  auto read_rows_of = [&](int kind, int h) {
    w.bias = bias_of(kind, h);
    w.table_head = kind == 0 ? h / group : h;
  };
  auto token_norm = [&](const reference::TensorView& x, int heads) {
    reference::RowNorm n;
    n.one_plus = qn.weight == NormWeight::OnePlusW;
    n.eps = qn.eps;
    n.post = qn.order == NormOrder::Post;
    if (qn.span == NormSpan::AllHeads && x.buffer >= 0) {
      double sq = 0, err = 0;
      for (int h = 0; h < heads; ++h) {
        read_rows_of(&x == &p.q ? 0 : 1, h);
        sq += w.square_sum(x.buffer, x.offset + t * x.stride + h * hs(x), t, n.post, &err);
      }
      w.bias = nullptr;
      n.count = static_cast<double>(heads) * D;
      n.mean_square = sq / n.count;
      n.mean_square_rel = sq > 0 ? err / sq : 0;
    }
    return n;
  };
  // sums = write: the launch writes only the sums (checked apart); q and k keep what they hold.
  if (s.uses_rope() && qn.on && qn.sums == NormSums::Write) return;
  reference::RowNorm q_tok = token_norm(p.q, s.q_heads), k_tok = token_norm(p.k, s.kv_heads);
  if (s.uses_rope() && qn.on && qn.sums == NormSums::Read)  // the given sums, over ranks * heads * head_dim
    for (int kind = 0; kind < 2; ++kind) {
      reference::RowNorm& n = kind == 0 ? q_tok : k_tok;
      n.count = static_cast<double>(qn.ranks) * (kind == 0 ? s.q_heads : s.kv_heads) * D;
      n.mean_square = p.norm_sums[static_cast<size_t>(2 * t + kind)] / n.count;
      n.mean_square_rel = 4 * 5.96e-8;  // the kernel's fp32 divisor and quotient
      n.count = 1;
    }
  reference::RowNorm qn_h, kn_h;  // the head's (rebuilt per head: the weights move with all_heads)
  auto norm_of = [&](bool is_q, int h) -> const reference::RowNorm* {
    if (!s.uses_rope() || !qn.on) return nullptr;
    reference::RowNorm& n = is_q ? qn_h : kn_h;
    n = is_q ? q_tok : k_tok;
    const std::vector<double>& wt = is_q ? p.q_norm_weight : p.k_norm_weight;
    if (qn.weight != NormWeight::None) n.weight = wt.data() + (qn.span == NormSpan::AllHeads ? h * D : 0);
    return &n;
  };
  if (s.uses_q()) {
    const double f = reference::q_factor(s.q_temperature, pos);  // 1 without q_temperature
    for (int h = 0; h < s.q_heads; ++h) {
      const reference::RowNorm* qw = norm_of(true, h);
      const long long off = p.q.offset + t * p.q.stride + h * hs(p.q);
      if (gated) {  // the gate half, biased, to gate_out (heads packed)
        w.bias = bias_of(3, h);
        w.copy_row(p.q.buffer, off + D, p.gate_out.buffer, p.gate_out.offset + t * p.gate_out.stride + h * D, 1.0f,
                   static_cast<int>(D));
      }
      read_rows_of(0, h);
      if (p.q_out.buffer >= 0)  // q_scales = per_token_head: its scale row is (token, head)
        w.rotate_row(p.q.buffer, off, p.q_out.buffer, p.q_out.offset + t * p.q_out.stride + h * D, t, qw, p.q_scale, 0,
                     -1, t * s.q_heads + h, f);
      else
        w.rotate_row(p.q.buffer, off, p.q.buffer, off, t, qw, 1.0f, 0, -1, -1, f);
    }
  }
  if (!s.uses_cache()) {
    for (int h = 0; h < s.kv_heads && p.k.buffer >= 0; ++h) {
      const reference::RowNorm* kw = norm_of(false, h);
      read_rows_of(1, h);
      const long long off = p.k.offset + t * p.k.stride + h * hs(p.k);
      if (p.k_out.buffer >= 0)
        w.rotate_row(p.k.buffer, off, p.k_out.buffer, p.k_out.offset + t * p.k_out.stride + h * D, t, kw, 1.0f);
      else
        w.rotate_row(p.k.buffer, off, p.k.buffer, off, t, kw, 1.0f);
    }
    return;
  }
  // rope_kv_append (the cache op that rotates) with k_out: the rotated k is written there for every token, padding too.
  if (s.uses_rope() && p.k_out.buffer >= 0)
    for (int h = 0; h < s.kv_heads; ++h) {
      read_rows_of(1, h);
      w.rotate_row(p.k.buffer, p.k.offset + t * p.k.stride + h * hs(p.k), p.k_out.buffer,
                   p.k_out.offset + t * p.k_out.stride + h * D, t, norm_of(false, h), 1.0f);
    }
  const long long slot = reference::token_slot(p, t);
  if (slot < 0) return;  // padding
  // contiguous(order = hnd): [kv_heads, max_seq, head_dim]; a slot past max_seq is skipped.
  if (s.cache.kind == CacheKind::Contiguous && s.cache.order == CacheOrder::Hnd && slot >= p.max_seq) return;
  for (int h = 0; h < s.kv_heads; ++h) {
    const long long dst = cache_offset(p, slot, h);
    // fp8 caches: one scale, or one per KV head.
    auto scale_of = [&](const std::vector<float>& sc) {
      return sc.empty() ? 1.0f : sc[sc.size() == 1 ? 0 : static_cast<size_t>(h)];
    };
    const long long ksrc = p.k.offset + t * p.k.stride + h * hs(p.k);
    // v_source = k: v's rows are k's, as given (before k's norm and rotation).
    const reference::TensorView& vv = s.v_source == VSource::K ? p.k : p.v;
    const long long vsrc = vv.offset + t * vv.stride + h * hs(vv);
    read_rows_of(1, h);
    // A quantized cache: its codes and scales where quant_place puts them.
    const bool quant = quantized_cache(s);
    const QuantPlace kq = quant ? quant_place(p, slot, h, false) : QuantPlace{dst, -1};
    const QuantPlace vq = quant ? quant_place(p, slot, h, true) : QuantPlace{p.v_cache_offset + dst, -1};
    if (s.uses_rope())
      w.rotate_row(p.k.buffer, ksrc, p.k_cache, kq.codes, t, norm_of(false, h), scale_of(p.k_scale), 0, -1, -1, 1,
                   kq.scale);
    else w.copy_row(p.k.buffer, ksrc, p.k_cache, kq.codes, scale_of(p.k_scale), 0, kq.scale);
    w.bias = s.v_source == VSource::K ? nullptr : bias_of(2, h);  // v_source = k refuses bias = qkv
    if (s.v_norm.on) {  // weightless, over the head; nothing rotates (the stretch starts at head_dim)
      reference::RowNorm vn;
      vn.eps = s.v_norm.eps;
      w.rotate_row(vv.buffer, vsrc, p.v_cache, vq.codes, t, &vn, scale_of(p.v_scale), 0, static_cast<int>(D), -1, 1,
                   vq.scale);
    } else {
      w.copy_row(vv.buffer, vsrc, p.v_cache, vq.codes, scale_of(p.v_scale), 0, vq.scale, vq.step);
    }
  }
  w.bias = nullptr;
  if (s.cache_tail == CacheTail::Zero) {
    // The token ends a run unless the next token writes the next slot of its page: then the
    // rest of the page (below cache_slots) is zeroed in every head of both caches.
    const long long B = s.cache.block;
    long long end = (slot / B + 1) * B;
    if (p.cache_slots > 0) end = std::min(end, p.cache_slots);
    const bool run_goes_on = t + 1 < p.tokens && p.slots[static_cast<size_t>(t + 1)] == slot + 1;
    if (!run_goes_on)
      for (long long r = slot + 1; r < end; ++r)
        for (int h = 0; h < s.kv_heads; ++h) {
          if (quantized_cache(s)) {  // its codes and its scales: zero bytes
            for (const bool v : {false, true}) {
              const QuantPlace q = quant_place(p, r, h, v);
              const int buf = v ? p.v_cache : p.k_cache;
              w.zero_bytes(buf, q.codes * p.quant.bits / 8, s.head_dim * p.quant.bits / 8, 1);
              w.zero_bytes(p.buffer_scales[static_cast<size_t>(buf)], q.scale,
                           s.head_dim / p.quant.group * p.quant.scale_bytes, q.step);
            }
            continue;
          }
          w.zero_row(p.k_cache, cache_offset(p, r, h));
          w.zero_row(p.v_cache, p.v_cache_offset + cache_offset(p, r, h));
        }
  }
}

}  // namespace ropegen
