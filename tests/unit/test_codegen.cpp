// Codegen: golden sources, launch plans per wave size, the template helpers (conversions,
// portable sin/cos) compiled directly from templates/ on the host, the scaling families'
// frequencies pinned from outside the project, and codegen's own errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "codegen/codegen.hpp"
#include "codegen/scaling.hpp"
#include "reference/reference.hpp"
#include "ropegen/error.hpp"
#include "ropegen/spec.hpp"

// The templates are real code: compile the host prelude, the conversions and the AMD
// fallback sin/cos right here.
#include "../../src/vendors/host/prelude_host.h"
#include "../../templates/raw_vector_ext.h"
#include "../../templates/convert_bf16_soft.h"
#include "../../templates/convert_f16_soft.h"
#include "../../templates/rope_common.h"
namespace portable {
#include "../../templates/sincos_portable.h"
}
namespace amd {
#include "../../src/vendors/amd/convert_bf16_amd.h"
}

using namespace ropegen;

namespace {

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Compares with tests/golden/NAME; ROPEGEN_UPDATE_GOLDEN=1 rewrites the file instead.
void check_golden(const std::string& name, const std::string& text) {
  const std::string path = std::string(ROPEGEN_GOLDEN_DIR) + "/" + name;
  const char* update = std::getenv("ROPEGEN_UPDATE_GOLDEN");
  if (update && std::string(update) == "1") {
    std::ofstream(path, std::ios::binary) << text;
    MESSAGE("rewrote " << path);
    return;
  }
  const std::string want = read(path);
  CAPTURE(path);
  REQUIRE_MESSAGE(!want.empty(), "golden file missing; run with ROPEGEN_UPDATE_GOLDEN=1");
  if (want != text) {
    // Point at the first differing line rather than dumping two whole sources.
    std::istringstream a(want), b(text);
    std::string la, lb;
    int line = 0;
    while (true) {
      ++line;
      bool ea = !std::getline(a, la), eb = !std::getline(b, lb);
      if (ea || eb || la != lb) {
        FAIL_CHECK("generated source differs from " << name << " at line " << line << "\n  golden:    "
                                                  << la << "\n  generated: " << lb);
        break;
      }
    }
  }
}

}  // namespace

TEST_CASE("codegen: golden sources") {
  check_golden("llama3_8b_gfx1100.hip",
               generate(parse_spec_line("head_dim=128").spec, parse_target("gfx1100")).source);
  check_golden("gptj_partial_f16_gfx90a.hip",
               generate(parse_spec_line("op=rope head_dim=256 rotary_dim=64 style=gptj dtype=f16 "
                                        "q_heads=16 kv_heads=16 index=i64").spec,
                        parse_target("gfx90a:sramecc+:xnack-"))
                   .source);
  check_golden("compute_contiguous_f32_sm90.hip",
               generate(parse_spec_line("head_dim=64 dtype=f32 q_heads=8 kv_heads=1 "
                                        "cos_sin=compute(theta=500000,scaling=linear(factor=2)) "
                                        "cache=contiguous(order=hnd)").spec,
                        parse_target("sm_90"))
                   .source);
  // One spec per newer feature family: MLA with an fp8 cache (NVIDIA), QK-RMSNorm + fp8
  // cache on gfx942 (FNUZ), multimodal positions with longrope computed in the kernel.
  check_golden("mla_fp8_sm90.hip",
               generate(parse_spec_line("op=mla_rope_append head_dim=192 rotary_dim=64 rotary_offset=128 style=gptj "
                                        "q_heads=128 cache_dtype=fp8_e4m3 cos_sin=compute(theta=10000,"
                                        "scaling=deepseek_yarn(factor=40,original_max_position_embeddings=4096,"
                                        "beta_fast=32,beta_slow=1,mscale=1,mscale_all_dim=1))").spec,
                        parse_target("sm_90"))
                   .source);
  // layers = many: the single-layer body run on its layer's argument block (layers.h, grid z).
  check_golden("layers_fp8_sm90.hip",
               generate(parse_spec_line("head_dim=128 q_heads=32 kv_heads=8 layers=many cache_dtype=fp8_e4m3").spec,
                        parse_target("sm_90"))
                   .source);
  check_golden("qk_norm_fp8_gfx942.hip",
               generate(parse_spec_line("head_dim=128 q_heads=32 kv_heads=8 qk_norm=rms(eps=1e-6) "
                                        "cache_dtype=fp8_e4m3 scales=per_head").spec,
                        parse_target("gfx942"))
                   .source);
  check_golden("imrope_longrope_host.hip",
               generate(parse_spec_line("op=rope head_dim=64 rotary_dim=16 q_heads=4 kv_heads=2 "
                                        "positions=imrope(sections=[4,2,2]) cos_sin=compute(theta=10000,"
                                        "scaling=longrope(short_factor=[1,1,1,1,1,1,1,1],"
                                        "long_factor=[1,2,3,4,5,6,7,8],original_max_position_embeddings=4096,"
                                        "max_position_embeddings=131072))").spec,
                        parse_target("host"))
                   .source);
  // The arch-specific Blackwell target: nvfp4 codes by the e2m1 conversion instruction
  // (RG_E2M1_HW and the NVIDIA e2m1 header before quant.h).
  check_golden("nvfp4_sm100a.hip",
               generate(parse_spec_line("head_dim=128 q_heads=32 kv_heads=8 cache_dtype=nvfp4").spec,
                        parse_target("sm_100a"))
                   .source);
  check_golden("kv_append_host.hip",
               generate(parse_spec_line("op=kv_append head_dim=96 kv_heads=4 dtype=f16 "
                                        "cache=paged(block=32,order=hnd)").spec,
                        parse_target("host"))
                   .source);
}

TEST_CASE("codegen: nvfp4 recipe = trtllm and its reciprocal kernel exist only where the vendor has rcp.approx") {
  const KernelSpec s = parse_spec_line("head_dim=128 cache_dtype=nvfp4(recipe=trtllm)").spec;
  const GeneratedSource g = generate(s, parse_target("sm_90"));
  CHECK(g.source.find("#define RG_RCP_APPROX 1") != std::string::npos);
  CHECK(g.source.find("rcp.approx.ftz.f32") != std::string::npos);
  CHECK(rcp_approx_kernel(parse_target("sm_80")).source.find("rg_rcp_table") != std::string::npos);
  for (const char* t : {"host", "gfx942"}) {
    CAPTURE(t);
    const std::string want = "use recipe = exact on " + std::string(t);
    CHECK_THROWS_WITH(generate(s, parse_target(t)), doctest::Contains(want.c_str()));
    CHECK_THROWS_WITH(rcp_approx_kernel(parse_target(t)), doctest::Contains(want.c_str()));
  }
}

TEST_CASE("codegen: the plan follows vector width and wave size") {
  const KernelSpec s = parse_spec_line("head_dim=128").spec;  // bf16, neox, 32 q / 8 kv
  GeneratedSource w32 = generate(s, parse_target("gfx1100"));
  CHECK(w32.plan.wave == 32);
  CHECK(w32.plan.vec == 8);             // 16-byte vectors of bf16
  CHECK(w32.plan.lanes_per_head == 8);  // 64 pairs per head / 8 pairs per lane
  CHECK(w32.plan.num_tasks == 48);      // 32 q + 8 k + 8 v
  CHECK(w32.plan.block_threads % 32 == 0);
  CHECK(w32.source.find("wave 32") != std::string::npos);
  GeneratedSource w64 = generate(s, parse_target("gfx90a"));
  CHECK(w64.plan.wave == 64);
  CHECK(w64.plan.block_threads % 64 == 0);
  CHECK(w64.plan.block_threads / w64.plan.lanes_per_head >= 8);  // several heads per wave
  CHECK(w64.source.find("wave 64") != std::string::npos);
  CHECK(w64.source.find("prelude_amd.h") != std::string::npos);
  CHECK(generate(s, parse_target("sm_90")).source.find("prelude_nvidia.h") != std::string::npos);

  // f32 uses 4-element vectors; GPT-J keeps pairs inside a vector.
  GeneratedSource f32 = generate(parse_spec_line("dtype=f32").spec, parse_target("sm_90"));
  CHECK(f32.plan.vec == 4);
  CHECK(f32.plan.lanes_per_head == 16);
  GeneratedSource gptj = generate(parse_spec_line("style=gptj").spec, parse_target("sm_90"));
  CHECK(gptj.plan.vec == 8);
  CHECK(gptj.plan.lanes_per_head == 16);
  // Partial rotary where the halves are not vector-aligned narrows the vector.
  GeneratedSource narrow = generate(parse_spec_line("head_dim=96 rotary_dim=24").spec, parse_target("sm_90"));
  CHECK(narrow.plan.vec == 4);
  CHECK(narrow.plan.lanes_per_head == 3 + 9);  // the copied 72 in pairs of vectors from its halves
  // A NeoX partial rotation's copied rest in pairs too: MiniMax-M2's row (64 of 128 rotated)
  // takes 4 + 4 lanes, a power of two (the per-head norm's sums by exchanges in the warp).
  GeneratedSource minimax = generate(parse_spec_line("head_dim=128 rotary_dim=64 qk_norm=rms(eps=1e-6)").spec,
                                     parse_target("sm_90"));
  CHECK(minimax.plan.lanes_per_head == 8);
  GeneratedSource one = generate(parse_spec_line("head_dim=64 rotary_dim=2").spec, parse_target("sm_90"));
  CHECK(one.plan.vec == 1);
}

TEST_CASE("codegen: on CDNA, kernels that hold rows across a reduction (or store fp8 bytes one by one) take 8-byte "
          "vectors") {
  // Over 64 VGPRs with 16-byte vectors on gfx942 (7 or 6 of 8 waves); the compile test checks
  // that every quantized case is at full occupancy with the plan chosen here.
  for (const char* line : {"cache_dtype=int4 scales=per_token_head", "cache_dtype=nvfp4", "cache_dtype=mxfp4",
                           "cache_dtype=fp8_e4m3fnuz scales=per_token_head",
                           "q_dtype=fp8_e4m3fnuz q_scales=per_token_head outputs=separate",
                           "head_dim=128 rotary_dim=64 q_heads=48 qk_norm=rms(span=all_heads)",
                           "head_dim=256 qk_norm=rms(gemma=true)", "v_norm=rms(eps=1e-6)",
                           "cache_dtype=fp8_e4m3fnuz cache=paged(block=16,order=amd_shuffle)"}) {
    CAPTURE(line);
    const KernelSpec s = parse_spec_line(line).spec;
    CHECK(generate(s, parse_target("gfx942")).plan.vec == 4);
    CHECK(generate(s, parse_target("gfx90a")).plan.vec == 4);
    CHECK(generate(s, parse_target("gfx1201")).plan.vec == 8);  // RDNA: 96 VGPRs at full occupancy
    CHECK(generate(s, parse_target("sm_90")).plan.vec == 8);
    CHECK(generate(s, parse_target("host")).plan.vec == 8);
  }
  // The rest keeps 16 bytes: a plain bf16 row, a static-scale fp8 cache in the nhd layout.
  for (const char* line : {"head_dim=128", "cache_dtype=fp8_e4m3fnuz"}) {
    CAPTURE(line);
    CHECK(generate(parse_spec_line(line).spec, parse_target("gfx942")).plan.vec == 8);
  }
  // f32 rows: 8 bytes are two elements.
  CHECK(generate(parse_spec_line("dtype=f32 cache_dtype=int8 scales=per_token_head").spec, parse_target("gfx942"))
            .plan.vec == 2);
}

TEST_CASE("codegen: grid covers every token and splits heads only when blocks are few") {
  GeneratedSource g = generate(parse_spec_line("").spec, parse_target("sm_90"));
  const LaunchPlan& p = g.plan;
  CHECK(p.grid(0, 264) == std::make_pair(0u, 0u));
  auto one = p.grid(1, 264);
  CHECK(one.first == 1u);
  CHECK(one.second == static_cast<unsigned>((p.num_tasks + p.head_groups - 1) / p.head_groups));
  auto big = p.grid(32768, 264);
  CHECK(static_cast<long long>(big.first) * p.tokens_per_block >= 32768);
  CHECK(big.second == 1u);
}

TEST_CASE("codegen: generation is deterministic and the source hash tracks the text") {
  const KernelSpec s = parse_spec_line("dtype=f16").spec;
  GeneratedSource a = generate(s, parse_target("gfx1100"));
  GeneratedSource b = generate(s, parse_target("gfx1100"));
  CHECK(a.source == b.source);
  CHECK(a.source_hash == b.source_hash);
  CHECK(a.source_hash != generate(s, parse_target("gfx1101")).source_hash);
  CHECK(a.entry.rfind("ropegen_rope_kv_append_", 0) == 0);
}

TEST_CASE("templates: f16 and bf16 decode every bit pattern like the reference") {
  for (uint32_t b = 0; b < 65536; ++b) {
    const rg_f16 h{static_cast<unsigned short>(b)};
    const rg_bf16 bf{static_cast<unsigned short>(b)};
    const unsigned char bytes[2] = {static_cast<unsigned char>(b & 0xff), static_cast<unsigned char>(b >> 8)};
    const double rh = reference::decode(DType::F16, bytes);
    const double rb = reference::decode(DType::BF16, bytes);
    if (std::isnan(rh)) CHECK(std::isnan(rg_to_f32(h)));
    else if (rg_to_f32(h) != rh) FAIL_CHECK("f16 bits " << b);
    if (std::isnan(rb)) CHECK(std::isnan(rg_to_f32(bf)));
    else if (rg_to_f32(bf) != rb) FAIL_CHECK("bf16 bits " << b);
  }
}

namespace {
/// Round-to-nearest-even of x onto the grid of a dtype, in double: the nearest of the two
/// neighbours, ties to the even mantissa. Independent of the templates.
double round_ref(DType t, double x, double max_finite) {
  const double a = std::fabs(x);
  const double u = reference::ulp(t, a);
  const double lo = std::floor(a / u) * u;
  double r;
  const double d = a - lo;
  if (d < u / 2) r = lo;
  else if (d > u / 2) r = lo + u;
  else r = std::fmod(lo / u, 2.0) == 0 ? lo : lo + u;
  const double overflow = max_finite + reference::ulp(t, max_finite) / 2;
  if (a >= overflow) r = INFINITY;
  return x < 0 ? -r : r;
}
}  // namespace

TEST_CASE("templates: AMD's f32 -> bf16 (a select) gives the same bits as the soft one") {
  // Every sign/exponent/high-mantissa half with the low halves around the rounding point and
  // its ends: ties, NaN payloads (quiet and signalling), infinities, values that round up
  // into the next exponent or to infinity.
  const uint32_t lows[] = {0x0000u, 0x0001u, 0x3fffu, 0x7fffu, 0x8000u, 0x8001u, 0xc000u, 0xffffu};
  long mismatches = 0;
  for (uint32_t hi = 0; hi < 0x10000u; ++hi)
    for (uint32_t lo : lows) {
      const uint32_t bits = hi << 16 | lo;
      float f;
      std::memcpy(&f, &bits, 4);
      if (amd::rg_f32_to_bf16_bits(f) != rg_f32_to_bf16_bits(f) && ++mismatches <= 5)
        FAIL_CHECK("bits " << std::hex << bits << ": amd " << amd::rg_f32_to_bf16_bits(f) << ", soft "
                           << rg_f32_to_bf16_bits(f));
      if (amd::rg_bf16_bits_to_f32(hi) != rg_bf16_bits_to_f32(hi) && !std::isnan(rg_bf16_bits_to_f32(hi)))
        ++mismatches;
    }
  CHECK(mismatches == 0);
}

TEST_CASE("templates: f32 -> f16/bf16 rounds to nearest even") {
  std::mt19937 rng(7);
  const double max_f16 = 65504.0, max_bf16 = 3.3895313892515355e38;
  int checked = 0;
  for (int i = 0; i < 400000; ++i) {
    // Random bit patterns across the whole float range, plus exact ties.
    uint32_t bits = rng();
    if (i % 4 == 1) bits = (bits & 0xffff0000u) | 0x8000u;   // bf16 tie
    if (i % 4 == 2) bits = (bits & 0xffffe000u) | 0x1000u;   // f16 tie (normal range)
    float f;
    std::memcpy(&f, &bits, 4);
    if (std::isnan(f)) continue;
    rg_f16 h;
    rg_bf16 b;
    rg_from_f32(f, h);
    rg_from_f32(f, b);
    const double want_h = round_ref(DType::F16, f, max_f16);
    const double want_b = round_ref(DType::BF16, f, max_bf16);
    if (rg_to_f32(h) != want_h) FAIL_CHECK("f16 of " << f << " gave " << rg_to_f32(h) << " want " << want_h);
    if (rg_to_f32(b) != want_b) FAIL_CHECK("bf16 of " << f << " gave " << rg_to_f32(b) << " want " << want_b);
    ++checked;
  }
  // Edge values.
  const float edges[] = {0.0f, -0.0f, 65504.0f, 65519.99f, 65520.0f, 5.9604645e-8f, 2.9802322e-8f,
                         2.98023259e-8f, 6.1035156e-5f, 6.1035152e-5f, 1e-40f, -1e-45f, 3.0e38f};
  for (float f : edges) {
    rg_f16 h;
    rg_from_f32(f, h);
    CHECK(rg_to_f32(h) == round_ref(DType::F16, f, max_f16));
  }
  CHECK(checked > 300000);
}

TEST_CASE("templates: angle = exact stays within a few fp32 ulps of fp64 up to position 2^24") {
  // cos/sin of p * inv_freq_j for every j of a 128-wide rotation (theta 10000 and 500000),
  // at positions around 2^17, 2^20 and 2^24: the exact mode (double product and reduction)
  // against the angle in long double, beside the default fp32 angle for comparison.
  const long double two_pi = 6.283185307179586476925286766559L;
  for (const long long base_pos : {1LL << 17, 1LL << 20, 1LL << 24}) {
    double worst_exact = 0, worst_fp32 = 0;
    for (const double theta : {10000.0, 500000.0})
      for (int j = 0; j < 64; ++j)
        for (long long p = base_pos - 64; p <= base_pos; p += 4) {
          const double inv = std::pow(theta, -2.0 * j / 128);
          const long double angle = static_cast<long double>(p) * static_cast<long double>(inv);
          const long double r = std::fmod(angle, two_pi);
          const double want_s = static_cast<double>(std::sin(r)), want_c = static_cast<double>(std::cos(r));
          float s, c;
          portable::rg_sincos_exact(static_cast<double>(p) * inv, &s, &c);
          worst_exact = std::max(worst_exact, std::max(std::fabs(double{s} - want_s), std::fabs(double{c} - want_c)));
          portable::rg_sincos(static_cast<float>(p) * static_cast<float>(inv), &s, &c);
          worst_fp32 = std::max(worst_fp32, std::max(std::fabs(double{s} - want_s), std::fabs(double{c} - want_c)));
        }
    const double u = std::ldexp(1.0, -24);
    MESSAGE("position ~2^" << std::log2(static_cast<double>(base_pos)) << ": angle = exact worst " << worst_exact / u
                           << " u (" << worst_exact << "), fp32 angle worst " << worst_fp32 << " absolute");
    CHECK(worst_exact <= 4 * u);
  }
}

TEST_CASE("templates: portable sin/cos (AMD fallback) within 2 ulp") {
  std::mt19937 rng(11);
  double worst = 0;
  for (int i = 0; i < 200000; ++i) {
    // Angles as the kernel forms them: position (up to 2^20) times an inverse frequency.
    const float pos = static_cast<float>(rng() % (1u << 20));
    const float inv = std::pow(10000.0f, -static_cast<float>(rng() % 64) / 64.0f);
    const float x = i % 2 ? pos * inv : std::ldexp(static_cast<float>(rng()) / 4294967296.0f, 3);
    float s, c;
    portable::rg_sincos(x, &s, &c);
    const double rs = std::sin(static_cast<double>(x)), rc = std::cos(static_cast<double>(x));
    // Error in ulps of 1 (u = 2^-24 units): the same scale the kernel bound uses.
    worst = std::max(worst, std::fabs(s - rs) / std::ldexp(1.0, -24));
    worst = std::max(worst, std::fabs(c - rc) / std::ldexp(1.0, -24));
  }
  MESSAGE("portable sincos worst error: " << worst << " u");
  CHECK(worst <= 4.0);  // the kernel bound allows 4u per cos/sin value
}

TEST_CASE("scaling families: frequencies against Hugging Face transformers and the reference") {
  // Values printed by transformers 5.17 (modeling_rope_utils.ROPE_INIT_FUNCTIONS, float32) on
  // the GPU machine for head_dim 128 (scripts/hf_rope_pins.py): pinned from outside the project.
  struct Pin {
    const char* spec;
    double attention;
    std::vector<std::pair<int, double>> inv;
  };
  const Pin pins[] = {
      {"cos_sin=compute(theta=10000,scaling=linear(factor=4))", 1.0,
       {{0, 0.25}, {8, 0.07905694097280502}, {20, 0.014058532193303108}, {40, 0.0007905694656074047},
        {63, 2.8869548259535804e-05}}},
      // transformers' "dynamic" at twice the original length is static NTK with factor 3.
      {"cos_sin=compute(theta=10000,scaling=ntk(factor=3))", 1.0,
       {{0, 1.0}, {8, 0.27505096793174744}, {20, 0.03967646509408951}, {40, 0.0015742216492071748},
        {63, 3.849273343803361e-05}}},
      {"cos_sin=compute(theta=1000000,scaling=yarn(factor=4,original_max_position_embeddings=32768))",
       1.138629436111989,
       {{0, 1.0}, {8, 0.17782793939113617}, {20, 0.01333521492779255}, {24, 0.005375321488827467},
        {28, 0.0018482765881344676}, {32, 0.0006029411451891065}, {40, 4.4456985051510856e-05},
        {63, 3.102344408034696e-07}}},
      {"cos_sin=compute(theta=10000,scaling=yarn(factor=40,original_max_position_embeddings=4096,beta_fast=32,"
       "beta_slow=1,mscale=1,mscale_all_dim=0.8))",
       1.0569662567531275,
       {{0, 1.0}, {16, 0.10000000149011612}, {24, 0.026879360899329185}, {28, 0.012447956018149853},
        {32, 0.005500000435858965}, {48, 2.499999936844688e-05}, {63, 2.886954689529375e-06}}},
      {"cos_sin=compute(theta=500000,scaling=llama3(factor=8,low_freq_factor=1,high_freq_factor=4,"
       "original_max_position_embeddings=8192))",
       1.0,
       {{0, 1.0}, {8, 0.193922758102417}, {20, 0.016560440883040428}, {24, 0.00729266507551074},
        {28, 0.0032114461064338684}, {32, 0.0005248460220173001}, {40, 3.428102354519069e-05},
        {63, 3.068925877869333e-07}}},
  };
  for (const Pin& p : pins) {
    CAPTURE(p.spec);
    const CosSin cs = parse_spec_line(std::string(p.spec) + " head_dim=128").spec.cos_sin;
    const ScaledFrequencies sf = scaled_frequencies(cs, 128);
    CHECK(sf.attention == doctest::Approx(p.attention).epsilon(1e-9));
    CHECK(reference::attention(cs) == doctest::Approx(p.attention).epsilon(1e-9));
    for (const auto& [j, want] : p.inv) {
      CAPTURE(j);
      // transformers computes in float32: agree to a few float32 ulps.
      CHECK(sf.inv_freq[j] == doctest::Approx(want).epsilon(1e-6));
      CHECK(reference::inv_freq(cs, j, 128) == doctest::Approx(want).epsilon(1e-6));
    }
  }
  // Every family: codegen and the reference agree at every index, in double.
  for (const char* s : {"compute(scaling=ntk_alpha(alpha=1000))",
                        "compute(scaling=yarn(factor=4,original_max_position_embeddings=32768,truncate=false))",
                        "compute(scaling=yarn(factor=4,original_max_position_embeddings=32768,attention_factor=0.5))",
                        "compute(theta=10000,scaling=deepseek_yarn(factor=40,original_max_position_embeddings=4096,"
                        "beta_fast=32,beta_slow=1,mscale=0.707,mscale_all_dim=0.707,attn_factor=1.5,"
                        "extrapolation_factor=0.5))"}) {
    CAPTURE(s);
    const CosSin cs = parse_spec_line(std::string("cos_sin=") + s + " head_dim=64").spec.cos_sin;
    const ScaledFrequencies sf = scaled_frequencies(cs, 64);
    CHECK(sf.attention == doctest::Approx(reference::attention(cs)).epsilon(1e-14));
    for (int j = 0; j < 32; ++j) CHECK(sf.inv_freq[j] == doctest::Approx(reference::inv_freq(cs, j, 64)).epsilon(1e-13));
  }
}

TEST_CASE("plan: qk_norm = rms(span = all_heads) keeps a token's heads in one block") {
  const KernelSpec s = parse_spec_line("qk_norm=rms(eps=1e-6,span=all_heads) q_heads=48 kv_heads=8").spec;
  const LaunchPlan p = plan(s, parse_target("sm_90"));
  CHECK(p.whole_token);
  CHECK(p.grid(1, 132).second == 1u);  // one token, a GPU that wants 132 blocks: still one block row
  // A few tasks per head group (kept in registers across the reduction), blocks of about 256.
  CHECK((p.num_tasks + p.head_groups - 1) / p.head_groups <= 4);
  CHECK(p.block_threads <= 256);
  const LaunchPlan wide = plan(parse_spec_line("qk_norm=rms(span=all_heads) q_heads=128 kv_heads=8").spec, parse_target("sm_90"));
  CHECK((wide.num_tasks + wide.head_groups - 1) / wide.head_groups <= 4);
  const LaunchPlan per_head = plan(parse_spec_line("qk_norm=rms(eps=1e-6) q_heads=48 kv_heads=8").spec, parse_target("sm_90"));
  CHECK_FALSE(per_head.whole_token);
  CHECK(per_head.grid(1, 132).second > 1u);
}

// Pinned values from outside the project (issue 9, item 7): the inverse frequencies and
// attention factors the model zoo (models/*.rg) depends on, computed with python3 in double
// precision from the published formulas, not by ropegen. Both ropegen's generation-time
// frequencies (codegen) and the reference's own implementation must reproduce them.

namespace {

// Computed values are double: agree to a few ulps of double, not of float.
constexpr double kRel = 1e-12;

CosSin cos_sin_of(const std::string& compute, int head_dim) {
  return parse_spec_line("head_dim=" + std::to_string(head_dim) + " cos_sin=" + compute, "<pinned>").spec.cos_sin;
}

void check_family(const CosSin& cs, int d, double attention, const std::vector<std::pair<int, double>>& inv) {
  const ScaledFrequencies sf = scaled_frequencies(cs, d);
  CHECK(sf.attention == doctest::Approx(attention).epsilon(kRel));
  CHECK(reference::attention(cs) == doctest::Approx(attention).epsilon(kRel));
  for (const auto& [j, want] : inv) {
    CAPTURE(j);
    CHECK(sf.inv_freq[j] == doctest::Approx(want).epsilon(kRel));
    CHECK(reference::inv_freq(cs, j, d) == doctest::Approx(want).epsilon(kRel));
  }
}

}  // namespace

TEST_CASE("pinned: Llama 3.1 llama3 inv_freq (theta 500000, d 128, factor 8, low 1, high 4, original 8192)") {
  // Meta's apply_scaling (llama-models, llama/model.py) = transformers'
  // _compute_llama3_parameters, evaluated in python3 double:
  //   inv_j = 500000 ** (-(2 j) / 128); wavelen = 2 pi / inv_j
  //   wavelen < 8192 / 4 -> inv_j; wavelen > 8192 / 1 -> inv_j / 8;
  //   else s = (8192 / wavelen - 1) / (4 - 1), (1 - s) inv_j / 8 + s inv_j.
  // j = 0, 20: high-frequency band (unchanged); j = 32: the smooth band (wavelen 4443);
  // j = 40, 63: low-frequency band (divided by 8).
  check_family(cos_sin_of("compute(theta=500000,scaling=llama3(factor=8,low_freq_factor=1,high_freq_factor=4,"
                          "original_max_position_embeddings=8192))",
                          128),
               128, 1.0,
               {{0, 1.0},
                {20, 0.016560440080994446},
                {32, 0.0005248461609929547},
                {40, 3.428102195952591e-05},
                {63, 3.068925988914511e-07}});
}

TEST_CASE("pinned: YaRN attention factor for factor 4 (Qwen2.5 128k)") {
  // transformers' _compute_yarn_parameters, get_mscale(4) = 0.1 * ln(4) + 1 (python3:
  // 0.1 * math.log(4) + 1 = 1.138629436111989); no mscale / attention_factor in the config.
  const CosSin cs = cos_sin_of("compute(theta=1000000,scaling=yarn(factor=4,original_max_position_embeddings=32768))", 128);
  CHECK(scaled_frequencies(cs, 128).attention == doctest::Approx(1.138629436111989).epsilon(kRel));
  CHECK(reference::attention(cs) == doctest::Approx(1.138629436111989).epsilon(kRel));
}

TEST_CASE("pinned: longrope attention factor for 131072 / 4096 (Phi-3 128k, Phi-3.5, Phi-4 mini)") {
  // transformers' _compute_longrope_parameters (and vLLM's Phi3LongRoPEScaledRotaryEmbedding):
  // scaling = max / original = 32, attention = sqrt(1 + ln(32) / ln(4096)) (python3:
  // math.sqrt(1 + math.log(131072 / 4096) / math.log(4096)) = 1.1902380714238083).
  // d = 8: 4 factors per list; the long list applies (max_model_len 131072 > 4096), so
  // inv_j = 10000 ** (-(2 j) / 8) / long_j: j = 1: 0.1 / 2 = 0.05, j = 3: 0.001 / 4 = 0.00025.
  const CosSin cs = cos_sin_of(
      "compute(theta=10000,scaling=longrope(short_factor=[1,1,1,1],long_factor=[1,2,3,4],"
      "original_max_position_embeddings=4096,max_position_embeddings=131072,choose=static,max_model_len=131072))",
      8);
  check_family(cs, 8, 1.1902380714238083, {{0, 1.0}, {1, 0.05}, {3, 0.00025}});
}

TEST_CASE("pinned: Gemma 4 proportional RoPE (theta 1e6, head_dim 512, partial_rotary_factor 0.25)") {
  // rope-math.md's Gemma 4 proportional frequencies, evaluated in python3 double:
  //   n = int(0.25 * 512 // 2) = 64; inv_j = 1e6 ** (-2 j / 512) for j < 64, else 0.
  // j = 63 is the last turning pair; from j = 64 the pairs (j, j + 256) pass through.
  check_family(cos_sin_of("compute(theta=1000000,scaling=proportional(partial_rotary_factor=0.25))", 512), 512, 1.0,
               {{0, 1.0},
                {1, 0.9474635256553754},
                {10, 0.5829415347136074},
                {63, 0.033376246942920386},
                {64, 0.0},
                {65, 0.0},
                {255, 0.0}});
  // With factor 8 every kept frequency is divided by it (python3: 1e6 ** (-20 / 512) / 8).
  check_family(cos_sin_of("compute(theta=1000000,scaling=proportional(partial_rotary_factor=0.25,factor=8))", 512), 512,
               1.0, {{10, 0.07286769183920093}, {64, 0.0}});
}

TEST_CASE("pinned: Llama 4 NoPE-layer q temperature (attn_scale 0.1, floor_scale 8192)") {
  // transformers' Llama 4 attention: log(floor((cache_position.float() + 1) / floor_scale) + 1)
  // * attn_scale + 1, the floor's argument in fp32; python3 (struct-rounded fp32 division,
  // math.log in double). The factor first leaves 1 at position 8191.
  const QTemperature q = parse_spec_line("q_temperature=llama4(attn_scale=0.1,floor_scale=8192)", "<pinned>").spec.q_temperature;
  const std::pair<long long, double> pins[] = {{0, 1.0},
                                               {8190, 1.0},
                                               {8191, 1.0693147180559945},
                                               {16383, 1.109861228866811},
                                               {24575, 1.138629436111989},
                                               {100000, 1.2564949357461537},
                                               {1000000, 1.4812184355372418}};
  for (const auto& [pos, want] : pins) {
    CAPTURE(pos);
    CHECK(reference::q_factor(q, pos) == doctest::Approx(want).epsilon(kRel));
  }
}

TEST_CASE("errors: codegen's own failures are ErrorKind::Codegen, ropegen's fault" * doctest::test_suite("errors")) {
  try {
    template_text("no_such_template.hip");
    FAIL("a missing template was found");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Codegen);
    CHECK(e.fault() == Fault::Internal);
    CHECK(std::string(e.what()).find("no embedded template named 'no_such_template.hip'") != std::string::npos);
  }
  CHECK(std::string(to_string(ErrorKind::Codegen)) == "codegen");
  CHECK(fault_of(ErrorKind::Codegen) == Fault::Internal);
}
