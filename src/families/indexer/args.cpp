// The indexer family's arguments: q (read), the indexer's k row, the head weights (the v
// field), indices, tables, the LayerNorm's weight and bias, and what it writes: the cache
// block records (k_cache), q in fp8 (q_out) and the head weights times q's scale
// (q_out_scales, named head_weights).
#include "families/indexer/indexer.hpp"
#include "runtime/args.hpp"

namespace ropegen {

void indexer_requirements(const ArgContext& ctx, std::vector<ArgRequirement>& out) {
  const KernelSpec& s = ctx.spec;
  const long long D = s.head_dim;
  auto f32 = [&](const char* field, std::vector<long long> shape, const char* access, std::string why) {
    ArgRequirement r = ctx.scale(field, 0, std::move(why));
    r.shape = std::move(shape);
    r.access = access;
    out.push_back(r);
    return &out.back();
  };
  out.push_back(ctx.rows("q", "q_stride", s.q_heads, "read", "op = indexer_append quantizes the rotated q to q_out"));
  out.push_back(ctx.rows("k", "k_stride", 1, "read", "the indexer's k row, written to the cache"));
  out.back().shape = {kDimTokens, D};
  ArgRequirement* w = f32("v", {kDimTokens, s.q_heads}, "read", "the head weights, multiplied by q's fp8 scale");
  w->stride = "v_stride";
  w->min_stride = s.q_heads;
  out.push_back(ctx.index("positions", "RoPE needs a position per token"));
  out.push_back(ctx.index("slot_mapping", "the cache slot of each token (< 0: padding, not written)"));
  ctx.tables(out);
  if (s.indexer.layernorm) {
    f32("k_norm_weight", {D}, "read", "k_norm = layernorm: its fp32 weight");
    f32("q_norm_weight", {D}, "read", "k_norm = layernorm: its fp32 bias");
  }
  ArgRequirement c{"k_cache"};
  c.why = "the op writes each token's fp8 row and scale into its block record";
  c.dtype = "u8";
  c.access = "write";
  c.align = 4;  // the fp32 scales
  c.shape = {kDimFree, s.cache.block * (D + 4)};
  out.push_back(c);
  ArgRequirement q{"q_out"};
  q.why = "the rotated q in fp8, one scale per (token, head)";
  q.dtype = ctx.store_name(indexer::stored(s));
  q.access = "write";
  q.shape = {kDimTokens, s.q_heads, D};
  q.stride = "q_out_stride";
  q.min_stride = s.q_heads * D;
  out.push_back(q);
  f32("q_out_scales", {kDimTokens, s.q_heads}, "write", "head_weights = weights * q_s * weights_scale");
}

}  // namespace ropegen
