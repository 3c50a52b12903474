// The mla family's reference for one token: q_pe rotated in place in each q head; the cache
// row kv_c || rotated k_pe (one fp8 scale for the row). Independent of the template (mla.hip).
#include "families/mla/mla.hpp"
#include "reference/reference.hpp"

namespace ropegen {

void mla_expect_token(const reference::Problem& p, reference::RowWriter& w, long long t) {
  const KernelSpec& s = p.spec;
  if (reference::outside_limits(p, t)) return;  // skipped whole: q and the cache untouched
  const long long D = s.head_dim;
  const long long pos = p.positions.empty() ? 0 : p.positions[static_cast<size_t>(t)];
  // q_pe rotated in place; the cache row kv_c || rotated k_pe (one scale for the row).
  for (int h = 0; h < s.q_heads; ++h) {
    const long long off = p.q.offset + t * p.q.stride + h * D;
    w.rotate_row(p.q.buffer, off, p.q.buffer, off, t, nullptr, 1.0f);
  }
  const long long slot = p.slots.empty() ? pos : p.slots[t];
  if (slot < 0) return;
  if (s.cache.kind == CacheKind::Contiguous && s.cache.order == CacheOrder::Hnd && slot >= p.max_seq) return;
  const long long row = slot * (s.kv_lora_rank + s.rotary_dim);
  const float sc = p.k_scale.empty() ? 1.0f : p.k_scale[0];
  w.copy_row(p.v.buffer, p.v.offset + t * p.v.stride, p.k_cache, row, sc, s.kv_lora_rank);
  w.rotate_row(p.k.buffer, p.k.offset + t * p.k.stride, p.k_cache, row + s.kv_lora_rank, t, nullptr,
               sc, s.rotary_dim, 0);
}

}  // namespace ropegen
