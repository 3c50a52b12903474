#include "ropegen/ropegen.hpp"

namespace ropegen {

KernelSpec SpecBuilder::build() const {
  ParsedSpec p;
  p.spec = s_;
  p.origin.kernel.file = "<SpecBuilder>";
  validate(p);
  return s_;
}

Context::Context(std::unique_ptr<Runtime> runtime, JitOptions options)
    : runtime_(std::move(runtime)), target_(runtime_->target()), jit_(std::move(options)) {}

std::unique_ptr<Context> Context::open(const std::string& runtime, int device, JitOptions options) {
  return std::make_unique<Context>(open_runtime(runtime, device), std::move(options));
}

std::shared_ptr<Kernel> Context::kernel(const KernelSpec& spec, const CompileOptions& opts) {
  ParsedSpec p;
  p.spec = spec;
  check_target(p, target_);
  BuildInfo b = jit_.build(spec, target_, opts);
  std::lock_guard<std::mutex> lock(mu_);
  last_ = b;
  auto it = loaded_.find(b.code.get());
  if (it != loaded_.end()) return it->second;
  // The map holds the code object alive through BuildInfo's shared_ptr in the Jit.
  std::shared_ptr<Kernel> k = runtime_->load(*b.code);
  loaded_.emplace(b.code.get(), k);
  return k;
}

std::shared_ptr<Kernel> Context::kernel(const std::string& spec_text) {
  return kernel(parse_spec_line(spec_text, "<spec>").spec);
}

BuildInfo Context::last_build() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_;
}

}  // namespace ropegen
