// The JIT: spec + target -> code object, through the in-process map, read-only bundles,
// the user cache directory, and finally a compile.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cache/cache.hpp"
#include "compile/compile.hpp"
#include "ropegen/options.hpp"

namespace ropegen {

/// What a build request produced: everything a report needs, so nobody recomputes it.
struct Build {
  /// The source, plan and alignment that were built (shared: a warm hit copies no text).
  std::shared_ptr<const GeneratedSource> generated;
  std::shared_ptr<const CodeObject> code;
  std::string origin;         ///< "memory", "bundle", "disk" or "compiled"
  std::string path;           ///< entry file on disk, "" when memory-only
  std::string key_hash;
  std::string compiler_note;  ///< backends skipped before the one used, and why
  double ms = 0;              ///< wall time of this request (code->compile_ms: of the compile)
  const LaunchPlan& plan() const { return generated->plan; }
};

/// Thread-safe; one compile per key per process even under concurrent requests, and per
/// machine across processes that share the user cache directory (a per-key lock file).
class Jit {
 public:
  explicit Jit(JitOptions options = JitOptions::from_env());
  ~Jit();
  Jit(const Jit&) = delete;
  Jit& operator=(const Jit&) = delete;

  Build build(const KernelSpec& spec, const Target& target, const CompileOptions& opts = {});
  /// The source build() would compile for a spec (the options' plan override applied).
  GeneratedSource generate(const KernelSpec& spec, const Target& target) const;
  /// Warnings collected so far (corrupt entries rebuilt, disk cache unwritable, ...); clears them.
  std::vector<std::string> take_warnings();
  const JitOptions& options() const;
  /// Compiles this Jit has run (for tests and reports).
  size_t compiles() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ropegen
