// The library's own reach into the public Context and Kernel: the JIT behind a context and
// the build record a kernel was loaded from. Their types are internal (jit/jit.hpp), so the
// public headers keep them opaque and name only this struct, as a friend.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "jit/jit.hpp"
#include "ropegen/ropegen.hpp"

namespace ropegen {

struct InternalAccess {
  /// The JIT behind a context (tools and tests: compile counts, warnings, generate()).
  static Jit& jit(Context& ctx);
  /// How Context::kernel() built a kernel; null for one loaded directly (Runtime::load).
  static const Build* build(const Kernel& k) { return static_cast<const Build*>(k.build_.get()); }
  /// Records the build a kernel was loaded from (Context does, once, before sharing it).
  static void set_build(Kernel& k, std::shared_ptr<const Build> b) { k.build_ = std::move(b); }
  /// Makes `k` a kernel of several plans: each entry serves launches up to its token count
  /// (increasing; the last LLONG_MAX). Context does, once, before sharing it.
  static void set_plans(Kernel& k, const std::vector<std::pair<long long, std::shared_ptr<const Kernel>>>& plans) {
    k.variants_.clear();
    for (const auto& p : plans) k.variants_.push_back({p.first, p.second});
  }
  /// Forgets the tuned plans a context looked up for `spec` (after Context::tune stored new ones).
  static void forget_tuned(Context& ctx, const KernelSpec& spec);
};

}  // namespace ropegen
