// The JIT pipeline: codegen -> cache lookups -> compile -> cache store.
#include "jit/jit.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <optional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "../common/env.hpp"
#include "../common/printable.hpp"
#include "../common/process.hpp"
#include "compile/inspect.hpp"
#include "ropegen/error.hpp"

namespace ropegen {
namespace {

/// Identity of a request: the spec compared through the schema (every field, no strings
/// built), then target, compiler and options.
struct RequestKey {
  KernelSpec spec;
  std::string target, compiler, options;
  int tokens_per_block = 0, head_groups = 0;  // the schedule override (0: codegen's)
  bool operator<(const RequestKey& o) const {
    if (int c = compare_specs(spec, o.spec)) return c < 0;
    return std::tie(target, compiler, options, tokens_per_block, head_groups) <
           std::tie(o.target, o.compiler, o.options, o.tokens_per_block, o.head_groups);
  }
};

bool env_true(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::string(v) != "0";
}

}  // namespace

JitOptions JitOptions::from_env() {
  JitOptions o;
  if (!env_true("ROPEGEN_DISABLE_DISK_CACHE")) o.cache_dir = default_cache_dir(&o.cache_note);
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
  std::set<std::string> refused_dirs;  // warned about once
  bool warned_cap = false;              // the size cap is below one entry: warned once
  size_t compiles = 0;

  void warn(const std::string& text) {
    const std::string w = detail::printable(text);  // may quote a cache entry's bytes
    std::lock_guard<std::mutex> lock(mu);
    warnings.push_back(w);
    if (opts.verbose) std::fprintf(stderr, "ropegen: warning: %s\n", w.c_str());
  }

  void dump(const GeneratedSource& src, const CodeObject& co) {
    try {
      mkdir(opts.dump_dir.c_str(), 0700);
      // Names come from the request, never from a file.
      const std::string base = opts.dump_dir + "/" + src.entry + "." + src.target.arch;
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

  /// Whether code may be loaded from `dir` (see untrusted_dir_reason); warns once per
  /// directory when not. A missing directory is simply empty.
  bool trusted(const std::string& dir, const char* consequence) {
    if (access(dir.c_str(), F_OK) != 0) return false;
    const std::string why = untrusted_dir_reason(dir);
    if (why.empty()) return true;
    bool first;
    {
      std::lock_guard<std::mutex> lock(mu);
      first = refused_dirs.insert(dir).second;
    }
    if (first) warn("not loading code from " + dir + ": " + why + "; " + consequence);
    return false;
  }

  /// What a source found: the code object, its entry file ("" when memory-only) and the
  /// origin reported ("bundle", "disk", "compiled").
  struct Found {
    CodeObject code;
    std::string path;
    const char* origin;
  };
  /// A place code objects come from, after the in-process map: one contract for all, tried
  /// in order. `find` returns what it found, or nothing to pass to the next source; it
  /// records an entry it found but refused in `unusable`, and throws for a failure that
  /// must end the request (a compile error, ROPEGEN_NO_COMPILE).
  struct CodeSource {
    const char* name;
    std::function<std::optional<Found>()> find;
  };

  /// The lookup chain of one request: read-only bundles, the user cache directory, then the
  /// compiler (which waits for another process compiling the same key, then stores).
  Build build_uncached(const KernelSpec& spec, const Target& target, const CompileOptions& copts,
                       const PlanChoice& plan, std::chrono::steady_clock::time_point t0) {
    // This Jit's options govern every stage the request reaches, the compilers' probe
    // cache and failed-compile dumps included.
    const detail::StageOptions stage{opts.cache_dir, opts.dump_dir, opts.verbose};
    detail::StageScope scope(stage);
    GeneratedSource src = ropegen::generate(spec, target, plan);
    const CacheKey key = make_cache_key(src, copts);
    Build info;
    if (!plan.empty()) info.plan_source = "override";
    info.generated = std::make_shared<const GeneratedSource>(src);
    info.key_hash = key.hash;
    std::string unusable;  // the last entry found but refused, for ROPEGEN_NO_COMPILE's error
    // Bundles serve what was asked, built by any compiler unless one is pinned: no compiler
    // is probed, so a machine without compilers is served.
    const CompilerMatch pinned{opts.compiler, ""};
    DiskCache user(opts.cache_dir, false);
    bool use_disk = false;
    const Compiler* chosen = nullptr;
    // The user directory: without compiling, any compiler's entry; else the entry of the
    // compiler that would build it now (a compiler upgrade rebuilds).
    auto load_user = [&](bool report) -> std::optional<Found> {
      const CompilerMatch match = chosen ? CompilerMatch{chosen->name(), chosen->version_for(target)} : pinned;
      std::string problem;
      auto co = user.load(key, src, match, &problem);
      if (!co && !problem.empty()) unusable = problem;
      if (!co && report && !problem.empty()) warn(problem + (opts.no_compile ? "" : "; rebuilding it"));
      if (!co) return std::nullopt;
      return Found{std::move(*co), user.path_for(key), "disk"};
    };

    std::vector<CodeSource> chain;
    for (const auto& dir : opts.bundle_dirs)
      chain.push_back({"bundle", [&, dir]() -> std::optional<Found> {
                         if (!trusted(dir, "skipping this bundle")) return std::nullopt;
                         DiskCache bundle(dir, true);
                         std::string problem;
                         if (auto co = bundle.load(key, src, pinned, &problem))
                           return Found{std::move(*co), bundle.path_for(key), "bundle"};
                         if (!problem.empty()) warn(unusable = problem);
                         return std::nullopt;
                       }});
    chain.push_back({"user directory", [&]() -> std::optional<Found> {
                       {
                         std::lock_guard<std::mutex> lock(mu);
                         use_disk = disk_writable && !opts.cache_dir.empty();
                       }
                       if (use_disk && access(opts.cache_dir.c_str(), F_OK) == 0 &&
                           !trusted(opts.cache_dir, "caching in memory only")) {
                         std::lock_guard<std::mutex> lock(mu);
                         disk_writable = use_disk = false;
                       }
                       if (!opts.no_compile) {
                         std::string note;
                         chosen = &select_compiler(target, opts.compiler, &note);
                         info.compiler_note = note;
                       }
                       return use_disk ? load_user(true) : std::nullopt;
                     }});
    chain.push_back({"compiler", [&]() -> std::optional<Found> {
                       if (opts.no_compile) {
                         const std::string which = src.entry + " on " + target.id();
                         const std::string what =
                             unusable.empty() ? "no cache entry exists for " + which
                                              : "the cache entry for " + which + " exists but is invalid: " + unusable;
                         throw Error(ErrorKind::Cache, "ROPEGEN_NO_COMPILE is set and " + what + " (key " + key.hash +
                                                           "):\n" + key.text +
                                                           (opts.compiler.empty() ? "" : "backend=" + opts.compiler + "\n"));
                       }
                       return compile_and_store(src, key, copts, user, use_disk, *chosen, load_user);
                     }});

    for (const CodeSource& source : chain) {
      std::optional<Found> found = source.find();
      if (!found) continue;
      info.code = std::make_shared<const CodeObject>(std::move(found->code));
      info.origin = found->origin;
      info.path = std::move(found->path);
      info.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (opts.verbose)
        std::fprintf(stderr, "ropegen: %s %s for %s (%s, key %s) in %.1f ms\n", info.origin.c_str(),
                     info.code->entry.c_str(), target.id().c_str(), info.code->backend.c_str(), key.hash.c_str(),
                     info.ms);
      return info;
    }
    throw Error(ErrorKind::Internal, "the lookup chain ended without a code object");
  }

  /// The last source: one compile per key on this machine (wait for another process
  /// compiling the same key, then take its entry), the compile, the dump, the store.
  template <class LoadUser>
  std::optional<Found> compile_and_store(const GeneratedSource& src, const CacheKey& key, const CompileOptions& copts,
                                         DiskCache& user, bool use_disk, const Compiler& compiler,
                                         LoadUser& load_user) {
    struct LockFile {
      int fd = -1;
      ~LockFile() {
        if (fd >= 0) close(fd);
      }
    } held;
    if (use_disk) {
      held.fd = user.lock(key);
      if (held.fd >= 0)
        if (auto found = load_user(false)) return found;
    }
    // Scratch directories of compiles that were killed are removed by the next compile.
    detail::remove_stale_scratch_dirs();
    CodeObject co = compiler.compile(src, copts);
    {
      std::lock_guard<std::mutex> lock(mu);
      ++compiles;
    }
    if (!opts.dump_dir.empty()) dump(src, co);
    std::string path;
    if (use_disk) {
      try {
        path = user.store(key, co);
        // Sizes only: cheap after every store. The entry just written stays, even over the cap.
        user.prune(opts.max_bytes, /*check_entries=*/false, path);
        struct stat st {};
        if (stat(path.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) > opts.max_bytes) {
          bool first;
          {
            std::lock_guard<std::mutex> lock(mu);
            first = !warned_cap;
            warned_cap = true;
          }
          if (first)
            warn("the cache size cap (ROPEGEN_CACHE_MAX_BYTES) of " + std::to_string(opts.max_bytes) +
                 " bytes is smaller than one entry (" + std::to_string(st.st_size) + " bytes of " + path +
                 "): each store keeps only the entry just written");
        }
      } catch (const Error& e) {
        {
          std::lock_guard<std::mutex> lock(mu);
          disk_writable = false;
        }
        warn(e.message() + "; caching in memory only from now on");
      }
    }
    return Found{std::move(co), path, "compiled"};
  }
};

Jit::Jit(JitOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->opts = std::move(options);
  if (!impl_->opts.cache_note.empty()) impl_->warn(impl_->opts.cache_note);
}
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

void Jit::warn(const std::string& text) { impl_->warn(text); }

Build Jit::build(const KernelSpec& spec, const Target& target, const CompileOptions& copts) {
  return build(spec, target, copts, impl_->opts.plan);
}

Build Jit::build(const KernelSpec& spec, const Target& target, const CompileOptions& copts, const PlanChoice& plan) {
  const auto t0 = std::chrono::steady_clock::now();
  RequestKey rk{spec, target.id(), impl_->opts.compiler, {}, plan.tokens_per_block, plan.head_groups};
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
    Build info = impl_->build_uncached(spec, target, copts, plan, t0);
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
