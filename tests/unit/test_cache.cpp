// src/cache: the version string is one definition, CMake's project VERSION, and it is in the
// cache key. The cache itself (entries, directories, processes) is tested in tests/compile/.
#include <doctest/doctest.h>

#include <string>

#include "cache/cache.hpp"
#include "cache/tuned.hpp"
#include "codegen/codegen.hpp"
#include "ropegen/spec.hpp"

using namespace ropegen;

TEST_CASE("version: one definition, CMake's project VERSION, in the cache key") {
  CHECK(std::string(ropegen_version()) == ROPEGEN_PROJECT_VERSION);
  const GeneratedSource g = generate(parse_spec_line("").spec, parse_target("host"));
  CHECK(make_cache_key(g, {}).text.find("\nropegen=" ROPEGEN_PROJECT_VERSION "\n") != std::string::npos);
}

TEST_CASE("tuned plans: the record round-trips, and its key names spec, target, device, version") {
  const KernelSpec spec = parse_spec_line("head_dim=64").spec;
  TunedRecord r;
  r.key_text = tuned_key_text(spec, parse_target("sm_90"), "NVIDIA H100 80GB HBM3");
  CHECK(r.key_text.find("\nspec=" + spec.canonical() + "\n") != std::string::npos);
  CHECK(r.key_text.find("\ntarget=sm_90\n") != std::string::npos);
  CHECK(r.key_text.find("\ndevice=NVIDIA H100 80GB HBM3\n") != std::string::npos);
  CHECK(r.key_text.find("\nropegen=" ROPEGEN_PROJECT_VERSION "\n") != std::string::npos);
  CHECK(r.key_text != tuned_key_text(spec, parse_target("sm_90"), "NVIDIA H200"));
  CHECK(r.key_text != tuned_key_text(parse_spec_line("head_dim=128").spec, parse_target("sm_90"), "NVIDIA H100 80GB HBM3"));
  r.buckets = {{1, {1, 8}, 2.5, 3.0}, {2048, {16, 2}, 40, 41}};
  const TunedRecord back = parse_tuned(serialize_tuned(r));
  CHECK(back.key_text == r.key_text);
  REQUIRE(back.buckets.size() == 2);
  CHECK(back.buckets[1].tokens == 2048);
  CHECK(back.buckets[1].choice.tokens_per_block == 16);
  CHECK(back.buckets[1].choice.head_groups == 2);
  CHECK(back.buckets[0].us == 2.5);
  CHECK(tuned_path("/d", r.key_text) == "/d/" + hex64(fnv1a64(r.key_text)) + ".rgtune");
}

TEST_CASE("tuned plans: a damaged record says what is wrong") {
  auto with = [](const std::string& buckets) {
    return std::string("{\"format\": \"ropegen-tuned-plans\", \"version\": 1, \"key\": \"k\", \"buckets\": ") +
           buckets + "}";
  };
  const std::pair<std::string, const char*> cases[] = {
      {"", "not JSON"},
      {"[1, 2", "not JSON"},
      {"{\"format\": \"ropegen-tuned-plans\", \"version\": 2, \"key\": \"k\", \"buckets\": []}", "format version 2"},
      {with("[]"), "0 buckets"},
      {with("[{\"tokens\": 1, \"tokens_per_block\": 1}]"), "no \"head_groups\""},
      {with("[{\"tokens\": 1.5, \"tokens_per_block\": 1, \"head_groups\": 1}]"), "not an integer"},
      {with("[{\"tokens\": -1, \"tokens_per_block\": 1, \"head_groups\": 1}]"), "outside 1.."},
      {with("[{\"tokens\": 1, \"tokens_per_block\": 4096, \"head_groups\": 1}]"), "\"tokens_per_block\" = 4096 is outside 1..1024"},
      {with("[{\"tokens\": 1, \"tokens_per_block\": 1, \"head_groups\": 1, \"us\": \"fast\"}]"), "not a non-negative number"},
      {with("[{\"tokens\": 8, \"tokens_per_block\": 1, \"head_groups\": 1}, "
            "{\"tokens\": 8, \"tokens_per_block\": 1, \"head_groups\": 1}]"), "not strictly increasing"},
      {with("[7]"), "not an object"},
  };
  for (const auto& [text, needle] : cases) {
    CAPTURE(text);
    CHECK_THROWS_WITH_AS(parse_tuned(text), doctest::Contains(needle), Error);
  }
}
