// ropegen command-line tool: spec from flags / one-line text / a spec file -> generated
// source, compiled code object, or a verification run.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>
#include <nlohmann/json.hpp>

#include <fstream>

#include "../common/process.hpp"
#include "../api/describe.hpp"
#include "../vendors/vendors.hpp"
#include "cache/cache.hpp"
#include "codegen/codegen.hpp"
#include "compile/inspect.hpp"
#include "jit/jit.hpp"
#include "compile/compile.hpp"
#include "ropegen/error.hpp"
#include "ropegen/ropegen.hpp"
#include "ropegen/runtime.hpp"
#include "ropegen/spec.hpp"
#include "verify/verify.hpp"

namespace {

using nlohmann::json;
using namespace ropegen;

/// Exit codes: 0 success, 1 an error in input or in a stage, 2 bad usage, 3 verification
/// found wrong results.
enum Exit { kOk = 0, kError = 1, kUsage = 2, kMismatch = 3 };

struct Flags {
  // Spec fields as the user typed them; each becomes "key=value" for the DSL parser, so flags
  // get the same checks and diagnostics as spec files.
  std::vector<std::pair<std::string, std::string>> fields;
  std::string one_line;
  std::string spec_file;
  std::string kernel;
  std::string arch = "host";
  bool arch_given = false;
  int device = -1;
  bool matrix = false;
  std::string compiler;
  bool emit = false;
  bool json = false;
  bool list_targets = false;
  bool verify = false;
  bool disasm = false;
  std::string output;
  long long tokens = 37;
  unsigned long long seed = 1;
};

/// One Jit per process, made on first use with the options of that call.
Jit& shared_jit(const JitOptions& o) {
  static Jit jit(o);
  return jit;
}

int list_targets(bool as_json) {
  json rows = json::array();
  for (const auto& t : known_targets()) {
    rows.push_back({{"arch", t.arch},
                    {"vendor", to_string(t.vendor)},
                    {"family", t.family},
                    {"default_wave", t.default_wave},
                    {"waves", t.waves},
                    {"features", t.features},
                    {"caps", {{"fp8_ocp", t.caps.fp8_ocp}, {"fp8_fnuz", t.caps.fp8_fnuz}, {"hw_f16", t.caps.hw_f16},
                              {"hw_bf16", t.caps.hw_bf16}, {"hw_fp8", t.caps.hw_fp8}}}});
  }
  if (as_json) {
    std::cout << rows.dump(2) << "\n";
    return kOk;
  }
  std::printf("%-9s %-7s %-7s %-6s %-7s %-10s %s\n", "target", "vendor", "family", "wave", "allowed", "fp8",
              "features");
  for (const auto& t : known_targets()) {
    std::string waves, feats;
    for (int w : t.waves) waves += (waves.empty() ? "" : ",") + std::to_string(w);
    for (const auto& f : t.features) feats += (feats.empty() ? "" : ", ") + f + "+/-";
    const char* fp8 = t.caps.fp8_ocp && t.caps.fp8_fnuz ? "ocp, fnuz" : t.caps.fp8_ocp ? "ocp" : t.caps.fp8_fnuz ? "fnuz" : "-";
    std::printf("%-9s %-7s %-7s %-6d %-7s %-10s %s\n", t.arch, to_string(t.vendor), t.family, t.default_wave,
                waves.c_str(), fp8, feats.empty() ? "-" : feats.c_str());
  }
  return kOk;
}

std::vector<ParsedSpec> resolve_specs(const Flags& f) {
  std::string overrides;
  for (const auto& kv : f.fields) overrides += (overrides.empty() ? "" : " ") + kv.first + "=" + kv.second;
  if (!f.one_line.empty()) overrides = f.one_line + (overrides.empty() ? "" : " " + overrides);
  std::vector<ParsedSpec> specs;
  if (!f.spec_file.empty()) {
    specs = load_spec_file(f.spec_file);
    if (!f.kernel.empty()) {
      std::vector<ParsedSpec> picked;
      std::string names;
      for (auto& s : specs) {
        names += (names.empty() ? "" : ", ") + s.spec.name;
        if (s.spec.name == f.kernel) picked.push_back(s);
      }
      if (picked.empty())
        throw Error(ErrorKind::Spec, "no kernel named '" + f.kernel + "' in " + f.spec_file +
                                         " (it has: " + names + ")");
      specs = picked;
    }
    if (!overrides.empty())
      for (auto& s : specs) s = parse_spec_line(overrides, s, "<command line>");
  } else {
    if (!f.kernel.empty()) throw Error(ErrorKind::Spec, "--kernel needs --spec FILE");
    ParsedSpec s = parse_spec_line(overrides, "<command line>");
    s.spec.name = "cli";
    specs.push_back(s);
  }
  return specs;
}

/// The runtime that runs `target` here: host, or the GPU (--device) of the target's vendor.
std::unique_ptr<Runtime> runtime_for(const Target& target, int device) {
  std::unique_ptr<Runtime> rt = vendor_info(target.vendor).runtime(device);
  if (target.vendor == Vendor::Host) return rt;
  const Target have = rt->target();
  if (have.arch != target.arch)
    throw Error(ErrorKind::Target, "--verify for " + target.id() + " needs that GPU, but the device is " +
                                       rt->device_name() + "; use --arch " + have.id() + " or --device N");
  return rt;
}

/// `--verify --matrix`: the test matrix on the target's device.
int run_matrix(const Target& target, int device, bool as_json) {
  auto ctx = std::make_unique<Context>(runtime_for(target, device));
  std::vector<MatrixCase> m = verification_matrix();
  int passed = 0, failed = 0, skipped = 0;
  json rows = json::array();
  if (!as_json) std::printf("matrix on %s, tolerance: %s\n", ctx->runtime().device_name().c_str(), tolerance_text());
  for (const auto& c : m) {
    KernelSpec spec = parse_spec_line(c.spec, "<matrix>").spec;
    if (!target.supports_wave(spec.wave_for(target))) {
      ++skipped;
      continue;
    }
    VerifyReport r = verify(ctx->runtime(), *ctx->kernel(spec), c.vc);
    double worst = 0;
    for (const auto& o : r.outputs) worst = std::max(worst, o.max_error_ratio);
    (r.passed ? passed : failed)++;
    rows.push_back({{"spec", c.spec}, {"tokens", c.vc.tokens}, {"note", c.note}, {"passed", r.passed},
                    {"max_error_over_bound", worst}});
    if (!as_json) {
      std::printf("%s  err/bound %.3f  tokens %-5lld %s\n", r.passed ? "PASS" : "FAIL", worst, c.vc.tokens, c.spec.c_str());
      if (!r.passed) std::printf("%s", r.describe().c_str());
    }
  }
  if (as_json)
    std::cout << json{{"device", ctx->runtime().device_name()}, {"passed", passed}, {"failed", failed},
                      {"skipped", skipped}, {"cases", rows}}.dump(2) << "\n";
  else
    std::printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  return failed ? kMismatch : kOk;
}

int run(const Flags& f) {
  if (f.list_targets) return list_targets(f.json);
  Target target = parse_target(f.arch);
  if (f.device >= 0 && !f.arch_given) target = open_runtime("auto", f.device)->target();
  if (f.matrix) {
    if (!f.verify) throw Error(ErrorKind::Spec, "--matrix goes with --verify");
    return run_matrix(target, f.device, f.json);
  }
  std::vector<ParsedSpec> specs = resolve_specs(f);
  json out = json::array();
  bool all_passed = true;
  JitOptions jo = JitOptions::from_env();
  if (!f.compiler.empty()) jo.compiler = f.compiler;
  Jit& jit = shared_jit(jo);
  for (const ParsedSpec& ps : specs) {
    check_target(ps, target);
    // --emit shows the source a build would compile; otherwise everything below is
    // reported from the build itself (ROPEGEN_PLAN included).
    Build b;
    if (f.emit) b.generated = std::make_shared<const GeneratedSource>(jit.generate(ps.spec, target));
    else b = jit.build(ps.spec, target);
    const GeneratedSource& gen = *b.generated;
    json j = describe_kernel(b);
    if (f.emit) {
      if (f.json) {
        j["source"] = gen.source;
        out.push_back(j);
      } else {
        std::cout << gen.source;
      }
      continue;
    }
    if (!f.json) {
      std::printf("kernel   %s\nspec     %s\nhash     %s\ntarget   %s (%s), wave %d\n",
                  ps.spec.name.c_str(), ps.spec.canonical().c_str(), ps.spec.hash().c_str(),
                  target.id().c_str(), target.family.c_str(), gen.plan.wave);
      std::printf("plan     vec=%d lanes/head=%d tokens/block=%d head-groups=%d block=%d\n",
                  gen.plan.vec, gen.plan.lanes_per_head, gen.plan.tokens_per_block,
                  gen.plan.head_groups, gen.plan.block_threads);
      std::printf("entry    %s\n", gen.entry.c_str());
    }
    const CodeObject& co = *b.code;
    CodeObjectInfo ci = inspect(co);
    json kernels = json::array();
    for (const auto& k : ci.kernels)
      kernels.push_back({{"name", k.name}, {"wave", k.wave}, {"vgprs", k.vgprs}, {"sgprs", k.sgprs},
                         {"registers", k.registers}, {"lds_bytes", k.lds_bytes},
                         {"scratch_bytes", k.scratch_bytes}, {"max_threads", k.max_threads}});
    j["compiler"] = co.backend;
    j["compiler_version"] = co.backend_version;
    j["compiler_note"] = b.compiler_note;
    j["isa"] = ci.isa;
    j["kernels"] = kernels;
    j["cache"] = b.origin == "compiled" ? "miss" : "hit";
    j["origin"] = b.origin;
    j["compile_ms"] = co.compile_ms;
    j["request_ms"] = b.ms;
    j["code_object"] = {{"format", co.format}, {"bytes", co.bytes.size()}, {"path", b.path}, {"key", b.key_hash}};
    if (!f.json) {
      std::printf("compiler %s (%s)\n", co.backend.c_str(), co.backend_version.c_str());
      if (!b.compiler_note.empty()) std::printf("         fell back: %s\n", b.compiler_note.c_str());
      for (const auto& k : ci.kernels) {
        std::string res;
        if (k.wave > 0) res += "wave " + std::to_string(k.wave) + ", ";
        if (k.vgprs >= 0) res += std::to_string(k.vgprs) + " VGPRs, " + std::to_string(k.sgprs) + " SGPRs, ";
        if (k.registers >= 0) res += std::to_string(k.registers) + " registers, ";
        if (k.lds_bytes >= 0) res += "LDS " + std::to_string(k.lds_bytes) + " B, ";
        if (k.scratch_bytes >= 0) res += "scratch " + std::to_string(k.scratch_bytes) + " B, ";
        res += "isa " + ci.isa;
        std::printf("resources %s: %s\n", k.name.c_str(), res.c_str());
      }
      if (b.origin == "compiled")
        std::printf("cache    miss: compiled in %.0f ms\n", co.compile_ms);
      else
        std::printf("cache    hit (%s) in %.2f ms\n", b.origin.c_str(), b.ms);
      std::printf("code     %zu bytes (%s) %s\n", co.bytes.size(), co.format.c_str(),
                  b.path.empty() ? "(memory only)" : b.path.c_str());
    }
    for (const auto& w : jit.take_warnings()) std::fprintf(stderr, "warning: %s\n", w.c_str());
    if (!f.output.empty()) {
      std::string path = f.output;
      if (specs.size() > 1) path += "." + ps.spec.name;
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(co.bytes.data()), static_cast<std::streamsize>(co.bytes.size()));
      out.close();
      if (!out) throw Error(ErrorKind::Io, "cannot write code object to '" + path + "'");
      j["written_to"] = path;
      if (!f.json) std::printf("wrote    %s\n", path.c_str());
    }
    if (f.disasm) {
      std::string text = disassemble(co);
      if (f.json) j["disasm"] = text;
      else std::printf("%s", text.c_str());
    }
    if (f.verify) {
      auto rt = runtime_for(target, f.device);
      auto kernel = rt->load(co);
      VerifyCase vc;
      vc.tokens = f.tokens;
      vc.seed = f.seed;
      VerifyReport rep = verify(*rt, *kernel, vc);
      json outputs = json::array();
      for (const auto& o : rep.outputs)
        outputs.push_back({{"output", o.name},
                           {"rotated", o.rounded},
                           {"exact", o.exact},
                           {"max_abs_error", o.max_abs_error},
                           {"max_error_over_bound", o.max_error_ratio},
                           {"failures", o.failures}});
      j["verify"] = {{"tokens", f.tokens}, {"seed", f.seed}, {"passed", rep.passed},
                     {"tolerance", tolerance_text()}, {"outputs", outputs}};
      if (!f.json) {
        std::printf("verify   %lld tokens, seed %llu, on %s\n", f.tokens, f.seed, rt->device_name().c_str());
        std::printf("tolerance %s\n%s", tolerance_text(), rep.describe().c_str());
        std::printf("result   %s\n", rep.passed ? "PASS" : "FAIL");
      }
      all_passed = all_passed && rep.passed;
    }
    if (f.json) out.push_back(j);
    else if (specs.size() > 1) std::printf("\n");
  }
  if (f.json) std::cout << out.dump(2) << "\n";
  return all_passed ? kOk : kMismatch;
}

/// `ropegen cache list|stats|verify|prune|clear`: the user cache directory.
int run_cache(const std::string& action, const std::string& dir_flag, long long max_bytes, bool as_json) {
  std::string why_none;
  const std::string dir = dir_flag.empty() ? default_cache_dir(&why_none) : dir_flag;
  if (dir.empty()) throw Error(ErrorKind::Cache, why_none + "; use --dir");
  DiskCache cache(dir, false);
  if (action == "clear") {
    size_t n = cache.clear();
    std::printf("removed %zu entries from %s\n", n, dir.c_str());
    return kOk;
  }
  if (action == "prune") {
    uint64_t cap = max_bytes >= 0 ? static_cast<uint64_t>(max_bytes) : default_cache_max_bytes();
    size_t n = cache.prune(cap);
    std::printf("removed %zu entries from %s (cap %llu bytes)\n", n, dir.c_str(), static_cast<unsigned long long>(cap));
    return kOk;
  }
  std::vector<CacheEntryInfo> entries = cache.list();
  uint64_t total = 0;
  size_t bad = 0;
  json rows = json::array();
  for (const auto& e : entries) {
    total += e.bytes;
    bad += e.valid ? 0 : 1;
    rows.push_back({{"path", e.path}, {"bytes", e.bytes}, {"last_used", e.last_used}, {"valid", e.valid},
                    {"problem", e.problem}, {"spec", e.spec}, {"target", e.target}, {"backend", e.backend},
                    {"entry", e.entry}});
  }
  const CacheDirStats extra = cache.stats();
  if (as_json) {
    std::cout << json{{"dir", dir}, {"entries", rows}, {"bytes", total}, {"invalid", bad},
                      {"stale_temp_files", extra.stale_temp_files}, {"stale_temp_bytes", extra.stale_temp_bytes},
                      {"max_bytes", default_cache_max_bytes()}}.dump(2) << "\n";
  } else if (action == "list" || action == "verify") {
    for (const auto& e : entries) {
      if (e.valid && action == "list")
        std::printf("%-10s %-14s %7llu B  %s  %s\n", e.target.c_str(), e.backend.c_str(),
                    static_cast<unsigned long long>(e.bytes), e.entry.c_str(), e.spec.c_str());
      else if (!e.valid)
        std::printf("INVALID %s: %s\n", e.path.c_str(), e.problem.c_str());
    }
    if (action == "verify") std::printf("%zu entries, %zu invalid, in %s\n", entries.size(), bad, dir.c_str());
  } else {
    std::printf("dir      %s\nentries  %zu (%zu invalid)\nbytes    %llu\ncap      %llu\n", dir.c_str(),
                entries.size(), bad, static_cast<unsigned long long>(total),
                static_cast<unsigned long long>(default_cache_max_bytes()));
    std::printf("stale    %zu temporary files (%llu bytes; prune removes them)\n", extra.stale_temp_files,
                static_cast<unsigned long long>(extra.stale_temp_bytes));
  }
  return action == "verify" && bad ? kError : kOk;
}

/// `ropegen bundle`: prebuild code objects for several targets into a directory that
/// deployments use read-only through ROPEGEN_CACHE_PATH; its manifest (SHA-256 of every
/// entry) is checked when they load. Exits non-zero when any entry was not written.
int run_bundle(const Flags& f, const std::string& archs, const std::string& out_dir, int jobs) {
  if (out_dir.empty()) throw Error(ErrorKind::Io, "bundle needs -o DIR");
  std::vector<Target> targets;
  std::string list = archs;
  list.erase(std::remove(list.begin(), list.end(), ' '), list.end());
  for (const auto& a : detail::split_nonempty(list, ',')) targets.push_back(parse_target(a));
  if (targets.empty()) throw Error(ErrorKind::Target, "bundle needs --arch with one or more targets");
  std::vector<ParsedSpec> specs = resolve_specs(f);
  std::vector<std::pair<const Target*, const ParsedSpec*>> work;
  for (const auto& t : targets)
    for (const auto& ps : specs) {
      check_target(ps, t);
      work.emplace_back(&t, &ps);
    }
  JitOptions jo = JitOptions::from_env();
  jo.cache_dir = out_dir;
  jo.cache_note.clear();
  jo.bundle_dirs.clear();
  jo.no_compile = false;
  jo.max_bytes = ~0ull;
  if (!f.compiler.empty()) jo.compiler = f.compiler;
  Jit jit(jo);
  const size_t total = work.size();
  if (jobs <= 0) jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::mutex mu;
  size_t next = 0, done = 0, written = 0;
  auto worker = [&] {
    for (;;) {
      size_t i;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (next == total) return;
        i = next++;
      }
      const Target& t = *work[i].first;
      const ParsedSpec& ps = *work[i].second;
      std::string line;
      bool ok = false;
      try {
        Build b = jit.build(ps.spec, t);
        ok = !b.path.empty();  // memory only: the bundle lacks it
        const char* what = !ok ? "NOT WRITTEN" : b.origin == "compiled" ? "built" : "present";
        char buf[512];
        std::snprintf(buf, sizeof buf, "%-8s %-22s %-12s %s %.0f ms", ps.spec.name.c_str(), t.id().c_str(),
                      b.code->backend.c_str(), what, b.ms);
        line = buf;
      } catch (const Error& e) {
        line = ps.spec.name + " " + t.id() + " FAILED: " + e.what();
      }
      std::lock_guard<std::mutex> lock(mu);
      ++done;
      written += ok ? 1 : 0;
      std::printf("[%zu/%zu] %s\n", done, total, line.c_str());
      std::fflush(stdout);
      for (const auto& w : jit.take_warnings()) std::fprintf(stderr, "warning: %s\n", w.c_str());
    }
  };
  std::vector<std::thread> threads;
  for (int j = 1; j < std::min<int>(jobs, static_cast<int>(total)); ++j) threads.emplace_back(worker);
  worker();
  for (auto& th : threads) th.join();
  if (written != total) {
    std::fprintf(stderr, "error: bundle %s: %zu of %zu code objects were not written\n", out_dir.c_str(),
                 total - written, total);
    return kError;
  }
  write_bundle_manifest(out_dir);
  std::printf("bundle   %s: %zu code object%s and %s; use with ROPEGEN_CACHE_PATH=%s\n", out_dir.c_str(), total,
              total == 1 ? "" : "s", kBundleManifest, out_dir.c_str());
  return kOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ropegen: just-in-time RoPE + KV-cache-append kernel compiler"};
  app.set_version_flag("--version", std::string("ropegen ") + "0.1.0");
  Flags f;
  app.add_option("spec_text", f.one_line, "spec in one-line form, e.g. \"head_dim=128 dtype=bf16\"");
  // One flag per spec field, from the schema; values are collected in command-line order
  // and the DSL parser checks them.
  std::vector<std::pair<CLI::Option*, const char*>> field_opts;
  std::vector<std::string> values(spec_fields().size());
  for (size_t i = 0; i < spec_fields().size(); ++i) {
    const SpecField& sf = spec_fields()[i];
    const std::string help = std::string(sf.help) + " [" + sf.values + "; default " + sf.default_text() + "]";
    auto* opt = app.add_option(sf.flag(), values[i], help)->group("Spec fields");
    field_opts.emplace_back(opt, sf.key);
  }
  auto* arch_opt = app.add_option("--arch,--target", f.arch, "target: gfx1100, gfx90a:xnack-, sm_90, host (default host, or the --device's)");
  app.add_option("--device", f.device, "GPU index for --verify; without --arch the target is that GPU's");
  app.add_flag("--matrix", f.matrix, "with --verify: run the whole verification matrix");
  app.add_option("--spec", f.spec_file, "spec file with one or more kernel blocks");
  app.add_option("--kernel", f.kernel, "only this kernel of the spec file");
  app.add_option("--compiler", f.compiler, "force a backend: hiprtc, clang-amdgpu, nvrtc, host-cxx (default: $ROPEGEN_COMPILER, else by target)");
  app.add_flag("--emit", f.emit, "print the generated source instead of compiling");
  app.add_flag("--disasm", f.disasm, "print the ISA of the compiled kernel");
  app.add_option("-o,--output", f.output, "write the code object to this file");
  app.add_flag("--json", f.json, "machine-readable output");
  app.add_flag("--list-targets", f.list_targets, "list known targets and exit");
  bool list_keys = false;
  app.add_flag("--list-keys", list_keys, "print the spec keys (markdown table, as in docs/dsl.md) and exit");
  app.add_flag("--verify", f.verify, "run on the target with random inputs against the reference");
  app.add_option("--tokens", f.tokens, "tokens for --verify (default 37, at most 16384: the reference keeps every element)")
      ->check(CLI::Range(0LL, 16384LL));
  app.add_option("--seed", f.seed, "random seed for --verify (default 1)");
  CLI::App* cache_cmd = app.add_subcommand("cache", "inspect or clean the user cache directory");
  std::string cache_action, cache_dir;
  long long max_bytes = -1;
  cache_cmd->add_option("action", cache_action, "list | stats | verify | prune | clear")
      ->required()
      ->check(CLI::IsMember({"list", "stats", "verify", "prune", "clear"}));
  cache_cmd->add_option("--dir", cache_dir, "cache directory (default: $ROPEGEN_CACHE_DIR, ...)");
  cache_cmd->add_option("--max-bytes", max_bytes, "prune: size cap (default $ROPEGEN_CACHE_MAX_BYTES)");
  cache_cmd->add_flag("--json", f.json, "machine-readable output");
  CLI::App* bundle_cmd = app.add_subcommand("bundle", "prebuild code objects for several targets into DIR");
  std::string bundle_archs, bundle_out;
  bundle_cmd->add_option("--arch", bundle_archs, "comma-separated targets, e.g. gfx90a,gfx942,gfx1100,sm_90")->required();
  bundle_cmd->add_option("--spec", f.spec_file, "spec file (default: the spec from the flags)");
  bundle_cmd->add_option("--kernel", f.kernel, "only this kernel of the spec file");
  bundle_cmd->add_option("--compiler", f.compiler, "force a backend");
  bundle_cmd->add_option("-o,--output", bundle_out, "output directory")->required();
  int bundle_jobs = 0;
  bundle_cmd->add_option("-j,--jobs", bundle_jobs, "parallel builds (default: the number of cores)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kOk : kUsage;
  }
  f.arch_given = arch_opt->count() > 0;
  for (size_t i = 0; i < field_opts.size(); ++i)
    if (field_opts[i].first->count()) f.fields.emplace_back(field_opts[i].second, values[i]);
  try {
    if (list_keys) {
      std::cout << spec_fields_markdown();
      return kOk;
    }
    if (*cache_cmd) return run_cache(cache_action, cache_dir, max_bytes, f.json);
    if (*bundle_cmd) return run_bundle(f, bundle_archs, bundle_out, bundle_jobs);
    return run(f);
  } catch (const Error& e) {
    std::fflush(stdout);
    std::cerr << e.what() << "\n";
    return kError;
  } catch (const std::bad_alloc&) {
    std::fflush(stdout);
    std::cerr << "error: out of memory (for --verify, try fewer --tokens)\n";
    return kError;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::cerr << "error (internal): " << e.what() << "\n";
    return kError;
  }
}
