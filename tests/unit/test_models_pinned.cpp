// Pinned values from outside the project (issue 9, item 7): the inverse frequencies and
// attention factors the model zoo (models/*.rg) depends on, computed with python3 in double
// precision from the published formulas, not by ropegen. Both ropegen's generation-time
// frequencies (codegen) and the reference's own implementation must reproduce them.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "codegen/scaling.hpp"
#include "reference/reference.hpp"
#include "ropegen/spec.hpp"

using namespace ropegen;

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
