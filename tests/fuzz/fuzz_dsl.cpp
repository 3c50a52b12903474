// libFuzzer target: any text as a spec file and as a one-line spec is parsed or rejected
// with ropegen::Error; a spec that parses round-trips through its canonical text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "ropegen/error.hpp"
#include "ropegen/spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto round_trip = [](const ropegen::KernelSpec& spec) {
    const std::string canonical = spec.canonical();
    if (ropegen::parse_spec_line(canonical).spec.canonical() != canonical) std::abort();
  };
  try {
    for (const auto& s : ropegen::parse_spec_file("fuzz.rg", text)) round_trip(s.spec);
  } catch (const ropegen::Error&) {
  }
  try {
    round_trip(ropegen::parse_spec_line(text).spec);
  } catch (const ropegen::Error&) {
  }
  return 0;
}
