// Host numerics: the generated kernels themselves, compiled by the host C++ compiler and
// run on the CPU, against the independent double-precision reference over a matrix of
// specs and launch shapes. Set ROPEGEN_TEST_SHARD=i/n to run every n-th case.
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include "ropegen/codegen.hpp"
#include "ropegen/compile.hpp"
#include "ropegen/runtime.hpp"
#include "ropegen/verify.hpp"

using namespace ropegen;

namespace {

struct Case {
  std::string spec;   // one-line form
  VerifyCase vc;
  std::string note;
};

int g_case_counter = 0;

bool in_my_shard() {
  const int index = g_case_counter++;
  const char* env = std::getenv("ROPEGEN_TEST_SHARD");
  if (!env) return true;
  int shard = 0, count = 1;
  if (std::sscanf(env, "%d/%d", &shard, &count) != 2 || count < 1) return true;
  return index % count == shard;
}

Runtime& host() {
  static std::unique_ptr<Runtime> rt = make_host_runtime();
  return *rt;
}

void run_case(const Case& c) {
  if (!in_my_shard()) return;
  CAPTURE(c.spec);
  CAPTURE(c.note);
  ParsedSpec ps = parse_spec_line(c.spec);
  GeneratedSource g = generate(ps.spec, parse_target("host"));
  CodeObject co = select_compiler(g.target).compile(g, {});
  auto kernel = host().load(co);
  VerifyReport r = verify(host(), *kernel, c.vc);
  INFO(r.describe());
  CHECK(r.passed);
  // Every launch must have checked something rotated when the op rotates.
  long long rotated = 0;
  for (const auto& o : r.outputs) rotated += o.rounded;
  if (ps.spec.uses_rope() && c.vc.tokens > 0 && c.vc.padding < 1.0) CHECK(rotated > 0);
}

VerifyCase tokens(long long n) {
  VerifyCase v;
  v.tokens = n;
  return v;
}

}  // namespace

TEST_CASE("numerics: op x style x dtype x cache layout") {
  const char* dtypes[] = {"f32", "f16", "bf16"};
  const char* styles[] = {"neox", "gptj"};
  const char* caches[] = {"paged(block=16,order=nhd)", "paged(block=8,order=hnd)",
                          "contiguous(order=hnd)", "contiguous(order=nhd)"};
  const std::string shape = " head_dim=128 q_heads=8 kv_heads=2";
  for (const char* d : dtypes) {
    for (const char* s : styles) run_case({"op=rope style=" + std::string(s) + " dtype=" + d + shape, tokens(37), ""});
    for (const char* c : caches) run_case({"op=kv_append dtype=" + std::string(d) + " cache=" + c + " head_dim=128 kv_heads=2", tokens(37), ""});
    for (const char* s : styles)
      for (const char* c : caches)
        run_case({"op=rope_kv_append style=" + std::string(s) + " dtype=" + d + " cache=" + c + shape, tokens(37), ""});
  }
}

TEST_CASE("numerics: partial rotary and narrow vectors") {
  const char* specs[] = {
      "head_dim=128 rotary_dim=64 style=neox q_heads=4 kv_heads=2",
      "head_dim=128 rotary_dim=64 style=gptj q_heads=4 kv_heads=2",
      "head_dim=96 rotary_dim=24 dtype=f16 q_heads=4 kv_heads=4",             // GPT-NeoX-20B
      "head_dim=80 rotary_dim=32 dtype=f16 q_heads=4 kv_heads=4 op=rope",     // Phi-2
      "head_dim=256 rotary_dim=64 style=gptj dtype=f32 q_heads=2 kv_heads=2", // GPT-J
      "head_dim=64 rotary_dim=2 q_heads=2 kv_heads=1",                        // vector of 1
      "head_dim=64 rotary_dim=6 style=gptj dtype=f32 q_heads=2 kv_heads=1",
  };
  for (const char* s : specs) run_case({s, tokens(19), ""});
}

TEST_CASE("numerics: GQA ratios 1, 4, 8 and MQA") {
  const char* heads[] = {"q_heads=8 kv_heads=8", "q_heads=8 kv_heads=2", "q_heads=16 kv_heads=2",
                         "q_heads=8 kv_heads=1"};
  for (const char* h : heads) {
    run_case({std::string("head_dim=64 ") + h, tokens(21), ""});
    run_case({std::string("op=rope head_dim=64 style=gptj ") + h, tokens(21), ""});
  }
}

TEST_CASE("numerics: index types, token counts, padding, packed QKV") {
  run_case({"index=i64 head_dim=64 q_heads=4 kv_heads=2", tokens(29), "i64 paged"});
  run_case({"index=i64 op=kv_append cache=contiguous(order=nhd) head_dim=64 kv_heads=2", tokens(29), "i64 contiguous"});
  run_case({"index=i64 op=rope head_dim=64 q_heads=4 kv_heads=2", tokens(29), "i64 rope"});
  for (long long t : {1LL, 2LL, 3LL, 5LL, 129LL}) run_case({"head_dim=128 q_heads=8 kv_heads=2", tokens(t), "token count"});
  run_case({"head_dim=128 q_heads=8 kv_heads=2", tokens(0), "zero tokens: nothing changes"});
  VerifyCase all_pad = tokens(17);
  all_pad.padding = 1.0;
  run_case({"head_dim=64 q_heads=4 kv_heads=2 dtype=f16", all_pad, "every slot is padding: Q still rotated, cache untouched"});
  VerifyCase packed = tokens(23);
  packed.packed_qkv = true;
  run_case({"head_dim=128 q_heads=8 kv_heads=2", packed, "packed QKV"});
  run_case({"op=rope head_dim=128 q_heads=8 kv_heads=2 style=gptj dtype=f16", packed, "packed QKV rope"});
  run_case({"op=kv_append head_dim=64 kv_heads=2 dtype=f32", packed, "packed KV append"});
  VerifyCase by_pos = tokens(31);
  by_pos.slots_from_positions = true;
  run_case({"head_dim=64 q_heads=4 kv_heads=2 cache=contiguous(order=hnd)", by_pos, "contiguous, slot = position"});
  run_case({"op=kv_append head_dim=64 kv_heads=2 cache=contiguous(order=nhd)", by_pos, "contiguous, slot = position"});
  VerifyCase split = tokens(27);
  split.combined_table = false;
  run_case({"head_dim=128 q_heads=8 kv_heads=2 style=gptj", split, "separate cos and sin arrays"});
  run_case({"head_dim=128 rotary_dim=96 q_heads=8 kv_heads=2 dtype=f32", split, "separate arrays, partial"});
}

TEST_CASE("numerics: cos/sin computed from theta, with linear scaling") {
  VerifyCase far = tokens(33);
  far.max_position = 1 << 20;  // large angles exercise the sin/cos range reduction
  const char* specs[] = {
      "cos_sin=compute head_dim=128 q_heads=4 kv_heads=2",
      "cos_sin=compute(theta=500000) dtype=f32 head_dim=128 q_heads=4 kv_heads=2 style=gptj",
      "cos_sin=compute(theta=500000,scaling=linear(factor=8)) dtype=f16 head_dim=64 q_heads=4 kv_heads=1",
      "cos_sin=compute(theta=10000,scaling=linear(factor=2)) op=rope dtype=f32 head_dim=80 rotary_dim=32 q_heads=2 kv_heads=2",
  };
  for (const char* s : specs) run_case({s, far, "compute"});
}

TEST_CASE("numerics: wave64 plan and heads split over grid y") {
  run_case({"wave=64 head_dim=128 q_heads=8 kv_heads=2", tokens(37), "wave64 schedule on the host"});
  run_case({"wave=64 op=rope style=gptj dtype=f16 head_dim=64 q_heads=8 kv_heads=8", tokens(9), "wave64"});
  VerifyCase split = tokens(3);
  split.parallelism = 64;  // few tokens, many blocks wanted: head tasks spread across grid y
  run_case({"head_dim=128 q_heads=32 kv_heads=8", split, "decode-like head split"});
  run_case({"op=kv_append head_dim=128 kv_heads=8 dtype=f32", split, "head split kv_append"});
  VerifyCase big = tokens(2048);
  run_case({"head_dim=128 q_heads=8 kv_heads=2 dtype=bf16", big, "prefill-sized batch"});
}
