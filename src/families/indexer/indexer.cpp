// The indexer family: DeepSeek-V3.2's sparse-attention indexer cache write (indexer.hip).
// K: optional LayerNorm, RoPE on the rotated stretch, one fp8 e4m3 row with an fp32 scale in
// a block record of `block` tokens; Q: per head RoPE, fp8 with a computed scale, and the
// head weights multiplied by that scale (cache-layouts.md, "Sparse-attention indexer cache").
#include "families/indexer/indexer.hpp"

#include <cmath>

#include "codegen/codegen.hpp"
#include "schema/detail.hpp"
#include "schema/fields.hpp"

namespace ropegen {
namespace {

using spec_detail::cmp;
using spec_detail::describe_value;
using spec_detail::fail;
using spec_detail::format_double;

const FieldUse kIndexer{false, false, "indexer"};
// Keys the examples need so that each is a valid spec alone.
#define RG_IDX " op=indexer_append rotary_dim=64 cache_dtype=fp8_e4m3 cache=paged(block=64)"

double number(const dsl::Value& v, const char* key, double lo, double hi) {
  if (v.kind != dsl::Value::Kind::Number) fail(v.loc, std::string("expected a number for ") + key + ", found " + describe_value(v));
  if (!(v.number > lo && v.number <= hi && std::isfinite(v.number)))
    fail(v.loc, std::string(key) + " = " + v.text + " is out of range; expected more than " + format_double(lo) +
                    " and at most " + format_double(hi));
  return v.number;
}

/// A key with two words, false and true of a bool member.
template <bool IndexerParams::*M>
SpecField word_field(const char* key, const char* values, const char* help, std::vector<const char*> examples) {
  return SpecField{
      key, values, help, nullptr, kIndexer, false, std::move(examples),
      [](const SpecField& f, const dsl::Value& v, KernelSpec& s) {
        const std::string words = f.values;  // "no | yes"
        const std::string no = words.substr(0, words.find(' ')), yes = words.substr(words.rfind(' ') + 1);
        if (v.kind != dsl::Value::Kind::Ident || (v.text != no && v.text != yes))
          fail(v.loc, "invalid value " + describe_value(v) + " for " + f.key + "; valid values: " + no + ", " + yes);
        s.indexer.*M = v.text == yes;
      },
      nullptr,  // set below: the text needs the words, which a capture-free lambda cannot hold
      [](const SpecField&, const KernelSpec&) { return std::string(); },
      [](const KernelSpec& a, const KernelSpec& b) { return cmp(a.indexer.*M, b.indexer.*M); }};
}

void text_k_norm(const KernelSpec& s, std::string& out) {
  out += s.indexer.layernorm ? "layernorm(eps=" + format_double(s.indexer.eps) + ")" : std::string("none");
}

void lower_k_norm(const SpecField&, const dsl::Value& v, KernelSpec& s) {
  const bool call = v.kind == dsl::Value::Kind::Call;
  if ((v.kind != dsl::Value::Kind::Ident && !call) || (v.text != "none" && v.text != "layernorm") ||
      (v.text == "none" && call))
    fail(v.loc, "invalid value " + describe_value(v) + " for k_norm; valid values: none, layernorm(eps = E)");
  s.indexer.layernorm = v.text == "layernorm";
  s.indexer.eps = 1e-6;
  for (const auto& a : v.args) {
    if (a.name != "eps") fail(a.name_loc, "unknown argument '" + a.name + "' of layernorm; valid: eps");
    s.indexer.eps = number(a.value, "eps", 0, 1);
  }
}

std::vector<SpecField> spec_fields() {
  std::vector<SpecField> rows;
  rows.push_back(SpecField{
      "k_norm", "none | layernorm(eps = E)",
      "indexer_append: LayerNorm of k before RoPE (two-pass fp32 mean and variance, fp32 weight and bias "
      "k_norm_weight, k_norm_bias; eps default 1e-6), rounded to dtype",
      nullptr, kIndexer, false,
      {"none" RG_IDX, "layernorm" RG_IDX, "layernorm(eps=1e-5)" RG_IDX},
      lower_k_norm, text_k_norm,
      [](const SpecField&, const KernelSpec& s) {
        return !s.indexer.layernorm || (s.indexer.eps > 0 && s.indexer.eps <= 1) ? std::string()
                                                                                 : std::string("eps out of range");
      },
      [](const KernelSpec& a, const KernelSpec& b) {
        if (int c = cmp(a.indexer.layernorm, b.indexer.layernorm)) return c;
        return a.indexer.layernorm ? cmp(a.indexer.eps, b.indexer.eps) : 0;
      }});
  rows.push_back(word_field<&IndexerParams::ue8m0>(
      "scale_fmt", "fp32 | ue8m0",
      "indexer_append: the K and Q fp8 scales as computed (fp32) or rounded up to a power of two "
      "(ue8m0: exp2f(ceilf(log2f(s))))",
      {"fp32" RG_IDX, "ue8m0" RG_IDX}));
  rows.back().text = [](const KernelSpec& s, std::string& out) { out += s.indexer.ue8m0 ? "ue8m0" : "fp32"; };
  rows.push_back(word_field<&IndexerParams::k_multiply>(
      "k_quant", "divide | multiply",
      "indexer_append: K's codes from x / s (divide: vLLM) or x * (1 / s) (multiply: AITER); Q always "
      "multiplies",
      {"divide" RG_IDX, "multiply" RG_IDX}));
  rows.back().text = [](const KernelSpec& s, std::string& out) { out += s.indexer.k_multiply ? "multiply" : "divide"; };
  rows.push_back(word_field<&IndexerParams::tiled>(
      "k_cache_layout", "linear | tiled16",
      "indexer_append: a block's value bytes token-major (linear), or in 16 x 16-byte tiles for AITER's "
      "pre-shuffled readers (tiled16: byte c of token t at (t/16)*16*D + (c/16)*256 + (t%16)*16 + c%16)",
      {"linear" RG_IDX, "tiled16" RG_IDX}));
  rows.back().text = [](const KernelSpec& s, std::string& out) { out += s.indexer.tiled ? "tiled16" : "linear"; };
  rows.push_back(SpecField{
      "fp8_max", "auto | a number in (0, 57344]",
      "indexer_append: the divisor of the fp8 scales (s = max(amax, 1e-4) / fp8_max for K, max(amax, 1e-10) "
      "* (1 / fp8_max) for Q); auto: 448 (OCP e4m3); an FNUZ encoding must name it (224 vLLM, 240 AITER)",
      nullptr, kIndexer, false,
      {"auto" RG_IDX, "240" RG_IDX, "224" RG_IDX},
      [](const SpecField&, const dsl::Value& v, KernelSpec& s) {
        s.indexer.fp8_max = v.kind == dsl::Value::Kind::Ident && v.text == "auto" ? 0 : number(v, "fp8_max", 0, 57344);
      },
      [](const KernelSpec& s, std::string& out) {
        out += s.indexer.fp8_max ? format_double(s.indexer.fp8_max) : std::string("auto");
      },
      [](const SpecField&, const KernelSpec& s) {
        return s.indexer.fp8_max >= 0 && s.indexer.fp8_max <= 57344 ? std::string() : std::string("fp8_max out of range");
      },
      [](const KernelSpec& a, const KernelSpec& b) { return cmp(a.indexer.fp8_max, b.indexer.fp8_max); }});
  rows.push_back(SpecField{
      "weights_scale", "a number in (0, 1e6]",
      "indexer_append: head_weights = weights * q_s * weights_scale in fp32 (DeepSeek-V3.2: "
      "index_n_heads^-0.5 * index_head_dim^-0.5)",
      nullptr, kIndexer, false,
      {"1" RG_IDX, "0.011048543456039806" RG_IDX, "0.125" RG_IDX},
      [](const SpecField&, const dsl::Value& v, KernelSpec& s) {
        s.indexer.weights_scale = number(v, "weights_scale", 0, 1e6);
      },
      [](const KernelSpec& s, std::string& out) { out += format_double(s.indexer.weights_scale); },
      [](const SpecField&, const KernelSpec& s) {
        return s.indexer.weights_scale > 0 && s.indexer.weights_scale <= 1e6 ? std::string()
                                                                             : std::string("weights_scale out of range");
      },
      [](const KernelSpec& a, const KernelSpec& b) { return cmp(a.indexer.weights_scale, b.indexer.weights_scale); }});
  return rows;
}
#undef RG_IDX

void validate(const KernelSpec& s, const RuleFailure& fail) {
  if (s.cos_sin.per_head)
    fail("cos_sin", "cos_sin = table(per_head = true): op = indexer_append rotates one shared rope part, not per-head rows; "
                    "per-head tables are for op = rope and rope_kv_append");
  if (s.rotary_dim == 0)
    fail("rotary_dim", "rotary_dim = 0: op = indexer_append rotates its rope part; a layer without RoPE is op = rope or "
                       "rope_kv_append with rotary_dim = 0");
  if (s.dtype == DType::F32)
    fail("dtype", "dtype = f32: op = indexer_append reads bf16 or f16 activations (its roundings are to that dtype)");
  if (s.head_dim != 128)
    fail("head_dim", "head_dim = " + std::to_string(s.head_dim) +
                         ": op = indexer_append writes 128-value rows, one fp32 scale each (index_head_dim = 128)");
  if (indexer::stored(s) != StoreType::Fp8E4m3 && s.cache_dtype != StoreType::Fp8E4m3Fnuz)
    fail("cache_dtype", std::string("cache_dtype = ") + to_string(s.cache_dtype) +
                            ": op = indexer_append stores fp8 e4m3: auto (= fp8_e4m3), fp8_e4m3 or fp8_e4m3fnuz");
  if (s.cache_dtype == StoreType::Fp8E4m3Fnuz && s.indexer.fp8_max == 0)
    fail("fp8_max", "cache_dtype = fp8_e4m3fnuz: name the divisor, fp8_max = 224 (vLLM) or 240 (AITER)");
  if (s.cache.kind != CacheKind::Paged || s.cache.order != CacheOrder::Nhd)
    fail("cache", "op = indexer_append writes block records: cache = paged(block = B) with order = nhd");
  if (s.indexer.tiled && s.cache.block % 16 != 0)
    fail("k_cache_layout,cache", "k_cache_layout = tiled16 needs cache = paged(block = B) with B % 16 == 0 (16-token tiles)");
  if (s.checks != Checks::None)
    fail("checks", "checks = bounds is not available for op = indexer_append; the limits cache_slots and "
                   "table_rows still skip tokens");
}

/// The lanes walk the whole row: the stretches before, inside and after the rotation (as
/// indexer.hip's row_segment); tasks: the q heads and k.
PlanShape shape(const KernelSpec& s) {
  PlanShape out;
  const int r1 = s.rotary_offset + s.rotary_dim;
  if (s.rotary_offset > 0) out.walked.push_back({0, s.rotary_offset, false});
  out.walked.push_back({s.rotary_offset, s.rotary_dim, true});
  if (r1 < s.head_dim) out.walked.push_back({r1, s.head_dim - r1, false});
  out.tasks_per_token = s.q_heads + 1;
  out.narrow_on_cdna = true;  // fp8 with a scale per 128 values (and the K side's LayerNorm)
  // 8 tasks a group in 128-thread blocks: DeepSeek-V3.2's 65 rows as 2 tokens x 8 groups, timed
  // by `ropegen tune` on the H100 (graph mode) against the generic 2 x 16 in 256 threads: 4.81 /
  // 5.00 / 6.81 / 85.96 us at 1 / 32 / 256 / 8192 tokens against 4.70 / 5.32 / 8.77 / 92.60
  // (docs/performance.md, "Indexer plan").
  out.tasks_per_group = 8;
  out.block_threads = 128;
  return out;
}

void bind(const KernelSpec& spec, const Target& target, const LaunchPlan&, const ArgAlignment&, std::ostream& os) {
  const IndexerParams& ix = spec.indexer;
  const bool fnuz = fp8_fnuz_on(target.caps, indexer::stored(spec));
  if (fnuz && ix.fp8_max == 0)
    throw Error(ErrorKind::Spec, "fp8_max: target " + target.id() + " stores e4m3 as e4m3fnuz; name the divisor, "
                                 "fp8_max = 224 (vLLM) or 240 (AITER)");
  const double qmax = indexer::divisor(spec);
  os << "constexpr int Q_HEADS = " << spec.q_heads << ";\n"
     << "constexpr int ROTARY_OFFSET = " << spec.rotary_offset << ";\n"
     << "constexpr int BLOCK = " << spec.cache.block << ";\n"
     << "constexpr bool LAYERNORM = " << (ix.layernorm ? "true" : "false") << ";\n"
     << "constexpr float LN_EPS = " << float_literal(static_cast<float>(ix.eps)) << ";\n"
     << "constexpr bool UE8M0 = " << (ix.ue8m0 ? "true" : "false") << ";\n"
     << "constexpr float FP8_MAX = " << float_literal(static_cast<float>(qmax)) << ";\n"
     << "constexpr float INV_FP8_MAX = " << float_literal(static_cast<float>(1.0 / qmax)) << ";  // fp32(1 / fp8_max)\n"
     << "constexpr bool K_DIVIDE = " << (ix.k_multiply ? "false" : "true") << ";\n"
     << "constexpr float WEIGHTS_SCALE = " << float_literal(static_cast<float>(ix.weights_scale)) << ";\n"
     << "constexpr bool TILED = " << (ix.tiled ? "true" : "false") << ";\n"
     // The target's encoding (templates/fp8.h; its instructions where the spec names an fp8
     // cache_dtype, which pastes the vendor's fp8 header).
     << "RG_DEVICE unsigned indexer_fp8x2(float lo, float hi) { return rg_fp8_encode2_" << (fnuz ? "e4m3fnuz" : "e4m3")
     << "(lo, hi); }\n";
}

}  // namespace

namespace indexer {
StoreType stored(const KernelSpec& s) { return s.cache_dtype == StoreType::Auto ? StoreType::Fp8E4m3 : s.cache_dtype; }
double divisor(const KernelSpec& s) { return s.indexer.fp8_max ? s.indexer.fp8_max : 448.0; }
}  // namespace indexer

const Family& indexer_family() {
  static const Family f = {
      "indexer",
      "indexer.hip",
      {{Op::IndexerAppend, "indexer_append", true, true, true}},
      // Its inputs and outputs in the block's fields: k is the indexer's k row, v the head
      // weights [tokens, q_heads] f32, q_out_scales the head weights it writes, k_norm_weight
      // and q_norm_weight the LayerNorm's weight and bias.
      {{"v", "weights"}, {"q_out_scales", "head_weights"}, {"q_norm_weight", "k_norm_bias"}},
      spec_fields,
      validate,
      shape,
      bind,
      indexer_requirements,
      nullptr,  // its own runner (verify.cpp) compares the byte records
      indexer_matrix,
      indexer_verify,
      indexer_prepare,
  };
  return f;
}

}  // namespace ropegen
