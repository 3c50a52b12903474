// The state behind a Context (its JIT, the kernels it loaded, the tuned plans it looked up),
// shared by the files of src/api/ that implement Context.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "cache/tuned.hpp"
#include "jit/jit.hpp"
#include "ropegen/ropegen.hpp"

namespace ropegen {

/// A spec and compile options: what a kernel with tuned plans was looked up for.
struct TunedKey {
  KernelSpec spec;
  std::string options;
  bool operator<(const TunedKey& o) const {
    if (int c = compare_specs(spec, o.spec)) return c < 0;
    return options < o.options;
  }
};

struct Context::State {
  explicit State(const JitOptions& options) : jit(options) {}
  Jit jit;
  std::mutex mu;
  std::map<const void*, std::shared_ptr<Kernel>> loaded;  // by code object
  // Kernels of tuned plans by spec, looked up once per spec and options (null: no usable
  // record, so codegen's plan serves it).
  std::map<TunedKey, std::shared_ptr<Kernel>> tuned;

  /// The kernel of a build: loaded once per code object.
  std::shared_ptr<Kernel> load(Runtime& rt, Build b);
  /// The tuned-plans record for a spec on this device: the read-only bundles first, then the
  /// user cache directory; a refused record is warned about and skipped.
  std::optional<TunedRecord> find_record(const std::string& key_text, std::string* path);
  /// A kernel holding the tuned plans of `spec`, or null when there are none (or they cannot
  /// be built: warned, codegen's plan serves).
  std::shared_ptr<Kernel> tuned_kernel(Runtime& rt, const Target& target, const KernelSpec& spec,
                                       const CompileOptions& opts);
  std::shared_ptr<Kernel> build_tuned(Runtime& rt, const Target& target, const KernelSpec& spec,
                                      const CompileOptions& opts, const TunedRecord& rec, const std::string& path);
};

}  // namespace ropegen
