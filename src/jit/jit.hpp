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
  /// Where the schedule came from: "codegen", "override" (JitOptions::plan / ROPEGEN_PLAN)
  /// or "tuned" (a kernel holding the tuned plans of tuned_record).
  std::string plan_source = "codegen";
  /// A tuned kernel's plans, by bucket: the bucket timed, the most tokens it serves, its
  /// plan and where its code object came from.
  struct TunedPlan {
    long long bucket = 0, max_tokens = 0;
    LaunchPlan plan;
    std::string origin;
  };
  std::vector<TunedPlan> tuned;
  std::string tuned_record;   ///< the tuned-plans file the plans came from
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
  /// The same with this schedule instead of the options' (tuning and tuned plans).
  Build build(const KernelSpec& spec, const Target& target, const CompileOptions& opts, const PlanChoice& plan);
  /// Adds a warning (what take_warnings returns; on stderr with verbose).
  void warn(const std::string& text);
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
