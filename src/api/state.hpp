// The state behind a Context (its JIT, the kernels it loaded and returned, with their tuned plans),
// shared by the files of src/api/ that implement Context.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cache/tuned.hpp"
#include "jit/jit.hpp"
#include "ropegen/ropegen.hpp"

namespace ropegen {

/// What a context was asked for: a spec and compile options. `KernelKey` owns them (the
/// map's keys); `KernelKeyView` refers to a request's, so a warm lookup copies nothing.
struct KernelKey {
  KernelSpec spec;
  std::vector<std::string> options;
};
struct KernelKeyView {
  const KernelSpec& spec;
  const std::vector<std::string>& options;
};
struct KernelKeyLess {
  using is_transparent = void;
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    if (int c = compare_specs(a.spec, b.spec)) return c < 0;
    return a.options < b.options;
  }
};

struct Context::State {
  explicit State(const JitOptions& options) : jit(options) {}
  Jit jit;
  std::mutex mu;
  std::map<const void*, std::shared_ptr<Kernel>> loaded;  // by code object
  // The kernel returned for each spec and options: a warm kernel() is this one lookup. Its
  // tuned plans, if any, were looked up when it was first asked for (forget() drops a spec).
  std::map<KernelKey, std::shared_ptr<Kernel>, KernelKeyLess> kernels;

  /// The kernel of a build: loaded once per code object.
  std::shared_ptr<Kernel> load(Runtime& rt, Build b);
  /// The tuned-plans record for a spec on this device: the read-only bundles first, then the
  /// user cache directory; a refused record is warned about and skipped.
  std::optional<TunedRecord> find_record(const std::string& key_text, std::string* path);
  /// A kernel holding the tuned plans of `spec`, or null when there are none (or they cannot
  /// be built: warned, codegen's plan serves). Not memoized here: kernels is.
  std::shared_ptr<Kernel> tuned_kernel(Runtime& rt, const Target& target, const KernelSpec& spec,
                                       const CompileOptions& opts);
  std::shared_ptr<Kernel> build_tuned(Runtime& rt, const Target& target, const KernelSpec& spec,
                                      const CompileOptions& opts, const TunedRecord& rec, const std::string& path);
};

}  // namespace ropegen
