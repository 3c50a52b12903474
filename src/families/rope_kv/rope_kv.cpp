// The rope_kv family: rope, kv_append and rope_kv_append. One head row per task (Q heads,
// K heads, V heads), each row a list of segments that are rotated or copied
// (rope_kv.hip); optional QK-RMSNorm, fp8 stores, head strides, separate outputs.
#include "families/rope_kv/rope_kv.hpp"

#include <algorithm>
#include <cmath>

#include "codegen/codegen.hpp"
#include "schema/detail.hpp"
#include "schema/fields.hpp"

namespace ropegen {
namespace {

using namespace spec_detail;

/// The head row: copied stretches around the rotated one (all copied when nothing rotates:
/// op = kv_append, or rotary_dim = 0).
std::vector<RowSegment> row_segments(const KernelSpec& spec) {
  if (!spec.uses_rope() || spec.rotary_dim == 0) return {{0, spec.head_dim, false}};
  const int r0 = spec.rotary_offset, r1 = spec.rotary_offset + spec.rotary_dim;
  std::vector<RowSegment> row;
  if (r0 > 0) row.push_back({0, r0, false});
  row.push_back({r0, spec.rotary_dim, true});
  if (r1 < spec.head_dim) row.push_back({r1, spec.head_dim - r1, false});
  return row;
}

/// Whether a row's LANES threads are a power of two within one wave (aligned, so one row's
/// lanes never share an exchange with another row's).
bool pow2_lanes(const LaunchPlan& plan) {
  const int lanes = plan.lanes_per_head;
  return (lanes & (lanes - 1)) == 0 && lanes <= plan.wave;
}

/// span = all_heads: the lanes over which a token's squares meet by exchanges within the wave
/// (the token's head_groups x lanes threads, at most a wave), when those threads are a power of
/// two (so each wave holds whole tokens or a token whole waves); else 0, the general path.
int token_width(const LaunchPlan& plan) {
  const int threads = plan.head_groups * plan.lanes_per_head;
  return (threads & (threads - 1)) == 0 ? std::min(threads, plan.wave) : 0;
}

/// Whether a quantized row's groups can be reduced by exchanges within the warp: the lanes of a
/// row are LANES consecutive threads (a power of two, within one warp) walking one segment, and
/// no group smaller than the row straddles the two NeoX halves.
bool quant_shuffle(const KernelSpec& s, const LaunchPlan& plan) {
  if (row_segments(s).size() != 1 || !pow2_lanes(plan)) return false;
  const bool neox = s.uses_rope() && s.style == Style::Neox;
  const int group = cache_group(s);
  return !neox || group == 0 || group == s.head_dim || (s.head_dim / 2) % group == 0;
}

void validate(const KernelSpec& s, const RuleFailure& fail) {
  if (s.uses_rope() && s.positions.kind != PositionsKind::Single) {
    int sum = 0;
    for (int x : s.positions.sections) sum += x;
    if (sum != s.rotary_dim / 2)
      fail("positions", std::string(s.positions.kind == PositionsKind::Mrope    ? "mrope"
                                    : s.positions.kind == PositionsKind::Imrope ? "imrope"
                                    : s.positions.kind == PositionsKind::Grid   ? "grid"
                                                                                : "vision") +
                            "(...): sections add up to " + std::to_string(sum) +
                            "; they must add up to rotary_dim / 2 = " + std::to_string(s.rotary_dim / 2));
  }
  const bool sectioned = s.positions.kind == PositionsKind::Vision || s.positions.kind == PositionsKind::Grid;
  if (s.uses_rope() && sectioned && s.cos_sin.source == CosSinSource::Compute && s.cos_sin.scaling != Scaling::None)
    fail("cos_sin,positions",
         std::string("positions = ") + (s.positions.kind == PositionsKind::Grid ? "grid" : "vision") +
             "(...) with cos_sin = compute(scaling = " + scaling_family(s.cos_sin.scaling).name + "): the " +
             (s.positions.kind == PositionsKind::Grid ? "3-D grid RoPE" : "vision towers' 2-D RoPE") +
             " has per-section frequencies and no scaling family (scaling = none, or a table)");
  if (s.uses_rope() && s.gate == Gate::Interleaved && s.heads == Heads::Strided)
    fail("gate,heads", "gate = interleaved sets q's head stride (2 * head_dim: each head's q then its gate); it "
                       "cannot be combined with heads = strided");
  if (s.uses_cache() && s.bias == Bias::Qkv && s.v_source == VSource::K)
    fail("bias,v_source", "bias = qkv with v_source = k: the v rows are k as given; which bias they take is not "
                          "defined (add k's bias before the launch)");
  // The all-heads norm across launches (tensor parallelism): sums = write | read, ranks.
  const QkNorm& qn = s.qk_norm;
  if (s.uses_rope() && qn.on && qn.sums != NormSums::None && qn.span != NormSpan::AllHeads)
    fail("qk_norm", std::string("qk_norm = rms(sums = ") + to_string(qn.sums) +
                        ") needs span = all_heads: a per-head norm has no sums to add across ranks");
  if (s.uses_rope() && qn.on && qn.ranks != 1 && qn.sums != NormSums::Read)
    fail("qk_norm", "qk_norm = rms(ranks = " + std::to_string(qn.ranks) +
                        ") divides sums added over ranks: it needs sums = read");
  if (s.uses_rope() && qn.on && qn.sums == NormSums::Write) {
    if (s.op != Op::Rope)
      fail("op,qk_norm", std::string("qk_norm = rms(sums = write) writes only each token's sums of squares; it needs "
                                     "op = rope (op = ") + to_string(s.op) +
                             "'s cache write belongs to the second launch, sums = read)");
    else if (s.outputs == Outputs::Separate || s.q_dtype != StoreType::Auto ||
             s.q_temperature.kind != QTemperature::None || s.gate != Gate::None)
      fail("qk_norm", std::string("qk_norm = rms(sums = write) writes only the sums: ") +
                          (s.outputs == Outputs::Separate ? "outputs = separate"
                           : s.q_dtype != StoreType::Auto ? "q_dtype"
                           : s.gate != Gate::None         ? "gate = interleaved"
                                                          : "q_temperature") +
                          " belongs to the second launch (sums = read)");
  }
  // fp8 q, and the scales of q and of the cache.
  const StoreType ct = s.cache_dtype;
  const bool int_cache = ct == StoreType::Int8 || ct == StoreType::Int4;
  const bool fp4_cache = ct == StoreType::Nvfp4 || ct == StoreType::Mxfp4;
  if (s.uses_rope() && s.q_dtype != StoreType::Auto) {
    if (!is_fp8(s.q_dtype))
      fail("q_dtype", std::string("q_dtype = ") + to_string(s.q_dtype) +
                                 ": only fp8 formats (fp8_e4m3, fp8_e5m2, ...) or auto");
    if (s.outputs != Outputs::Separate)
      fail("q_dtype", std::string("q_dtype = ") + to_string(s.q_dtype) +
                                 " needs outputs = separate: the fp8 q is written to q_out");
  }
  if (s.uses_rope() && s.q_scales != Scales::PerTensor) {
    if (s.q_scales == Scales::PerHead)
      fail("q_scales", "q_scales = per_head: q's fp8 scale is per_tensor (q_scale) or per_token_head (computed)");
    if (!is_fp8(s.q_dtype))
      fail("q_scales,q_dtype", "q_scales = per_token_head needs an fp8 q_dtype (and outputs = separate): the "
                                      "kernel quantizes the rotated q to q_out and writes its scales to q_out_scales");
  }
  if (s.uses_cache() && s.scales == Scales::PerHead && !is_fp8(s.cache_dtype))
    fail("scales", "scales = per_head needs an fp8 cache_dtype (the scales quantize the cache)");
  if (s.uses_cache() && int_cache && s.scales != Scales::PerTokenHead)
    fail("scales,cache_dtype", std::string("cache_dtype = ") + to_string(ct) +
                                          " needs scales = per_token_head (the kernel computes a scale per token "
                                          "and head and writes it to k_cache_scales, v_cache_scales)");
  if (s.uses_cache() && fp4_cache && s.scales != Scales::PerTensor)
    fail("scales", std::string("scales = ") + to_string(s.scales) + " with cache_dtype = " + to_string(ct) +
                              ": " + (ct == StoreType::Nvfp4 ? "nvfp4 computes a scale per 16 elements and reads one "
                                                               "global scale per tensor (k_scale, v_scale): per_tensor"
                                                             : "mxfp4 computes a scale per 32 elements and has no "
                                                               "global scale: leave scales at per_tensor"));
  if (s.uses_cache() && s.scales == Scales::PerTokenHead && !int_cache && !is_fp8(ct))
    fail("scales", "scales = per_token_head needs cache_dtype = int8, int4 or an fp8 format");
  if (s.uses_cache() && is_fp8(ct) && s.scales != Scales::PerTokenHead && (s.codec.qmax != 0 || s.codec.floor != 1e-6))
    fail("cache_dtype", std::string("cache_dtype = ") + to_string(ct) +
                                   "(qmax, floor): the parameters of computed scales need scales = per_token_head");
  if (s.uses_q() && s.q_heads % s.kv_heads != 0)
    fail("kv_heads,q_heads", "q_heads = " + std::to_string(s.q_heads) + " is not a multiple of kv_heads = " +
                                 std::to_string(s.kv_heads) + " (GQA/MQA need kv_heads to divide q_heads)");
  if (s.v_norm.on && s.cache_dtype == StoreType::Nvfp4 && s.codec.v_swizzled)
    fail("v_norm", "v_norm with cache_dtype = nvfp4(v_scales = swizzled) is not supported: the swizzled v scales "
                   "are written for copied rows only (use v_scales = linear)");
  if (s.uses_cache() && s.cache.order == CacheOrder::Strided && quantized_cache(s))
    fail("cache,cache_dtype", std::string("cache = paged(order = strided) with cache_dtype = ") + to_string(s.cache_dtype) +
                                  " is not available yet: its scale tensors have no strides (use order = nhd or hnd)");
  const bool amd = s.cache.order == CacheOrder::Amd || s.cache.order == CacheOrder::AmdShuffle;
  if (s.uses_cache() && amd) {
    const std::string o = std::string("cache = paged(order = ") + to_string(s.cache.order) + ")";
    // (Inline scales are refused by the shared rules, src/schema/spec.cpp: laid out for nhd and hnd.)
    const bool held = s.cache_dtype == StoreType::Auto || (is_fp8(s.cache_dtype) && !quantized_cache(s)) ||
                      (quantized_cache(s) && cache_bits(s) == 8);
    if (!held)
      fail("cache,cache_dtype", o + " with cache_dtype = " + to_string(s.cache_dtype) +
                                    " is not available yet (the AMD layouts hold the activation dtype, fp8, or "
                                    "int8 / fp8 codes with per_token_head scales in their scale tensors)");
    const int x = amd_piece_elems(s);
    if (s.head_dim % x != 0)
      fail("cache,head_dim", o + " splits head_dim = " + std::to_string(s.head_dim) + " in pieces of x = " +
                                 std::to_string(x) + " elements (16 bytes): head_dim must be a multiple of x");
    if (s.cache.order == CacheOrder::AmdShuffle && s.cache.block % x != 0)
      fail("cache", o + " groups the block of " + std::to_string(s.cache.block) + " tokens by x = " + std::to_string(x) +
                        " (16 bytes): block must be a multiple of x");
    if (s.cache_tail == CacheTail::Zero)
      fail("cache,cache_tail", "cache_tail = zero is not available with " + o + " yet");
  }
  if (s.uses_cache() && (s.window.on || s.cache_tail == CacheTail::Zero) && s.cache.kind != CacheKind::Paged)
    fail("cache", std::string(s.window.on ? "window = ring(...)" : "cache_tail = zero") +
                      " needs a paged cache (paged(block = B, order = ...)): it works within a sequence's pages");
  if (s.uses_cache() && s.window.on && s.cache_tail == CacheTail::Zero)
    fail("window,cache_tail", "cache_tail = zero would erase a ring cache's older tokens after the newest; use "
                              "cache_tail = keep with window = ring(...)");
  if (s.uses_cache() && s.layers == Layers::Many && s.uses_rope() && qn.on && qn.sums != NormSums::None)
    fail("layers,qk_norm", "layers = many with qk_norm = rms(sums = ...) is not available yet (norm_sums has no "
                           "per-layer place in ropegen_layer_args)");
}

PlanShape shape(const KernelSpec& s) {
  PlanShape out;
  out.walked = row_segments(s);
  // Tasks: q heads, k heads, v heads (cache ops), then the gate halves of q (gate = interleaved).
  out.tasks_per_token = (s.uses_q() ? s.q_heads : 0) + s.kv_heads * (s.uses_cache() ? 2 : 1) +
                        (s.uses_rope() && s.gate == Gate::Interleaved ? s.q_heads : 0);
  // A token's heads meet in one block to add their squares; with sums = read they come added.
  out.whole_token = s.uses_rope() && s.qk_norm.on && s.qk_norm.span == NormSpan::AllHeads && s.qk_norm.sums != NormSums::Read;
  const bool amd_layout = s.cache.order == CacheOrder::Amd || s.cache.order == CacheOrder::AmdShuffle;
  out.narrow_on_cdna = quantized_cache(s) || (s.uses_rope() && (s.qk_norm.on || s.q_scales == Scales::PerTokenHead)) ||
                       s.v_norm.on || (s.uses_cache() && is_fp8(s.cache_dtype) && amd_layout);
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
     << "// order = strided: the cache strides of the argument block (ABI 6) address the cache.\n"
     << "constexpr bool CACHE_STRIDED = " << (spec.cache.order == CacheOrder::Strided ? "true" : "false") << ";\n"
     << "// order = amd (1) / amd_shuffle (2): K in 16-byte pieces of CACHE_X elements [N, H, D / X, B, X]; V\n"
     << "// [N, H, D, B] (1) or [N, H, B / X, D, X] (2).\n"
     << "constexpr int CACHE_AMD = "
     << (spec.cache.order == CacheOrder::Amd ? 1 : spec.cache.order == CacheOrder::AmdShuffle ? 2 : 0) << ";\n"
     << "constexpr int CACHE_X = " << amd_piece_elems(spec) << ";\n"
     << "// window = ring(size = W, sinks = S): the slot comes from ring_base and the position.\n"
     << "constexpr bool RING = " << (spec.uses_cache() && spec.window.on ? "true" : "false") << ";\n"
     << "constexpr long long RING_WINDOW = " << (spec.window.on ? spec.window.size : 1) << ";\n"
     << "constexpr long long RING_SINKS = " << (spec.window.on ? spec.window.sinks : 0) << ";\n"
     << "// cache_tail = zero: the end of a run of slots zeroes the rest of its page.\n"
     << "constexpr bool CACHE_TAIL_ZERO = " << (spec.uses_cache() && spec.cache_tail == CacheTail::Zero ? "true" : "false")
     << ";\n"
     << "// fp8 cache scales and qk_norm.\n"
     << "using CacheElem = " << (spec.uses_cache() && is_fp8(spec.cache_dtype) ? "unsigned char" : "Elem") << ";\n"
     << "constexpr bool SCALES_PER_HEAD = " << (spec.scales == Scales::PerHead ? "true" : "false") << ";\n"
     << "constexpr bool QK_NORM = " << (rotates && spec.qk_norm.on ? "true" : "false") << ";\n"
     << "constexpr float NORM_EPS = " << float_literal(static_cast<float>(spec.qk_norm.eps)) << ";\n"
     << "// qk_norm's weight: 0 w, 1 1 + w, 2 none; one RMS over all of a token's q (k) heads; after RoPE.\n"
     << "constexpr int NORM_WEIGHT = " << static_cast<int>(spec.qk_norm.weight) << ";\n"
     << "constexpr bool NORM_ALL_HEADS = " << (rotates && spec.qk_norm.on && spec.qk_norm.span == NormSpan::AllHeads ? "true" : "false") << ";\n"
     << "// span = all_heads across launches: 0 the sums stay in the kernel, 1 written to norm_sums\n"
     << "// (nothing else), 2 read from norm_sums, divided by NORM_RANKS * heads * head_dim.\n"
     << "constexpr int NORM_SUMS = " << (rotates && spec.qk_norm.on ? static_cast<int>(spec.qk_norm.sums) : 0) << ";\n"
     << "constexpr float NORM_RANKS = " << (rotates && spec.qk_norm.on ? spec.qk_norm.ranks : 1) << ".0f;\n"
     << "// span = all_heads: a token's squares meet over TOKEN_WIDTH lanes by exchanges, then over its\n"
     << "// TOKEN_PARTS waves through block-shared memory (0: the token's threads are not a power of two).\n"
     << "constexpr int TOKEN_WIDTH = " << token_width(plan) << ";\n"
     << "constexpr int TOKEN_PARTS = "
     << (token_width(plan) ? plan.head_groups * plan.lanes_per_head / token_width(plan) : 1) << ";\n"
     << "constexpr bool NORM_POST = " << (rotates && spec.qk_norm.on && spec.qk_norm.order == NormOrder::Post ? "true" : "false") << ";\n"
     << "// v_norm (weightless, per head) and v rows taken from k (K = V layers).\n"
     << "constexpr bool V_NORM = " << (spec.uses_cache() && spec.v_norm.on ? "true" : "false") << ";\n"
     << "constexpr float V_NORM_EPS = " << float_literal(static_cast<float>(spec.v_norm.eps)) << ";\n"
     << "// q_temperature: 0 none, 1 llama4, 2 logn (a factor of the position, applied to q last).\n"
     << "constexpr int Q_TEMPERATURE = " << (spec.uses_q() && rotates ? static_cast<int>(spec.q_temperature.kind) : 0) << ";\n"
     << "constexpr float Q_ATTN_SCALE = " << float_literal(static_cast<float>(spec.q_temperature.attn_scale)) << ";\n"
     << "constexpr float Q_FLOOR_SCALE = " << float_literal(static_cast<float>(spec.q_temperature.floor_scale)) << ";\n"
     << "constexpr float Q_LOGN_BASE = " << float_literal(static_cast<float>(spec.q_temperature.base)) << ";\n"
     << "constexpr float Q_LOG_BASE = " << float_literal(static_cast<float>(spec.q_temperature.base > 1 ? std::log(spec.q_temperature.base) : 1.0)) << ";\n"
     << "constexpr bool V_FROM_K = " << (spec.uses_cache() && spec.v_source == VSource::K ? "true" : "false") << ";\n"
     << "// gate = interleaved: q's heads are [q | gate], 2 * head_dim apart; the last Q_HEADS tasks\n"
     << "// copy the gate halves to gate_out. bias = qkv: q_bias, k_bias, v_bias added as rows are read.\n"
     << "constexpr bool GATED = " << (rotates && spec.gate == Gate::Interleaved ? "true" : "false") << ";\n"
     << "constexpr bool HAS_BIAS = " << (spec.bias == Bias::Qkv ? "true" : "false") << ";\n"
     << "constexpr bool HEAD_STRIDES = " << (spec.heads == Heads::Strided ? "true" : "false") << ";\n"
     << "constexpr bool SEPARATE_OUTPUTS = " << (rotates && spec.outputs == Outputs::Separate ? "true" : "false")
     << ";\n"
     << "constexpr int NUM_TASKS = " << plan.num_tasks << ";\n"
     << "// nvfp4: v's scales in 4-token groups inside each (page, head) tile.\n"
     << "constexpr bool V_SCALES_SWIZZLED = "
     << (spec.uses_cache() && spec.cache_dtype == StoreType::Nvfp4 && spec.codec.v_swizzled ? "true" : "false") << ";\n"
     << "// Quantized caches: the scales in k/v_cache_scales (0), inside each page after its codes (1)\n"
     << "// or after each row's codes (2); every record (page or row) starts CACHE_RECORD_ALIGN-aligned.\n"
     << "constexpr int SCALES_AT = " << (quantized_cache(spec) ? static_cast<int>(spec.codec.scales_at) : 0) << ";\n"
     << "constexpr int CACHE_RECORD_ALIGN = " << cache_record_align(spec) << ";\n"
     << "// Quantized rows reduce their group ranges by exchanges within the warp where the shape\n"
     << "// allows (one segment, LANES a power of two within a warp, groups inside a NeoX half).\n"
     << "constexpr bool QUANT_SHUFFLE = RG_HAS_SHUFFLE && " << (quant_shuffle(spec, plan) ? "true" : "false") << ";\n"
     << "// A row's sum of squares (qk_norm per head, v_norm) by exchanges within the warp where its\n"
     << "// LANES threads are a power of two within one (no block-shared memory, no barrier); the\n"
     << "// block-shared path adds in the same pairwise order, so every target gets the same sums.\n"
     << "constexpr bool ROW_SHUFFLE = RG_HAS_SHUFFLE && " << (pow2_lanes(plan) ? "true" : "false") << ";\n";
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
      rope_kv_spec_fields,
      validate,
      shape,
      bind,
      rope_kv_requirements,
      rope_kv_expect_token,
      rope_kv_matrix,
      nullptr,  // the shared verification runner
      nullptr,  // its timing inputs too (verify/verify.cpp's prepare_inputs)
  };
  return f;
}

}  // namespace ropegen
