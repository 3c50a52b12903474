// Context::tune: time the candidate schedules of a spec per token bucket on this device and
// keep each bucket's winner (cache/tuned.hpp), which later Context::kernel() calls use.
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>

#include "access.hpp"
#include "codegen/codegen.hpp"
#include "state.hpp"
#include "verify/buffers.hpp"
#include "verify/verify.hpp"

namespace ropegen {

std::vector<long long> default_tune_buckets(const Target& target) {
  if (target.vendor == Vendor::Host) return {1, 32, 256};
  return {1, 32, 256, 2048, 8192};
}

namespace {

/// The schedules to time: codegen's own first (no override), then every legal override of
/// the set, without repeats of a plan already listed.
std::vector<PlanChoice> candidates(const KernelSpec& spec, const Target& target, TuneSet set) {
  const LaunchPlan def = plan(spec, target);
  if (set == TuneSet::Auto) set = target.vendor == Vendor::Host ? TuneSet::Quick : TuneSet::Full;
  std::vector<int> tokens = set == TuneSet::Full ? std::vector<int>{1, 2, 4, 8, 16} : std::vector<int>{1, 4, 16};
  std::vector<int> groups;
  int most = 1;
  while (most * 2 <= def.num_tasks) most *= 2;
  if (set == TuneSet::Full)
    for (int g = 1; g <= most; g *= 2) groups.push_back(g);
  else
    groups = {1, most};
  groups.push_back(def.head_groups);
  // Balanced counts beside codegen's: where the token's tasks do not divide among its groups
  // (the MLA kernel's 129 rows over 32 groups: one group walks a fifth task while the others
  // wait), the fewest groups that keep its number of passes (26: five tasks each) and the
  // fewest that need one pass less (33: four).
  const int passes = (def.num_tasks + def.head_groups - 1) / def.head_groups;
  if (def.num_tasks % def.head_groups != 0) {
    groups.push_back((def.num_tasks + passes - 1) / passes);
    if (passes > 1) groups.push_back((def.num_tasks + passes - 2) / (passes - 1));
  }
  std::vector<PlanChoice> out{PlanChoice{}};
  std::vector<std::pair<int, int>> seen{{def.tokens_per_block, def.head_groups}};
  for (int t : tokens)
    for (int g : groups) {
      if (std::find(seen.begin(), seen.end(), std::make_pair(t, g)) != seen.end()) continue;
      PlanChoice c;
      c.tokens_per_block = t;
      c.head_groups = g;
      try {
        plan(spec, target, c);  // codegen's own rule: at most 1024 threads per block
      } catch (const Error&) {
        continue;
      }
      seen.emplace_back(t, g);
      out.push_back(c);
    }
  return out;
}

/// How much faster than codegen's plan another plan must be to win a bucket.
constexpr double kTuneMargin = 0.02;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void check_buckets(const std::vector<long long>& b) {
  if (b.empty()) throw Error(ErrorKind::Spec, "tune: no token buckets");
  if (b.size() > kTunedMaxBuckets)
    throw Error(ErrorKind::Spec, "tune: " + std::to_string(b.size()) + " buckets; at most " +
                                     std::to_string(kTunedMaxBuckets));
  for (size_t i = 0; i < b.size(); ++i) {
    if (b[i] < 1 || b[i] > kMaxVerifyTokens)
      throw Error(ErrorKind::Spec, "tune: bucket " + std::to_string(b[i]) + " is outside 1.." +
                                       std::to_string(kMaxVerifyTokens) + " tokens");
    if (i && b[i] <= b[i - 1])
      throw Error(ErrorKind::Spec, "tune: buckets must increase (" + std::to_string(b[i]) + " after " +
                                       std::to_string(b[i - 1]) + ")");
  }
}

}  // namespace

TuneReport Context::tune(const KernelSpec& spec, const TuneOptions& options) {
  Runtime& rt = *runtime_;
  // A capture would record these launches into the caller's graph (and time nothing).
  if (rt.stream_capturing(options.stream))
    throw Error(ErrorKind::Launch, "tune: the stream is capturing a graph; tune before capture (tuning launches "
                                   "hundreds of kernels and synchronizes)");
  ParsedSpec ps;
  ps.spec = spec;
  ps.origin.kernel.file = "<KernelSpec>";
  check_target(ps, target_);
  validate(spec, "<KernelSpec>");
  const std::vector<long long> buckets = options.buckets.empty() ? default_tune_buckets(target_) : options.buckets;
  check_buckets(buckets);
  if (options.reps < 0 || options.reps > 10000)
    throw Error(ErrorKind::Spec, "tune: reps = " + std::to_string(options.reps) + " is outside 0..10000");
  const bool host = target_.vendor == Vendor::Host;
  const int reps = options.reps > 0 ? options.reps : host ? 3 : 15;
  // Launches per timed repetition: one on the host; on a GPU enough that a decode-sized
  // kernel's few microseconds are resolved.
  const int inner = host ? 1 : 20;

  Jit& jit = state_->jit;
  // Where the winners go, checked before anything is compiled or timed.
  if (options.store) {
    const std::string& dir = jit.options().cache_dir;
    if (dir.empty())
      throw Error(ErrorKind::Cache, "tune: no user cache directory to keep the tuned plans in (" +
                                        (jit.options().cache_note.empty() ? std::string("the disk cache is disabled")
                                                                          : jit.options().cache_note) +
                                        "); set ROPEGEN_CACHE_DIR, or tune without storing");
    const std::string why = access(dir.c_str(), F_OK) == 0 ? untrusted_dir_reason(dir) : "";
    if (!why.empty()) throw Error(ErrorKind::Cache, "tune: not writing tuned plans to " + dir + ": " + why);
  }
  TuneReport report;
  report.spec = spec.canonical();
  report.target = target_.id();
  report.device = rt.device_name();
  report.reps = reps;

  // Every candidate, built, loaded and checked against the reference once: a schedule that
  // computes wrong results is never timed or kept. Codegen's own plan comes first, and the
  // inputs are made from it before any other candidate is built (a family whose inputs
  // cannot be made for timing is refused before the compiles).
  // Loaded for this run only (not kept in the context's map): the losers unload with it.
  struct Built {
    PlanChoice choice;
    Build build;  // keeps the code object alive beside its kernel
    std::shared_ptr<Kernel> kernel;
  };
  std::vector<Built> built;
  DeviceBuffers dev(rt);
  ropegen_kernel_args args{};
  for (const PlanChoice& c : candidates(spec, target_, options.set)) {
    Build b = jit.build(spec, target_, CompileOptions{}, c);
    std::shared_ptr<Kernel> k = rt.load(*b.code);
    if (c.empty()) {
      // One set of inputs for every candidate and bucket: sized for the largest bucket.
      VerifyCase in;
      in.tokens = buckets.back();
      in.padding = 0;  // every token does its work
      in.stream = options.stream;
      args = prepare_inputs(*k, in, dev);
    }
    VerifyCase vc;
    vc.stream = options.stream;
    if (!ropegen::verify(rt, *k, vc).passed) {
      if (c.empty()) throw Error(ErrorKind::Internal, "tune: codegen's own plan fails verification for " + report.spec);
      jit.warn("tune: plan " + std::to_string(c.tokens_per_block) + "x" + std::to_string(c.head_groups) +
               " fails verification; not timed");
      continue;
    }
    built.push_back({c, std::move(b), k});
  }

  TunedRecord record;
  record.key_text = tuned_key_text(spec, target_, report.device);
  // On a GPU, launches are timed inside a graph where the runtime has graphs (what an engine
  // replays at decode: no host launch gaps between kernels of a few microseconds), else on the
  // stream with events. A graph needs a created stream: one of the caller's, else our own.
  void* stream = options.stream;
  struct OwnStream {
    Runtime& rt;
    void* s = nullptr;
    ~OwnStream() {
      if (s) rt.destroy_stream(s);
    }
  } own{rt};
  bool graphs = !host;
  if (graphs && !stream) stream = own.s = rt.create_stream();
  report.mode = host ? "host" : "graph";
  auto time_us = [&](const Kernel& k) {
    auto launches = [&] {
      for (int i = 0; i < inner; ++i) k.launch(args, stream);
    };
    if (graphs) {
      try {
        return rt.graph_time_ms(launches, stream, 3) * 1000.0 / inner;
      } catch (const Error&) {
        graphs = false;  // no graphs on this runtime or driver: events on the stream from now on
        report.mode = "stream";
      }
    }
    return rt.time_ms(launches, stream) * 1000.0 / inner;
  };

  for (long long tokens : buckets) {
    args.num_tokens = tokens;
    TuneBucket tb;
    tb.tokens = tokens;
    for (const Built& b : built) {
      const Kernel& k = *b.kernel;
      for (int w = 0; w < 2; ++w) k.launch(args, stream);  // warm: caches, clocks
      std::vector<double> times;
      for (int r = 0; r < reps; ++r) times.push_back(time_us(k));
      TuneCandidate tc;
      tc.choice = b.choice;
      tc.plan = k.plan();
      tc.us = median(times);
      tb.candidates.push_back(tc);
    }
    // Another plan wins only by more than kTuneMargin: within it, timing noise could pick a
    // different "winner" each run, and codegen's plan is kept.
    const TuneCandidate& def = tb.candidates.front();
    const TuneCandidate* best = &def;
    for (const TuneCandidate& c : tb.candidates)
      if (c.us < best->us && c.us < def.us * (1 - kTuneMargin)) best = &c;
    tb.default_plan = def.plan;
    tb.default_us = def.us;
    tb.best_plan = best->plan;
    tb.best_us = best->us;
    TunedBucketPlan p;
    p.tokens = tokens;
    p.choice.tokens_per_block = best->plan.tokens_per_block;
    p.choice.head_groups = best->plan.head_groups;
    p.us = best->us;
    p.default_us = def.us;
    record.buckets.push_back(p);
    report.buckets.push_back(std::move(tb));
  }
  rt.synchronize_stream(stream);

  if (options.store) {
    report.record = store_tuned(jit.options().cache_dir, record);
    InternalAccess::forget_tuned(*this, spec);
  }
  return report;
}

}  // namespace ropegen
