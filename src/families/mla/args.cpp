// The mla family's arguments: q (its rope part rotated in place), k_pe and kv_c rows (the
// k and v fields), indices, tables, the cache of kv_c || k_pe rows and its fp8 scale.
#include "families/mla/mla.hpp"
#include "runtime/args.hpp"

namespace ropegen {

void mla_requirements(const ArgContext& ctx, std::vector<ArgRequirement>& out) {
  const KernelSpec& s = ctx.spec;
  const ArgAlignment& al = ctx.align;
  auto rows = [&](const char* name, const char* stride, long long heads, const char* access, std::string why) {
    out.push_back(ctx.rows(name, stride, heads, access, std::move(why)));
  };
  rows("q", "q_stride", s.q_heads, "read_write", "op = mla_rope_append rotates q's rope part in place");
  rows("k", "k_stride", 1, "read", "k_pe: the rope part of the cache row");
  out.back().shape = {kDimTokens, s.rotary_dim};
  out.back().min_stride = s.rotary_dim;
  rows("v", "v_stride", 1, "read", "kv_c: the latent part of the cache row");
  out.back().shape = {kDimTokens, s.kv_lora_rank};
  out.back().min_stride = s.kv_lora_rank;
  const bool paged = s.cache.kind == CacheKind::Paged;
  out.push_back(ctx.index("positions", "RoPE needs a position per token"));
  ArgRequirement slots =
      ctx.index("slot_mapping", paged ? "a paged cache needs a slot per token" : "optional: the position is the slot");
  slots.required = paged;
  out.push_back(slots);
  ctx.tables(out);
  ArgRequirement c{"k_cache"};
  const bool record = s.cache_record.used();
  c.why = record ? "the op writes each token's cache_record (kv_c, its scales, the rotated k_pe) as bytes"
                 : "the op writes kv_c || k_pe rows to the cache";
  c.dtype = record ? "u8" : ctx.store_name(s.cache_dtype);
  c.access = "write";
  c.align = record ? 16 : al.row_elems * ctx.store_bytes(s.cache_dtype);
  const long long row = record ? s.cache_record.size : s.kv_lora_rank + s.rotary_dim;
  c.shape = paged ? std::vector<long long>{kDimFree, s.cache.block, row} : std::vector<long long>{kDimFree, row};
  out.push_back(c);
  if (is_fp8(s.cache_dtype)) out.push_back(ctx.scale("k_scale", 1, "the fp8 cache stores x / k_scale[0] (kv_c and k_pe)"));
  const RecordLayout l = record ? record_layout(s) : RecordLayout{};
  // nvfp4's global scale (recipe = exact; round_up has none).
  const bool nvfp4 = record && l.kvc.format == StoreType::Nvfp4 && l.kvc.codec.recipe == Nvfp4Recipe::Exact,
             pe = record && l.pe.k_scale;
  if (nvfp4 || pe)
    out.push_back(ctx.scale("k_scale", 1,
                            nvfp4 && pe ? "k_scale[0]: the record's nvfp4 kv_c's global scale, and k_pe's fp8 codes are of x / k_scale[0]"
                            : nvfp4     ? "the record's nvfp4 kv_c: k_scale[0] is the global scale (fp32)"
                                        : "the record's fp8 k_pe: its codes are of x / k_scale[0] (fp32)"));
}

}  // namespace ropegen
