// ropegen's embedded C++ API: one include for engines.
//
//   auto ctx = ropegen::Context::open();                 // the GPU this process sees, else host
//   auto k = ctx->kernel("head_dim=128 q_heads=32 kv_heads=8 dtype=bf16");
//   ropegen_kernel_args a{};  ... fill pointers, strides, num_tokens ...
//   k->launch(a, stream);                                // checks arguments, then launches
#pragma once

#include <memory>
#include <string>

#include "ropegen/error.hpp"
#include "ropegen/kernel_args.h"
#include "ropegen/options.hpp"
#include "ropegen/plan.hpp"
#include "ropegen/runtime.hpp"
#include "ropegen/spec.hpp"
#include "ropegen/target.hpp"

namespace ropegen {

/// A small builder for specs in code; build() validates like the DSL does, with the same
/// messages. set(key, value) takes any field of the schema in DSL syntax; the typed setters
/// are shorthands for the common ones.
class SpecBuilder {
 public:
  /// Any spec field by its DSL key and value text ("cache", "paged(block = 32)").
  SpecBuilder& set(const std::string& key, const std::string& value);
  SpecBuilder& op(Op v) { s_.op = v; return mark("op"); }
  SpecBuilder& head_dim(int v) { s_.head_dim = v; if (!rot_set_) s_.rotary_dim = v; return mark("head_dim"); }
  SpecBuilder& rotary_dim(int v) { s_.rotary_dim = v; rot_set_ = true; return mark("rotary_dim"); }
  SpecBuilder& style(Style v) { s_.style = v; return mark("style"); }
  SpecBuilder& heads(int q, int kv) { s_.q_heads = q; s_.kv_heads = kv; mark("q_heads"); return mark("kv_heads"); }
  SpecBuilder& dtype(DType v) { s_.dtype = v; return mark("dtype"); }
  SpecBuilder& index(IndexType v) { s_.index = v; return mark("index"); }
  SpecBuilder& cos_sin_table() { s_.cos_sin = CosSin{}; return mark("cos_sin"); }
  SpecBuilder& cos_sin_compute(double theta, double linear_factor = 1.0) {
    s_.cos_sin.source = CosSinSource::Compute;
    s_.cos_sin.theta = theta;
    s_.cos_sin.scaling = linear_factor == 1.0 ? Scaling::None : Scaling::Linear;
    s_.cos_sin.params = ScalingParams{};
    if (linear_factor != 1.0) s_.cos_sin.params.factor = linear_factor;
    return mark("cos_sin");
  }
  SpecBuilder& paged(int block, CacheOrder order = CacheOrder::Nhd) { s_.cache = {CacheKind::Paged, block, order}; return mark("cache"); }
  SpecBuilder& contiguous(CacheOrder order = CacheOrder::Hnd) { s_.cache = {CacheKind::Contiguous, 16, order}; return mark("cache"); }
  SpecBuilder& wave(int v) { s_.wave = v; return mark("wave"); }
  /// Validates (throws Error(Spec)) and returns the spec.
  KernelSpec build() const;

 private:
  SpecBuilder& mark(const char* key);
  KernelSpec s_;
  bool rot_set_ = false;
  std::vector<std::string> set_;
};

struct InternalAccess;  // the library's own reach into Context and Kernel (src/api/access.hpp)

/// One device (or the host) plus its JIT: asks for kernels by spec, compiles or loads them
/// from the cache, and keeps them loaded. Thread-safe; a warm kernel() is a map lookup.
class Context {
 public:
  /// JIT options from the environment (docs/env.md).
  explicit Context(std::unique_ptr<Runtime> runtime);
  Context(std::unique_ptr<Runtime> runtime, const JitOptions& options);
  ~Context();
  /// runtime: "auto" (a GPU if any, else host; runtime().selection() says which and why),
  /// "gpu" (a GPU or an error), "cuda", "hip", "host".
  static std::unique_ptr<Context> open(const std::string& runtime = "auto", int device = -1);
  static std::unique_ptr<Context> open(const std::string& runtime, int device, const JitOptions& options);

  Runtime& runtime() { return *runtime_; }
  const Target& target() const { return target_; }
  /// The kernel for a spec on this context's device.
  std::shared_ptr<Kernel> kernel(const KernelSpec& spec);
  std::shared_ptr<Kernel> kernel(const KernelSpec& spec, const CompileOptions& opts);
  /// The kernel for a one-line spec ("head_dim=128 dtype=bf16").
  std::shared_ptr<Kernel> kernel(const std::string& spec_text);
  /// Runs a kernel of this context on random inputs against the independent reference
  /// (what `ropegen --verify` does); true when every output is within its bound.
  bool verify(const Kernel& kernel, long long tokens = 37, unsigned long long seed = 1);
  /// Times the candidate schedules of a spec on this device per token bucket (random valid
  /// inputs, the median of several launches) and, with options.store, keeps each bucket's
  /// winner in the user cache directory for (spec, target, device): later kernel() calls
  /// for the spec, in any process, return a kernel holding those plans and pick one per
  /// launch by num_tokens (docs/cache.md, Tuned plans). Error(Launch) when options.stream is
  /// capturing a graph: tuning never runs inside a capture.
  TuneReport tune(const KernelSpec& spec, const TuneOptions& options = {});

 private:
  friend struct InternalAccess;
  struct State;  // the JIT and the kernels loaded from its code objects (src/api/context.cpp)
  std::unique_ptr<Runtime> runtime_;
  Target target_;
  std::unique_ptr<State> state_;
};

/// The token buckets Context::tune times when none are given: 1, 32, 256, 2048, 8192 on a
/// GPU; 1, 32, 256 on the host (which runs blocks one after another).
std::vector<long long> default_tune_buckets(const Target& target);

}  // namespace ropegen
