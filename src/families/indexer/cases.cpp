// The indexer family's cases in the verification matrix: NeoX and GPT-J pairing, ue8m0 on
// and off, LayerNorm on and off, bf16 and f16, divide and multiply, padding slots (every
// case has some), blocks of 64 (DeepSeek-V3.2's) and odd sizes, tiled records, FNUZ with
// both divisors, computed cos/sin, i64 indices, head splits.
#include <string>

#include "families/indexer/indexer.hpp"
#include "verify/verify.hpp"

namespace ropegen {

void indexer_matrix(std::vector<MatrixCase>& m) {
  auto add = [&](const std::string& spec, long long tokens, const std::string& note, int parallelism = 0,
                 const char* cache_dtype = "fp8_e4m3") {
    VerifyCase v;
    v.tokens = tokens;
    v.parallelism = parallelism;
    v.padding = 0.2;
    m.push_back({std::string("op=indexer_append rotary_dim=64 cache_dtype=") + cache_dtype + " " + spec, v, note});
  };
  const std::string b64 = "cache=paged(block=64) ";
  add(b64 + "style=neox q_heads=64 dtype=bf16 k_norm=layernorm", 37, "indexer, DeepSeek-V3.2 shape (neox, layernorm)");
  add(b64 + "style=gptj q_heads=8 dtype=bf16 k_norm=layernorm scale_fmt=ue8m0", 29, "indexer, gptj, ue8m0");
  add(b64 + "style=neox q_heads=8 dtype=f16 k_norm=none", 31, "indexer, f16, no norm");
  add(b64 + "style=gptj q_heads=4 dtype=f16 k_norm=layernorm(eps=1e-5) scale_fmt=ue8m0 k_quant=multiply", 23,
      "indexer, f16, ue8m0, multiply");
  add(b64 + "style=neox q_heads=4 dtype=bf16 k_quant=multiply weights_scale=0.011048543456039806", 19,
      "indexer, multiply, weights_scale");
  add("cache=paged(block=16) style=neox q_heads=4 dtype=bf16 k_norm=layernorm index=i64", 41,
      "indexer, block 16, i64");
  add("cache=paged(block=5) style=gptj q_heads=2 dtype=bf16", 17, "indexer, a block that is not a power of two");
  add(b64 + "style=neox q_heads=8 dtype=bf16 k_cache_layout=tiled16 k_norm=layernorm", 45, "indexer, tiled16 records");
  add(b64 + "style=neox q_heads=4 dtype=bf16 fp8_max=240", 13, "indexer, OCP e4m3 with divisor 240");
  add(b64 + "style=neox q_heads=4 dtype=bf16 fp8_max=224", 13, "indexer, e4m3fnuz, divisor 224 (vLLM)", 0, "fp8_e4m3fnuz");
  add(b64 + "style=gptj q_heads=4 dtype=f16 fp8_max=240 scale_fmt=ue8m0 k_quant=multiply", 13,
      "indexer, e4m3fnuz, divisor 240 (AITER)", 0, "fp8_e4m3fnuz");
  add(b64 + "style=neox q_heads=64 dtype=bf16 cos_sin=compute(theta=10000) k_norm=layernorm", 11,
      "indexer, computed cos/sin");
  add(b64 + "style=gptj q_heads=64 dtype=bf16 k_norm=layernorm scale_fmt=ue8m0", 3, "indexer, decode, head split", 64);
  add(b64 + "style=neox q_heads=64 dtype=bf16 pdl=on", 5, "indexer, pdl");
}

}  // namespace ropegen
