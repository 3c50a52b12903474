// The rope_kv family: rope, kv_append and rope_kv_append. One head row per task (Q heads,
// K heads, V heads), each row a list of segments that are rotated or copied
// (rope_kv.hip); optional QK-RMSNorm, fp8 stores, head strides, separate outputs.
#include "families/rope_kv/rope_kv.hpp"

#include "codegen/codegen.hpp"

namespace ropegen {
namespace {

/// The head row: copied stretches around the rotated one (all copied when nothing rotates).
std::vector<RowSegment> row_segments(const KernelSpec& spec) {
  if (!spec.uses_rope()) return {{0, spec.head_dim, false}};
  const int r0 = spec.rotary_offset, r1 = spec.rotary_offset + spec.rotary_dim;
  std::vector<RowSegment> row;
  if (r0 > 0) row.push_back({0, r0, false});
  row.push_back({r0, spec.rotary_dim, true});
  if (r1 < spec.head_dim) row.push_back({r1, spec.head_dim - r1, false});
  return row;
}

void validate(const KernelSpec& s, const RuleFailure& fail) {
  if (s.uses_q() && s.q_heads % s.kv_heads != 0)
    fail("kv_heads,q_heads", "q_heads = " + std::to_string(s.q_heads) + " is not a multiple of kv_heads = " +
                                 std::to_string(s.kv_heads) + " (GQA/MQA need kv_heads to divide q_heads)");
}

PlanShape shape(const KernelSpec& s) {
  PlanShape out;
  out.walked = row_segments(s);
  out.tasks_per_token = (s.uses_q() ? s.q_heads : 0) + s.kv_heads * (s.uses_cache() ? 2 : 1);
  return out;
}

void bind(const KernelSpec& spec, const Target&, const LaunchPlan& plan, const ArgAlignment&, std::ostream& os) {
  const bool rotates = spec.uses_rope();
  const std::vector<RowSegment> row = row_segments(spec);
  os << "constexpr int Q_HEADS = " << spec.q_heads << ";\n"
     << "constexpr int KV_HEADS = " << spec.kv_heads << ";\n"
     << "constexpr bool HAS_Q = " << (spec.uses_q() ? "true" : "false") << ";\n"
     << "constexpr bool HAS_CACHE = " << (spec.uses_cache() ? "true" : "false") << ";\n"
     << "constexpr bool CACHE_PAGED = " << (spec.cache.kind == CacheKind::Paged ? "true" : "false") << ";\n"
     << "constexpr bool CACHE_HND = " << (spec.cache.order == CacheOrder::Hnd ? "true" : "false") << ";\n"
     << "constexpr int CACHE_BLOCK = " << spec.cache.block << ";\n"
     << "// fp8 cache scales and qk_norm.\n"
     << "using CacheElem = " << (spec.uses_cache() && is_fp8(spec.cache_dtype) ? "unsigned char" : "Elem") << ";\n"
     << "constexpr bool SCALES_PER_HEAD = " << (spec.scales == Scales::PerHead ? "true" : "false") << ";\n"
     << "constexpr bool QK_NORM = " << (rotates && spec.qk_norm.on ? "true" : "false") << ";\n"
     << "constexpr float NORM_EPS = " << float_literal(static_cast<float>(spec.qk_norm.eps)) << ";\n"
     << "constexpr bool NORM_GEMMA = " << (spec.qk_norm.gemma ? "true" : "false") << ";\n"
     << "constexpr bool HEAD_STRIDES = " << (spec.heads == Heads::Strided ? "true" : "false") << ";\n"
     << "constexpr bool SEPARATE_OUTPUTS = " << (rotates && spec.outputs == Outputs::Separate ? "true" : "false")
     << ";\n"
     << "constexpr int NUM_TASKS = " << plan.num_tasks << ";\n"
     << "// nvfp4: v's scales in 4-token groups inside each (page, head) tile.\n"
     << "constexpr bool V_SCALES_SWIZZLED = "
     << (spec.uses_cache() && spec.cache_dtype == StoreType::Nvfp4 && spec.codec.v_swizzled ? "true" : "false") << ";\n"
     << "// The head row, in order: [offset, offset + length) rotated or copied.\n"
     << "constexpr int NUM_SEGMENTS = " << row.size() << ";\n"
     << "RG_DEVICE rg_segment row_segment(int i) {\n"
     << "  constexpr rg_segment row[NUM_SEGMENTS] = {";
  for (size_t i = 0; i < row.size(); ++i)
    os << (i ? ", " : "") << "{" << row[i].offset << ", " << row[i].length << ", " << (row[i].rotate ? "true" : "false")
       << "}";
  os << "};\n  return row[i];\n}\n";
}

}  // namespace

const Family& rope_kv_family() {
  static const Family f = {
      "rope_kv",
      "rope_kv.hip",
      {{Op::Rope, "rope", true, false, true},
       {Op::KvAppend, "kv_append", false, true, false},
       {Op::RopeKvAppend, "rope_kv_append", true, true, true}},
      {},
      nullptr,
      validate,
      shape,
      bind,
      rope_kv_requirements,
      rope_kv_expect_token,
      rope_kv_matrix,
      nullptr,  // the shared verification runner
  };
  return f;
}

}  // namespace ropegen
