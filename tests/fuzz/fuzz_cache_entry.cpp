// libFuzzer target: cache entries. Input starting with 'H' is a header (JSON) wrapped into an
// entry with valid lengths and checksum, so the fuzzer reaches the header checks; any
// other input is taken as a whole entry file. Either is accepted or rejected with
// ropegen::Error, and an accepted entry matches the request recomputed from it.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cache/cache.hpp"
#include "ropegen/error.hpp"

namespace {

void put_u64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  if (!bytes.empty() && bytes[0] == 'H') {
    const std::string header = bytes.substr(1);
    std::string entry("RGCODE0\n", 8);
    put_u64(entry, ropegen::kCacheFormatVersion);
    put_u64(entry, header.size());
    entry += header;
    put_u64(entry, 4);
    entry += "code";
    put_u64(entry, ropegen::fnv1a64(entry));
    bytes = entry;
  }
  try {
    std::string key_text;
    ropegen::CodeObject co = ropegen::parse_entry(bytes, &key_text);
    ropegen::check_entry(co, key_text);
  } catch (const ropegen::Error&) {
  }
  return 0;
}
