// Bad input never crashes: random and mutated DSL text, and damaged code objects, give
// ropegen::Error or a result, nothing else.
#include <doctest/doctest.h>

#include <random>
#include <string>

#include "codegen/codegen.hpp"
#include "compile/compile.hpp"
#include "ropegen/error.hpp"
#include "compile/inspect.hpp"
#include "ropegen/spec.hpp"

using namespace ropegen;

TEST_CASE("robustness: mutated and random spec text is parsed or rejected with ropegen::Error") {
  const std::string seed =
      "kernel k {\n  op = rope_kv_append\n  head_dim = 128 # c\n  cos_sin = compute(theta = 5e5, scaling = "
      "linear(factor = 2))\n  cache = paged(block = 16, order = nhd)\n}\n";
  const std::string alphabet = "kernel{}()=,;#\n \t_azAZ09.-+e\xff\x80";
  std::mt19937 rng(42);
  int parsed = 0, rejected = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text = seed;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      size_t at = rng() % (text.size() + 1);
      switch (rng() % 3) {
        case 0: text.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
        case 1: if (at < text.size()) text.erase(at, 1); break;
        default: if (at < text.size()) text[at] = alphabet[rng() % alphabet.size()]; break;
      }
    }
    if (i % 10 == 0) {  // pure noise too
      text.clear();
      for (int c = 0, n = static_cast<int>(rng() % 64); c < n; ++c) text += static_cast<char>(rng() % 256);
    }
    try {
      auto specs = parse_spec_file("fuzz.rg", text);
      for (const auto& s : specs) CHECK(!s.spec.canonical().empty());
      ++parsed;
    } catch (const Error& e) {
      CHECK(std::string(e.what()).size() > 0);
      ++rejected;
    }
    try {
      parse_spec_line(text.substr(0, text.size() / 2));
    } catch (const Error&) {
    }
  }
  MESSAGE(parsed << " parsed, " << rejected << " rejected");
  CHECK(parsed > 0);
  CHECK(rejected > 0);
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
