// Small contracts: one version string; what ErrorKind::Codegen means.
#include <doctest/doctest.h>

#include <string>

#include "cache/cache.hpp"
#include "codegen/codegen.hpp"
#include "ropegen/error.hpp"
#include "ropegen/spec.hpp"

using namespace ropegen;

TEST_CASE("version: one definition, CMake's project VERSION, in the cache key") {
  CHECK(std::string(ropegen_version()) == ROPEGEN_PROJECT_VERSION);
  const GeneratedSource g = generate(parse_spec_line("").spec, parse_target("host"));
  CHECK(make_cache_key(g, {}).text.find("\nropegen=" ROPEGEN_PROJECT_VERSION "\n") != std::string::npos);
}

TEST_CASE("errors: codegen's own failures are ErrorKind::Codegen, ropegen's fault") {
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
