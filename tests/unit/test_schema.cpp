// KernelSpec (src/schema): defaults, canonical form and a hash that never changes; the
// scaling families' typed parameters; the rules on keys and values and their errors.
#include <doctest/doctest.h>

#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "codegen/codegen.hpp"
#include "dsl/dsl.hpp"
#include "ropegen/error.hpp"
#include "ropegen/spec.hpp"
#include "ropegen/target.hpp"
#include "schema/fields.hpp"

#include "expect_error.hpp"

using namespace ropegen;
using namespace ropegen::test;

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

TEST_CASE("spec: every field reaches the canonical text, the hash and the request key") {
  // The default op uses every field; each example value of a field, set alone, must give a
  // spec that differs from every other example of that field in all three identities.
  const KernelSpec base = parse_spec_line("head_dim=128").spec;
  for (const SpecField& f : spec_fields()) {
    CAPTURE(f.key);
    REQUIRE(f.examples.size() >= 2);
    std::vector<KernelSpec> variants;
    for (const char* ex : f.examples) {
      CAPTURE(ex);
      variants.push_back(parse_spec_line(std::string(f.key) + "=" + ex).spec);
      // The default op uses the field, or the example names an op that does (kv_lora_rank).
      REQUIRE(f.used_by(variants.back().op));
    }
    (void)base;
    for (size_t i = 0; i < variants.size(); ++i)
      for (size_t j = 0; j < variants.size(); ++j) {
        if (i == j) continue;
        CAPTURE(f.examples[i]);
        CAPTURE(f.examples[j]);
        CHECK(variants[i].canonical() != variants[j].canonical());
        CHECK(variants[i].hash() != variants[j].hash());
        CHECK(compare_specs(variants[i], variants[j]) != 0);
        CHECK(compare_specs(variants[i], variants[j]) == -compare_specs(variants[j], variants[i]));
      }
    // And a spec that differs in no field compares equal.
    KernelSpec copy = variants[0];
    copy.name = "another label";
    CHECK(compare_specs(copy, variants[0]) == 0);
  }
}

TEST_CASE("spec: the request key ignores exactly what the canonical text leaves out") {
  KernelSpec a = parse_spec_line("op=kv_append").spec;
  KernelSpec b = a;
  b.style = Style::Gptj;  // not used by kv_append
  CHECK(a.canonical() == b.canonical());
  CHECK(compare_specs(a, b) == 0);
  KernelSpec t = parse_spec_line("cos_sin=table").spec;
  KernelSpec u = t;
  u.cos_sin.theta = 5;  // a table has no theta
  CHECK(compare_specs(t, u) == 0);
}

TEST_CASE("spec: every field has a CLI flag, a default and a row in docs/dsl.md") {
  std::ifstream in(ROPEGEN_DOCS_DIR "/dsl.md");
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  // docs/dsl.md carries the table that `ropegen --list-keys` prints, verbatim.
  CHECK(ss.str().find(spec_fields_markdown()) != std::string::npos);
  for (const SpecField& f : spec_fields()) {
    CHECK(f.flag().rfind("--", 0) == 0);
    CHECK(f.flag().find('_') == std::string::npos);
    CHECK(!f.default_text().empty());
    CHECK(find_spec_field(f.key) == &f);
  }
  CHECK(find_spec_field("colour") == nullptr);
}

TEST_CASE("spec: a spec built in code gets the DSL's range messages") {
  auto msg_of = [](const auto& fn) -> std::string {
    try {
      fn();
    } catch (const Error& e) {
      return e.message();
    }
    return "no error";
  };
  struct Case {
    const char* line;
    void (*mutate)(KernelSpec&);
  };
  const Case cases[] = {
      {"head_dim=4096", [](KernelSpec& s) { s.head_dim = 4096; }},
      {"q_heads=0", [](KernelSpec& s) { s.q_heads = 0; }},
      {"kv_heads=2000", [](KernelSpec& s) { s.kv_heads = 2000; }},
      {"cache=paged(block=0)", [](KernelSpec& s) { s.cache.block = 0; }},
      {"cos_sin=compute(theta=0)",
       [](KernelSpec& s) {
         s.cos_sin.source = CosSinSource::Compute;
         s.cos_sin.theta = 0;
       }},
      {"cos_sin=compute(theta=10000,scaling=linear(factor=0))",
       [](KernelSpec& s) {
         s.cos_sin.source = CosSinSource::Compute;
         s.cos_sin.scaling = Scaling::Linear;
         s.cos_sin.params.factor = 0;
       }},
  };
  for (const Case& c : cases) {
    CAPTURE(c.line);
    const std::string dsl = msg_of([&] { parse_spec_line(c.line); });
    KernelSpec s;
    c.mutate(s);
    CHECK(msg_of([&] { validate(s, "<test>"); }) == dsl);
  }
}

TEST_CASE("spec: pdl is a key that existing specs do not see") {
  // Left out of the canonical text at its default: specs from before the key keep their
  // text and hash (the fixed hashes of test_codegen's goldens pin that too).
  CHECK(parse_spec_line("head_dim=128").spec.canonical().find("pdl") == std::string::npos);
  CHECK(parse_spec_line("pdl=off").spec.hash() == parse_spec_line("").spec.hash());
  KernelSpec on = parse_spec_line("pdl=on").spec;
  CHECK(on.canonical().find(" pdl=on") != std::string::npos);
  CHECK(on.hash() != parse_spec_line("").spec.hash());
  CHECK(target_can_run(on, parse_target("sm_90")));
  CHECK(target_can_run(on, parse_target("host")));
  CHECK_FALSE(target_can_run(on, parse_target("sm_80")));
  try {
    check_target(parse_spec_line("head_dim=64 pdl=on"), parse_target("gfx1100"));
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("pdl = on needs programmatic dependent launch, which target gfx1100 (RDNA3) "
                                     "does not have; targets with it: sm_90, sm_90a, sm_100, sm_100a, sm_120, sm_120a, host") != std::string::npos);
    CHECK(e.loc().col == 17);  // at the value, like the other checks
  }
}

TEST_CASE("spec: nvfp4 recipe = trtllm: TensorRT-LLM's order, built for NVIDIA targets only") {
  const ParsedSpec p = parse_spec_line("head_dim=128 cache_dtype=nvfp4(recipe=trtllm)");
  CHECK(p.spec.codec.recipe == Nvfp4Recipe::Trtllm);
  CHECK(p.spec.canonical().find("cache_dtype=nvfp4(recipe=trtllm)") != std::string::npos);
  CHECK(p.spec.hash() != parse_spec_line("head_dim=128 cache_dtype=nvfp4").spec.hash());
  CHECK(parse_spec_line("cache_dtype=nvfp4(recipe=trtllm,v_scales=swizzled) cache=paged(block=16,order=hnd)")
            .spec.canonical()
            .find("cache_dtype=nvfp4(recipe=trtllm,v_scales=swizzled)") != std::string::npos);
  CHECK_THROWS_WITH(parse_spec_line("cache_dtype=nvfp4(recipe=fast)"),
                    doctest::Contains("invalid value 'fast' for recipe; valid values: exact, trtllm"));
  // Every NVIDIA target has the approximate reciprocal; no other target builds the recipe.
  for (const auto& info : known_targets()) {
    const Target t = parse_target(info.arch);
    CAPTURE(t.id());
    CHECK(t.caps.rcp_approx == (t.vendor == Vendor::Nvidia));
    if (t.caps.rcp_approx) {
      CHECK_NOTHROW(check_target(p, t));
      continue;
    }
    try {
      check_target(p, t);
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::Spec);
      CHECK(std::string(e.what()).find("recipe = trtllm uses NVIDIA's approximate reciprocal (rcp.approx.ftz.f32); "
                                       "use recipe = exact on " + t.id()) != std::string::npos);
      CHECK(e.loc().col == 26);  // at the value
    }
  }
  CHECK_FALSE(target_can_run(p.spec, parse_target("host")));
  CHECK(target_can_run(parse_spec_line("head_dim=128 cache_dtype=nvfp4").spec, parse_target("host")));
}

TEST_CASE("spec: quantized cache_dtype values, their parameters and their rules") {
  using doctest::Contains;
  // The canonical text names every parameter of the new formats; fp8 without per_token_head
  // parameters keeps its bare name (the cache keys of existing specs do not change).
  CHECK(parse_spec_line("cache_dtype=int4 scales=per_token_head").spec.canonical().find(
            "cache_dtype=int4(round=rha,floor=1e-06)") != std::string::npos);
  CHECK(parse_spec_line("cache_dtype=int8 scales=per_token_head").spec.canonical().find(
            "cache_dtype=int8(round=rne,floor=1e-06)") != std::string::npos);
  CHECK(parse_spec_line("cache_dtype=nvfp4").spec.canonical().find("cache_dtype=nvfp4(recipe=exact)") != std::string::npos);
  CHECK(parse_spec_line("cache_dtype=mxfp4(scale_round=even)").spec.canonical().find("cache_dtype=mxfp4(scale_round=even)") !=
        std::string::npos);
  const std::string fp8 = parse_spec_line("cache_dtype=fp8_e4m3").spec.canonical();
  CHECK(fp8.substr(fp8.size() - std::string(" cache_dtype=fp8_e4m3").size()) == " cache_dtype=fp8_e4m3");
  CHECK(parse_spec_line("cache_dtype=fp8_e4m3fnuz(qmax=224) scales=per_token_head").spec.canonical().find(
            "cache_dtype=fp8_e4m3fnuz(qmax=224,floor=1e-06)") != std::string::npos);
  // Parameters change the identity; a repeated value resets them.
  CHECK(parse_spec_line("cache_dtype=int8 scales=per_token_head").spec.hash() !=
        parse_spec_line("cache_dtype=int8(round=trunc) scales=per_token_head").spec.hash());
  ParsedSpec base = parse_spec_line("cache_dtype=int8(round=trunc,floor=0.001) scales=per_token_head");
  CHECK(parse_spec_line("cache_dtype=int8", base, "<flag>").spec.codec.round == QuantRound::Rne);
  // The rules, each naming what was wrong.
  CHECK_THROWS_WITH(parse_spec_line("cache_dtype=int8"), Contains("cache_dtype = int8 needs scales = per_token_head"));
  CHECK_THROWS_WITH(parse_spec_line("cache_dtype=nvfp4 scales=per_token_head"), Contains("global scale per tensor"));
  CHECK_THROWS_WITH(parse_spec_line("cache_dtype=mxfp4 scales=per_token_head"), Contains("no global scale"));
  CHECK_THROWS_WITH(parse_spec_line("scales=per_token_head"), Contains("per_token_head needs cache_dtype = int8, int4 or an fp8"));
  CHECK_THROWS_WITH(parse_spec_line("cache_dtype=int8(round=up) scales=per_token_head"),
                    Contains("invalid value 'up' for round; valid values: rne, trunc, rha"));
  CHECK_THROWS_WITH(parse_spec_line("cache_dtype=bf16(round=rne)"), Contains("cache_dtype = bf16 takes no parameters"));
  CHECK_THROWS_WITH(parse_spec_line("cache_dtype=nvfp4(scale_round=rceil)"), Contains("unknown argument 'scale_round'"));
  CHECK_THROWS_WITH(parse_spec_line("cache_dtype=int4(floor=0) scales=per_token_head"), Contains("floor = 0 is out of range"));
  CHECK_THROWS_WITH(parse_spec_line("cache_dtype=fp8_e4m3(qmax=224)"), Contains("need scales = per_token_head"));
  CHECK_THROWS_WITH(parse_spec_line("cache_dtype=nvfp4 head_dim=72"), Contains("scale groups of 16 elements must tile a head"));
  CHECK_THROWS_WITH(parse_spec_line("cache_dtype=mxfp4 head_dim=80 rotary_dim=80"), Contains("groups of 32"));
  CHECK_THROWS_WITH(parse_spec_line("op=mla_rope_append head_dim=192 rotary_dim=64 rotary_offset=128 cache_dtype=nvfp4"),
                    Contains("not available for op = mla_rope_append yet"));
  CHECK_THROWS_WITH(parse_spec_line("q_dtype=int8 outputs=separate"), Contains("only fp8 formats"));
  CHECK_THROWS_WITH(parse_spec_line("cache_dtype=nvfp4(v_scales=swizzled)"), Contains("needs cache = paged(order = hnd)"));
  CHECK_THROWS_WITH(parse_spec_line("cache_dtype=nvfp4(v_scales=tiled)"), Contains("valid values: linear, swizzled"));
  CHECK(parse_spec_line("cache_dtype=nvfp4(v_scales=swizzled) cache=paged(block=16,order=hnd)").spec.canonical().find(
            "cache_dtype=nvfp4(recipe=exact,v_scales=swizzled)") != std::string::npos);
  CHECK_THROWS_WITH(parse_spec_line("q_scales=per_token_head"), Contains("q_scales = per_token_head needs an fp8 q_dtype"));
  CHECK_THROWS_WITH(parse_spec_line("q_scales=per_head q_dtype=fp8_e4m3 outputs=separate"), Contains("q_scales = per_head"));
  CHECK(parse_spec_line("q_scales=per_token_head q_dtype=fp8_e4m3 outputs=separate").spec.canonical().find(
            "q_scales=per_token_head") != std::string::npos);
  // fp8 with computed scales needs fp8 on the target, as fp8 does; the 4-bit and integer
  // formats are integer code everywhere.
  const Target gfx1100 = parse_target("gfx1100");
  CHECK_FALSE(target_can_run(parse_spec_line("cache_dtype=fp8_e4m3 scales=per_token_head").spec, gfx1100));
  CHECK(target_can_run(parse_spec_line("cache_dtype=nvfp4").spec, gfx1100));
  CHECK(target_can_run(parse_spec_line("cache_dtype=int4 scales=per_token_head").spec, gfx1100));
}

TEST_CASE("spec: the 2026 norm, RoPE and q keys, their canonical text and their rules") {
  using doctest::Contains;
  // rms(eps, gemma) keeps the text it had before weight, span and order (cache keys stay);
  // the new parameters appear only when they differ from the defaults.
  const std::string plain = parse_spec_line("qk_norm=rms(eps=1e-6)").spec.canonical();
  CHECK(plain.substr(plain.size() - 35) == " qk_norm=rms(eps=1e-06,gemma=false)");
  CHECK(parse_spec_line("qk_norm=rms(eps=1e-6,weight=one_plus_w)").spec.hash() ==
        parse_spec_line("qk_norm=rms(eps=1e-6,gemma=true)").spec.hash());
  CHECK(parse_spec_line("qk_norm=rms(eps=1e-5,weight=none,span=all_heads,order=post)").spec.canonical().find(
            "qk_norm=rms(eps=1e-05,gemma=false,weight=none,span=all_heads,order=post)") != std::string::npos);
  CHECK(parse_spec_line("v_norm=rms(eps=1e-6) v_source=k").spec.canonical().find("v_norm=rms(eps=1e-06) v_source=k") !=
        std::string::npos);
  CHECK(parse_spec_line("").spec.canonical().find("v_norm") == std::string::npos);
  CHECK(parse_spec_line("q_temperature=llama4(attn_scale=0.1,floor_scale=8192)").spec.canonical().find(
            "q_temperature=llama4(attn_scale=0.1,floor_scale=8192)") != std::string::npos);
  CHECK(parse_spec_line("q_temperature=llama4").spec.q_temperature.floor_scale == 8192);
  // Each parameter changes the identity.
  CHECK(parse_spec_line("qk_norm=rms(eps=1e-6,order=post)").spec.hash() != parse_spec_line("qk_norm=rms(eps=1e-6)").spec.hash());
  CHECK(parse_spec_line("q_temperature=logn(base=4096)").spec.hash() !=
        parse_spec_line("q_temperature=logn(base=8192)").spec.hash());
  // The rules, each naming what was wrong.
  CHECK_THROWS_WITH(parse_spec_line("qk_norm=rms(gemma=true,weight=w)"), Contains("gemma = true contradicts weight = w"));
  CHECK_THROWS_WITH(parse_spec_line("qk_norm=rms(span=heads)"), Contains("valid values: head, all_heads"));
  CHECK_THROWS_WITH(parse_spec_line("qk_norm=rms(order=after)"), Contains("valid values: pre, post"));
  CHECK_THROWS_WITH(parse_spec_line("v_norm=layer"), Contains("valid values: none, rms(eps = E)"));
  CHECK_THROWS_WITH(parse_spec_line("v_norm=rms(eps=2)"), Contains("eps = 2 is out of range"));
  CHECK_THROWS_WITH(parse_spec_line("op=rope v_norm=rms(eps=1e-6)"), Contains("key 'v_norm' has no effect for op = rope"));
  CHECK_THROWS_WITH(parse_spec_line("op=kv_append q_temperature=logn(base=8)"),
                    Contains("key 'q_temperature' has no effect for op = kv_append"));
  CHECK_THROWS_WITH(parse_spec_line("q_temperature=logn"), Contains("logn(...) needs base"));
  // rotary_dim = 0 (a layer without RoPE): cos_sin defaults to compute (no tables), and what
  // only shapes a rotation is refused, naming the key.
  const KernelSpec nope = parse_spec_line("rotary_dim=0 q_temperature=llama4").spec;
  CHECK(nope.rotary_dim == 0);
  CHECK(nope.cos_sin.source == CosSinSource::Compute);
  CHECK(parse_spec_line(nope.canonical()).spec.hash() == nope.hash());
  CHECK_THROWS_WITH(parse_spec_line("rotary_dim=0 cos_sin=table"), Contains("cos_sin = table would pass tables"));
  CHECK_THROWS_WITH(parse_spec_line("rotary_dim=0 rotary_offset=4"), Contains("rotary_offset = 4 has no rotated stretch"));
  CHECK_THROWS_WITH(parse_spec_line("rotary_dim=0 cos_sin=compute(scaling=linear(factor=2))"),
                    Contains("compute(scaling = linear) has no frequencies to scale"));
  CHECK_THROWS_WITH(parse_spec_line("rotary_dim=0 positions=mrope(sections=[1,1,1])"),
                    Contains("positions with several rows"));
  CHECK_THROWS_WITH(parse_spec_line("op=mla_rope_append head_dim=64 kv_lora_rank=64 rotary_dim=0"),
                    Contains("op = mla_rope_append rotates its rope part"));
  CHECK_THROWS_WITH(parse_spec_line("rotary_dim=-2"), Contains("rotary_dim"));
  // The 2026 cross-launch norm, grid positions, QKV bias and gate: canonical text and rules.
  CHECK(parse_spec_line("qk_norm=rms(eps=1e-6,span=all_heads,sums=read,ranks=2)").spec.canonical().find(
            "qk_norm=rms(eps=1e-06,gemma=false,span=all_heads,sums=read,ranks=2)") != std::string::npos);
  CHECK(parse_spec_line("gate=interleaved bias=qkv").spec.canonical().find("bias=qkv gate=interleaved") !=
        std::string::npos);
  CHECK(parse_spec_line("").spec.canonical().find("gate") == std::string::npos);
  CHECK_THROWS_WITH(parse_spec_line("qk_norm=rms(sums=read)"), Contains("needs span = all_heads"));
  // cos_sin = table(per_head = true): its own canonical text (a plain table's stays "table").
  CHECK(parse_spec_line("cos_sin=table(per_head=true)").spec.canonical().find("cos_sin=table(per_head=true)") !=
        std::string::npos);
  CHECK(parse_spec_line("cos_sin=table(per_head=false)").spec.canonical() == parse_spec_line("cos_sin=table").spec.canonical());
  CHECK_THROWS_WITH(parse_spec_line("op=mla_rope_append cos_sin=table(per_head=true)"),
                    Contains("op = mla_rope_append rotates one shared rope part"));
  CHECK_THROWS_WITH(parse_spec_line("op=indexer_append rotary_dim=64 cache_dtype=fp8_e4m3 cache=paged(block=64) "
                                    "q_heads=64 cos_sin=table(per_head=true)"),
                    Contains("op = indexer_append rotates one shared rope part"));
  CHECK_THROWS_WITH(parse_spec_line("qk_norm=rms(span=all_heads,ranks=2)"), Contains("it needs sums = read"));
  CHECK_THROWS_WITH(parse_spec_line("qk_norm=rms(span=all_heads,sums=write)"), Contains("it needs op = rope"));
  CHECK_THROWS_WITH(parse_spec_line("op=rope qk_norm=rms(span=all_heads,sums=write) gate=interleaved"),
                    Contains("gate = interleaved belongs to the second launch"));
  CHECK_THROWS_WITH(parse_spec_line("qk_norm=rms(span=all_heads,sums=read,ranks=0)"), Contains("ranks = 0"));
  CHECK_THROWS_WITH(parse_spec_line("gate=interleaved heads=strided"), Contains("cannot be combined with heads = strided"));
  CHECK_THROWS_WITH(parse_spec_line("bias=qkv v_source=k"), Contains("bias = qkv with v_source = k"));
  CHECK_THROWS_WITH(parse_spec_line("op=kv_append gate=interleaved"), Contains("key 'gate' has no effect for op = kv_append"));
  CHECK_THROWS_WITH(parse_spec_line("positions=grid(sections=[1,2,3]) head_dim=64"),
                    Contains("grid(...): sections add up to 6; they must add up to rotary_dim / 2 = 32"));
  CHECK_THROWS_WITH(parse_spec_line("positions=grid(sections=[10,11,11]) head_dim=64 cos_sin=compute(scaling=linear(factor=2))"),
                    Contains("the 3-D grid RoPE has per-section frequencies"));
  CHECK_THROWS_WITH(parse_spec_line("positions=grid(sections=[10,11])"), Contains("sections must be a list of 3"));
  CHECK_THROWS_WITH(parse_spec_line("q_temperature=logn(base=1)"), Contains("base = 1 is out of range"));
  CHECK_THROWS_WITH(parse_spec_line("q_temperature=yarn"), Contains("valid values: none, llama4("));
  CHECK_THROWS_WITH(parse_spec_line("v_norm=rms(eps=1e-6) cache_dtype=nvfp4(v_scales=swizzled) cache=paged(order=hnd)"),
                    Contains("v_norm with cache_dtype = nvfp4(v_scales = swizzled) is not supported"));
  CHECK_THROWS_WITH(parse_spec_line("head_dim=64 rotary_dim=64 cos_sin=compute(scaling=proportional(factor=2))"),
                    Contains("partial_rotary_factor"));
  CHECK_THROWS_WITH(parse_spec_line("cos_sin=compute(scaling=proportional(partial_rotary_factor=1.5))"),
                    Contains("partial_rotary_factor = 1.5 is out of range"));
}

// Scaling-family parameters: typed members of ScalingParams, reached by the table walkers
// through each ScalingParam row; the canonical text of every family is what it was when
// the parameters were a list of (name, value) pairs.

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

TEST_CASE("errors: keys and values" * doctest::test_suite("errors")) {
  file("kernel k {\n  head_dimm = 128\n}", "unknown key 'head_dimm'; did you mean 'head_dim'?", 2, 3);
  file("kernel k {\n  colour = 1\n}", "unknown key 'colour' (valid keys: op,", 2, 3);
  file("kernel k {\n  dtype = bf17\n}", "invalid value 'bf17' for dtype; valid values: f32, f16, bf16 (did you mean 'bf16'?)", 2, 11);
  file("kernel k { style = sideways }", "invalid value 'sideways' for style; valid values: neox, gptj", 1, 20);
  file("kernel k { op = rope_kv }", "invalid value 'rope_kv' for op; valid values: rope, kv_append, rope_kv_append", 1, 17);
  file("kernel k { index = 32 }", "invalid value '32' for index; valid values: i32, i64", 1, 20);
  file("kernel k { head_dim = 12.5 }", "expected an integer for head_dim, found '12.5'", 1, 23);
  file("kernel k { head_dim = bf16 }", "expected an integer for head_dim, found 'bf16'", 1, 23);
  file("kernel k { head_dim = 4096 }", "head_dim = 4096 is out of range; expected 2 to 1024", 1, 23);
  file("kernel k { q_heads = 0 }", "q_heads = 0 is out of range; expected 1 to 1024", 1, 22);
  file("kernel k {\n  dtype = f16\n  dtype = bf16\n}", "duplicate key 'dtype' (first set at line 2, column 3)", 3, 3);
  file("kernel k { wave = 16 }", "invalid value '16' for wave; valid values: 32, 64, auto", 1, 19);
  file("kernel k { wave = fast }", "invalid value 'fast' for wave", 1, 19);
  file("kernel k { cache = paged(blok = 16) }", "unknown argument 'blok' for paged(...); did you mean 'block'?", 1, 26);
  file("kernel k { cache = paged(block = 16, block = 32) }", "argument 'block' given twice", 1, 38);
  file("kernel k { cache = paged(block = 0) }", "block = 0 is out of range; expected 1 to 4096", 1, 34);
  file("kernel k { cache = paged(order = xyz) }", "invalid value 'xyz' for order; valid values: hnd, nhd", 1, 34);
  file("kernel k { cache = ring }", "invalid value 'ring' for cache; valid values: contiguous(order = hnd | nhd)", 1, 20);
  file("kernel k { cos_sin = tables }", "invalid value 'tables' for cos_sin; valid values: table, table(per_head = true), compute(", 1, 22);
  file("kernel k { cos_sin = table(per_head = 1) }", "expected true or false for per_head, found '1'", 1, 39);
  file("kernel k { cos_sin = table(per_kv = true) }", "unknown argument 'per_kv' for table(...)", 1, 28);
  file("kernel k { cos_sin = compute(theta = -5) }", "theta = -5 is out of range; expected more than 1", 1, 38);
  file("kernel k { cos_sin = compute(scaling = yarn) }", "scaling yarn needs its parameters: yarn(factor, original_max_position_embeddings, beta_fast = 32", 1, 40);
  file("kernel k { cos_sin = compute(scaling = yarm(factor = 2)) }", "invalid scaling 'yarm(...)'; valid: none, linear(factor), ntk(factor)", 1, 40);
  file("kernel k { cos_sin = compute(scaling = llama3(factor = 8, low_freq_factor = 1, high_freq_factor = 4)) }",
       "llama3(...) needs original_max_position_embeddings", 1, 40);
  file("kernel k { cos_sin = compute(scaling = yarn(factor = 4, original_max_position_embeddings = 4096, truncate = 1)) }",
       "expected true or false for truncate, found '1'", 1, 109);
  file("kernel k { cos_sin = compute(scaling = ntk_alpha(alpha = 0)) }", "alpha = 0 is out of range; expected more than 0", 1, 58);
  file("kernel k { cos_sin = compute(scaling = linear()) }", "linear(...) needs factor (linear(factor))", 1, 40);
  file("kernel k { cos_sin = compute(scaling = linear(factor = 0)) }", "factor = 0 is out of range; expected more than 0", 1, 56);
  file("kernel k { }\nkernel k { }", "kernel 'k' is defined twice (first at line 1)", 2, 8);
}

TEST_CASE("errors: contradictions point at the key that breaks the rule" * doctest::test_suite("errors")) {
  file("kernel k {\n  head_dim = 127\n}", "head_dim = 127 must be even", 2, 14);
  file("kernel k {\n  rotary_dim = 63\n  head_dim = 128\n}", "rotary_dim = 63 must be even", 2, 16);
  file("kernel k {\n  head_dim = 64\n  rotary_dim = 128\n}", "rotary_dim = 128 must be at most head_dim = 64", 3, 16);
  file("kernel k {\n  q_heads = 32\n  kv_heads = 6\n}", "q_heads = 32 is not a multiple of kv_heads = 6", 3, 14);
  file("kernel k {\n  op = rope\n  cache = contiguous\n}", "key 'cache' has no effect for op = rope", 3, 11);
  file("kernel k {\n  op = kv_append\n  style = gptj\n}", "key 'style' has no effect for op = kv_append", 3, 11);
  file("kernel k {\n  op = kv_append\n  q_heads = 4\n}", "key 'q_heads' has no effect for op = kv_append", 3, 13);
  // Cache addressing (issue 22): strided, ring and tail rules.
  file("kernel k { cache = contiguous(order = strided) }", "order = strided is for paged caches", 1, 39);
  file("kernel k { window = ring(sinks = 2) }", "window = ring(...) needs size = W", 1, 21);
  file("kernel k { cache = contiguous(order = amd) }", "order = amd is for paged caches", 1, 39);
  file("kernel k { window = ring(size = 0) }", "size = 0 is out of range; expected 1 to", 1, 33);
  file("kernel k { window = sliding }", "invalid value 'sliding' for window; valid values: none, ring(size = W, sinks = S)", 1,
       21);
  file("kernel k { cache_tail = clear }", "invalid value 'clear' for cache_tail; valid values: keep, zero", 1, 25);
  for (const auto& [spec, needle] : std::vector<std::pair<const char*, const char*>>{
           {"window=ring(size=8,sinks=8)", "sinks = 8 is out of range; expected 0 to size - 1 = 7"},
           {"cache_tail=zero cache=contiguous", "cache_tail = zero needs a paged cache"},
           {"window=ring(size=8) cache=contiguous(order=nhd)", "window = ring(...) needs a paged cache"},
           {"window=ring(size=8) cache_tail=zero", "cache_tail = zero would erase a ring cache's older tokens"},
           {"cache=paged(order=strided) cache_dtype=int8 scales=per_token_head",
            "cache = paged(order = strided) with cache_dtype = int8 is not available yet"},
           {"op=mla_rope_append head_dim=192 rotary_dim=64 rotary_offset=128 cache=paged(order=strided)",
            "cache = paged(order = strided) is not available for op = mla_rope_append yet"},
           {"op=rope window=ring(size=8)", "key 'window' has no effect for op = rope"},
           {"head_dim=36 rotary_dim=36 cache=paged(order=amd)",
            "cache = paged(order = amd) splits head_dim = 36 in pieces of x = 8 elements (16 bytes)"},
           {"dtype=f32 cache=paged(block=6,order=amd_shuffle)",
            "groups the block of 6 tokens by x = 4 (16 bytes): block must be a multiple of x"},
           {"cache=paged(order=amd) cache_dtype=int4 scales=per_token_head",
            "cache = paged(order = amd) with cache_dtype = int4 is not available yet"},
           {"cache=paged(order=amd_shuffle) cache_dtype=nvfp4",
            "cache = paged(order = amd_shuffle) with cache_dtype = nvfp4 is not available yet"},
           {"cache=paged(order=amd) cache_dtype=int8(scales_at=row) scales=per_token_head",
            "inline scales are laid out for order = nhd or hnd only"},
           // An fp8 cache's piece holds 16 codes: head_dim and (amd_shuffle) block by 16.
           {"head_dim=136 rotary_dim=136 cache=paged(order=amd) cache_dtype=fp8_e4m3",
            "cache = paged(order = amd) splits head_dim = 136 in pieces of x = 16 elements (16 bytes)"},
           {"cache=paged(block=8,order=amd_shuffle) cache_dtype=fp8_e4m3",
            "groups the block of 8 tokens by x = 16 (16 bytes): block must be a multiple of x"},
           {"cache=paged(order=amd) cache_tail=zero", "cache_tail = zero is not available with cache = paged(order = amd)"},
           {"op=mla_rope_append head_dim=192 rotary_dim=64 rotary_offset=128 cache=paged(order=amd_shuffle)",
            "cache = paged(order = amd_shuffle) is not available for op = mla_rope_append yet"},
           // One launch over many layers (issue 22): rope_kv's cache ops only.
           {"op=mla_rope_append head_dim=192 rotary_dim=64 rotary_offset=128 layers=many",
            "key 'layers' has no effect for op = mla_rope_append"},
           {"op=indexer_append layers=many", "key 'layers' has no effect for op = indexer_append"},
           {"op=rope layers=many", "key 'layers' has no effect for op = rope"},
           {"layers=several", "invalid value 'several' for layers; valid values: one, many"},
           {"layers=many qk_norm=rms(eps=1e-6,span=all_heads,sums=read)",
            "layers = many with qk_norm = rms(sums = ...) is not available yet"}})
    expect_error([&] { parse_spec_line(spec); }, ErrorKind::Spec, needle);
  // A wave the target cannot run: found when the target is known, still pointing at the line.
  auto specs = parse_spec_file("w.rg", "kernel k {\n  head_dim = 128\n  wave = 32\n}");
  expect_error([&] { check_target(specs[0], parse_target("gfx90a")); }, ErrorKind::Spec,
               "w.rg:3:10: error: wave = 32 is not supported by target gfx90a (CDNA2); supported: 64", 3, 10);
  expect_error([&] { check_target(parse_spec_line("wave=64"), parse_target("sm_90")); },
               ErrorKind::Spec, "wave = 64 is not supported by target sm_90");
  expect_error([&] { generate(parse_spec_line("wave=32").spec, parse_target("gfx942")); },
               ErrorKind::Spec, "wave = 32 is not supported by target gfx942");
}

TEST_CASE("errors: suggestions by meaning, not only by spelling" * doctest::test_suite("errors")) {
  // A type width is not a typo of another width.
  oneline("dtype=fp8", "invalid value 'fp8' for dtype; valid values: f32, f16, bf16", 7);
  for (const char* wrong : {"dtype=fp8", "dtype=f64", "dtype=int8", "index=i16"}) {
    CAPTURE(wrong);
    try {
      parse_spec_line(wrong);
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find("did you mean") == std::string::npos);
    }
  }
  // Typos still get one.
  oneline("dtype=bf17", "(did you mean 'bf16'?)", 7);
  oneline("style=neoxx", "(did you mean 'neox'?)", 7);
  oneline("style=nexo", "(did you mean 'neox'?)", 7);  // two letters swapped: one edit
  oneline("dtyp=f16", "unknown key 'dtyp'; did you mean 'dtype'?", 1);
}

TEST_CASE("spec: value aliases are input only") {
  CHECK(parse_spec_line("dtype=bfloat16").spec.dtype == DType::BF16);
  CHECK(parse_spec_line("dtype=float16").spec.dtype == DType::F16);
  CHECK(parse_spec_line("dtype=half").spec.dtype == DType::F16);
  CHECK(parse_spec_line("dtype=float32").spec.dtype == DType::F32);
  CHECK(parse_spec_line("style=interleaved").spec.style == Style::Gptj);
  CHECK(parse_spec_line("style=rotate_half").spec.style == Style::Neox);
  // The canonical text, and so the key, is the same as for the canonical names.
  CHECK(parse_spec_line("dtype=half style=interleaved").spec.canonical() ==
        parse_spec_line("dtype=f16 style=gptj").spec.canonical());
  CHECK(parse_spec_line("dtype=half").spec.canonical().find("dtype=f16") != std::string::npos);
  KernelSpec s;
  lower_field("dtype", "bfloat16", s, "<test>");
  CHECK(s.dtype == DType::BF16);
}

TEST_CASE("errors: rotary_offset" * doctest::test_suite("errors")) {
  file("kernel k { head_dim = 128\n rotary_dim = 64\n rotary_offset = 80 }",
       "rotary_offset + rotary_dim = 144 is more than head_dim = 128", 3, 18);
  file("kernel k { head_dim = 128\n rotary_dim = 64\n rotary_offset = 7 }", "rotary_offset = 7 must be even", 3, 18);
  file("kernel k { op = kv_append\n rotary_offset = 8 }", "key 'rotary_offset' has no effect for op = kv_append", 2, 18);
}

TEST_CASE("errors: scaling families, positions and angles" * doctest::test_suite("errors")) {
  oneline("cos_sin=compute(scaling=linear(factor=0))", "factor = 0 is out of range; expected more than 0", 39);
  oneline("cos_sin=compute(scaling=llama3(factor=8,low_freq_factor=4,high_freq_factor=1,"
          "original_max_position_embeddings=8192))",
          "llama3(...): low_freq_factor = 4 is more than high_freq_factor = 1", 9);
  oneline("rotary_dim=8 cos_sin=compute(scaling=longrope(short_factor=[1,1],long_factor=[1,2,3,4],"
          "original_max_position_embeddings=4096,max_position_embeddings=8192))",
          "longrope(...): short_factor has 2 values; expected rotary_dim / 2 = 4", 22);
  oneline("rotary_dim=8 cos_sin=compute(scaling=longrope(short_factor=[1,1,0,1],long_factor=[1,2,3,4],"
          "original_max_position_embeddings=4096,max_position_embeddings=8192))",
          "short_factor[2] = 0 is out of range; expected more than 0 and at most 1e+06", 65);
  oneline("cos_sin=compute(scaling=dynamic(factor=2,original_max_position_embeddings=4096,choose=static))",
          "dynamic(...): choose = static needs max_model_len", 9);
  oneline("cos_sin=compute(scaling=dynamic(factor=2,original_max_position_embeddings=4096,choose=sometimes))",
          "invalid value 'sometimes' for choose; valid values: runtime, static", 0);
  oneline("positions=mrope(sections=[16,24,16])", "mrope(...): sections add up to 56; they must add up to rotary_dim / 2 = 64",
          11);
  oneline("positions=imrope(sections=[24,20])", "sections must be a list of 3 integers", 27);
  oneline("positions=vision(sections=[24,20,20])", "sections must be a list of 2 integers (frequency indices per row, column row)", 27);
  oneline("positions=vision(sections=[32,30])", "vision(...): sections add up to 62; they must add up to rotary_dim / 2 = 64", 11);
  oneline("positions=vision(sections=[32,32]) cos_sin=compute(scaling=linear(factor=2))",
          "positions = vision(...) with cos_sin = compute(scaling = linear)", 0);
  oneline("positions=visoin(sections=[32,32])", "did you mean 'vision'?", 11);
  oneline("angle=exact", "angle = exact needs cos_sin = compute", 7);
  oneline("op=kv_append positions=mrope(sections=[16,24,24])", "key 'positions' has no effect for op = kv_append", 24);
}

TEST_CASE("spec: scales_at, its canonical text and its parse back") {
  // Specs without it keep their text; each placement shows itself and parses back to the same spec.
  CHECK(parse_spec_line("cache_dtype=int8 scales=per_token_head").spec.canonical().find("scales_at") == std::string::npos);
  for (const char* line : {"cache_dtype=nvfp4(scales_at=page)", "cache_dtype=nvfp4(v_scales=swizzled,scales_at=page) cache=paged(order=hnd)",
                           "cache_dtype=mxfp4(scales_at=page)", "cache_dtype=int4(scales_at=row) scales=per_token_head",
                           "cache_dtype=int8(scales_at=page) scales=per_token_head",
                           "cache_dtype=fp8_e4m3(scales_at=row) scales=per_token_head",
                           "cache_dtype=fp8_e4m3(qmax=224,floor=1e-5,scales_at=row) scales=per_token_head",
                           "cache_dtype=int8(scales_at=tensor) scales=per_token_head"}) {
    CAPTURE(line);
    const KernelSpec s = parse_spec_line(line).spec;
    const std::string text = s.canonical();
    CHECK((text.find("scales_at=") != std::string::npos) == (s.codec.scales_at != ScalesAt::Tensor));
    CHECK(parse_spec_line(text).spec.canonical() == text);
    CHECK(parse_spec_line(text).spec.codec.scales_at == s.codec.scales_at);
  }
  CHECK(parse_spec_line("cache_dtype=int4(scales_at=row) scales=per_token_head head_dim=64").spec.codec.scales_at ==
        ScalesAt::Row);
  CHECK(cache_record_bytes(parse_spec_line("cache_dtype=int4(scales_at=row) scales=per_token_head head_dim=64").spec) == 36);
  CHECK(cache_record_bytes(parse_spec_line("cache_dtype=nvfp4(scales_at=page) cache=paged(block=16) kv_heads=2").spec) ==
        16 * 2 * (64 + 8));
  CHECK(cache_record_align(parse_spec_line("cache_dtype=int8(scales_at=row) scales=per_token_head").spec) == 4);
  CHECK(cache_record_align(parse_spec_line("cache_dtype=int8 scales=per_token_head").spec) == 16);
}

TEST_CASE("spec: an fp8 cache's floor without qmax parses back from its canonical text (qmax=auto)") {
  for (const char* line : {"cache_dtype=fp8_e4m3(floor=1e-5) scales=per_token_head",
                           "cache_dtype=fp8_e5m2(qmax=auto,floor=1e-7) scales=per_token_head",
                           "cache_dtype=fp8_e4m3(qmax=300) scales=per_token_head"}) {
    CAPTURE(line);
    const KernelSpec s = parse_spec_line(line).spec;
    const std::string text = s.canonical();
    CHECK(parse_spec_line(text).spec.canonical() == text);
    CHECK(parse_spec_line(text).spec.hash() == s.hash());
  }
  CHECK(parse_spec_line("cache_dtype=fp8_e4m3(qmax=auto) scales=per_token_head").spec.codec.qmax == 0);
}

TEST_CASE("errors: inline cache scales (scales_at)" * doctest::test_suite("errors")) {
  using doctest::Contains;
  CHECK_THROWS_WITH(parse_spec_line("cache_dtype=int8(scales_at=inline) scales=per_token_head"),
                    Contains("invalid value 'inline' for scales_at; valid values: tensor, page, row"));
  CHECK_THROWS_WITH(parse_spec_line("cache_dtype=fp8_e4m3(scales_at=row)"),
                    Contains("cache_dtype = fp8_e4m3(scales_at = row) needs scales = per_token_head"));
  CHECK_THROWS_WITH(parse_spec_line("cache_dtype=nvfp4(scales_at=row)"),
                    Contains("row places one fp32 scale after each (token, head) row"));
  CHECK_THROWS_WITH(parse_spec_line("cache_dtype=mxfp4(scales_at=row)"),
                    Contains("mxfp4's group scales go per page (scales_at = page)"));
  CHECK_THROWS_WITH(parse_spec_line("cache_dtype=nvfp4(scales_at=page) cache=contiguous(order=nhd)"),
                    Contains("cache_dtype = nvfp4(scales_at = page) needs a paged cache"));
  CHECK_THROWS_WITH(parse_spec_line("cache_dtype=int8(scales_at=row) scales=per_token_head cache=paged(order=strided)"),
                    Contains("with cache = paged(order = strided): inline scales are laid out for order = nhd or hnd only"));
  CHECK_THROWS_WITH(parse_spec_line("cache_dtype=nvfp4(scales_at=page) cache=paged(order=amd)"),
                    Contains("with cache = paged(order = amd): inline scales are laid out for order = nhd or hnd only"));
  CHECK_THROWS_WITH(parse_spec_line("cache_dtype=int4(scales_at=row) scales=per_token_head head_dim=68"),
                    Contains("a row's 34 code bytes must be a multiple of 4"));
  CHECK_THROWS_WITH(parse_spec_line("cache_dtype=int8(scales_at=page) scales=per_token_head head_dim=66 rotary_dim=64"),
                    Contains("a row's 66 code bytes must be a multiple of 4"));
  CHECK_THROWS_WITH(parse_spec_line("cache_dtype=bf16(scales_at=row)"), Contains("cache_dtype = bf16 takes no parameters"));
}

TEST_CASE("errors: fp8 caches, qk_norm and MLA" * doctest::test_suite("errors")) {
  oneline("op=rope cache_dtype=fp8_e4m3", "key 'cache_dtype' has no effect for op = rope", 21);
  oneline("cache_dtype=f32", "cache_dtype = f32 with dtype = bf16: a cache that is not fp8 has the activation dtype", 13);
  oneline("scales=per_head", "scales = per_head needs an fp8 cache_dtype", 8);
  oneline("q_dtype=fp8_e4m3", "q_dtype = fp8_e4m3 needs outputs = separate", 9);
  oneline("qk_norm=rms(eps=0)", "eps = 0 is out of range", 17);
  oneline("qk_norm=layer", "invalid value 'layer' for qk_norm; valid values: none, rms(", 9);
  oneline("op=mla_rope_append head_dim=192 rotary_dim=64 rotary_offset=160",
          "rotary_offset + rotary_dim = 224 is more than head_dim = 192", 61);
  oneline("op=mla_rope_append head_dim=192 rotary_dim=64 rotary_offset=128 kv_lora_rank=500",
          "kv_lora_rank = 500 is not a multiple of the vector width (8 bf16 elements = 16 bytes)", 78);
  oneline("op=mla_rope_append kv_heads=1", "key 'kv_heads' has no effect for op = mla_rope_append", 29);
  oneline("op=mla_rope_append qk_norm=rms(eps=1e-6)", "key 'qk_norm' has no effect for op = mla_rope_append", 28);
  // The target decides the fp8 encoding; one without any is named with the targets that have them.
  ParsedSpec f8 = parse_spec_line("cache_dtype=fp8_e4m3");
  expect_error([&] { check_target(f8, parse_target("gfx90a")); }, ErrorKind::Spec,
               "cache_dtype = fp8_e4m3 needs fp8 encodings (OCP or FNUZ), which target gfx90a (CDNA2) does not have; "
               "targets with them: gfx942, gfx950, gfx1200, gfx1201, sm_89");
  ParsedSpec fnuz = parse_spec_line("cache_dtype=fp8_e4m3fnuz");
  expect_error([&] { check_target(fnuz, parse_target("sm_90")); }, ErrorKind::Spec,
               "cache_dtype = fp8_e4m3fnuz needs the FNUZ fp8 encodings, which target sm_90 (Hopper) does not have; "
               "targets with them: gfx942, host");
  CHECK(target_can_run(f8.spec, parse_target("gfx942")));
  CHECK(target_can_run(f8.spec, parse_target("sm_90")));
}
