// The JIT pipeline: codegen -> cache lookups -> compile -> cache store.
#include "jit/jit.hpp"

#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <tuple>

#include "../common/env.hpp"
#include "../common/process.hpp"
#include "ropegen/error.hpp"
#include "compile/inspect.hpp"

namespace ropegen {
namespace {

/// Identity of a request: the spec compared through the schema (every field, no strings
/// built), then target, compiler and options.
struct RequestKey {
  KernelSpec spec;
  std::string target, compiler, options;
  bool operator<(const RequestKey& o) const {
    if (int c = compare_specs(spec, o.spec)) return c < 0;
    return std::tie(target, compiler, options) < std::tie(o.target, o.compiler, o.options);
  }
};

bool env_true(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::string(v) != "0";
}

}  // namespace

JitOptions JitOptions::from_env() {
  JitOptions o;
  o.cache_dir = env_true("ROPEGEN_DISABLE_DISK_CACHE") ? "" : default_cache_dir();
  o.bundle_dirs = default_bundle_dirs();
  if (const char* c = std::getenv("ROPEGEN_COMPILER"); c && *c) o.compiler = c;
  o.no_compile = env_true("ROPEGEN_NO_COMPILE");
  if (const char* d = std::getenv("ROPEGEN_DUMP_DIR"); d && *d) o.dump_dir = d;
  o.max_bytes = default_cache_max_bytes();
  // Values that cannot be used leave the default in place with one warning naming the
  // variable: a typo in the environment must not stop a program that embeds ropegen.
  if (const char* v = std::getenv("ROPEGEN_CACHE_MAX_BYTES"); v && *v) {
    uint64_t n = 0;
    if (detail::parse_byte_size(v, n)) o.max_bytes = n;
    else
      detail::warn_env_once("ROPEGEN_CACHE_MAX_BYTES", v,
                            "not a size (bytes, or with K, M, G: 512M, 1G); using " + std::to_string(o.max_bytes));
  }
  if (const char* v = std::getenv("ROPEGEN_VERBOSE"); v && *v) o.verbose = std::atoi(v);
  if (const char* p = std::getenv("ROPEGEN_PLAN"); p && *p) {
    try {
      o.plan = parse_plan_choice(p);
    } catch (const Error& e) {
      detail::warn_env_once("ROPEGEN_PLAN", p, e.message() + "; using the planner's choice");
    }
  }
  return o;
}

struct Jit::Impl {
  JitOptions opts;
  std::mutex mu;
  std::map<RequestKey, std::shared_future<Build>> memory;
  std::vector<std::string> warnings;
  bool disk_writable = true;
  size_t compiles = 0;

  void warn(const std::string& w) {
    std::lock_guard<std::mutex> lock(mu);
    warnings.push_back(w);
    if (opts.verbose) std::fprintf(stderr, "ropegen: warning: %s\n", w.c_str());
  }

  void dump(const GeneratedSource& src, const CodeObject& co) {
    try {
      mkdir(opts.dump_dir.c_str(), 0755);
      const std::string base = opts.dump_dir + "/" + co.entry + "." + src.target.arch;
      detail::write_file(base + ".hip", src.source);
      detail::write_file(base + ".options", co.options + "\n");
      detail::write_file(base + ".log", co.log);
      nlohmann::json meta = {{"spec", src.spec.canonical()}, {"target", co.target_id},
                             {"backend", co.backend}, {"backend_version", co.backend_version},
                             {"format", co.format}, {"bytes", co.bytes.size()}, {"compile_ms", co.compile_ms}};
      detail::write_file(base + ".json", meta.dump(2) + "\n");
    } catch (const std::exception& e) {
      warn(std::string("ROPEGEN_DUMP_DIR: ") + e.what());
    }
  }

  Build build_uncached(const KernelSpec& spec, const Target& target, const CompileOptions& copts,
                           std::chrono::steady_clock::time_point t0) {
    GeneratedSource src = ropegen::generate(spec, target, opts.plan);
    // Which backend, and why others of the same vendor were passed over.
    std::string note;
    const Compiler* chosen = &select_compiler(target, opts.compiler, &note);
    const CacheKey key = make_cache_key(src, *chosen, copts);
    Build info;
    info.generated = std::make_shared<const GeneratedSource>(src);
    info.key_hash = key.hash;
    info.compiler_note = note;
    auto finish = [&](CodeObject co, const char* origin, std::string path) {
      info.code = std::make_shared<const CodeObject>(std::move(co));
      info.origin = origin;
      info.path = std::move(path);
      info.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (opts.verbose)
        std::fprintf(stderr, "ropegen: %s %s for %s (%s, key %s) in %.1f ms\n", origin, info.code->entry.c_str(),
                     target.id().c_str(), chosen->name().c_str(), key.hash.c_str(), info.ms);
      return info;
    };
    for (const auto& dir : opts.bundle_dirs) {
      DiskCache bundle(dir, true);
      std::string problem;
      if (auto co = bundle.load(key, &problem)) return finish(std::move(*co), "bundle", bundle.path_for(key));
      if (!problem.empty()) warn(problem);
    }
    DiskCache user(opts.cache_dir, false);
    if (!opts.cache_dir.empty()) {
      std::string problem;
      if (auto co = user.load(key, &problem)) return finish(std::move(*co), "disk", user.path_for(key));
      if (!problem.empty()) warn(problem + "; rebuilding it");
    }
    if (opts.no_compile) {
      throw Error(ErrorKind::Cache, "ROPEGEN_NO_COMPILE is set and no cache entry exists for " + src.entry +
                                        " on " + target.id() + " (key " + key.hash + "):\n" + key.text);
    }
    CodeObject co = chosen->compile(src, copts);
    {
      std::lock_guard<std::mutex> lock(mu);
      ++compiles;
    }
    if (!opts.dump_dir.empty()) dump(src, co);
    std::string path;
    bool write;
    {
      std::lock_guard<std::mutex> lock(mu);
      write = disk_writable && !opts.cache_dir.empty();
    }
    if (write) {
      try {
        path = user.store(key, co);
        user.prune(opts.max_bytes, /*check_entries=*/false);  // sizes only: cheap after every store
      } catch (const Error& e) {
        {
          std::lock_guard<std::mutex> lock(mu);
          disk_writable = false;
        }
        warn(e.message() + "; caching in memory only from now on");
      }
    }
    return finish(std::move(co), "compiled", path);
  }
};

Jit::Jit(JitOptions options) : impl_(std::make_unique<Impl>()) { impl_->opts = std::move(options); }
Jit::~Jit() = default;

const JitOptions& Jit::options() const { return impl_->opts; }

GeneratedSource Jit::generate(const KernelSpec& spec, const Target& target) const {
  return ropegen::generate(spec, target, impl_->opts.plan);
}

size_t Jit::compiles() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->compiles;
}

std::vector<std::string> Jit::take_warnings() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::vector<std::string> out;
  out.swap(impl_->warnings);
  return out;
}

Build Jit::build(const KernelSpec& spec, const Target& target, const CompileOptions& copts) {
  const auto t0 = std::chrono::steady_clock::now();
  RequestKey rk{spec, target.id(), impl_->opts.compiler, {}};
  for (const auto& o : copts.extra) rk.options += o + '\n';
  std::promise<Build> promise;
  std::shared_future<Build> future;
  bool owner = false;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto it = impl_->memory.find(rk);
    if (it != impl_->memory.end()) {
      future = it->second;
    } else {
      future = promise.get_future().share();
      impl_->memory.emplace(rk, future);
      owner = true;
    }
  }
  if (!owner) {
    Build hit = future.get();  // waits while another thread builds the same key
    hit.origin = "memory";
    hit.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return hit;
  }
  try {
    // Validated here, on a miss: a spec found in the map passed this when it was added.
    validate(spec, "<KernelSpec>");
    Build info = impl_->build_uncached(spec, target, copts, t0);
    promise.set_value(info);
    return info;
  } catch (...) {
    // Failures are not cached: the next request tries again.
    {
      std::lock_guard<std::mutex> lock(impl_->mu);
      impl_->memory.erase(rk);
    }
    promise.set_exception(std::current_exception());
    throw;
  }
}

}  // namespace ropegen
