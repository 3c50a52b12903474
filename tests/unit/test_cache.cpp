// src/cache: the version string is one definition, CMake's project VERSION, and it is in the
// cache key. The cache itself (entries, directories, processes) is tested in tests/compile/.
#include <doctest/doctest.h>

#include <string>

#include "cache/cache.hpp"
#include "codegen/codegen.hpp"
#include "ropegen/spec.hpp"

using namespace ropegen;

TEST_CASE("version: one definition, CMake's project VERSION, in the cache key") {
  CHECK(std::string(ropegen_version()) == ROPEGEN_PROJECT_VERSION);
  const GeneratedSource g = generate(parse_spec_line("").spec, parse_target("host"));
  CHECK(make_cache_key(g, {}).text.find("\nropegen=" ROPEGEN_PROJECT_VERSION "\n") != std::string::npos);
}
