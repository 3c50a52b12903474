#include "ropegen/ropegen.hpp"

#include "access.hpp"
#include "jit/jit.hpp"
#include "verify/verify.hpp"
#include "schema/fields.hpp"

#include <algorithm>
#include <map>
#include <mutex>

namespace ropegen {

SpecBuilder& SpecBuilder::mark(const char* key) {
  if (std::find(set_.begin(), set_.end(), key) == set_.end()) set_.push_back(key);
  return *this;
}

SpecBuilder& SpecBuilder::set(const std::string& key, const std::string& value) {
  // Only this field: cross-field rules wait for build().
  const SpecField& f = lower_field(key, value, s_, "<SpecBuilder>");
  if (key == "rotary_dim") rot_set_ = true;
  if (key == "head_dim" && !rot_set_) s_.rotary_dim = s_.head_dim;
  return mark(f.key);
}

KernelSpec SpecBuilder::build() const {
  validate(s_, "<SpecBuilder>", set_);
  return s_;
}

Context::Context(std::unique_ptr<Runtime> runtime) : Context(std::move(runtime), JitOptions::from_env()) {}

struct Context::State {
  explicit State(const JitOptions& options) : jit(options) {}
  Jit jit;
  std::mutex mu;
  std::map<const void*, std::shared_ptr<Kernel>> loaded;  // by code object
};

Jit& InternalAccess::jit(Context& ctx) { return ctx.state_->jit; }

Context::Context(std::unique_ptr<Runtime> runtime, const JitOptions& options)
    : runtime_(std::move(runtime)), target_(runtime_->target()), state_(std::make_unique<State>(options)) {}

Context::~Context() = default;

std::unique_ptr<Context> Context::open(const std::string& runtime, int device) {
  return open(runtime, device, JitOptions::from_env());
}

std::unique_ptr<Context> Context::open(const std::string& runtime, int device, const JitOptions& options) {
  return std::make_unique<Context>(open_runtime(runtime, device), options);
}

std::shared_ptr<Kernel> Context::kernel(const KernelSpec& spec) { return kernel(spec, CompileOptions{}); }

bool Context::verify(const Kernel& kernel, long long tokens, unsigned long long seed) {
  VerifyCase vc;
  vc.tokens = tokens;
  vc.seed = seed;
  return ropegen::verify(*runtime_, kernel, vc).passed;
}

std::shared_ptr<Kernel> Context::kernel(const KernelSpec& spec, const CompileOptions& opts) {
  ParsedSpec p;
  p.spec = spec;
  p.origin.kernel.file = "<KernelSpec>";
  check_target(p, target_);  // the spec itself is validated by the Jit on a miss
  Build b = state_->jit.build(spec, target_, opts);
  std::lock_guard<std::mutex> lock(state_->mu);
  auto it = state_->loaded.find(b.code.get());
  if (it != state_->loaded.end()) return it->second;
  // The kernel keeps its Build (and so its code object) alive.
  std::shared_ptr<Kernel> k = runtime_->load(*b.code);
  const void* code = b.code.get();
  InternalAccess::set_build(*k, std::make_shared<const Build>(std::move(b)));
  state_->loaded.emplace(code, k);
  return k;
}

std::shared_ptr<Kernel> Context::kernel(const std::string& spec_text) {
  return kernel(parse_spec_line(spec_text, "<spec>").spec);
}



}  // namespace ropegen
