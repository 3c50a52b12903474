// KernelSpec: defaults, canonical form and a hash that never changes.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "ropegen/error.hpp"
#include "dsl/dsl.hpp"
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

TEST_CASE("dsl: lists parse with locations; a malformed list names what was wrong") {
  dsl::Source src("<t>", "f = [1.0, 1.02, 3]");
  dsl::KernelDecl d = dsl::parse_entries(src);
  REQUIRE(d.entries.size() == 1);
  const dsl::Value& v = d.entries[0].value;
  CHECK(v.kind == dsl::Value::Kind::List);
  REQUIRE(v.items.size() == 3);
  CHECK(v.items[1].number == doctest::Approx(1.02));
  CHECK(v.items[2].loc.col == 17);
  CHECK(dsl::parse_entries(dsl::Source("<t>", "f = []")).entries[0].value.items.empty());
  CHECK_THROWS_WITH(dsl::parse_entries(dsl::Source("<t>", "f = [1, 2")),
                    doctest::Contains("missing ']' to close the list"));
  CHECK_THROWS_WITH(dsl::parse_entries(dsl::Source("<t>", "f = [1 2]")),
                    doctest::Contains("expected ',' or ']' in a list"));
  // No field takes a list yet: the value is rejected with the field's own message.
  CHECK_THROWS_WITH(parse_spec_line("head_dim=[1,2]"), doctest::Contains("expected an integer for head_dim, found a list"));
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
                                     "does not have; targets with it: sm_90, sm_90a, sm_100, sm_120, host") != std::string::npos);
    CHECK(e.loc().col == 17);  // at the value, like the other checks
  }
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
  CHECK_THROWS_WITH(parse_spec_line("q_temperature=logn(base=1)"), Contains("base = 1 is out of range"));
  CHECK_THROWS_WITH(parse_spec_line("q_temperature=yarn"), Contains("valid values: none, llama4("));
  CHECK_THROWS_WITH(parse_spec_line("v_norm=rms(eps=1e-6) cache_dtype=nvfp4(v_scales=swizzled) cache=paged(order=hnd)"),
                    Contains("v_norm with cache_dtype = nvfp4(v_scales = swizzled) is not supported"));
  CHECK_THROWS_WITH(parse_spec_line("head_dim=64 rotary_dim=64 cos_sin=compute(scaling=proportional(factor=2))"),
                    Contains("partial_rotary_factor"));
  CHECK_THROWS_WITH(parse_spec_line("cos_sin=compute(scaling=proportional(partial_rotary_factor=1.5))"),
                    Contains("partial_rotary_factor = 1.5 is out of range"));
}
