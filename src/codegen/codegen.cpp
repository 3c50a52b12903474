// The generator: binds the spec's constants into the templates and picks the schedule.
#include "codegen/codegen.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>
#include <sstream>

#include "../common/env.hpp"
#include "families/family.hpp"
#include "scaling.hpp"
#include "ropegen/error.hpp"
#include "schema/fields.hpp"

namespace ropegen {

namespace embedded {
// Defined in the build-generated templates_embedded.cpp.
extern const std::vector<std::pair<std::string, std::string>>& files();
extern const std::vector<std::pair<std::string, std::string>>& paths();
}  // namespace embedded

namespace {
std::mutex g_override_mu;
std::map<std::string, std::string>& overrides() {
  static std::map<std::string, std::string> m;
  return m;
}

int pow2_floor(int x) {
  int p = 1;
  while (p * 2 <= x) p *= 2;
  return p;
}


std::string double_literal(double d) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%a", d);
  return buf;
}

const char* elem_type(DType t) {
  switch (t) {
    case DType::F32: return "float";
    case DType::F16: return "rg_f16";
    case DType::BF16: return "rg_bf16";
  }
  return "?";
}

}  // namespace

std::string float_literal(float f) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%af", static_cast<double>(f));
  return buf;
}

const std::string& template_text(const std::string& name) {
  {
    std::lock_guard<std::mutex> lock(g_override_mu);
    auto it = overrides().find(name);
    if (it != overrides().end()) return it->second;
  }
  for (const auto& f : embedded::files())
    if (f.first == name) return f.second;
  throw Error(ErrorKind::Codegen, "no embedded template named '" + name + "'");
}

const std::string& template_path(const std::string& name) {
  for (const auto& f : embedded::paths())
    if (f.first == name) return f.second;
  throw Error(ErrorKind::Codegen, "no embedded template named '" + name + "'");
}

std::vector<std::string> template_names() {
  std::vector<std::string> out;
  for (const auto& f : embedded::files()) out.push_back(f.first);
  return out;
}

void override_template_for_testing(const std::string& name, const std::string& text) {
  std::lock_guard<std::mutex> lock(g_override_mu);
  if (text.empty()) overrides().erase(name);
  else overrides()[name] = text;
}

std::pair<unsigned, unsigned> LaunchPlan::grid(long long num_tokens, int parallelism) const {
  if (num_tokens <= 0) return {0, 0};
  // Rounded up without num_tokens + tokens_per_block - 1, which overflows near LLONG_MAX.
  long long gx = num_tokens / tokens_per_block + (num_tokens % tokens_per_block != 0);
  long long max_gy = (num_tasks + head_groups - 1) / head_groups;
  long long gy = 1;
  if (gx < parallelism && !whole_token) gy = std::min<long long>(max_gy, (parallelism + gx - 1) / gx);
  return {static_cast<unsigned>(gx), static_cast<unsigned>(std::max<long long>(1, gy))};
}

GeneratedSource wrap_kernel_body(const std::string& body, const std::string& entry, const Target& target,
                                 const LaunchPlan& plan, const KernelSpec& spec) {
  GeneratedSource out;
  out.spec = spec;
  out.target = target;
  out.plan = plan;
  out.entry = entry;
  std::ostringstream os;
  const Dialect& dialect = dialect_for(target.vendor);
  for (const auto& p : dialect.preludes) os << template_text(p);
  os << "#define ROPEGEN_KERNEL_SOURCE 1\n" << template_text("kernel_args.h") << template_text("rope_common.h") << body;
  if (dialect.host_launcher) {
    out.host_entry = entry + "_host";
    os << "\nextern \"C\" void " << out.host_entry
       << "(unsigned grid_x, unsigned grid_y, unsigned grid_z, unsigned block_x, "
          "const ropegen_kernel_args* args) {\n"
       << "  rg_host_run(grid_x, grid_y, grid_z, block_x, [&] { " << entry << "(*args); });\n}\n";
  }
  out.source = os.str();
  out.source_hash = hex64(fnv1a64(out.source));
  return out;
}

namespace {
/// The vendor's approximate-reciprocal header (nvfp4 recipe = trtllm); Error(Spec) where it has
/// none (check_target refuses the recipe there first, with the spec's location).
const std::string& rcp_approx_header(const Target& target) {
  const Dialect& d = dialect_for(target.vendor);
  if (d.rcp_approx_header.empty())
    throw Error(ErrorKind::Spec, "recipe = trtllm uses NVIDIA's approximate reciprocal; use recipe = exact on " +
                                     target.id());
  return d.rcp_approx_header;
}
}  // namespace

GeneratedSource rcp_approx_kernel(const Target& target) {
  const std::string& header = rcp_approx_header(target);
  const char* body = R"(
RG_KERNEL(64) rg_rcp_table(ropegen_kernel_args a) {
  const long long i = static_cast<long long>(rg_block_x()) * 64 + rg_thread_x();
  if (i < a.max_seq) static_cast<float*>(a.q)[i] = rg_rcp_approx_ftz(static_cast<const float*>(a.v)[i]);
}
)";
  LaunchPlan plan;
  plan.wave = target.default_wave;
  plan.block_threads = 64;
  plan.tokens_per_block = 1;
  plan.head_groups = 1;
  plan.num_tasks = 1;
  const KernelSpec carrier = parse_spec_line("op=rope head_dim=64 q_heads=1 kv_heads=1 cos_sin=compute(theta=10000)").spec;
  return wrap_kernel_body("#define RG_RCP_APPROX 1\n" + template_text(header) + body, "rg_rcp_table",
                          target, plan, carrier);
}

PlanChoice parse_plan_choice(const std::string& text) {
  // Decimal numbers of 1..1024 each (a block holds at most 1024 threads), so nothing wraps.
  const size_t x = text.find('x');
  uint64_t tokens = 0, groups = 0;
  if (x == std::string::npos || !detail::parse_decimal(text.substr(0, x), 1024, tokens) ||
      !detail::parse_decimal(text.substr(x + 1), 1024, groups) || tokens < 1 || groups < 1)
    throw Error(ErrorKind::Spec, "bad plan '" + text + "': expected TOKENSxGROUPS, each 1 to 1024, e.g. 4x8");
  PlanChoice c;
  c.tokens_per_block = static_cast<int>(tokens);
  c.head_groups = static_cast<int>(groups);
  return c;
}

namespace {

/// Lanes (threads) a segment needs at a vector width: on a NeoX row a lane takes one vector
/// from each half of a rotated segment, and of a copied one whose halves are whole vectors
/// (so a partial rotation's copied rest takes half the lanes: fewer lanes, more often a power
/// of two for the norms' exchanges); else one vector.
int segment_lanes(const RowSegment& sg, bool neox, int vec) {
  return neox && (sg.rotate || sg.length % (2 * vec) == 0) ? sg.length / (2 * vec) : sg.length / vec;
}

/// cos/sin values a rotating lane holds: one per pair its vector(s) cover.
int cos_sin_per_lane(const KernelSpec& spec, int vec) {
  if (!spec.uses_rope()) return 1;
  return spec.style == Style::Neox ? vec : vec / 2;
}

/// Whether a vector width tiles a segment (for NeoX rotation, each half of it).
bool tiles(const RowSegment& sg, bool neox, int vec) {
  if (sg.offset % vec != 0 || sg.length % vec != 0) return false;
  return !(sg.rotate && neox) || (sg.length / 2) % vec == 0;
}

/// The converter name of an fp8 store type on a target ("e4m3", "e5m2fnuz", ...).
std::string fp8_suffix(const Target& target, StoreType t) {
  const bool e4m3 = t == StoreType::Fp8E4m3 || t == StoreType::Fp8E4m3Fnuz;
  return std::string(e4m3 ? "e4m3" : "e5m2") + (fp8_fnuz_on(target.caps, t) ? "fnuz" : "");
}

}  // namespace

void bind_fp8(const char* flag, const char* encoder, const Target& target, StoreType t, bool used, std::ostream& os) {
  const bool fp8 = used && is_fp8(t);
  os << "constexpr bool " << flag << " = " << (fp8 ? "true" : "false") << ";\n"
     << "RG_DEVICE unsigned " << encoder << "(float lo, float hi) { "
     << (fp8 ? "return rg_fp8_encode2_" + fp8_suffix(target, t) + "(lo, hi);" : std::string("(void)lo; (void)hi; return 0u;"))
     << " }\n";
}

/// The fp8 format index of rg_codec (templates/rope_common.h) a store type has on a target.
int codec_fp8(const Target& target, StoreType t) {
  const bool e4m3 = t == StoreType::Fp8E4m3 || t == StoreType::Fp8E4m3Fnuz;
  return (e4m3 ? 0 : 1) + (fp8_fnuz_on(target.caps, t) ? 2 : 0);
}

/// The largest value of the codec's fp8 format index.
double fp8_largest(int format) { return format == 0 ? 448 : format == 2 ? 240 : 57344; }

/// One rg_codec constant: kind 0 none, 1 int8, 2 int4, 3 fp8 with computed scales, 4 nvfp4, 5 mxfp4.
void emit_codec(const char* name, int kind, int bits, int group, const CacheCodec& c, double qmax, int fp8, int scale_bytes,
                std::ostream& os, bool divide) {
  // rule: the scale rule of the format (mxfp4's rounding, nvfp4's recipe).
  const int rule = kind == 4 ? static_cast<int>(c.recipe) : static_cast<int>(c.scale_round);
  os << "constexpr rg_codec " << name << " = {" << kind << ", " << bits << ", " << group << ", "
     << static_cast<int>(c.round) << ", " << rule << ", "
     << float_literal(static_cast<float>(qmax)) << ", " << float_literal(static_cast<float>(c.floor)) << ", " << fp8
     << ", " << scale_bytes << ", " << (divide ? 1 : 0) << "};\n";
}

namespace {

/// The codecs of quantized stores (templates/quant.h): the cache's (cache_dtype with computed
/// scales) and q_out's (q_scales = per_token_head); kind 0 where the store keeps values (the
/// dtype, or fp8 with scales read from k_scale/v_scale/q_scale).
void bind_codec(const KernelSpec& spec, const Target& target, std::ostream& os) {
  const bool q = quantized_cache(spec);
  const StoreType t = spec.cache_dtype;
  const int kind = !q ? 0 : t == StoreType::Int8 ? 1 : t == StoreType::Int4 ? 2 : is_fp8(t) ? 3
                 : t == StoreType::Nvfp4 ? 4 : 5;
  const int fp8 = kind == 3 ? codec_fp8(target, t) : 0;
  // fp8 with per_token_head: the divisor is the format's largest value unless the spec names one
  // (vLLM divides e4m3fnuz by 224).
  const double qmax = kind == 1 ? 127 : kind == 3 ? (spec.codec.qmax ? spec.codec.qmax : fp8_largest(fp8)) : 0;
  os << "// Quantized stores (templates/quant.h).\n";
  emit_codec("CACHE_CODEC", kind, q ? cache_bits(spec) : 8, q ? cache_group(spec) : 1, spec.codec, qmax, fp8,
             q && spec.scales == Scales::PerTokenHead ? 4 : 1, os);
  const bool qq = spec.uses_rope() && is_fp8(spec.q_dtype) && spec.q_scales == Scales::PerTokenHead;
  const int qf = qq ? codec_fp8(target, spec.q_dtype) : 0;
  emit_codec("Q_CODEC", qq ? 3 : 0, 8, spec.head_dim, CacheCodec{}, fp8_largest(qf), qf, 4, os);
  os << "constexpr int CACHE_QUANT = CACHE_CODEC.kind;\n"
     << "constexpr int Q_QUANT = Q_CODEC.kind;\n";
}

/// The constants of templates/rows.h, which every family uses: vector and
/// cos/sin shape, fp8 converters, position rows, the scaling family's frequencies.
void bind_rows(const KernelSpec& spec, const Target& target, const LaunchPlan& plan, const ArgAlignment& align,
               std::ostream& os) {
  const bool rotates = spec.uses_rope();
  const bool neox = rotates && spec.style == Style::Neox;
  os << "constexpr bool ROTATES = " << (rotates ? "true" : "false") << ";\n"
     << "constexpr bool NEOX = " << (neox ? "true" : "false") << ";\n"
     << "constexpr bool COS_SIN_TABLE = "
     << (!rotates || spec.cos_sin.source == CosSinSource::Table ? "true" : "false") << ";\n"
     << "constexpr bool COS_SIN_PER_HEAD = "
     << (rotates && spec.cos_sin.source == CosSinSource::Table && spec.cos_sin.per_head ? "true" : "false") << ";\n"
     << "constexpr int NJ = " << cos_sin_per_lane(spec, plan.vec) << ";  // cos/sin values per thread\n"
     << "constexpr int CS_ALIGN = " << align.table_bytes << ";\n"
     << "constexpr int ROTARY_DIM = " << spec.rotary_dim << ";\n";
  // The row the lanes walk (the family's PlanShape::walked): rows.h's lane_unit maps a lane
  // to its stretch by the rule segment_lanes counts with.
  const std::vector<RowSegment> walked = family_of(spec.op).shape(spec).walked;
  os << "// The head row the lanes walk, in order: [offset, offset + length) rotated or copied.\n"
     << "constexpr int NUM_SEGMENTS = " << walked.size() << ";\n"
     << "RG_DEVICE rg_segment row_segment(int i) {\n"
     << "  constexpr rg_segment row[NUM_SEGMENTS] = {";
  for (size_t i = 0; i < walked.size(); ++i)
    os << (i ? ", " : "") << "{" << walked[i].offset << ", " << walked[i].length << ", "
       << (walked[i].rotate ? "true" : "false") << "}";
  os << "};\n  return row[i];\n}\n";
  // fp8 stores (cache_dtype, q_dtype).
  // One flag and encoder per store-type key of the schema: cache_dtype -> CACHE_FP8 and
  // cache_encode2 (false and a stub where the op does not use the key).
  for (const SpecField& f : spec_fields()) {
    if (!f.store) continue;
    std::string prefix = f.key;
    prefix = prefix.substr(0, prefix.rfind("_dtype"));
    std::string flag;
    for (char c : prefix) flag += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    bind_fp8((flag + "_FP8").c_str(), (prefix + "_encode2").c_str(), target, spec.*f.store, f.used_by(spec.op), os);
  }
  // Position rows (multimodal RoPE): which row frequency index j reads is row_of(j) in the
  // template, from these sections.
  const Positions& pr = spec.positions;
  const bool multi = rotates && pr.kind != PositionsKind::Single;
  os << "constexpr int POSITION_ROWS = " << (multi ? pr.rows() : 1) << ";\n"
     << "constexpr bool POSITIONS_INTERLEAVED = " << (multi && pr.kind == PositionsKind::Imrope ? "true" : "false")
     << ";\n"
     << "// positions = grid: one position per token; its frame, row and column come from grid_h, grid_w.\n"
     << "constexpr bool POSITIONS_GRID = " << (multi && pr.kind == PositionsKind::Grid ? "true" : "false") << ";\n";
  for (int r = 0; r < 3; ++r)
    os << "constexpr int SECTION" << r << " = " << (multi && r < pr.rows() ? pr.sections[r] : 0) << ";\n";
  os << "constexpr bool ANGLE_EXACT = " << (rotates && spec.angle == Angle::Exact ? "true" : "false") << ";\n";
  // A table of the frequencies as floats (the fp32 angle) and as doubles (angle = exact).
  auto table = [&](const char* name, const std::vector<double>& v, bool as_double) {
    if (v.empty()) {
      os << "RG_CONST_ARRAY " << (as_double ? "double " : "float ") << name << "[1] = {0};  // unused\n";
      return;
    }
    os << "RG_CONST_ARRAY " << (as_double ? "double " : "float ") << name << "[" << v.size() << "] = {";
    for (size_t j = 0; j < v.size(); ++j)
      os << (j % 4 == 0 ? "\n    " : " ")
         << (as_double ? double_literal(v[j]) : float_literal(static_cast<float>(v[j]))) << ",";
    os << "\n};\n";
  };
  const CosSin& cs = spec.cos_sin;
  if (rotates && cs.source == CosSinSource::Compute) {
    // The scaling family's inv_freq_j and attention factor, computed in double (rope-math.md).
    ScaledFrequencies sf = scaled_frequencies(cs, spec.rotary_dim);
    if (pr.kind == PositionsKind::Vision) {
      // Vision 2-D RoPE: index j's frequency is that of j' (its index within its section) in a
      // rotary of rotary_dim / 2 dimensions: b^(-4j' / rotary_dim) (scaling = none).
      for (int j = 0; j < spec.rotary_dim / 2; ++j)
        sf.inv_freq[j] = std::pow(cs.theta, -4.0 * pr.frequency_index(j) / spec.rotary_dim);
    } else if (pr.kind == PositionsKind::Grid) {
      // 3-D grid RoPE: each section of n indices is a rotary of its own, 2n dimensions:
      // b^(-2j' / 2n) = b^(-j' / n), j' within the section.
      for (int j = 0; j < spec.rotary_dim / 2; ++j)
        sf.inv_freq[j] = std::pow(cs.theta, -static_cast<double>(pr.frequency_index(j)) / pr.sections[pr.row_of(j)]);
    }
    const bool exact = spec.angle == Angle::Exact;
    const int rule = !cs.runtime_length() ? 0 : cs.scaling == Scaling::Dynamic ? 1 : 2;
    const double exponent = static_cast<double>(spec.rotary_dim) / (spec.rotary_dim - 2);
    os << "constexpr float ATTENTION = " << float_literal(static_cast<float>(sf.attention))
       << ";  // multiplies cos and sin\n"
       << "constexpr float ATTENTION_LONG = "
       << float_literal(static_cast<float>(sf.inv_freq_long.empty() ? sf.attention : sf.attention_long)) << ";\n"
       << "// Run-time length rule: 0 none, 1 dynamic (base from seq_lens), 2 longrope (long set\n"
       << "// when seq_lens > original_max_position_embeddings).\n"
       << "constexpr int LENGTH_RULE = " << rule << ";\n"
       << "constexpr double LENGTH_ORIGINAL = " << double_literal(cs.params.original_max_position_embeddings)
       << ";\n"
       << "constexpr double DYNAMIC_FACTOR = " << double_literal(cs.params.factor) << ";\n"
       << "constexpr double DYNAMIC_EXPONENT = " << double_literal(exponent) << ";  // d / (d - 2)\n"
       << "constexpr double LN_THETA = " << double_literal(std::log(cs.theta)) << ";\n";
    table("INV_FREQ", rule == 1 || exact ? std::vector<double>{} : sf.inv_freq, false);
    table("INV_FREQ_D", rule == 1 || !exact ? std::vector<double>{} : sf.inv_freq, true);
    table("INV_FREQ_LONG", rule != 2 || exact ? std::vector<double>{} : sf.inv_freq_long, false);
    table("INV_FREQ_LONG_D", rule != 2 || !exact ? std::vector<double>{} : sf.inv_freq_long, true);
  } else {
    os << "constexpr float ATTENTION = 1.0f;\n"
       << "constexpr float ATTENTION_LONG = 1.0f;\n"
       << "constexpr int LENGTH_RULE = 0;\n"
       << "constexpr double LENGTH_ORIGINAL = 0, DYNAMIC_FACTOR = 1, DYNAMIC_EXPONENT = 1, LN_THETA = 0;\n"
       << "// cos/sin come from tables\n";
    for (const char* n : {"INV_FREQ", "INV_FREQ_LONG"}) table(n, {}, false);
    for (const char* n : {"INV_FREQ_D", "INV_FREQ_LONG_D"}) table(n, {}, true);
  }
}

}  // namespace

LaunchPlan plan(const KernelSpec& spec, const Target& target, const PlanChoice& choice) {
  const int wave = spec.wave_for(target);
  if (!target.supports_wave(wave)) {
    throw Error(ErrorKind::Spec, "wave = " + std::to_string(wave) + " is not supported by target " +
                                     target.id());
  }
  const bool neox = spec.uses_rope() && spec.style == Style::Neox;
  // The family's rows: the walked segments give the lanes, and the vector must tile those
  // and the stretches copied beside them.
  const PlanShape shape = family_of(spec.op).shape(spec);
  std::vector<RowSegment> row = shape.walked;
  row.insert(row.end(), shape.tiled.begin(), shape.tiled.end());

  // Widest vector (at most 16 bytes) that tiles every segment of the head row.
  int vec = 16 / dtype_bytes(spec.dtype);
  for (; vec > 1; vec /= 2) {
    bool ok = true;
    for (const RowSegment& sg : row) ok = ok && tiles(sg, neox, vec);
    if (ok) break;
  }
  // CDNA (wave 64): a SIMD's 512 VGPRs a lane give 8 waves (full occupancy) at 64 VGPRs or
  // fewer. The kernels a family marks (PlanShape::narrow_on_cdna: rows kept in registers
  // across a reduction, fp8 codes stored a byte at a time) needed 65-77 with 16-byte vectors on
  // gfx942 and 40-61 with 8-byte ones (clang 19; docs/performance.md, "Quantized caches on
  // AMD"): they take 8 bytes, twice the lanes per row. A halved vector still tiles what the
  // wider one tiled.
  if (shape.narrow_on_cdna && target.vendor == Vendor::Amd && wave == 64)
    vec = std::min(vec, std::max(1, 8 / dtype_bytes(spec.dtype)));
  if (spec.uses_rope() && !neox && vec < 2) vec = 2;  // a GPT-J vector holds whole pairs; rot is even
  if (quantized_cache(spec) && cache_bits(spec) == 4 && vec < 2)
    throw Error(ErrorKind::Spec, "cache_dtype = " + std::string(to_string(spec.cache_dtype)) +
                                     ": a vector of 4-bit codes must fill whole bytes, but the row's stretches "
                                     "(rotary_offset = " + std::to_string(spec.rotary_offset) + ", rotary_dim = " +
                                     std::to_string(spec.rotary_dim) + ") allow only single elements");
  int lanes = 0;
  for (const RowSegment& sg : shape.walked) lanes += segment_lanes(sg, neox, vec);

  LaunchPlan plan;
  plan.wave = wave;
  plan.vec = vec;
  plan.lanes_per_head = lanes;
  plan.num_tasks = shape.tasks_per_token;
  plan.whole_token = shape.whole_token;
  // About 256 threads per block (the family's count), whole waves. Each head group walks
  // about four head tasks per token (the family's count) so cos/sin loads are shared; the rest
  // of the block covers more tokens.
  const int items = std::max(1, shape.block_threads / lanes);
  plan.head_groups = std::min(items, pow2_floor(std::max(1, plan.num_tasks / shape.tasks_per_group)));
  // A token in one block (a reduction over its heads) cannot spread its heads over grid y
  // at decode sizes: it spreads them over the block instead, about four tasks per group (whose
  // rows stay in registers across the reduction) in blocks of about 256 threads, several of
  // which share a multiprocessor so one block's loads overlap another's reduction.
  if (plan.whole_token)
    plan.head_groups = std::min({plan.num_tasks, 1024 / lanes, std::max(items, (plan.num_tasks + 3) / 4)});
  plan.tokens_per_block = std::max(1, items / plan.head_groups);
  if (choice.head_groups > 0) plan.head_groups = choice.head_groups;
  if (choice.tokens_per_block > 0) plan.tokens_per_block = choice.tokens_per_block;
  if (static_cast<long long>(plan.tokens_per_block) * plan.head_groups * lanes > 1024)
    throw Error(ErrorKind::Spec, "plan " + std::to_string(plan.tokens_per_block) + "x" +
                                     std::to_string(plan.head_groups) + " needs more than 1024 threads per block");
  const int used = plan.tokens_per_block * plan.head_groups * lanes;
  plan.block_threads = (used + wave - 1) / wave * wave;
  // Measured on the H100 (graph mode, 256 tokens); on AMD CDNA the bf16 kernel is already
  // over the 64 VGPRs of full occupancy, and no AMD GPU is here to weigh the trade.
  // Under PDL the rows may only be read after the wait for the previous kernel.
  plan.prefetch_first = target.vendor != Vendor::Amd && spec.pdl == Pdl::Off;
  return plan;
}

GeneratedSource generate(const KernelSpec& spec, const Target& target, const PlanChoice& choice) {
  return emit(spec, target, plan(spec, target, choice));
}

GeneratedSource emit(const KernelSpec& spec, const Target& target, const LaunchPlan& plan) {
  const Family& family = family_of(spec.op);
  const int nj = cos_sin_per_lane(spec, plan.vec);

  GeneratedSource out;
  out.spec = spec;
  out.target = target;
  out.plan = plan;
  out.align.tensor_bytes = plan.vec * dtype_bytes(spec.dtype);
  out.align.row_elems = plan.vec;
  out.align.table_bytes = std::min(16, nj * 4);
  out.align.table_elems = out.align.table_bytes / 4;
  out.entry = std::string("ropegen_") + to_string(spec.op) + "_" + spec.hash().substr(0, 12);

  std::ostringstream os;
  os << "// Generated by ropegen. Do not edit: change the spec or templates/ instead.\n"
     << "// spec:   " << spec.canonical() << "\n"
     << "// target: " << target.id() << " (" << target.family << "), wave " << plan.wave << "\n"
     << "// plan:   vec=" << plan.vec << " lanes/head=" << plan.lanes_per_head
     << " tokens/block=" << plan.tokens_per_block << " head-groups=" << plan.head_groups
     << " tasks/token=" << plan.num_tasks << " block=" << plan.block_threads << "\n"
     << "// family: " << family.name << "\n";
  const Dialect& dialect = dialect_for(target.vendor);
  // #line directives: a compile error names the template file and line it came from; the
  // lines generated here are numbered as in the dumped source (<entry>.<arch>.hip).
  const std::string generated_file = out.entry + "." + target.arch + ".hip";
  auto paste = [&](const std::string& name) {
    const std::string& text = template_text(name);
    os << "\n// ---- " << name << " ----\n#line 1 \"" << template_path(name) << "\"\n" << text;
    if (text.empty() || text.back() != '\n') os << "\n";
    const std::string so_far = os.str();
    os << "#line " << std::count(so_far.begin(), so_far.end(), '\n') + 2 << " \"" << generated_file << "\"\n";
  };
  for (const auto& p : dialect.preludes) paste(p);
  os << "\n#define ROPEGEN_KERNEL_SOURCE 1  // kernel_args.h: the kernel only reads the block";
  paste("kernel_args.h");
  paste("rope_common.h");
  const auto is_e2m1 = [](StoreType t) { return t == StoreType::Nvfp4 || t == StoreType::Mxfp4; };
  bool quant = quantized_cache(spec), e2m1 = quant && is_e2m1(spec.cache_dtype);
  for (const RecordPart& part : spec.cache_record.parts)  // a record's quantized values
    if (part.kind == RecordPart::Kind::Values && part.format != StoreType::Auto) {
      quant = true;
      e2m1 = e2m1 || is_e2m1(part.format);
    }
  // fp8 stores and quantized caches or records (nvfp4's block scales are e4m3) get the
  // vendor's fp8 instructions; every other kernel the portable code, which quant.h names.
  if (spec.uses_fp8() || quant)
    for (const auto& h : dialect.fp8_headers) paste(h);
  else
    paste("fp8.h");
  // e2m1 codes (nvfp4, mxfp4) by the target's conversion instruction where its caps say it has
  // one: quant.h encodes pairs with the vendor's rg_e2m1_hw_encode2 instead of integer code.
  if (e2m1 && target.caps.hw_e2m1) {
    if (dialect.e2m1_header.empty())
      throw Error(ErrorKind::Internal, "target " + target.id() + " has hw_e2m1 but its vendor no e2m1 header");
    os << "\n#define RG_E2M1_HW 1  // the target's caps: hw_e2m1";
    paste(dialect.e2m1_header);
  }
  // nvfp4 recipe = trtllm: NVIDIA's approximate reciprocal (check_target refuses it elsewhere).
  if (quantized_cache(spec) && spec.cache_dtype == StoreType::Nvfp4 && spec.codec.recipe == Nvfp4Recipe::Trtllm) {
    const std::string& header = rcp_approx_header(target);
    os << "\n#define RG_RCP_APPROX 1  // cache_dtype = nvfp4(recipe = trtllm)";
    paste(header);
  }
  paste("quant.h");  // the codec; a store that is not quantized never calls it (kind 0)

  // Bindings every family gets (element and index types, plan), then the family's own.
  os << "\n// ---- bindings for this spec ----\n"
     << "namespace rg_spec {\n"
     << "using Elem = " << elem_type(spec.dtype) << ";\n"
     << "using Index = " << (spec.index == IndexType::I32 ? "int" : "long long") << ";\n"
     << "constexpr int HEAD_DIM = " << spec.head_dim << ";\n"
     << "constexpr int VEC = " << plan.vec << ";\n"
     << "constexpr int LANES = " << plan.lanes_per_head << ";\n"
     << "constexpr int TOKENS_PER_BLOCK = " << plan.tokens_per_block << ";\n"
     << "constexpr int HEAD_GROUPS = " << plan.head_groups << ";\n"
     << "constexpr bool PREFETCH_FIRST = " << (plan.prefetch_first ? "true" : "false") << ";\n"
     << "constexpr bool PDL = " << (spec.pdl == Pdl::On ? "true" : "false") << ";\n"
     << "constexpr bool CHECKED = " << (spec.checks == Checks::Bounds ? "true" : "false") << ";\n"
     << "constexpr int BLOCK_THREADS = " << plan.block_threads << ";\n";
  bind_rows(spec, target, plan, out.align, os);
  bind_codec(spec, target, os);
  family.bind(spec, target, plan, out.align, os);
  os << "}  // namespace rg_spec\n";
  paste("rows.h");
  paste(family.template_file);
  // layers = many: the body runs on its layer's argument block (grid z picks the layer).
  const bool many = spec.layers == Layers::Many;
  if (many) paste("layers.h");
  os << "\n// ---- entry ----\n"
     << "RG_KERNEL(" << plan.block_threads << ") " << out.entry << "(ropegen_kernel_args args) {\n"
     << (many ? "  rg_kernel::run(rg_layers::layer_args(args, rg_block_z()));\n" : "  rg_kernel::run(args);\n")
     << "}\n";
  if (dialect.host_launcher) {
    out.host_entry = out.entry + "_host";
    os << "\nextern \"C\" void " << out.host_entry
       << "(unsigned grid_x, unsigned grid_y, unsigned grid_z, unsigned block_x, "
          "const ropegen_kernel_args* args) {\n"
       << "  rg_host_run(grid_x, grid_y, grid_z, block_x, [&] { " << out.entry << "(*args); });\n"
       << "}\n";
  }
  out.source = os.str();
  out.source_hash = hex64(fnv1a64(out.source));
  return out;
}

}  // namespace ropegen
