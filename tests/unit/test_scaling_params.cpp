// Scaling-family parameters: typed members of ScalingParams, reached by the table walkers
// through each ScalingParam row; the canonical text of every family is what it was when
// the parameters were a list of (name, value) pairs.
#include <doctest/doctest.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ropegen/error.hpp"
#include "ropegen/spec.hpp"

using namespace ropegen;

namespace {

// The text before canonical() is the spec line; the rest is what the build before typed
// parameters printed for it (ropegen "LINE" --arch host --json --emit: "spec", "hash").
struct Pinned {
  const char* line;
  const char* canonical;
  const char* hash;
};

const Pinned kPinned[] = {
    {"op=rope cos_sin=compute(scaling=none)",
     "op=rope head_dim=128 rotary_dim=128 style=neox q_heads=32 kv_heads=8 dtype=bf16 index=i32 "
     "cos_sin=compute(theta=1e+04,scaling=none) wave=auto",
     "95513653cc27f660"},
    {"op=rope cos_sin=compute(theta=500000,scaling=linear(factor=2))",
     "op=rope head_dim=128 rotary_dim=128 style=neox q_heads=32 kv_heads=8 dtype=bf16 index=i32 "
     "cos_sin=compute(theta=5e+05,scaling=linear(factor=2)) wave=auto",
     "0028551edc559407"},
    {"op=rope cos_sin=compute(scaling=ntk(factor=4))",
     "op=rope head_dim=128 rotary_dim=128 style=neox q_heads=32 kv_heads=8 dtype=bf16 index=i32 "
     "cos_sin=compute(theta=1e+04,scaling=ntk(factor=4)) wave=auto",
     "c6b816df18f43f84"},
    {"op=rope cos_sin=compute(scaling=ntk_alpha(alpha=1000))",
     "op=rope head_dim=128 rotary_dim=128 style=neox q_heads=32 kv_heads=8 dtype=bf16 index=i32 "
     "cos_sin=compute(theta=1e+04,scaling=ntk_alpha(alpha=1e+03)) wave=auto",
     "82d5d102ae5c2f84"},
    {"op=rope cos_sin=compute(theta=1000000,scaling=yarn(factor=4,original_max_position_embeddings=32768))",
     "op=rope head_dim=128 rotary_dim=128 style=neox q_heads=32 kv_heads=8 dtype=bf16 index=i32 "
     "cos_sin=compute(theta=1e+06,scaling=yarn(factor=4,original_max_position_embeddings=32768,beta_fast=32,"
     "beta_slow=1,truncate=true)) wave=auto",
     "46d3c9c9a3b0a693"},
    {"op=rope cos_sin=compute(theta=150000,scaling=yarn(factor=32,original_max_position_embeddings=4096,"
     "beta_fast=16,beta_slow=0.5,attention_factor=1.25,mscale=1,mscale_all_dim=0.5,truncate=false))",
     "op=rope head_dim=128 rotary_dim=128 style=neox q_heads=32 kv_heads=8 dtype=bf16 index=i32 "
     "cos_sin=compute(theta=1.5e+05,scaling=yarn(factor=32,original_max_position_embeddings=4096,beta_fast=16,"
     "beta_slow=0.5,attention_factor=1.25,mscale=1,mscale_all_dim=0.5,truncate=false)) wave=auto",
     "de20c08ceebe4242"},
    {"op=rope head_dim=192 rotary_dim=64 rotary_offset=128 style=gptj cos_sin=compute(scaling=deepseek_yarn("
     "factor=40,original_max_position_embeddings=4096,beta_fast=32,beta_slow=1,mscale=1,mscale_all_dim=1))",
     "op=rope head_dim=192 rotary_dim=64 rotary_offset=128 style=gptj q_heads=32 kv_heads=8 dtype=bf16 "
     "index=i32 cos_sin=compute(theta=1e+04,scaling=deepseek_yarn(factor=4e+01,original_max_position_"
     "embeddings=4096,beta_fast=32,beta_slow=1,mscale=1,mscale_all_dim=1,attn_factor=1,extrapolation_factor=1)) "
     "wave=auto",
     "4a91f153863c190f"},
    {"op=rope cos_sin=compute(scaling=deepseek_yarn(factor=40,original_max_position_embeddings=4096,beta_fast=32,"
     "beta_slow=1,mscale=0.707,mscale_all_dim=0.707,attn_factor=0.5,extrapolation_factor=0.9))",
     "op=rope head_dim=128 rotary_dim=128 style=neox q_heads=32 kv_heads=8 dtype=bf16 index=i32 "
     "cos_sin=compute(theta=1e+04,scaling=deepseek_yarn(factor=4e+01,original_max_position_embeddings=4096,"
     "beta_fast=32,beta_slow=1,mscale=0.707,mscale_all_dim=0.707,attn_factor=0.5,extrapolation_factor=0.9)) "
     "wave=auto",
     "8a886a322d324439"},
    {"op=rope cos_sin=compute(theta=500000,scaling=llama3(factor=8,low_freq_factor=1,high_freq_factor=4,"
     "original_max_position_embeddings=8192))",
     "op=rope head_dim=128 rotary_dim=128 style=neox q_heads=32 kv_heads=8 dtype=bf16 index=i32 "
     "cos_sin=compute(theta=5e+05,scaling=llama3(factor=8,low_freq_factor=1,high_freq_factor=4,"
     "original_max_position_embeddings=8192)) wave=auto",
     "68a461ee71e0dfeb"},
    {"op=rope cos_sin=compute(scaling=dynamic(factor=2,original_max_position_embeddings=4096))",
     "op=rope head_dim=128 rotary_dim=128 style=neox q_heads=32 kv_heads=8 dtype=bf16 index=i32 "
     "cos_sin=compute(theta=1e+04,scaling=dynamic(factor=2,original_max_position_embeddings=4096,"
     "choose=runtime)) wave=auto",
     "8eeccd892f04d499"},
    {"op=rope cos_sin=compute(scaling=dynamic(factor=2,original_max_position_embeddings=4096,choose=static,"
     "max_model_len=16384))",
     "op=rope head_dim=128 rotary_dim=128 style=neox q_heads=32 kv_heads=8 dtype=bf16 index=i32 "
     "cos_sin=compute(theta=1e+04,scaling=dynamic(factor=2,original_max_position_embeddings=4096,choose=static,"
     "max_model_len=16384)) wave=auto",
     "7f093139d399eea6"},
    {"op=rope rotary_dim=8 cos_sin=compute(scaling=longrope(short_factor=[1,1,1,1],long_factor=[1,2,3,4.5],"
     "original_max_position_embeddings=4096,max_position_embeddings=131072))",
     "op=rope head_dim=128 rotary_dim=8 style=neox q_heads=32 kv_heads=8 dtype=bf16 index=i32 "
     "cos_sin=compute(theta=1e+04,scaling=longrope(original_max_position_embeddings=4096,"
     "max_position_embeddings=131072,choose=runtime,short_factor=[1,1,1,1],long_factor=[1,2,3,4.5])) wave=auto",
     "e15eb4628b6e1946"},
    {"op=rope rotary_dim=8 cos_sin=compute(scaling=longrope(short_factor=[1,1.5,1,1],long_factor=[1,2,3,4],"
     "original_max_position_embeddings=4096,max_position_embeddings=131072,attention_factor=1.2,"
     "short_mscale=1.1,long_mscale=1.3,choose=static,max_model_len=131072))",
     "op=rope head_dim=128 rotary_dim=8 style=neox q_heads=32 kv_heads=8 dtype=bf16 index=i32 "
     "cos_sin=compute(theta=1e+04,scaling=longrope(original_max_position_embeddings=4096,"
     "max_position_embeddings=131072,attention_factor=1.2,short_mscale=1.1,long_mscale=1.3,choose=static,"
     "max_model_len=131072,short_factor=[1,1.5,1,1],long_factor=[1,2,3,4])) wave=auto",
     "501cfbf32e5deb39"},
    {"op=rope head_dim=512 rotary_dim=512 cos_sin=compute(theta=1000000,scaling=proportional(partial_rotary_factor=0.25,"
     "factor=8))",
     "op=rope head_dim=512 rotary_dim=512 style=neox q_heads=32 kv_heads=8 dtype=bf16 index=i32 "
     "cos_sin=compute(theta=1e+06,scaling=proportional(partial_rotary_factor=0.25,factor=8)) wave=auto",
     "c282e9c7bfe2fce1"},
};

using Values = std::vector<double>;
/// Each parameter's typed member, written out by hand: the rows must reach these.
const std::map<std::string, std::function<Values(const ScalingParams&)>>& typed() {
  auto opt = [](const std::optional<double>& v) { return v ? Values{*v} : Values{}; };
  static const std::map<std::string, std::function<Values(const ScalingParams&)>> m = {
      {"factor", [](const ScalingParams& p) { return Values{p.factor}; }},
      {"alpha", [](const ScalingParams& p) { return Values{p.alpha}; }},
      {"original_max_position_embeddings",
       [](const ScalingParams& p) { return Values{p.original_max_position_embeddings}; }},
      {"beta_fast", [](const ScalingParams& p) { return Values{p.beta_fast}; }},
      {"beta_slow", [](const ScalingParams& p) { return Values{p.beta_slow}; }},
      {"attention_factor", [opt](const ScalingParams& p) { return opt(p.attention_factor); }},
      {"mscale", [opt](const ScalingParams& p) { return opt(p.mscale); }},
      {"mscale_all_dim", [opt](const ScalingParams& p) { return opt(p.mscale_all_dim); }},
      {"truncate", [](const ScalingParams& p) { return Values{p.truncate ? 1.0 : 0.0}; }},
      {"attn_factor", [](const ScalingParams& p) { return Values{p.attn_factor}; }},
      {"extrapolation_factor", [](const ScalingParams& p) { return Values{p.extrapolation_factor}; }},
      {"low_freq_factor", [](const ScalingParams& p) { return Values{p.low_freq_factor}; }},
      {"high_freq_factor", [](const ScalingParams& p) { return Values{p.high_freq_factor}; }},
      {"choose", [](const ScalingParams& p) { return Values{p.choose == Choose::Static ? 1.0 : 0.0}; }},
      {"max_model_len", [opt](const ScalingParams& p) { return opt(p.max_model_len); }},
      {"short_factor", [](const ScalingParams& p) { return p.short_factor; }},
      {"long_factor", [](const ScalingParams& p) { return p.long_factor; }},
      {"max_position_embeddings", [](const ScalingParams& p) { return Values{p.max_position_embeddings}; }},
      {"short_mscale", [opt](const ScalingParams& p) { return opt(p.short_mscale); }},
      {"long_mscale", [opt](const ScalingParams& p) { return opt(p.long_mscale); }},
      {"partial_rotary_factor", [](const ScalingParams& p) { return Values{p.partial_rotary_factor}; }},
  };
  return m;
}

/// A row's value as DSL text and as the values the typed member then holds.
struct Sample {
  std::string text;
  Values values;
};
Sample sample(const ScalingParam& p, bool distinct) {
  if (p.list()) return distinct ? Sample{"[1,2,3,4.5]", {1, 2, 3, 4.5}} : Sample{"[2,2,2,2]", {2, 2, 2, 2}};
  if (p.boolean()) return distinct ? Sample{"false", {0}} : Sample{"true", {1}};
  if (!p.words.empty()) return distinct ? Sample{p.words[1], {1}} : Sample{p.words[0], {0}};
  // high_freq_factor stays >= low_freq_factor (2 when not the one under test).
  if (std::string(p.name) == "high_freq_factor") return distinct ? Sample{"4.5", {4.5}} : Sample{"2", {2}};
  // A share of the frequencies: at most 1.
  if (std::string(p.name) == "partial_rotary_factor") return distinct ? Sample{"0.25", {0.25}} : Sample{"0.5", {0.5}};
  return distinct ? Sample{"1.5", {1.5}} : Sample{"2", {2}};
}

}  // namespace

TEST_CASE("scaling params: the canonical text and hash of each family are those of the name/value build") {
  std::set<Scaling> seen;
  for (const Pinned& p : kPinned) {
    CAPTURE(p.line);
    const KernelSpec s = parse_spec_line(p.line).spec;
    CHECK(s.canonical() == p.canonical);
    CHECK(s.hash() == p.hash);
    // The canonical text reads back to the same spec.
    const KernelSpec again = parse_spec_line(s.canonical()).spec;
    CHECK(again.canonical() == s.canonical());
    CHECK(compare_specs(again, s) == 0);
    seen.insert(s.cos_sin.scaling);
  }
  CHECK(seen.size() == scaling_families().size());  // every family pinned
}

TEST_CASE("scaling params: every row round-trips: set through the DSL, read through its typed member") {
  std::set<std::string> rows;
  for (const ScalingFamily& fam : scaling_families()) {
    for (const ScalingParam& under_test : fam.params) {
      CAPTURE(fam.name);
      CAPTURE(under_test.name);
      rows.insert(under_test.name);
      REQUIRE(typed().count(under_test.name) == 1);
      const std::string name = under_test.name;
      const bool static_pair = name == "choose" || name == "max_model_len";  // one needs the other
      std::string args;
      for (const ScalingParam& p : fam.params) {
        const bool mine = &p == &under_test;
        const bool pair = static_pair && (std::string(p.name) == "choose" || std::string(p.name) == "max_model_len");
        if (!mine && !pair && p.kind != ScalingParam::Required) continue;
        args += (args.empty() ? "" : ",") + std::string(p.name) + "=" + sample(p, mine || pair).text;
      }
      const std::string line =
          "op=rope rotary_dim=8 cos_sin=compute(scaling=" + std::string(fam.name) + "(" + args + "))";
      CAPTURE(line);
      const KernelSpec s = parse_spec_line(line).spec;
      const ScalingParams& got = s.cos_sin.params;
      CHECK(typed().at(name)(got) == sample(under_test, true).values);
      // The row reads the same member.
      CHECK(under_test.member.present(got));
      if (under_test.list()) CHECK(*under_test.member.items(got) == sample(under_test, true).values);
      else CHECK(under_test.member.get(got) == sample(under_test, true).values[0]);
      // And it is in the canonical text, which reads back to the same spec.
      CHECK(s.canonical().find(name + "=" + sample(under_test, true).text) != std::string::npos);
      CHECK(compare_specs(parse_spec_line(s.canonical()).spec, s) == 0);
      // A different value of this one parameter is a different spec.
      std::string other = line;
      const std::string mine_text = name + "=" + sample(under_test, true).text;
      other.replace(other.find(mine_text), mine_text.size(), name + "=" + sample(under_test, false).text);
      if (!(static_pair && name == "choose")) {  // choose = runtime refuses max_model_len
        const KernelSpec t = parse_spec_line(other).spec;
        CHECK(t.canonical() != s.canonical());
        CHECK(compare_specs(t, s) != 0);
      }

      // Written through the row, read through the member.
      ScalingParams direct;
      if (under_test.list()) under_test.member.set_items(direct, {7, 8, 9, 10});
      else under_test.member.set(direct, under_test.boolean() || !under_test.words.empty() ? 1 : 7);
      const Values want = under_test.list() ? Values{7, 8, 9, 10}
                          : under_test.boolean() || !under_test.words.empty() ? Values{1} : Values{7};
      CHECK(typed().at(name)(direct) == want);
    }
  }
  CHECK(rows.size() == typed().size());  // every member has a row, every row a member
}

TEST_CASE("scaling params: defaulted rows match the members' defaults; other families' members are refused") {
  const ScalingParams defaults;
  for (const ScalingFamily& fam : scaling_families())
    for (const ScalingParam& p : fam.params)
      if (p.kind == ScalingParam::Default) {
        CAPTURE(p.name);
        CHECK(p.member.get(defaults) == p.def);
      }
  // A spec built in code that sets a parameter its family does not have gets the DSL's message.
  KernelSpec s;
  s.op = Op::Rope;
  s.cos_sin.source = CosSinSource::Compute;
  s.cos_sin.scaling = Scaling::Linear;
  s.cos_sin.params.factor = 2;
  CHECK_NOTHROW(validate(s, "<test>"));
  s.cos_sin.params.alpha = 3;
  try {
    validate(s, "<test>");
    FAIL("accepted alpha for linear");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("unknown argument 'alpha' for linear(...)") != std::string::npos);
  }
  s.cos_sin.params.alpha = 0;
  s.cos_sin.params.long_factor = {1, 2};
  CHECK_THROWS_AS(validate(s, "<test>"), Error);
}

TEST_CASE("scaling params: longrope's lists are canonical in the family's order, whatever order they are written") {
  // The text lists short_factor then long_factor (the declared order); writing long_factor
  // first is the same kernel (before typed parameters it got a text and hash of its own).
  const KernelSpec a = parse_spec_line(kPinned[11].line).spec;
  const KernelSpec b = parse_spec_line(
                           "op=rope rotary_dim=8 cos_sin=compute(scaling=longrope(long_factor=[1,2,3,4.5],"
                           "short_factor=[1,1,1,1],original_max_position_embeddings=4096,"
                           "max_position_embeddings=131072))")
                           .spec;
  CHECK(b.canonical() == a.canonical());
  CHECK(b.hash() == "e15eb4628b6e1946");
  CHECK(compare_specs(a, b) == 0);
}

TEST_CASE("scaling params: an empty list is named by its length, as before") {
  try {
    parse_spec_line("op=rope rotary_dim=8 cos_sin=compute(scaling=longrope(short_factor=[],long_factor=[1,2,3,4],"
                    "original_max_position_embeddings=4096,max_position_embeddings=131072))");
    FAIL("accepted an empty short_factor");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("longrope(...): short_factor has 0 values; expected rotary_dim / 2 = 4") !=
          std::string::npos);
  }
}
