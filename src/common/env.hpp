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

/// The options of the request a thread is serving (a Jit's cache directory, dump directory
/// and verbosity), for the stages a request reaches through interfaces that take no options:
/// the compilers' probe cache and their failed-compile dumps. A Jit sets them for each
/// build (StageScope); outside a build they are the environment's (ROPEGEN_CACHE_DIR ...,
/// ROPEGEN_DUMP_DIR, ROPEGEN_DISABLE_DISK_CACHE).
struct StageOptions {
  std::string cache_dir;  ///< where probes are remembered; "" : nowhere (probe each time)
  std::string dump_dir;   ///< where failed compiles leave their source; "" : a bounded temp folder
  int verbose = 0;
};
/// This thread's request options, or null outside a StageScope.
const StageOptions* stage_options();
/// Sets this thread's request options for its lifetime (nests: restores the previous).
class StageScope {
 public:
  explicit StageScope(const StageOptions& options);
  ~StageScope();
  StageScope(const StageScope&) = delete;
  StageScope& operator=(const StageScope&) = delete;

 private:
  const StageOptions* previous_;
};

}  // namespace ropegen::detail
