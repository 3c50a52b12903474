// The mla family's reference for one token: q_pe rotated in place in each q head; the cache
// row kv_c || rotated k_pe (one fp8 scale for the row), or the token's cache_record: kv_c in
// the record's format with its scales, computed with src/reference/quant.cpp, and the
// rotated k_pe (in the dtype, or its fp8 codes, of x / k_scale[0] or of x), each at the
// offset its parts give. Independent of the template (mla.hip).
#include "families/mla/mla.hpp"
#include "reference/reference.hpp"

namespace ropegen {

namespace {

/// kv_c's format in a record, from the part alone (quant-formats.md).
reference::QuantFormat record_format(const reference::Problem& p, const RecordPart& v) {
  reference::QuantFormat f;
  f.group = v.group;
  if (is_fp8(v.format)) {
    f.kind = reference::QuantKind::Fp8;
    f.fp8 = p.record_fp8;
    f.qmax = static_cast<float>(v.codec.qmax ? v.codec.qmax : reference::fp8_max(p.record_fp8));
    f.floor = static_cast<float>(v.codec.floor);
    f.divide = v.divide;
  } else if (v.format == StoreType::Nvfp4) {
    f.kind = reference::QuantKind::Nvfp4;
    f.qmax = 6;
    f.bits = 4;
    f.scale_bytes = 1;
    f.recipe = v.codec.recipe;
  } else {
    f.kind = reference::QuantKind::Mxfp4;
    f.qmax = 6;
    f.bits = 4;
    f.scale_bytes = 1;
    f.scale_round = v.codec.scale_round;
  }
  return f;
}

/// The record of token t at byte `rec` of the cache: kv_c's codes and scales exact, k_pe
/// rotated (its fp8 codes between those of the rotation's bounds).
void expect_record(const reference::Problem& p, reference::RowWriter& w, long long t, long long rec) {
  const KernelSpec& s = p.spec;
  const RecordLayout l = record_layout(s);
  const int eb = dtype_bytes(s.dtype);
  const long long src = p.v.offset + t * p.v.stride;
  if (l.kvc.format == StoreType::Auto) {
    w.copy_row(p.v.buffer, src, p.k_cache, (rec + l.kvc_at) / eb, 1.0f, s.kv_lora_rank);
  } else {
    const reference::QuantFormat f = record_format(p, l.kvc);
    const bool global = l.kvc.format == StoreType::Nvfp4 && l.kvc.codec.recipe == Nvfp4Recipe::Exact;
    const float gs = global ? p.k_scale.at(0) : 1.0f;
    std::vector<float> x(static_cast<size_t>(s.kv_lora_rank));
    const std::vector<unsigned char>& in = p.buffers[static_cast<size_t>(p.v.buffer)];
    for (int e = 0; e < s.kv_lora_rank; ++e)
      x[static_cast<size_t>(e)] = static_cast<float>(reference::decode(s.dtype, &in[static_cast<size_t>((src + e) * eb)]));
    // Group g's scale at slot (g % T) * (groups / T) + g / T of the scales part.
    const int groups = s.kv_lora_rank / f.group, T = l.kvc_scale_transpose;
    std::vector<unsigned char> codes(static_cast<size_t>(s.kv_lora_rank * f.bits / 8), 0),
        scales(static_cast<size_t>(groups * f.scale_bytes), 0);
    for (int g = 0; g < groups; ++g) {
      const reference::QuantGroup q = reference::quantize_group(f, &x[static_cast<size_t>(g * f.group)], f.group, gs);
      for (int i = 0; i < f.group; ++i) {
        const int e = g * f.group + i;
        if (f.bits == 8) codes[static_cast<size_t>(e)] = q.codes[static_cast<size_t>(i)];
        else codes[static_cast<size_t>(e / 2)] |= static_cast<unsigned char>(q.codes[static_cast<size_t>(i)] << (4 * (e % 2)));
      }
      const int slot = (g % T) * (groups / T) + g / T;
      for (int b = 0; b < f.scale_bytes; ++b)
        scales[static_cast<size_t>(slot * f.scale_bytes + b)] = static_cast<unsigned char>(q.scale_bits >> (8 * b));
    }
    w.exact_bytes(p.k_cache, rec + l.kvc_at, codes);
    w.exact_bytes(p.k_cache, rec + l.kvc_scales_at, scales);
  }
  if (is_fp8(l.pe.format)) {
    const float sc = l.pe.k_scale ? p.k_scale.at(0) : 1.0f;
    w.rotate_codes(p.k.buffer, p.k.offset + t * p.k.stride, p.k_cache, rec + l.pe_at, t, s.rotary_dim,
                   p.record_pe_fp8, sc);
    return;
  }
  w.rotate_row(p.k.buffer, p.k.offset + t * p.k.stride, p.k_cache, (rec + l.pe_at) / eb, t, nullptr, 1.0f,
               s.rotary_dim, 0);
}

}  // namespace

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
  if (s.cache_record.used()) {
    expect_record(p, w, t, slot * s.cache_record.size);
    return;
  }
  const long long row = slot * (s.kv_lora_rank + s.rotary_dim);
  const float sc = p.k_scale.empty() ? 1.0f : p.k_scale[0];
  w.copy_row(p.v.buffer, p.v.offset + t * p.v.stride, p.k_cache, row, sc, s.kv_lora_rank);
  w.rotate_row(p.k.buffer, p.k.offset + t * p.k.stride, p.k_cache, row + s.kv_lora_rank, t, nullptr,
               sc, s.rotary_dim, 0);
}

}  // namespace ropegen
