// Which compiler backends a test may use here: shared by the compile and block suites.
#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include "compile/compile.hpp"

namespace ropegen::test {

inline const Compiler* backend(const std::string& name) {
  for (const Compiler* c : compilers())
    if (c->name() == name) return c;
  return nullptr;
}

/// Whether ROPEGEN_REQUIRE_BACKENDS (CI) names the backend: then a missing one fails.
inline bool required(const std::string& name) {
  const char* r = std::getenv("ROPEGEN_REQUIRE_BACKENDS");
  return r && ("," + std::string(r) + ",").find("," + name + ",") != std::string::npos;
}

/// The backend if it can run here; otherwise prints why and returns null (or fails when
/// the backend is required).
inline const Compiler* usable(const std::string& name) {
  const Compiler* c = backend(name);
  REQUIRE(c != nullptr);
  std::string why;
  if (!c->available(&why)) {
    if (required(name)) FAIL("backend " << name << " is required but not available: " << why);
    MESSAGE("skipping " << name << ": " << why);
    return nullptr;
  }
  return c;
}

}  // namespace ropegen::test
