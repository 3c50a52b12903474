// The mla family: mla_rope_append (DeepSeek MLA). q's rope part (q_pe, after q_nope) is
// rotated in place; kv_c || rotated k_pe is written as one cache row (mla.hip). k_pe and
// kv_c travel in the argument block's k and v fields.
#include "families/mla/mla.hpp"

#include "codegen/codegen.hpp"
#include "schema/detail.hpp"
#include "schema/fields.hpp"

namespace ropegen {
namespace {

using spec_detail::int_field;

std::vector<SpecField> spec_fields() {
  return {int_field<&KernelSpec::kv_lora_rank, 1, 8192>(
      "kv_lora_rank", "1..8192, a multiple of the vector width (16 bytes)",
      "mla_rope_append: width of the latent kv_c; a cache row is kv_c || rotated k_pe", nullptr,
      FieldUse{false, false, "mla"}, {"512 op=mla_rope_append", "256 op=mla_rope_append"}),
          cache_record_field()};
}

void validate(const KernelSpec& s, const RuleFailure& fail) {
  if (s.cos_sin.per_head)
    fail("cos_sin", "cos_sin = table(per_head = true): op = mla_rope_append rotates one shared rope part, not per-head rows; "
                    "per-head tables are for op = rope and rope_kv_append");
  if (s.rotary_dim == 0)
    fail("rotary_dim", "rotary_dim = 0: op = mla_rope_append rotates its rope part; a layer without RoPE is op = rope or "
                       "rope_kv_append with rotary_dim = 0");
  if (s.cache.order == CacheOrder::Strided || s.cache.order == CacheOrder::Amd || s.cache.order == CacheOrder::AmdShuffle)
    fail("cache", std::string("cache = paged(order = ") + to_string(s.cache.order) +
                      ") is not available for op = mla_rope_append yet; its cache is paged(order = nhd) [blocks, "
                      "block, row] or contiguous");
  const StoreType t = s.cache_dtype;
  if (s.cache_record.used()) {
    if (t != StoreType::Auto)
      fail("cache_dtype", std::string("cache_dtype = ") + to_string(t) +
                              " with cache_record: the record names each part's format; leave cache_dtype = auto");
    const std::string bad = record_problem(s);
    if (!bad.empty()) fail("cache_record", bad);
  }
  if (t == StoreType::Int8 || t == StoreType::Int4 || t == StoreType::Nvfp4 || t == StoreType::Mxfp4)
    fail("cache_dtype", std::string("cache_dtype = ") + to_string(s.cache_dtype) +
                            " is not available for op = mla_rope_append yet; its cache is the activation dtype "
                            "(auto) or fp8 with k_scale");
  if (s.kv_lora_rank % (16 / dtype_bytes(s.dtype)) != 0)
    fail("kv_lora_rank", "kv_lora_rank = " + std::to_string(s.kv_lora_rank) + " is not a multiple of the " +
                             "vector width (" + std::to_string(16 / dtype_bytes(s.dtype)) + " " + to_string(s.dtype) +
                             " elements = 16 bytes)");
}

/// The lanes walk the rotated stretches (q_pe, k_pe); kv_c is copied in whole vectors beside
/// them, so the vector must tile it too. Tasks: q heads, k_pe, and kv_c in rotary_dim-wide
/// chunks (mla.hip).
PlanShape shape(const KernelSpec& s) {
  PlanShape out;
  out.walked = {{s.rotary_offset, s.rotary_dim, true}};
  out.tiled = {{0, s.kv_lora_rank, false}};
  // A record's kv_c is stored by a pass of its own after the rows (mla.hip), not as tasks.
  out.tasks_per_token = s.q_heads + 1 + (s.cache_record.used() ? 0 : s.kv_lora_rank / s.rotary_dim);
  // A record's quantized kv_c: each tile's amax before its codes.
  out.narrow_on_cdna = s.cache_record.used() && record_layout(s).kvc.format != StoreType::Auto;
  return out;
}

/// cache_record: the parts' byte offsets, kv_c's codec (kind 0: copied in the dtype) and
/// k_pe's fp8 store (REC_PE_FP8, its encoder rec_pe_encode2, REC_PE_K_SCALE: x / k_scale[0]).
void bind_record(const KernelSpec& spec, const Target& target, std::ostream& os) {
  const bool used = spec.cache_record.used();
  const RecordLayout l = used ? record_layout(spec) : RecordLayout{};
  const RecordPart& v = l.kvc;
  const StoreType f = v.format;
  const int kind = !used || f == StoreType::Auto ? 0 : is_fp8(f) ? 3 : f == StoreType::Nvfp4 ? 4 : 5;
  const int fp8 = kind == 3 ? codec_fp8(target, f) : 0;
  const double qmax = kind == 3 ? (v.codec.qmax ? v.codec.qmax : fp8_largest(fp8)) : 0;
  os << "constexpr bool CACHE_RECORD = " << (used ? "true" : "false") << ";\n"
     << "constexpr int REC_BYTES = " << l.size << ";\n"
     << "constexpr int REC_KVC_AT = " << l.kvc_at << ";\n"
     << "constexpr int REC_KVC_SCALES_AT = " << l.kvc_scales_at << ";\n"
     << "constexpr int REC_KVC_SCALE_T = " << l.kvc_scale_transpose << ";  // scales(of = kv_c, transpose = R)\n"
     << "constexpr int REC_PE_AT = " << l.pe_at << ";\n"
     << "constexpr bool REC_PE_K_SCALE = " << (used && l.pe.k_scale ? "true" : "false") << ";\n";
  bind_fp8("REC_PE_FP8", "rec_pe_encode2", target, l.pe.format, used, os);
  emit_codec("REC_CODEC", kind, kind >= 4 ? 4 : 8, kind ? v.group : 1, v.codec, qmax, fp8, kind == 3 ? 4 : 1, os,
             v.divide);
}

void bind(const KernelSpec& spec, const Target& target, const LaunchPlan&, const ArgAlignment&, std::ostream& os) {
  os << "constexpr int Q_HEADS = " << spec.q_heads << ";\n"
     << "constexpr int ROTARY_OFFSET = " << spec.rotary_offset << ";\n"
     << "constexpr int KV_LORA = " << spec.kv_lora_rank << ";\n"
     << "constexpr bool CACHE_PAGED = " << (spec.cache.kind == CacheKind::Paged ? "true" : "false") << ";\n"
     << "constexpr bool CACHE_HND = " << (spec.cache.order == CacheOrder::Hnd ? "true" : "false") << ";\n"
     << "using CacheElem = " << (is_fp8(spec.cache_dtype) ? "unsigned char" : "Elem") << ";\n";
  bind_record(spec, target, os);
}

}  // namespace

const Family& mla_family() {
  static const Family f = {
      "mla",
      "mla.hip",
      {{Op::MlaRopeAppend, "mla_rope_append", true, true, true}},
      {{"k", "k_pe"}, {"v", "kv_c"}},
      spec_fields,
      validate,
      shape,
      bind,
      mla_requirements,
      mla_expect_token,
      mla_matrix,
      nullptr,  // the shared verification runner
      nullptr,  // its timing inputs too (verify/verify.cpp's prepare_inputs)
  };
  return f;
}

}  // namespace ropegen
