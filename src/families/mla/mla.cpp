// The mla family: mla_rope_append (DeepSeek MLA). q's rope part (q_pe, after q_nope) is
// rotated in place; kv_c || rotated k_pe is written as one cache row (mla.hip). k_pe and
// kv_c travel in the argument block's k and v fields.
#include "families/mla/mla.hpp"

#include "schema/detail.hpp"
#include "schema/fields.hpp"

namespace ropegen {
namespace {

using spec_detail::int_field;

std::vector<SpecField> spec_fields() {
  return {int_field<&KernelSpec::kv_lora_rank, 1, 8192>(
      "kv_lora_rank", "1..8192, a multiple of the vector width (16 bytes)",
      "mla_rope_append: width of the latent kv_c; a cache row is kv_c || rotated k_pe", nullptr,
      FieldUse{false, false, "mla"}, {"512 op=mla_rope_append", "256 op=mla_rope_append"})};
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
  out.tasks_per_token = s.q_heads + 1 + s.kv_lora_rank / s.rotary_dim;
  return out;
}

void bind(const KernelSpec& spec, const Target&, const LaunchPlan&, const ArgAlignment&, std::ostream& os) {
  os << "constexpr int Q_HEADS = " << spec.q_heads << ";\n"
     << "constexpr int ROTARY_OFFSET = " << spec.rotary_offset << ";\n"
     << "constexpr int KV_LORA = " << spec.kv_lora_rank << ";\n"
     << "constexpr bool CACHE_PAGED = " << (spec.cache.kind == CacheKind::Paged ? "true" : "false") << ";\n"
     << "constexpr bool CACHE_HND = " << (spec.cache.order == CacheOrder::Hnd ? "true" : "false") << ";\n"
     << "using CacheElem = " << (is_fp8(spec.cache_dtype) ? "unsigned char" : "Elem") << ";\n";
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
  };
  return f;
}

}  // namespace ropegen
