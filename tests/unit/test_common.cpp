// src/common: errors (complete when constructed, whose fault, how a diagnostic prints its
// location, the line and a caret, control bytes escaped) and decimal integers in flags and
// ROPEGEN_PLAN.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "codegen/codegen.hpp"
#include "common/env.hpp"
#include "ropegen/error.hpp"
#include "ropegen/spec.hpp"

#include "expect_error.hpp"

using namespace ropegen;
using namespace ropegen::test;

TEST_CASE("errors: diagnostics print file:line:col, the line and a caret" * doctest::test_suite("errors")) {
  try {
    parse_spec_file("model.rg", "kernel k {\n  head_dim = 128\n  dtyp = bf16\n}\n");
    FAIL("no error");
  } catch (const Error& e) {
    std::string keys;
    for (const auto& k : spec_keys()) keys += (keys.empty() ? "" : ", ") + k;
    CHECK(std::string(e.what()) == "model.rg:3:3: error: unknown key 'dtyp'; did you mean 'dtype'? (valid keys: " +
                                       keys + ")\n    dtyp = bf16\n    ^~~~");
  }
}

TEST_CASE("errors: complete when constructed; whose fault" * doctest::test_suite("errors")) {
  const Error e(ErrorKind::Compile, "it broke", {{"target", "gfx1100"}, {"compiler log", "line 1\nline 2\n"}});
  CHECK(std::string(e.what()) == "error: it broke\n  target: gfx1100\n  compiler log:\nline 1\nline 2\n");
  CHECK(e.context("target") == "gfx1100");
  CHECK(e.context("options").empty());
  CHECK(Error(ErrorKind::Spec, "x").fault() == Fault::User);
  CHECK(Error(ErrorKind::Internal, "x").fault() == Fault::Internal);
  CHECK(std::string(Error(ErrorKind::Internal, "x").what()) == "error (internal): x");
  CHECK(Error(ErrorKind::Load, "x").fault() == Fault::Environment);
}

TEST_CASE("errors: control bytes in spec text are escaped, and the excerpt and caret stay" *
          doctest::test_suite("errors")) {
  // Issue 26, item 9: a NUL cut the message short (no excerpt, no caret); ESC and other
  // control bytes reached the terminal raw.
  try {
    parse_spec_file("t.rg", std::string("kernel k {\n  head_dim = 128 ") + '\0' + " q_heads = 4\n}\n");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.loc().line == 2);
    CHECK(e.loc().col == 18);
    CHECK(std::string(e.what()) ==
          "t.rg:2:18: error: expected a key such as 'head_dim', found invalid character '\\x00'\n"
          "    head_dim = 128 \\x00 q_heads = 4\n  " + std::string(17, ' ') + "^~~~");
  }
  try {
    parse_spec_file("t.rg", "kernel k {\n  dtype = bf16\x1b[2J\n}\n");
    FAIL("no error");
  } catch (const Error& e) {
    const std::string w = e.what();
    CHECK(w.find('\x1b') == std::string::npos);
    CHECK(w == "t.rg:2:15: error: expected a key such as 'head_dim', found invalid character '\\x1b'\n"
               "    dtype = bf16\\x1b[2J\n  " + std::string(14, ' ') + "^~~~");
  }
  // A control byte the lexer skips as space (\v) before the error: the caret still lines up.
  try {
    parse_spec_file("t.rg", "kernel k {\n\v head_dim = 12x\n}\n");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "t.rg:2:14: error: '12x' is not a number (numbers are decimal, e.g. 128 or 5e5)\n  \\x0b head_dim = 12x\n  " +
                                       std::string(16, ' ') + "^~~");
  }
  // Messages without a location too; a message's own newlines stay.
  CHECK(std::string(Error(ErrorKind::Io, std::string("file 'a") + '\0' + "b\r' and\nmore").what()) ==
        "error: file 'a\\x00b\\x0d' and\nmore");
}

TEST_CASE("errors: integers in flags and ROPEGEN_PLAN are decimal and in range" * doctest::test_suite("errors")) {
  // Issue 26, item 8: ROPEGEN_PLAN=99999999999x8 wrapped into "plan 1215752191x8".
  uint64_t n = 0;
  CHECK((detail::parse_decimal("0", 5, n) && n == 0));
  CHECK((detail::parse_decimal("010", 16, n) && n == 10));  // decimal, not octal
  CHECK((detail::parse_decimal("18446744073709551615", UINT64_MAX, n) && n == UINT64_MAX));
  for (const char* bad : {"", "-1", "+1", "0x10", " 1", "1 ", "1e3", "18446744073709551616", "17"}) {
    CAPTURE(bad);
    CHECK(!detail::parse_decimal(bad, 16, n));
  }
  CHECK(!detail::parse_decimal("18446744073709551616", UINT64_MAX, n));
  const PlanChoice c = parse_plan_choice("4x8");
  CHECK(c.tokens_per_block == 4);
  CHECK(c.head_groups == 8);
  CHECK(parse_plan_choice("1024x1").tokens_per_block == 1024);
  for (const std::string bad : {"99999999999x8", "4x99999999999", "4294967297x1", "1025x1", "0x8", "4x0", "-1x8",
                                "4x-1", " 4x8", "4x8x", "4x", "x8", "4by8", "0x10x8"}) {
    expect_error([&] { parse_plan_choice(bad); }, ErrorKind::Spec,
                 "bad plan '" + bad + "': expected TOKENSxGROUPS, each 1 to 1024, e.g. 4x8");
  }
}
