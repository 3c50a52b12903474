// The unit tests' error checks: expect_error() runs code that must throw ropegen::Error of
// one kind whose message holds a needle (at a location, when given); file() and oneline()
// do that for spec text. The error cases of every stage use them (doctest test suite
// "errors": ropegen_tests -ts=errors).
#pragma once

#include <doctest/doctest.h>

#include <functional>
#include <string>

#include "ropegen/error.hpp"
#include "ropegen/spec.hpp"

namespace ropegen::test {

/// Runs fn, which must throw ropegen::Error of `kind` whose message holds `needle`;
/// line/col, when given, must match the reported location.
inline void expect_error(const std::function<void()>& fn, ErrorKind kind, const std::string& needle,
                         int line = 0, int col = 0) {
  CAPTURE(needle);
  try {
    fn();
    FAIL("no error thrown");
  } catch (const Error& e) {
    CAPTURE(e.what());
    CHECK(e.kind() == kind);
    CHECK(std::string(e.what()).find(needle) != std::string::npos);
    if (line) CHECK(e.loc().line == line);
    if (col) CHECK(e.loc().col == col);
  }
}

inline void file(const std::string& text, const std::string& needle, int line, int col,
                 ErrorKind kind = ErrorKind::Spec) {
  expect_error([&] { parse_spec_file("t.rg", text); }, kind, needle, line, col);
}

inline void oneline(const std::string& text, const std::string& needle, int col,
                    ErrorKind kind = ErrorKind::Spec) {
  expect_error([&] { parse_spec_line(text); }, kind, needle, 1, col);
}

}  // namespace ropegen::test
