// The rope_kv family's arguments: q, k, v rows (and q_out, k_out), indices, tables, caches,
// fp8 scales, norm weights, the bounds buffer.
#include <algorithm>

#include "families/rope_kv/rope_kv.hpp"
#include "runtime/args.hpp"

namespace ropegen {

void rope_kv_requirements(const ArgContext& ctx, std::vector<ArgRequirement>& out) {
  const KernelSpec& s = ctx.spec;
  const ArgAlignment& al = ctx.align;
  auto rows = [&](const char* name, const char* stride, long long heads, const char* access, std::string why) {
    out.push_back(ctx.rows(name, stride, heads, access, std::move(why)));
  };
  const std::string elem = to_string(s.dtype);
  const long long hd = s.head_dim;
  const bool paged = s.cache.kind == CacheKind::Paged;
  const bool gated = s.uses_rope() && s.gate == Gate::Interleaved;
  if (s.uses_q()) {
    rows("q", "q_stride", s.q_heads, "read_write", "op = " + std::string(to_string(s.op)) + " rotates q");
    if (gated) {  // each head's q, then its gate
      out.back().shape[2] = 2 * hd;
      out.back().min_stride = 2 * hd * s.q_heads;
      out.back().why += " (gate = interleaved: each head's q then its gate, 2 * head_dim per head)";
    }
  }
  rows("k", "k_stride", s.kv_heads, s.uses_cache() ? "read" : "read_write",
       s.uses_cache() ? "the op appends k to the cache" : "optional for op = rope: null rotates q only");
  if (!s.uses_cache()) out.back().required = false;
  if (s.uses_cache() && s.v_source == VSource::V) rows("v", "v_stride", s.kv_heads, "read", "the op appends v to the cache");
  if (s.uses_rope() && s.outputs == Outputs::Separate) {  // out-of-place outputs, heads packed
    const bool q8 = is_fp8(s.q_dtype);
    rows("q_out", "q_out_stride", s.q_heads, "write",
         q8 ? "q_dtype = fp8: the rotated q is written here in fp8" : "optional: the rotated q goes here instead of in place");
    out.back().required = q8;
    out.back().dtype = ctx.store_name(s.q_dtype);
    out.back().align = al.row_elems * ctx.store_bytes(s.q_dtype);
    rows("k_out", "k_out_stride", s.kv_heads, "write",
         s.uses_cache() ? "optional: the rotated k is also written here" : "optional: the rotated k goes here instead of in place");
    out.back().required = false;
  }
  if (gated)
    rows("gate_out", "gate_out_stride", s.q_heads, "write",
         "gate = interleaved: the kernel writes each q head's gate half here (heads packed)");
  if (s.bias == Bias::Qkv) {
    auto bias = [&](const char* name, long long n, const char* why) {
      ArgRequirement b{name};
      b.why = std::string("bias = qkv: ") + why;
      b.dtype = elem;
      b.align = al.tensor_bytes;
      b.shape = {n};
      out.push_back(b);
    };
    if (s.uses_q()) bias("q_bias", s.q_heads * hd * (gated ? 2 : 1), gated ? "added to q's rows, gate halves included" : "added to q's rows");
    bias("k_bias", s.kv_heads * hd, "added to k's rows");
    if (s.uses_cache() && s.v_source == VSource::V) bias("v_bias", s.kv_heads * hd, "added to v's rows");
  }
  if (s.uses_cache() || s.uses_rope()) {
    ArgRequirement pos = ctx.index("positions", s.uses_rope() ? s.rotary_dim ? "RoPE needs a position per token"
                                                                             : "rotary_dim = 0 still reads each token's position (q_temperature, checks = bounds, a contiguous cache's slot)"
                                                                 : "without slot_mapping a contiguous cache is written at each position");
    pos.required = s.uses_rope();
    if (s.uses_rope() && s.positions.kind == PositionsKind::Grid) {
      pos.why = "grid RoPE needs each token's index in its video's frames x grid_h x grid_w grid (grid_h, grid_w: "
                "the argument block's integers)";
    } else if (s.uses_rope() && s.positions.kind != PositionsKind::Single) {
      pos.why = s.positions.kind == PositionsKind::Vision
                    ? "vision RoPE needs row and column positions per token (rows positions_stride apart; 0: num_tokens)"
                    : "RoPE needs t, h, w positions per token (rows positions_stride apart; 0: num_tokens)";
      pos.shape = {s.positions.rows(), kDimTokens};
    }
    pos.unless_slots = !s.uses_rope();
    if (s.uses_cache() && s.window.on) {
      pos.required = true;
      if (!s.uses_rope()) pos.why = "window = ring(...): the ring slot comes from each token's position";
    }
    out.push_back(pos);
  }
  if (s.uses_rope() && s.cos_sin.runtime_length())
    out.push_back(ctx.index("seq_lens", std::string(scaling_family(s.cos_sin.scaling).name) +
                                               " with choose = runtime reads each token's sequence length"));
  if (s.uses_cache() && s.window.on) {
    out.push_back(ctx.index("ring_base", "window = ring(...): the first slot of each token's sequence's pages (a "
                                         "negative base is padding)"));
  } else if (s.uses_cache()) {
    ArgRequirement slots =
        ctx.index("slot_mapping", paged ? "a paged cache needs a slot per token" : "optional: the position is the slot");
    slots.required = paged;
    out.push_back(slots);
  }
  if (s.uses_rope()) ctx.tables(out);
  if (s.uses_cache()) {
    const long long kv = s.kv_heads, b = s.cache.block;
    const bool hnd = s.cache.order == CacheOrder::Hnd;
    // A cache of `width` elements per (slot, head), laid out as the spec's cache field says.
    auto cache_shape = [&](long long width) {
      if (paged) return hnd ? std::vector<long long>{kDimFree, kv, b, width} : std::vector<long long>{kDimFree, b, kv, width};
      return hnd ? std::vector<long long>{kv, kDimFree, width} : std::vector<long long>{kDimFree, kv, width};
    };
    const bool quant = quantized_cache(s);
    const int bits = cache_bits(s);
    // scales_at = page | row: records of codes and scales (bytes), cache_record_bytes each.
    const ScalesAt at = quant ? s.codec.scales_at : ScalesAt::Tensor;
    const long long record = cache_record_bytes(s);
    for (const char* name : {"k_cache", "v_cache"}) {
      ArgRequirement c{name};
      c.why = "the op appends to the cache";
      c.dtype = ctx.store_name(s.cache_dtype);
      c.access = "write";
      // 4-bit codes: two per byte, a head row of head_dim / 2 bytes.
      c.align = bits == 4 ? al.row_elems / 2 : al.row_elems * ctx.store_bytes(s.cache_dtype);
      c.shape = cache_shape(bits == 4 ? hd / 2 : hd);
      if (at != ScalesAt::Tensor) {  // bytes of codes and scales; as aligned as a record is
        c.dtype = "u8";
        c.align = std::min(c.align, cache_record_align(s));
        c.shape = at == ScalesAt::Row ? cache_shape(record) : std::vector<long long>{kDimFree, record};
        if (at == ScalesAt::Page) {  // pages cache_block_stride bytes apart (K and V pages interleaved)
          c.dim_strides = {"cache_block_stride", nullptr};
          c.stride_multiple = cache_record_align(s);
        }
        c.why = at == ScalesAt::Row
                    ? "the op appends to the cache: each (slot, head) row is head_dim * bits / 8 code bytes, then its "
                      "fp32 scale (scales_at = row)"
                    : "the op appends to the cache: each page is [codes of block * kv_heads rows | their scales] "
                      "(scales_at = page)";
      }
      if (s.cache.order == CacheOrder::Amd || s.cache.order == CacheOrder::AmdShuffle) {
        const long long x = amd_piece_elems(s);  // elements per 16 bytes
        const bool k = std::string(name) == "k_cache";
        c.shape = k ? std::vector<long long>{kDimFree, kv, hd / x, b, x}
                    : s.cache.order == CacheOrder::Amd ? std::vector<long long>{kDimFree, kv, hd, b}
                                                       : std::vector<long long>{kDimFree, kv, b / x, hd, x};
      }
      if (s.cache.order == CacheOrder::Strided) {  // [blocks, block, kv_heads, head_dim] as strides say
        c.dim_strides = {"cache_block_stride", "cache_token_stride", "cache_head_stride", nullptr};
        c.stride_multiple = al.row_elems;
      }
      out.push_back(c);
    }
    if (quant) {
      const long long group = cache_group(s);
      const bool f32 = s.scales == Scales::PerTokenHead;
      for (const char* name : {"k_cache_scales", "v_cache_scales"}) {
        ArgRequirement c{name};
        c.why = f32 ? std::string("scales = per_token_head: the kernel writes each row's scale here") +
                          (s.cache_dtype == StoreType::Int4 ? " (the zero point in its low 4 bits)" : "")
                    : std::string(to_string(s.cache_dtype)) + ": the kernel writes a scale per " +
                          std::to_string(group) + " elements here (" +
                          (s.cache_dtype == StoreType::Nvfp4 ? "e4m3" : "e8m0") + ")";
        c.dtype = f32 ? "f32" : s.cache_dtype == StoreType::Nvfp4 ? "fp8_e4m3" : "e8m0";
        c.access = "write";
        c.align = f32 ? 4 : 1;
        c.shape = cache_shape(hd / group);
        if (at != ScalesAt::Tensor) {  // not read: null is accepted
          c.required = false;
          c.access = "unused";
          c.why = std::string("unused: scales_at = ") + to_string(at) + " writes the scales inside " +
                  (name[0] == 'k' ? "k_cache" : "v_cache") + " (null accepted)";
        }
        out.push_back(c);
      }
    }
  }
  if (s.uses_cache() && is_fp8(s.cache_dtype) && s.scales != Scales::PerTokenHead)
    for (const char* name : {"k_scale", "v_scale"})
      out.push_back(ctx.scale(name, s.scales == Scales::PerHead ? s.kv_heads : 1,
                              std::string("the fp8 cache stores x / scale (scales = ") + to_string(s.scales) + ")"));
  if (s.uses_cache() && s.cache_dtype == StoreType::Nvfp4)
    for (const char* name : {"k_scale", "v_scale"})
      out.push_back(ctx.scale(name, 1, "nvfp4: the global decode scale gs (x ~= e2m1 * block scale * gs)"));
  if (s.uses_rope() && is_fp8(s.q_dtype) && s.q_scales == Scales::PerTensor)
    out.push_back(ctx.scale("q_scale", 1, "the fp8 q_out stores q / q_scale"));
  if (s.uses_rope() && is_fp8(s.q_dtype) && s.q_scales == Scales::PerTokenHead) {
    ArgRequirement qs{"q_out_scales"};
    qs.why = "q_scales = per_token_head: the kernel writes q_out's scale per (token, head) here";
    qs.dtype = "f32";
    qs.access = "write";
    qs.align = 4;
    qs.shape = {kDimTokens, s.q_heads};
    out.push_back(qs);
  }
  if (s.uses_rope() && s.qk_norm.on && s.qk_norm.sums != NormSums::None) {
    const bool write = s.qk_norm.sums == NormSums::Write;
    ArgRequirement ns{"norm_sums"};
    ns.why = write ? "qk_norm = rms(sums = write): the kernel writes each token's sums of squares (q heads, then k heads)"
                   : "qk_norm = rms(sums = read): each token's sums of squares (q heads, then k heads), added over "
                     "the ranks";
    ns.dtype = "f32";
    ns.access = write ? "write" : "read";
    ns.align = 4;
    ns.shape = {kDimTokens, 2};
    out.push_back(ns);
  }
  // sums = write reads no weights: its sums are of the unweighted rows.
  if (s.uses_rope() && s.qk_norm.on && s.qk_norm.weight != NormWeight::None && s.qk_norm.sums != NormSums::Write) {
    const bool all = s.qk_norm.span == NormSpan::AllHeads;  // one weight per element of the token's heads
    for (const char* name : {"q_norm_weight", "k_norm_weight"}) {
      ArgRequirement w{name};
      w.why = all ? "the spec says qk_norm = rms(span = all_heads): heads * head_dim weights"
                  : "the spec says qk_norm = rms(...)";
      w.dtype = elem;
      w.align = al.tensor_bytes;
      w.shape = {all ? (name[0] == 'q' ? s.q_heads : s.kv_heads) * hd : hd};
      out.push_back(w);
    }
  }
  if (s.checks == Checks::Bounds) {
    ArgRequirement e{"bounds_error"};
    e.why = "the spec says checks = bounds";
    e.dtype = "u64";
    e.access = "read_write";
    e.align = 8;
    e.shape = {4};
    out.push_back(e);
  }
}

}  // namespace ropegen
