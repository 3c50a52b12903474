// KernelSpec: defaults, canonical form and a hash that never changes.
#include <doctest/doctest.h>

#include "ropegen/spec.hpp"

using namespace ropegen;

TEST_CASE("spec: defaults fill every field") {
  KernelSpec s = parse_spec_line("head_dim=128").spec;
  CHECK(s.canonical() ==
        "op=rope_kv_append head_dim=128 rotary_dim=128 style=neox q_heads=32 kv_heads=8 "
        "dtype=bf16 index=i32 cos_sin=table cache=paged(block=16,order=nhd) wave=auto");
}

TEST_CASE("spec: canonical form leaves out what the op does not use") {
  CHECK(parse_spec_line("op=rope").spec.canonical() ==
        "op=rope head_dim=128 rotary_dim=128 style=neox q_heads=32 kv_heads=8 dtype=bf16 "
        "index=i32 cos_sin=table wave=auto");
  CHECK(parse_spec_line("op=kv_append").spec.canonical() ==
        "op=kv_append head_dim=128 kv_heads=8 dtype=bf16 index=i32 "
        "cache=paged(block=16,order=nhd) wave=auto");
}

TEST_CASE("spec: the name is a label, not part of the identity") {
  auto a = parse_spec_file("a.rg", "kernel one { head_dim = 64 }")[0].spec;
  auto b = parse_spec_file("b.rg", "kernel two {\n  head_dim = 64 # same\n}")[0].spec;
  CHECK(a.canonical() == b.canonical());
  CHECK(a.hash() == b.hash());
}

TEST_CASE("spec: hash is fixed across runs and machines") {
  // FNV-1a 64 of the canonical text. These values must never change for a given text:
  // they name cache entries and kernel symbols.
  CHECK(fnv1a64("") == 0xcbf29ce484222325ull);
  CHECK(fnv1a64("a") == 0xaf63dc4c8601ec8cull);
  CHECK(hex64(fnv1a64("foobar")) == "85944171f73967e8");
  CHECK(parse_spec_line("").spec.hash() == "981d06e3da7c0bce");
  CHECK(parse_spec_line("op=rope head_dim=64 style=gptj dtype=f16").spec.hash() == "83ead59dc9fee283");
  CHECK(parse_spec_line("op=kv_append cache=contiguous(order=nhd)").spec.hash() == "0d5bd68b90ca7f39");
}

TEST_CASE("spec: every field changes the hash") {
  const std::string base = parse_spec_line("").spec.hash();
  const char* changes[] = {"op=rope", "head_dim=64", "rotary_dim=64", "style=gptj", "q_heads=64",
                           "kv_heads=4", "dtype=f16", "index=i64", "cos_sin=compute",
                           "cache=paged(block=32)", "cache=paged(order=hnd)",
                           "cache=contiguous", "wave=64",
                           "cos_sin=compute(theta=500000)",
                           "cos_sin=compute(scaling=linear(factor=2))"};
  for (const char* c : changes) {
    CAPTURE(c);
    CHECK(parse_spec_line(c).spec.hash() != base);
  }
}

TEST_CASE("spec: wave against the target") {
  Target gfx90a = parse_target("gfx90a");
  Target gfx1100 = parse_target("gfx1100");
  ParsedSpec autowave = parse_spec_line("");
  CHECK_NOTHROW(check_target(autowave, gfx90a));
  CHECK(autowave.spec.wave_for(gfx90a) == 64);
  CHECK(autowave.spec.wave_for(gfx1100) == 32);
  CHECK_NOTHROW(check_target(parse_spec_line("wave=64"), gfx1100));
  CHECK_NOTHROW(check_target(parse_spec_line("wave=64"), parse_target("host")));
}
