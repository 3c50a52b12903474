// Reading ROPEGEN_* environment variables: a value that cannot be used is one warning on
// stderr naming the variable, never an exception or an exit (docs/env.md).
#pragma once

#include <cstdint>
#include <string>

namespace ropegen::detail {

/// A decimal number of at most `max`: digits only (no sign, space, hex or octal prefix);
/// false when the text is anything else or the number is larger.
bool parse_decimal(const std::string& text, uint64_t max, uint64_t& out);

/// "536870912", "64K", "512M", "1G", "1GiB" (binary units: K = 1024); false when the text is
/// not a size or does not fit 64 bits.
bool parse_byte_size(const std::string& text, uint64_t& out);

/// Prints "ropegen: warning: NAME=VALUE: PROBLEM" on stderr, once per variable per process.
void warn_env_once(const char* name, const std::string& value, const std::string& problem);

}  // namespace ropegen::detail
