// src/compile: how a compile fails (the compiler's log, options and the dumped source, and
// nothing else left behind), compiler selection, and damaged code objects refused by inspect.
// The compiler backends themselves are tested in tests/compile/ (ropegen_compile_tests).
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "codegen/codegen.hpp"
#include "common/env.hpp"
#include "common/process.hpp"
#include "compile/compile.hpp"
#include "compile/inspect.hpp"
#include "ropegen/error.hpp"
#include "ropegen/spec.hpp"

#include "expect_error.hpp"

using namespace ropegen;
using namespace ropegen::test;

TEST_CASE("errors: compiler selection and compile failures" * doctest::test_suite("errors")) {
  expect_error([] { select_compiler(parse_target("host"), "nvcc"); }, ErrorKind::Compile,
               "unknown compiler 'nvcc'; known: nvrtc, hiprtc, clang-amdgpu, host-cxx");
  expect_error([] { select_compiler(parse_target("sm_90"), "host-cxx"); }, ErrorKind::Compile,
               "host-cxx: builds only for target host, not sm_90");
  // A broken template (test hook) surfaces the compiler's log, options and source path.
  override_template_for_testing("rope_common.h", "this is not C++;\n");
  try {
    GeneratedSource g = generate(parse_spec_line("op=rope").spec, parse_target("host"));
    select_compiler(g.target).compile(g, {});
    FAIL("no error");
  } catch (const Error& e) {
    const std::string w = e.what();
    CAPTURE(w);
    CHECK(e.kind() == ErrorKind::Compile);
    CHECK(w.find("host-cxx failed to compile ropegen_rope_") != std::string::npos);
    CHECK(w.find("compiler log:") != std::string::npos);
    // The log names the bad line by its template (#line): the compiler quotes it from the
    // overridden text, or from the template file when one is at that path from its cwd.
    CHECK((w.find("this is not C++") != std::string::npos || w.find("templates/rope_common.h:1:") != std::string::npos));
    CHECK(w.find("options: c++") != std::string::npos);
    CHECK(!e.context("source").empty());
    CHECK(e.context("target") == "host");
    CHECK(e.fault() == Fault::Environment);
  }
  override_template_for_testing("rope_common.h", "");
}

TEST_CASE("errors: a failed compile leaves only the dumped source behind" * doctest::test_suite("errors")) {
  const std::string tmp = detail::make_temp_dir("ropegen-errors-test");
  const char* old = std::getenv("TMPDIR");
  const std::string saved = old ? old : "";
  setenv("TMPDIR", tmp.c_str(), 1);
  override_template_for_testing("rope_common.h", "this is not C++;\n");
  std::string source;
  try {
    GeneratedSource g = generate(parse_spec_line("op=rope head_dim=8 q_heads=1 kv_heads=1").spec, parse_target("host"));
    select_compiler(g.target).compile(g, {});
    FAIL("no error");
  } catch (const Error& e) {
    source = e.context("source");
  }
  override_template_for_testing("rope_common.h", "");
  if (old)
    setenv("TMPDIR", saved.c_str(), 1);
  else
    unsetenv("TMPDIR");
  // The compiler's scratch directory is gone; the source the error names is kept.
  std::vector<std::string> left;
  for (const auto& e : std::filesystem::directory_iterator(tmp)) left.push_back(e.path().filename().string());
  REQUIRE(left.size() == 1);
  CHECK(left[0].rfind("ropegen-failed-", 0) == 0);
  CHECK(source.rfind(tmp + "/ropegen-failed-", 0) == 0);
  CHECK(detail::read_file(source).find("this is not C++") != std::string::npos);
  detail::remove_tree(tmp);
}

TEST_CASE("robustness: damaged code objects are rejected by inspect with Error(Load)") {
  GeneratedSource g = generate(parse_spec_line("").spec, parse_target("gfx1100"));
  CodeObject co;
  co.format = "hsaco";
  co.entry = g.entry;
  co.target_id = "gfx1100";
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    co.bytes.resize(rng() % 512);
    for (auto& b : co.bytes) b = static_cast<unsigned char>(rng());
    if (co.bytes.size() >= 64 && i % 2) {  // a plausible ELF header with random tables
      const unsigned char hdr[] = {0x7f, 'E', 'L', 'F', 2, 1};
      std::copy(std::begin(hdr), std::end(hdr), co.bytes.begin());
    }
    for (const char* fmt : {"hsaco", "cubin"}) {
      co.format = fmt;
      try {
        inspect(co);
      } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::Load);
      }
    }
  }
}
