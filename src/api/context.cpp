#include "ropegen/ropegen.hpp"

#include "access.hpp"
#include "state.hpp"
#include "verify/verify.hpp"
#include "schema/fields.hpp"

#include <unistd.h>

#include <algorithm>
#include <climits>
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

namespace {

/// A kernel holding tuned plans: every launch goes to the plan of its token count
/// (Kernel::launch picks among them), never through this object's own launch.
class TunedKernel final : public Kernel {
 public:
  explicit TunedKernel(const CodeObject& co) : Kernel(co) {}

 protected:
  void launch_checked(const ropegen_kernel_args&, unsigned, unsigned, unsigned, void*) const override {
    throw Error(ErrorKind::Internal, "a kernel of tuned plans launches through one of its plans");
  }
  int default_parallelism() const override { return 1; }
};

}  // namespace

std::shared_ptr<Kernel> Context::State::load(Runtime& rt, Build b) {
  std::lock_guard<std::mutex> lock(mu);
  auto it = loaded.find(b.code.get());
  if (it != loaded.end()) return it->second;
  // The kernel keeps its Build (and so its code object) alive.
  std::shared_ptr<Kernel> k = rt.load(*b.code);
  const void* code = b.code.get();
  InternalAccess::set_build(*k, std::make_shared<const Build>(std::move(b)));
  loaded.emplace(code, k);
  return k;
}

std::optional<TunedRecord> Context::State::find_record(const std::string& key_text, std::string* path) {
  const JitOptions& o = jit.options();
  auto try_dir = [&](const std::string& dir, bool bundle) -> std::optional<TunedRecord> {
    if (dir.empty() || access(dir.c_str(), F_OK) != 0) return std::nullopt;
    if (!untrusted_dir_reason(dir).empty()) return std::nullopt;  // the Jit warns about the directory
    std::string problem;
    auto r = load_tuned(dir, bundle, key_text, &problem);
    if (!problem.empty()) jit.warn(problem + "; using codegen's plan");
    if (r) *path = tuned_path(dir, key_text);
    return r;
  };
  for (const auto& dir : o.bundle_dirs)
    if (auto r = try_dir(dir, true)) return r;
  return try_dir(o.cache_dir, false);
}

std::shared_ptr<Kernel> Context::State::tuned_kernel(Runtime& rt, const Target& target, const KernelSpec& spec,
                                                   const CompileOptions& opts) {
  std::string path;
  auto rec = find_record(tuned_key_text(spec, target, rt.device_name()), &path);
  if (!rec) return nullptr;
  try {
    return build_tuned(rt, target, spec, opts, *rec, path);
  } catch (const Error& e) {
    // A plan codegen refuses, or one that cannot be built or loaded here (a bundle without
    // its code object under ROPEGEN_NO_COMPILE): codegen's plan serves, or fails on its own.
    jit.warn("tuned-plans record " + path +
             (e.kind() == ErrorKind::Spec ? " holds a plan this spec cannot use (" : " holds a plan that cannot be built (") +
             e.message() + "); using codegen's plan");
    return nullptr;
  }
}

std::shared_ptr<Kernel> Context::State::build_tuned(Runtime& rt, const Target& target, const KernelSpec& spec,
                                                  const CompileOptions& opts, const TunedRecord& rec,
                                                  const std::string& path) {
  std::vector<long long> buckets;
  for (const auto& b : rec.buckets) buckets.push_back(b.tokens);
  const std::vector<long long> limits = bucket_limits(buckets);
  std::vector<std::pair<long long, std::shared_ptr<const Kernel>>> plans;
  std::vector<Build::TunedPlan> info;
  Build first;
  for (size_t i = 0; i < rec.buckets.size(); ++i) {
    Build b = jit.build(spec, target, opts, rec.buckets[i].choice);
    info.push_back({rec.buckets[i].tokens, limits[i], b.plan(), b.origin});
    if (i == 0) first = b;
    std::shared_ptr<Kernel> k = load(rt, std::move(b));
    // Neighbouring buckets with one plan share one entry: fewer compares per launch.
    if (!plans.empty() && plans.back().second == k) plans.back().first = limits[i];
    else plans.emplace_back(limits[i], k);
  }
  auto k = std::make_shared<TunedKernel>(*first.code);
  InternalAccess::set_plans(*k, plans);
  first.plan_source = "tuned";
  first.tuned = std::move(info);
  first.tuned_record = path;
  InternalAccess::set_build(*k, std::make_shared<const Build>(std::move(first)));
  return k;
}

Jit& InternalAccess::jit(Context& ctx) { return ctx.state_->jit; }

void InternalAccess::forget_tuned(Context& ctx, const KernelSpec& spec) {
  std::lock_guard<std::mutex> lock(ctx.state_->mu);
  auto& m = ctx.state_->kernels;
  for (auto it = m.begin(); it != m.end();)
    it = compare_specs(it->first.spec, spec) == 0 ? m.erase(it) : std::next(it);
}

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
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    auto it = state_->kernels.find(KernelKeyView{spec, opts.extra});
    if (it != state_->kernels.end()) return it->second;
  }
  ParsedSpec p;
  p.spec = spec;
  p.origin.kernel.file = "<KernelSpec>";
  check_target(p, target_);
  validate(spec, "<KernelSpec>");  // before its canonical text keys a tuned-plans record
  std::shared_ptr<Kernel> k;
  // An explicit schedule (JitOptions::plan, ROPEGEN_PLAN) wins over tuned plans.
  if (state_->jit.options().plan.empty()) k = state_->tuned_kernel(*runtime_, target_, spec, opts);
  if (!k) k = state_->load(*runtime_, state_->jit.build(spec, target_, opts));
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->kernels.emplace(KernelKey{spec, opts.extra}, k).first->second;
}

std::shared_ptr<Kernel> Context::kernel(const std::string& spec_text) {
  return kernel(parse_spec_line(spec_text, "<spec>").spec);
}



}  // namespace ropegen
