// ropegen command-line tool: spec from flags / one-line text / a spec file -> generated
// source, compiled code object, or a verification run.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "../common/env.hpp"
#include "../common/process.hpp"
#include "../api/access.hpp"
#include "../api/describe.hpp"
#include "../vendors/vendors.hpp"
#include "cache/cache.hpp"
#include "cache/tuned.hpp"
#include "codegen/codegen.hpp"
#include "compile/inspect.hpp"
#include "jit/jit.hpp"
#include "compile/compile.hpp"
#include "dsl/dsl.hpp"
#include "ropegen/error.hpp"
#include "ropegen/ropegen.hpp"
#include "ropegen/runtime.hpp"
#include "ropegen/spec.hpp"
#include "schema/detail.hpp"
#include "schema/resolve.hpp"
#include "verify/verify.hpp"
#include "schema/fields.hpp"

namespace {

using nlohmann::json;
using namespace ropegen;

/// Exit codes, declared once: main returns them and `--help` lists them from kExitCodes.
enum Exit { kOk = 0, kError = 1, kUsage = 2, kMismatch = 3 };
struct ExitCode {
  Exit code;
  const char* meaning;
};
constexpr ExitCode kExitCodes[] = {
    {kOk, "success"},
    {kError, "wrong input (a spec, target, file or flag value) or a failed stage (compiler, cache, device)"},
    {kUsage, "wrong command line: an unknown flag or command, or flags that cannot act together"},
    {kMismatch, "--verify found results outside the tolerance"},
};

std::string exit_codes_help() {
  std::string out = "Exit codes:\n";
  for (const ExitCode& e : kExitCodes) out += "  " + std::to_string(e.code) + "  " + e.meaning + "\n";
  return out;
}

/// A command line that cannot act as written (exit 2); the message names the flags.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Reports an error: the printable text on stderr and, with --json, one object on stdout
/// {"error": {kind, message, location, fault, exit_code}}; fields that do not apply are null.
int report_error(bool as_json, int code, const std::string& kind, const std::string& fault,
                 const std::string& message, const std::string& printable, const SourceLoc* loc = nullptr,
                 const ErrorContext* context = nullptr) {
  std::fflush(stdout);
  std::cerr << printable << (printable.empty() || printable.back() != '\n' ? "\n" : "");
  if (as_json) {
    json e = {{"kind", kind}, {"message", message}, {"fault", fault}, {"exit_code", code}, {"location", nullptr}};
    if (loc && loc->known()) e["location"] = {{"file", loc->file}, {"line", loc->line}, {"col", loc->col}};
    if (context && !context->empty()) {
      json c = json::object();
      for (const auto& kv : *context) c[kv.first] = kv.second;
      e["context"] = c;
    }
    std::cout << json{{"error", e}}.dump(2) << "\n";
  }
  return code;
}

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

/// A flag's value as a decimal number of at most `max`: CLI11 alone would read `-1` as 2^64-1
/// for an unsigned flag, `0x10` as 16 and `010` as 8.
CLI::Validator decimal(uint64_t max) {
  return CLI::Validator(
      [max](std::string& v) {
        uint64_t n = 0;
        return detail::parse_decimal(v, max, n) ? std::string()
                                                : "'" + v + "' is not a decimal number from 0 to " + std::to_string(max);
      },
      "");
}

/// A flag whose value names something: an empty value is an error, never the default.
CLI::Validator not_empty(const char* what) {
  return CLI::Validator(
      [what](std::string& v) { return v.empty() ? std::string("the value is empty; expected ") + what : std::string(); },
      "");
}

/// One Jit per process, made on first use with the options of that call.
Jit& shared_jit(const JitOptions& o) {
  static Jit jit(o);
  return jit;
}

/// The compiler a build for `arch` would use on this machine, or why none can.
struct TargetCompiler {
  std::string name;  ///< "" when none is available
  std::string why;   ///< when none: the reasons of each backend
};

TargetCompiler compiler_for(const char* arch, const std::string& forced) {
  try {
    return {select_compiler(parse_target(arch), forced).name(), ""};
  } catch (const Error& e) {
    return {"", e.message()};
  }
}

int list_targets(bool as_json, const std::string& forced) {
  json rows = json::array();
  std::vector<TargetCompiler> comp;
  for (const auto& t : known_targets()) {
    comp.push_back(compiler_for(t.arch, forced));
    json c = comp.back().name.empty() ? json(nullptr) : json(comp.back().name);
    rows.push_back({{"arch", t.arch},
                    {"vendor", to_string(t.vendor)},
                    {"family", t.family},
                    {"default_wave", t.default_wave},
                    {"waves", t.waves},
                    {"features", t.features},
                    {"compiler", c},
                    {"available", !comp.back().name.empty()},
                    {"caps", {{"fp8_ocp", t.caps.fp8_ocp}, {"fp8_fnuz", t.caps.fp8_fnuz}, {"hw_f16", t.caps.hw_f16},
                              {"hw_bf16", t.caps.hw_bf16}, {"hw_fp8", t.caps.hw_fp8}, {"pdl", t.caps.pdl},
                              {"hw_e2m1", t.caps.hw_e2m1}, {"rcp_approx", t.caps.rcp_approx}}}});
    if (comp.back().name.empty()) rows.back()["unavailable_because"] = comp.back().why;
  }
  if (as_json) {
    std::cout << rows.dump(2) << "\n";
    return kOk;
  }
  std::printf("%-9s %-7s %-8s %-5s %-8s %-10s %-5s %-13s %-9s %s\n", "target", "vendor", "family", "wave", "allowed",
              "fp8", "e2m1", "compiler", "available", "features");
  size_t i = 0;
  for (const auto& t : known_targets()) {
    const TargetCompiler& c = comp[i++];
    std::string waves, feats;
    for (int w : t.waves) waves += (waves.empty() ? "" : ",") + std::to_string(w);
    for (const auto& f : t.features) feats += (feats.empty() ? "" : ", ") + f + "+/-";
    const char* fp8 = t.caps.fp8_ocp && t.caps.fp8_fnuz ? "ocp, fnuz" : t.caps.fp8_ocp ? "ocp" : t.caps.fp8_fnuz ? "fnuz" : "-";
    std::printf("%-9s %-7s %-8s %-5d %-8s %-10s %-5s %-13s %-9s %s\n", t.arch, to_string(t.vendor), t.family,
                t.default_wave, waves.c_str(), fp8, t.caps.hw_e2m1 ? "hw" : "-", c.name.empty() ? "-" : c.name.c_str(),
                c.name.empty() ? "no" : "yes", feats.empty() ? "-" : feats.c_str());
  }
  std::printf("\n'compiler' is what a build for the target would use on this machine (--compiler or\n"
              "$ROPEGEN_COMPILER forces one); --json gives the reason where none is available. 'e2m1'\n"
              "hw: nvfp4/mxfp4 codes by the conversion instruction (else integer code, the same bytes).\n");
  return kOk;
}

/// The runtime that runs `target` here: host, or the GPU (--device) of the target's vendor.
/// `what` names the action that needs it in the error ("--verify", "tune"). `loads_code`: the
/// caller loads a code object built for `target` itself (not a Context, which builds for the
/// device's own target), so an arch-specific target (sm_90a, sm_100a, sm_120a) may run on its
/// base architecture's GPU.
std::unique_ptr<Runtime> runtime_for(const Target& target, int device, const char* what = "--verify",
                                     bool loads_code = false) {
  std::unique_ptr<Runtime> rt = vendor_info(target.vendor).runtime(device);
  if (target.vendor == Vendor::Host) return rt;
  const Target have = rt->target();
  if (have.arch != target.arch && !(loads_code && have.arch + "a" == target.arch))
    throw Error(ErrorKind::Target, std::string(what) + " for " + target.id() + " needs that GPU, but the device is " +
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
    if (!target_can_run(spec, target)) {
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

/// A resource count for --json: absent where the code object does not say (-1).
void put_count(json& j, const char* key, int v) {
  if (v >= 0) j[key] = v;
}

/// Writes `bytes` to `path` (-o); throws Error(Io).
void write_output(const std::string& path, const char* data, size_t size, const char* what) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data, static_cast<std::streamsize>(size));
  out.close();
  if (!out) throw Error(ErrorKind::Io, std::string("cannot write ") + what + " to '" + path + "'");
}

/// --emit: the source a build would compile, to the output file or stdout (or in the JSON).
void emit_source(const Flags& f, const GeneratedSource& gen, const std::string& out_path, json& j, json& out) {
  if (!out_path.empty()) {
    write_output(out_path, gen.source.data(), gen.source.size(), "the source");
    j["written_to"] = out_path;
    if (!f.json) std::printf("wrote    %s\n", out_path.c_str());
  }
  if (f.json) {
    if (out_path.empty()) j["source"] = gen.source;
    out.push_back(j);
  } else if (out_path.empty()) {
    std::cout << gen.source;
  }
}

/// What was built: the code object's resources, compiler, cache origin and path (text and
/// JSON), the code object to --output, its disassembly with --disasm.
void report_build(const Flags& f, const ParsedSpec& ps, const Target& target, const Build& b,
                  const std::string& out_path, json& j) {
  const GeneratedSource& gen = *b.generated;
  const CodeObject& co = *b.code;
  // The disassembler runs before anything is printed, so a missing tool is the only output.
  std::string disasm_text;
  if (f.disasm) disasm_text = disassemble(co);
  if (!f.json) {
    std::printf("kernel   %s\nspec     %s\nhash     %s\ntarget   %s (%s), wave %d\n",
                ps.spec.name.c_str(), ps.spec.canonical().c_str(), ps.spec.hash().c_str(),
                target.id().c_str(), target.family.c_str(), gen.plan.wave);
    std::printf("plan     vec=%d lanes/head=%d tokens/block=%d head-groups=%d block=%d\n",
                gen.plan.vec, gen.plan.lanes_per_head, gen.plan.tokens_per_block,
                gen.plan.head_groups, gen.plan.block_threads);
    std::printf("entry    %s\n", gen.entry.c_str());
  }
  CodeObjectInfo ci = inspect(co);
  json kernels = json::array();
  for (const auto& k : ci.kernels) {
    json kj = {{"name", k.name}};
    put_count(kj, "wave", k.wave);
    put_count(kj, "vgprs", k.vgprs);
    put_count(kj, "agprs", k.agprs);
    put_count(kj, "sgprs", k.sgprs);
    put_count(kj, "registers", k.registers);
    put_count(kj, "lds_bytes", k.lds_bytes);
    put_count(kj, "scratch_bytes", k.scratch_bytes);
    put_count(kj, "max_threads", k.max_threads);
    put_count(kj, "spills", k.spills);
    kernels.push_back(kj);
  }
  j["compiler"] = co.backend;
  j["compiler_version"] = co.backend_version;
  j["compiler_note"] = b.compiler_note.empty() ? json(nullptr) : json(b.compiler_note);
  j["isa"] = ci.isa;
  j["kernels"] = kernels;
  j["cache"] = b.origin == "compiled" ? "miss" : "hit";
  j["origin"] = b.origin;
  j["compile_ms"] = co.compile_ms;
  j["request_ms"] = b.ms;
  j["code_object"] = {{"format", co.format},
                      {"bytes", co.bytes.size()},
                      {"path", b.path.empty() ? json(nullptr) : json(b.path)},
                      {"key", b.key_hash}};
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
  if (!out_path.empty()) {
    write_output(out_path, reinterpret_cast<const char*>(co.bytes.data()), co.bytes.size(), "the code object");
    j["written_to"] = out_path;
    if (!f.json) std::printf("wrote    %s\n", out_path.c_str());
  }
  if (f.disasm) {
    if (f.json) j["disasm"] = disasm_text;
    else std::printf("%s", disasm_text.c_str());
  }
}

/// --verify: runs the code object on this machine's runtime for the target against the
/// reference; the report goes to the text and the JSON. True when it passed.
bool verify_build(const Flags& f, const Target& target, const CodeObject& co, json& j) {
  auto rt = runtime_for(target, f.device, "--verify", true);
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
  return rep.passed;
}

int run(const Flags& f) {
  if (f.list_targets) return list_targets(f.json, f.compiler);
  Target target = parse_target(f.arch);
  // --device asks for a GPU: one that is not there is an error naming what was found,
  // never a quiet run on the host.
  if (f.device >= 0) {
    std::unique_ptr<Runtime> gpu = open_runtime("gpu", f.device);
    if (!f.arch_given) target = gpu->target();
  }
  if (f.matrix) return run_matrix(target, f.device, f.json);
  std::vector<std::string> notes;
  std::vector<ParsedSpec> specs = resolve_specs({f.spec_file, f.kernel, f.one_line, f.fields}, &notes);
  for (const auto& n : notes) std::fprintf(stderr, "note: %s\n", n.c_str());
  json out = json::array();
  bool all_passed = true;
  JitOptions jo = JitOptions::from_env();
  if (!f.compiler.empty()) jo.compiler = f.compiler;
  Jit& jit = shared_jit(jo);
  for (const ParsedSpec& ps : specs) {
    check_target(ps, target);
    const std::string out_path = f.output.empty() ? "" : specs.size() > 1 ? f.output + "." + ps.spec.name : f.output;
    // --emit shows the source a build would compile; otherwise everything below is
    // reported from the build itself (ROPEGEN_PLAN included).
    Build b;
    if (f.emit) b.generated = std::make_shared<const GeneratedSource>(jit.generate(ps.spec, target));
    else b = jit.build(ps.spec, target);
    const GeneratedSource& gen = *b.generated;
    json j = describe_kernel(b);
    if (f.emit) {
      emit_source(f, gen, out_path, j, out);
      continue;
    }
    const CodeObject& co = *b.code;
    report_build(f, ps, target, b, out_path, j);
    for (const auto& w : jit.take_warnings()) std::fprintf(stderr, "warning: %s\n", w.c_str());
    if (f.verify) all_passed = verify_build(f, target, co, j) && all_passed;
    if (f.json) out.push_back(j);
    else if (specs.size() > 1) std::printf("\n");
  }
  if (f.json) std::cout << out.dump(2) << "\n";
  return all_passed ? kOk : kMismatch;
}

/// "2026-11-25 15:07" in local time, or "-" when unknown.
std::string format_time(int64_t seconds) {
  if (seconds <= 0) return "-";
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

/// `ropegen cache list|stats|verify|prune|clear`: the user cache directory.
int run_cache(const std::string& action, const std::string& dir_flag, const std::string& max_bytes, bool as_json) {
  // The cap the JIT evicts to (ROPEGEN_CACHE_MAX_BYTES, sizes with K/M/G), unless --max-bytes.
  uint64_t cap = JitOptions::from_env().max_bytes;
  if (!max_bytes.empty()) detail::parse_byte_size(max_bytes, cap);  // checked when parsed
  std::string why_none;
  const std::string dir = dir_flag.empty() ? default_cache_dir(&why_none) : dir_flag;
  if (dir.empty()) throw Error(ErrorKind::Cache, why_none + "; use --dir");
  // A file is never a cache directory, wherever the name came from; a directory the user
  // names must exist (a typo would otherwise read as an empty cache), the default may not yet.
  const char* env_dir = std::getenv("ROPEGEN_CACHE_DIR");
  const std::string from = !dir_flag.empty() ? "" : env_dir && *env_dir ? " (ROPEGEN_CACHE_DIR)" : " (the default)";
  std::error_code ec;
  const std::filesystem::file_status st = std::filesystem::status(dir, ec);
  if (std::filesystem::exists(st) && !std::filesystem::is_directory(st))
    throw Error(ErrorKind::Io, "cache directory '" + dir + "'" + from + " is not a directory");
  if (!dir_flag.empty() && !std::filesystem::exists(st))
    throw Error(ErrorKind::Io, "cache directory '" + dir_flag + "' does not exist");
  DiskCache cache(dir, false);
  if (action == "clear") {
    size_t n = cache.clear();
    if (as_json) std::cout << json{{"dir", dir}, {"removed", n}}.dump(2) << "\n";
    else std::printf("removed %zu entries from %s\n", n, dir.c_str());
    return kOk;
  }
  if (action == "prune") {
    size_t n = cache.prune(cap);
    if (as_json) std::cout << json{{"dir", dir}, {"removed", n}, {"max_bytes", cap}}.dump(2) << "\n";
    else std::printf("removed %zu entries from %s (cap %llu bytes)\n", n, dir.c_str(), static_cast<unsigned long long>(cap));
    return kOk;
  }
  std::vector<CacheEntryInfo> entries = cache.list();
  uint64_t total = 0;
  size_t bad = 0;
  json rows = json::array();
  for (const auto& e : entries) {
    total += e.bytes;
    bad += e.valid ? 0 : 1;
    json r = {{"path", e.path}, {"bytes", e.bytes}, {"last_used", e.last_used}, {"valid", e.valid}};
    if (e.valid) {
      r.update({{"spec", e.spec}, {"target", e.target}, {"backend", e.backend}, {"entry", e.entry}});
    } else {
      r["problem"] = e.problem;
    }
    rows.push_back(r);
  }
  // Tuned-plans records (ropegen tune) beside the entries: listed, and checked by verify.
  const std::vector<TunedFile> records = list_tuned(dir);
  json tuned_rows = json::array();
  for (const TunedFile& t : records) {
    bad += t.valid ? 0 : 1;
    json r = {{"path", t.path}, {"valid", t.valid}};
    if (t.valid) {
      json buckets = json::array();
      for (const TunedBucketPlan& b : t.record.buckets)
        buckets.push_back({{"tokens", b.tokens}, {"tokens_per_block", b.choice.tokens_per_block},
                           {"head_groups", b.choice.head_groups}});
      r.update({{"spec", t.spec}, {"target", t.target}, {"device", t.device}, {"buckets", buckets}});
    } else {
      r["problem"] = t.problem;
    }
    tuned_rows.push_back(r);
  }
  const CacheDirStats extra = cache.stats();
  if (as_json) {
    std::cout << json{{"dir", dir}, {"entries", rows}, {"tuned", tuned_rows}, {"bytes", total}, {"invalid", bad},
                      {"stale_temp_files", extra.stale_temp_files}, {"stale_temp_bytes", extra.stale_temp_bytes},
                      {"max_bytes", cap}}.dump(2) << "\n";
  } else if (action == "list") {
    std::printf("%-10s %-14s %9s  %-16s  %-24s %s\n", "target", "backend", "bytes", "last used", "entry", "spec");
    for (const auto& e : entries)
      if (e.valid)
        std::printf("%-10s %-14s %9llu  %-16s  %-24s %s\n", e.target.c_str(), e.backend.c_str(),
                    static_cast<unsigned long long>(e.bytes), format_time(e.last_used).c_str(), e.entry.c_str(),
                    e.spec.c_str());
    for (const auto& e : entries)
      if (!e.valid) std::printf("INVALID %s: %s\n", e.path.c_str(), e.problem.c_str());
    for (const TunedFile& t : records) {
      if (!t.valid) {
        std::printf("INVALID %s: %s\n", t.path.c_str(), t.problem.c_str());
        continue;
      }
      std::string plans;
      for (const TunedBucketPlan& b : t.record.buckets)
        plans += (plans.empty() ? "" : " ") + std::to_string(b.tokens) + ":" + std::to_string(b.choice.tokens_per_block) +
                 "x" + std::to_string(b.choice.head_groups);
      std::printf("tuned    %-10s %s [%s] %s\n", t.target.c_str(), t.device.c_str(), plans.c_str(), t.spec.c_str());
    }
    std::printf("%zu entries, %zu tuned-plans records (%zu invalid), %llu bytes, in %s\n", entries.size(),
                records.size(), bad, static_cast<unsigned long long>(total), dir.c_str());
  } else if (action == "verify") {
    for (const auto& e : entries)
      if (!e.valid) std::printf("INVALID %s: %s\n", e.path.c_str(), e.problem.c_str());
    for (const TunedFile& t : records)
      if (!t.valid) std::printf("INVALID %s: %s\n", t.path.c_str(), t.problem.c_str());
    std::printf("%zu entries, %zu invalid, in %s\n", entries.size() + records.size(), bad, dir.c_str());
  } else {
    std::printf("dir      %s\nentries  %zu (%zu invalid)\nbytes    %llu\ncap      %llu\n", dir.c_str(),
                entries.size(), bad, static_cast<unsigned long long>(total),
                static_cast<unsigned long long>(cap));
    std::printf("tuned    %zu tuned-plans records\n", records.size());
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
  std::vector<std::string> notes;
  std::vector<ParsedSpec> specs = resolve_specs({f.spec_file, f.kernel, f.one_line, f.fields}, &notes);
  for (const auto& n : notes) std::fprintf(stderr, "note: %s\n", n.c_str());
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
  // Tuned plans travel with the bundle: the user cache directory's records for each spec and
  // target (any device) are copied, and their plans built beside the default ones.
  const std::string user_dir = JitOptions::from_env().cache_dir;
  std::vector<std::pair<size_t, PlanChoice>> tuned_work;  // (work item, plan)
  size_t records = 0;
  if (!user_dir.empty() && user_dir != out_dir && untrusted_dir_reason(user_dir).empty()) {
    for (size_t i = 0; i < work.size(); ++i)
      for (const TunedFile& tf : tuned_records_for(user_dir, work[i].second->spec, *work[i].first)) {
        if (!make_cache_dirs(out_dir)) throw Error(ErrorKind::Io, "cannot create " + out_dir);
        detail::write_file(tuned_path(out_dir, tf.record.key_text), tf.bytes, 0600, /*sync=*/true);
        ++records;
        for (const TunedBucketPlan& b : tf.record.buckets) tuned_work.emplace_back(i, b.choice);
      }
  }
  for (const auto& [i, choice] : tuned_work) {
    try {
      Build b = jit.build(work[i].second->spec, *work[i].first, CompileOptions{}, choice);
      if (b.origin == "compiled")
        std::printf("tuned    %-8s %-22s plan %dx%d built\n", work[i].second->spec.name.c_str(),
                    work[i].first->id().c_str(), choice.tokens_per_block, choice.head_groups);
    } catch (const Error& e) {
      std::fprintf(stderr, "error: bundle %s: tuned plan %dx%d of %s for %s: %s\n", out_dir.c_str(),
                   choice.tokens_per_block, choice.head_groups, work[i].second->spec.name.c_str(),
                   work[i].first->id().c_str(), e.what());
      return kError;
    }
  }
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
  const size_t listed = write_bundle_manifest(out_dir);
  const size_t objects = listed - records;
  const std::string tuned_note =
      records ? ", " + std::to_string(records) + " tuned-plans record" + (records == 1 ? "" : "s") : "";
  std::printf("bundle   %s: %zu code object%s%s and %s; use with ROPEGEN_CACHE_PATH=%s\n", out_dir.c_str(), objects,
              objects == 1 ? "" : "s", tuned_note.c_str(), kBundleManifest, out_dir.c_str());
  return kOk;
}

/// "TxG (N threads)": a plan as `ropegen tune` prints it.
std::string plan_text(const LaunchPlan& p) {
  return std::to_string(p.tokens_per_block) + "x" + std::to_string(p.head_groups) + " (" +
         std::to_string(p.block_threads) + " thr)";
}

/// --buckets "1,32,256": token counts, each a decimal number.
std::vector<long long> parse_buckets(const std::string& text) {
  std::vector<long long> out;
  for (const std::string& w : detail::split_nonempty(text, ',')) {
    uint64_t n = 0;
    if (!detail::parse_decimal(w, static_cast<uint64_t>(kMaxVerifyTokens), n) || n == 0)
      throw Error(ErrorKind::Spec, "bad --buckets '" + text + "': '" + w + "' is not a token count from 1 to " +
                                       std::to_string(kMaxVerifyTokens));
    out.push_back(static_cast<long long>(n));
  }
  if (out.empty()) throw Error(ErrorKind::Spec, "bad --buckets '" + text + "': no token counts (e.g. 1,32,256)");
  return out;
}

/// `ropegen tune`: times the candidate plans of each spec on the target's device per token
/// bucket and keeps the winners in the user cache directory (Context::tune).
int run_tune(const Flags& f, const std::string& bucket_text, int reps, TuneSet set, bool store) {
  Target target = parse_target(f.arch);
  if (f.device >= 0 && !f.arch_given) target = open_runtime("gpu", f.device)->target();  // that GPU's
  std::vector<std::string> notes;
  std::vector<ParsedSpec> specs = resolve_specs({f.spec_file, f.kernel, f.one_line, f.fields}, &notes);
  for (const auto& n : notes) std::fprintf(stderr, "note: %s\n", n.c_str());
  TuneOptions to;
  if (!bucket_text.empty()) to.buckets = parse_buckets(bucket_text);
  to.reps = reps;
  to.set = set;
  to.store = store;
  JitOptions jo = JitOptions::from_env();
  if (!f.compiler.empty()) jo.compiler = f.compiler;
  Context ctx(runtime_for(target, f.device, "tune"), jo);
  json out = json::array();
  for (const ParsedSpec& ps : specs) {
    check_target(ps, target);
    const TuneReport r = ctx.tune(ps.spec, to);
    for (const auto& w : InternalAccess::jit(ctx).take_warnings()) std::fprintf(stderr, "warning: %s\n", w.c_str());
    if (f.json) {
      json buckets = json::array();
      for (const TuneBucket& b : r.buckets) {
        json cands = json::array();
        for (const TuneCandidate& t : b.candidates)
          cands.push_back({{"plan", plan_json(t.plan)}, {"default", t.choice.empty()}, {"us", t.us}});
        buckets.push_back({{"tokens", b.tokens},
                           {"default_plan", plan_json(b.default_plan)},
                           {"default_us", b.default_us},
                           {"best_plan", plan_json(b.best_plan)},
                           {"best_us", b.best_us},
                           {"speedup", b.best_us > 0 ? b.default_us / b.best_us : 1.0},
                           {"candidates", cands}});
      }
      out.push_back({{"kernel", ps.spec.name}, {"spec", r.spec}, {"target", r.target}, {"device", r.device},
                     {"reps", r.reps}, {"mode", r.mode}, {"record", r.record.empty() ? json(nullptr) : json(r.record)},
                     {"buckets", buckets}});
      continue;
    }
    const size_t n = r.buckets.empty() ? 0 : r.buckets.front().candidates.size();
    std::printf("tune %s on %s (%s): %zu plan%s, median of %d, timed %s\n", ps.spec.name.c_str(), r.target.c_str(),
                r.device.c_str(), n, n == 1 ? "" : "s", r.reps,
                r.mode == "graph" ? "in a graph" : r.mode == "stream" ? "on the stream" : "by the host clock");
    std::printf("%8s  %-16s %10s  %-16s %10s  %s\n", "tokens", "default plan", "us", "best plan", "us", "default/best");
    for (const TuneBucket& b : r.buckets)
      std::printf("%8lld  %-16s %10.2f  %-16s %10.2f  %.2fx\n", b.tokens, plan_text(b.default_plan).c_str(),
                  b.default_us, plan_text(b.best_plan).c_str(), b.best_us, b.best_us > 0 ? b.default_us / b.best_us : 1.0);
    if (!r.record.empty()) std::printf("kept in  %s\n", r.record.c_str());
    else std::printf("not kept (--no-store)\n");
    if (specs.size() > 1) std::printf("\n");
  }
  if (f.json) std::cout << out.dump(2) << "\n";
  return kOk;
}

// ---- shell completion and the man page, generated from the CLI definition ----

/// Visible options of an app (hidden ones have an empty group), help first.
std::vector<const CLI::Option*> visible_options(const CLI::App& app) {
  std::vector<const CLI::Option*> out;
  for (const CLI::Option* o : app.get_options())
    if (!o->get_group().empty() && !(o->get_lnames().empty() && o->get_snames().empty())) out.push_back(o);
  return out;
}

std::vector<std::string> option_names(const CLI::Option* o) {
  std::vector<std::string> out;
  for (const auto& n : o->get_snames()) out.push_back("-" + n);
  for (const auto& n : o->get_lnames()) out.push_back("--" + n);
  return out;
}

bool takes_value(const CLI::Option* o) { return o->get_expected_max() > 0; }

/// Words a value of this flag can be: targets, or an enum field's names; empty for free text.
std::vector<std::string> value_words(const CLI::Option* o) {
  std::vector<std::string> out;
  const auto& l = o->get_lnames();
  if (std::find(l.begin(), l.end(), "arch") != l.end()) {
    for (const auto& t : known_targets()) out.push_back(t.arch);
    return out;
  }
  for (const SpecField& sf : spec_fields()) {
    const std::string flag = sf.flag();
    if (std::find(l.begin(), l.end(), flag.substr(2)) == l.end()) continue;
    const std::string v = sf.values;
    if (v.find_first_of("(.") != std::string::npos || v.find(" | ") == std::string::npos) return out;
    for (size_t pos = 0; pos < v.size();) {
      size_t bar = v.find(" | ", pos);
      out.push_back(v.substr(pos, bar == std::string::npos ? std::string::npos : bar - pos));
      pos = bar == std::string::npos ? v.size() : bar + 3;
    }
  }
  return out;
}

bool takes_file(const CLI::Option* o) {
  for (const auto& n : o->get_lnames())
    if (n == "spec" || n == "output" || n == "dir") return true;
  return false;
}

std::string join_words(const std::vector<std::string>& v, const char* sep = " ") {
  std::string out;
  for (const auto& w : v) out += (out.empty() ? "" : sep) + w;
  return out;
}

/// Each app with its command path ("", "cache", "cache list"), depth first.
void walk_apps(CLI::App* app, const std::string& path, std::vector<std::pair<std::string, CLI::App*>>& out) {
  out.emplace_back(path, app);
  for (CLI::App* sub : app->get_subcommands([](CLI::App*) { return true; }))
    walk_apps(sub, path.empty() ? sub->get_name() : path + " " + sub->get_name(), out);
}

std::string bash_completion(CLI::App& app) {
  std::vector<std::pair<std::string, CLI::App*>> apps;
  walk_apps(&app, "", apps);
  std::string s = "# bash completion for ropegen; generated by `ropegen --generate-completion bash`.\n"
                  "_ropegen() {\n"
                  "  local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\" cmd=\"\" i w\n"
                  "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
                  "    w=\"${COMP_WORDS[i]}\"\n"
                  "    case \"$cmd|$w\" in\n";
  for (const auto& [path, a] : apps) {
    if (path.empty()) continue;
    const size_t sp = path.rfind(' ');
    const std::string parent = sp == std::string::npos ? "" : path.substr(0, sp);
    s += "      \"" + parent + "|" + a->get_name() + "\") cmd=\"" + path + "\" ;;\n";
  }
  s += "    esac\n  done\n  case \"$prev\" in\n";
  std::set<std::string> seen;
  for (const auto& [path, a] : apps)
    for (const CLI::Option* o : visible_options(*a)) {
      if (!takes_value(o)) continue;
      const std::string names = join_words(option_names(o), "|");
      if (!seen.insert(names).second) continue;
      const std::vector<std::string> words = value_words(o);
      if (!words.empty())
        s += "    " + names + ") COMPREPLY=($(compgen -W \"" + join_words(words) + "\" -- \"$cur\")); return ;;\n";
      else if (takes_file(o))
        s += "    " + names + ") COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n";
      else
        s += "    " + names + ") return ;;\n";
    }
  s += "  esac\n  case \"$cmd\" in\n";
  for (const auto& [path, a] : apps) {
    std::vector<std::string> words;
    for (const CLI::Option* o : visible_options(*a))
      for (const auto& n : option_names(o)) words.push_back(n);
    for (CLI::App* sub : a->get_subcommands([](CLI::App*) { return true; })) words.push_back(sub->get_name());
    s += "    \"" + path + "\") COMPREPLY=($(compgen -W \"" + join_words(words) + "\" -- \"$cur\")) ;;\n";
  }
  s += "  esac\n}\ncomplete -F _ropegen ropegen\n";
  return s;
}

/// Text for a zsh _arguments description: brackets and quotes escaped.
std::string zsh_text(const std::string& text) {
  std::string out;
  for (char c : text.substr(0, text.find(" [")).substr(0, 100)) {
    if (c == '[' || c == ']' || c == ':' || c == '\\') out += '\\';
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out;
}

std::string zsh_function(const std::string& path) {
  std::string name = "_ropegen";
  for (char c : path) name += c == ' ' || c == '-' ? '_' : c;
  if (!path.empty() && name.back() != '_') name.insert(8, "_");
  return name;
}

std::string zsh_completion(CLI::App& app) {
  std::vector<std::pair<std::string, CLI::App*>> apps;
  walk_apps(&app, "", apps);
  std::string s = "#compdef ropegen\n# zsh completion for ropegen; generated by `ropegen --generate-completion zsh`.\n";
  for (const auto& [path, a] : apps) {
    const auto subs = a->get_subcommands([](CLI::App*) { return true; });
    s += "\n" + zsh_function(path) + "() {\n  local curcontext=\"$curcontext\" state line\n  _arguments -C";
    for (const CLI::Option* o : visible_options(*a)) {
      const std::vector<std::string> names = option_names(o);
      const std::string desc = "[" + zsh_text(o->get_description()) + "]";
      std::string action;
      if (takes_value(o)) {
        const std::vector<std::string> words = value_words(o);
        action = !words.empty() ? ":value:(" + join_words(words) + ")" : takes_file(o) ? ":file:_files" : ":value: ";
      }
      if (names.size() == 1) {
        s += " \\\n    '" + names[0] + desc + action + "'";
      } else {
        s += " \\\n    '(" + join_words(names) + ")'{" + join_words(names, ",") + "}'" + desc + action + "'";
      }
    }
    if (!subs.empty()) {
      s += " \\\n    '1: :((";
      for (CLI::App* sub : subs) s += sub->get_name() + "\\:\"" + zsh_text(sub->get_description()) + "\" ";
      s += "))' \\\n    '*::arg:->args'\n  case $state in\n    args)\n      case $line[1] in\n";
      for (CLI::App* sub : subs)
        s += "        " + sub->get_name() + ") " + zsh_function(path.empty() ? sub->get_name() : path + " " + sub->get_name()) + " ;;\n";
      s += "      esac ;;\n  esac\n";
    } else {
      s += "\n";
    }
    s += "}\n";
  }
  s += "\n_ropegen \"$@\"\n";
  return s;
}

/// roff text: backslashes and hyphens escaped, a leading '.' or '\'' protected.
std::string roff(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') out += "\\e";
    else if (c == '-') out += "\\-";
    else out += c;
  }
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out.insert(0, "\\&");
  return out;
}

void man_options(const CLI::App& app, std::string& s) {
  std::string group;
  for (const CLI::Option* o : visible_options(app)) {
    if (o->get_group() != group && app.get_parent() == nullptr) {
      group = o->get_group();
      s += ".SS " + roff(group) + "\n";
    }
    s += ".TP\n.B " + roff(join_words(option_names(o), ", ")) + (takes_value(o) ? " \\fIVALUE\\fR" : "") + "\n" +
         roff(o->get_description()) + "\n";
  }
}

std::string man_page(CLI::App& app) {
  std::string s = ".TH ROPEGEN 1 \"\" \"ropegen " + std::string(ropegen_version()) + "\" \"User Commands\"\n"
                  ".\\\" Generated by `ropegen --generate-man` from the command's definition.\n"
                  ".SH NAME\nropegen \\- " + roff(app.get_description().substr(app.get_description().find(": ") + 2)) +
                  "\n.SH SYNOPSIS\n.B ropegen\n[\\fIOPTIONS\\fR] [\\fISPEC_TEXT\\fR]\n";
  std::vector<std::pair<std::string, CLI::App*>> apps;
  walk_apps(&app, "", apps);
  for (const auto& [path, a] : apps)
    if (!path.empty() && a->get_subcommands([](CLI::App*) { return true; }).empty())
      s += ".br\n.B ropegen " + roff(path) + "\n[\\fIOPTIONS\\fR]\n";
  s += ".SH DESCRIPTION\nropegen turns a kernel spec (flags, one-line text such as \\fBhead_dim=128 dtype=bf16\\fR, or a\n"
       "spec file) into generated source, a compiled code object, or a verification run.\n.SH OPTIONS\n";
  man_options(app, s);
  s += ".SH COMMANDS\n";
  for (const auto& [path, a] : apps) {
    if (path.empty()) continue;
    s += ".SS ropegen " + roff(path) + "\n" + roff(a->get_description()) + "\n";
    man_options(*a, s);
  }
  s += ".SH EXIT STATUS\n";
  for (const ExitCode& e : kExitCodes) s += ".TP\n.B " + std::to_string(e.code) + "\n" + roff(e.meaning) + "\n";
  s += ".SH ENVIRONMENT\nROPEGEN_CACHE_DIR, ROPEGEN_CACHE_PATH, ROPEGEN_CACHE_MAX_BYTES, ROPEGEN_NO_COMPILE,\n"
       "ROPEGEN_COMPILER, ROPEGEN_DUMP_DIR, ROPEGEN_VERBOSE, ROPEGEN_PLAN and more: see docs/env.md.\n";
  return s;
}

/// The command line: the parser, its options and commands, and the values they fill.
struct CommandLine {
  CLI::App app{"ropegen: just-in-time RoPE + KV-cache-append kernel compiler"};
  Flags f;
  // One flag per spec field, from the schema, before and after `bundle` (values in schema
  // order; the DSL parser checks them).
  std::vector<CLI::Option*> field_opts, bundle_field_opts;
  std::vector<std::string> values, bundle_values;
  CLI::Option *spec_text = nullptr, *arch = nullptr, *device = nullptr, *verify = nullptr, *matrix = nullptr,
              *spec = nullptr, *kernel = nullptr, *all = nullptr, *compiler = nullptr, *emit = nullptr,
              *disasm = nullptr, *output = nullptr, *list_targets = nullptr, *list_keys = nullptr,
              *bundle_text = nullptr;
  bool list_keys_set = false;
  std::string generate_completion;
  bool generate_man = false;
  CLI::App* cache_cmd = nullptr;
  std::vector<CLI::App*> cache_subs;
  std::string cache_dir, max_bytes;
  CLI::App* bundle_cmd = nullptr;
  std::string bundle_archs, bundle_out, bundle_one_line;
  int bundle_jobs = 0;
  // `tune`: its own spec flags and text, as `bundle` has.
  CLI::App* tune_cmd = nullptr;
  std::vector<CLI::Option*> tune_field_opts;
  std::vector<std::string> tune_values;
  CLI::Option* tune_text = nullptr;
  CLI::Option* tune_arch = nullptr;
  std::string tune_one_line, tune_buckets;
  int tune_reps = 0;
  bool tune_quick = false, tune_full = false, tune_no_store = false;
};

/// A flag per spec field on `app`, filling `values` (schema order).
std::vector<CLI::Option*> add_spec_flags(CLI::App& app, std::vector<std::string>& values) {
  std::vector<CLI::Option*> opts;
  values.assign(spec_fields().size(), "");
  for (size_t i = 0; i < spec_fields().size(); ++i) {
    const SpecField& sf = spec_fields()[i];
    const std::string help = std::string(sf.help) + " [" + sf.values + "; default " + sf.default_text() + "]";
    opts.push_back(app.add_option(sf.flag(), values[i], help)->group("Spec fields"));
  }
  return opts;
}

void add_main_options(CommandLine& c) {
  CLI::App& app = c.app;
  Flags& f = c.f;
  app.set_version_flag("--version", std::string("ropegen ") + ropegen_version());
  app.footer(exit_codes_help());
  c.spec_text = app.add_option("spec_text", f.one_line, "spec in one-line form, e.g. \"head_dim=128 dtype=bf16\"");
  c.field_opts = add_spec_flags(app, c.values);
  c.arch = app.add_option("--arch,--target", f.arch, "target: gfx1100, gfx90a:xnack-, sm_90, host (default host, or the --device's)");
  c.device = app.add_option("--device", f.device, "GPU index (an error when there is no such GPU); without --arch the target is that GPU's")
                 ->check(decimal(INT32_MAX));
  c.verify = app.add_flag("--verify", f.verify, "run on the target with random inputs against the reference");
  c.matrix = app.add_flag("--matrix", f.matrix, "with --verify: run the whole verification matrix")->needs(c.verify);
  c.spec = app.add_option("--spec", f.spec_file, "spec file with one or more kernel blocks")->check(not_empty("a file"));
  c.kernel = app.add_option("--kernel", f.kernel, "only this kernel of the spec file")->needs(c.spec)->check(not_empty("a kernel name"));
  // Spelled out for scripts that run a whole file (models/*.rg); it is already the default.
  c.all = app.add_flag("--all", "with --spec: every kernel of the file (the default without --kernel)")->needs(c.spec);
  c.compiler = app.add_option("--compiler", f.compiler, "force a backend: hiprtc, clang-amdgpu, nvrtc, host-cxx (default: $ROPEGEN_COMPILER, else by target)")
                   ->check(not_empty("a backend name"));
  c.emit = app.add_flag("--emit", f.emit, "print the generated source instead of compiling (with -o: write it there)");
  c.disasm = app.add_flag("--disasm", f.disasm, "print the ISA of the compiled kernel");
  c.output = app.add_option("-o,--output", f.output, "write the code object (with --emit: the source) to this file");
  app.add_flag("--json", f.json, "machine-readable output, errors included");
  c.list_targets = app.add_flag("--list-targets", f.list_targets, "list known targets with the compiler each would use here, and exit");
  c.list_keys = app.add_flag("--list-keys", c.list_keys_set, "print the spec keys (markdown table, as in docs/dsl.md) and exit");
  app.add_option("--tokens", f.tokens, "tokens for --verify (default 37, at most 16384: the reference keeps every element)")
      ->check(CLI::Range(0LL, 16384LL))
      ->check(decimal(16384))
      ->needs(c.verify);
  app.add_option("--seed", f.seed, "random seed for --verify (default 1)")->check(decimal(UINT64_MAX))->needs(c.verify);
  app.add_option("--generate-completion", c.generate_completion, "print a shell completion script")
      ->check(CLI::IsMember({"bash", "zsh"}))
      ->group("");
  app.add_flag("--generate-man", c.generate_man, "print the man page")->group("");
}

void add_cache_command(CommandLine& c) {
  c.cache_cmd = c.app.add_subcommand("cache", "inspect or clean the user cache directory");
  // The action is checked after parsing, so a misspelt one gets a suggestion.
  c.cache_cmd->require_subcommand(0, 1);
  c.cache_cmd->allow_extras();  // a misspelt action, reported by run_cache_command
  const std::pair<const char*, const char*> cache_actions[] = {
      {"list", "list the entries: target, backend, size, last use, entry point, spec"},
      {"stats", "entry count, total size and the size cap"},
      {"verify", "check every entry; exit 1 when one is damaged"},
      {"prune", "evict least-recently-used entries (damaged ones first) down to the size cap"},
      {"clear", "remove every entry"},
  };
  for (const auto& [name, help] : cache_actions) {
    CLI::App* sub = c.cache_cmd->add_subcommand(name, help);
    sub->add_option("--dir", c.cache_dir, "cache directory, which must exist (default: $ROPEGEN_CACHE_DIR, else $XDG_CACHE_HOME/ropegen or ~/.cache/ropegen)")
        ->check(not_empty("a directory"));
    sub->add_flag("--json", c.f.json, "machine-readable output, errors included");
    if (std::string(name) == "prune")
      sub->add_option("--max-bytes", c.max_bytes, "size cap: bytes, or with K, M, G (default $ROPEGEN_CACHE_MAX_BYTES, else 512M)")
          ->check(CLI::Validator(
              [](std::string& v) {
                uint64_t n = 0;
                return detail::parse_byte_size(v, n) ? std::string() : "'" + v + "' is not a size (bytes, or with K, M, G: 512M, 1G)";
              },
              "SIZE"));
    c.cache_subs.push_back(sub);
  }
}

void add_bundle_command(CommandLine& c) {
  Flags& f = c.f;
  CLI::App* b = c.bundle_cmd = c.app.add_subcommand("bundle", "prebuild code objects for several targets into DIR");
  b->add_option("--arch", c.bundle_archs, "comma-separated targets, e.g. gfx90a,gfx942,gfx1100,sm_90")->required();
  b->add_option("--spec", f.spec_file, "spec file (default: the spec from the flags)")->check(not_empty("a file"));
  b->add_option("--kernel", f.kernel, "only this kernel of the spec file")->check(not_empty("a kernel name"));
  b->add_option("--compiler", f.compiler, "force a backend")->check(not_empty("a backend name"));
  b->add_option("-o,--output", c.bundle_out, "output directory")->required();
  b->add_option("-j,--jobs", c.bundle_jobs, "parallel builds (default: the number of cores)")->check(decimal(1024));
  // The spec flags and one-line text work after `bundle` too (`bundle --arch sm_90
  // --head-dim 64 -o DIR`), as before it.
  c.bundle_text = b->add_option("spec_text", c.bundle_one_line, "spec in one-line form, e.g. \"head_dim=128 dtype=bf16\"");
  c.bundle_field_opts = add_spec_flags(*b, c.bundle_values);
}

void add_tune_command(CommandLine& c) {
  Flags& f = c.f;
  CLI::App* t = c.tune_cmd = c.app.add_subcommand(
      "tune", "time the candidate plans of a spec per token bucket on the target's device and keep the winners");
  c.tune_arch = t->add_option("--arch,--target", f.arch, "target whose device runs the timings: host, sm_90, gfx942, ... (default host)");
  t->add_option("--device", f.device, "GPU index")->check(decimal(INT32_MAX));
  t->add_option("--spec", f.spec_file, "spec file (default: the spec from the flags)")->check(not_empty("a file"));
  t->add_option("--kernel", f.kernel, "only this kernel of the spec file")->check(not_empty("a kernel name"));
  t->add_option("--compiler", f.compiler, "force a backend")->check(not_empty("a backend name"));
  t->add_option("--buckets", c.tune_buckets, "token counts to time, increasing (default 1,32,256,2048,8192; host 1,32,256)")
      ->check(not_empty("token counts, e.g. 1,32,256"));
  t->add_option("--reps", c.tune_reps, "timed repetitions per plan, the median kept (default 15; host 3)")
      ->check(decimal(10000));
  auto* quick = t->add_flag("--quick", c.tune_quick, "fewer plans: tokens per block 1, 4, 16 x head groups 1, codegen's, the most, and the balanced counts (the host's default)");
  t->add_flag("--full", c.tune_full, "every plan: tokens per block 1..16 x head groups 1, 2, 4, ... and the balanced counts (a GPU's default)")->excludes(quick);
  t->add_flag("--no-store", c.tune_no_store, "report only; keep nothing in the cache");
  t->add_flag("--json", f.json, "machine-readable output, errors included");
  c.tune_text = t->add_option("spec_text", c.tune_one_line, "spec in one-line form, e.g. \"head_dim=128 dtype=bf16\"");
  c.tune_field_opts = add_spec_flags(*t, c.tune_values);
}

/// The spec flags and text given, before `bundle` or `tune` and after it, into Flags; one
/// given in both places is ambiguous.
void collect_spec_input(CommandLine& c) {
  Flags& f = c.f;
  f.arch_given = c.arch->count() > 0;
  const bool tune = c.tune_cmd && *c.tune_cmd;
  const char* cmd = tune ? "tune" : "bundle";
  const std::vector<CLI::Option*>& after_opts = tune ? c.tune_field_opts : c.bundle_field_opts;
  const std::vector<std::string>& after_values = tune ? c.tune_values : c.bundle_values;
  for (size_t i = 0; i < c.field_opts.size(); ++i) {
    const bool before = c.field_opts[i]->count() > 0, after = after_opts[i]->count() > 0;
    if (before && after)
      throw UsageError(std::string(spec_fields()[i].flag()) + " is given both before and after '" + cmd +
                       "': give it once");
    if (before || after) f.fields.emplace_back(spec_fields()[i].key, before ? c.values[i] : after_values[i]);
  }
  CLI::Option* text = tune ? c.tune_text : c.bundle_text;
  const std::string& line = tune ? c.tune_one_line : c.bundle_one_line;
  if (text->count()) {
    if (c.spec_text->count()) throw UsageError(std::string("spec text is given both before and after '") + cmd + "': give it once");
    if (line.find('=') == std::string::npos)
      throw UsageError(std::string(cmd) + " takes no argument '" + line +
                       "' (spec text holds key=value pairs, e.g. \"head_dim=128\"; ropegen " + cmd + " --help)");
    f.one_line = line;
  }
  if (tune && c.tune_arch->count()) {
    if (c.arch->count()) throw UsageError("--arch is given both before and after 'tune': give it once");
    f.arch_given = true;
  }
}

/// Flags that could not act are errors, not silently ignored; a bare word is a mistyped
/// command or flag (spec text holds key=value pairs).
void check_combinations(CommandLine& c) {
  const Flags& f = c.f;
  if (c.spec_text->count() && f.one_line.find('=') == std::string::npos) {
    std::vector<std::string> names;
    for (CLI::App* sub : c.app.get_subcommands([](CLI::App*) { return true; })) names.push_back(sub->get_name());
    for (const CLI::Option* o : visible_options(c.app))
      for (const auto& n : o->get_lnames()) names.push_back("--" + n);
    throw UsageError("unknown command '" + f.one_line + "'" + spec_detail::suggestion(f.one_line, names) +
                     " (commands: cache, bundle, tune; spec text holds key=value pairs, e.g. \"head_dim=128\")");
  }
  const bool spec_input = !f.fields.empty() || c.spec_text->count() || c.spec->count() || c.kernel->count();
  if (c.all->count() && c.kernel->count())
    throw UsageError("--all runs every kernel of the file, and --kernel picks one: drop one");
  if (c.output->count() && f.output.empty()) throw UsageError("-o needs a file name");
  if (f.emit && f.disasm) throw UsageError("--disasm shows compiled code, and --emit does not compile: drop one");
  if (f.emit && f.verify) throw UsageError("--verify runs compiled code, and --emit does not compile: drop one");
  if (f.emit && c.compiler->count()) throw UsageError("--compiler picks a compiler, and --emit does not compile: drop one");
  for (auto* only : {c.list_targets, c.list_keys}) {
    if (!only->count()) continue;
    const char* name = only == c.list_targets ? "--list-targets" : "--list-keys";
    if (spec_input || c.emit->count() || c.disasm->count() || c.output->count() || c.verify->count() ||
        c.device->count() || c.arch->count() || (only == c.list_keys && c.list_targets->count()))
      throw UsageError(std::string(name) + " takes no spec, target or action flags (only --json" +
                       (only == c.list_targets ? ", --compiler" : "") + ")");
    if (only == c.list_keys && (f.json || c.compiler->count())) throw UsageError("--list-keys takes no other flags");
  }
  if (*c.tune_cmd)
    for (const CLI::Option* o : {c.verify, c.emit, c.disasm, c.output, c.list_targets, c.list_keys, c.device})
      if (o->count())
        throw UsageError(o->get_name() + " does not act with 'tune' (tune takes --arch, --device, --buckets, "
                         "--reps, --quick, --full, --no-store and a spec after it; ropegen tune --help)");
  if (c.matrix->count() && (spec_input || c.output->count() || c.disasm->count()))
    throw UsageError("--matrix runs its own specs: it takes no spec flags, -o or --disasm");
}

/// `ropegen cache ACTION`: the action given, or a usage error naming the ones there are.
int run_cache_command(CommandLine& c) {
  std::vector<std::string> actions;
  const std::vector<std::string> extra = c.cache_cmd->remaining(true);
  for (CLI::App* sub : c.cache_subs) {
    if (*sub && !extra.empty())
      throw UsageError("cache " + sub->get_name() + " takes no argument '" + extra[0] + "' (ropegen cache " +
                       sub->get_name() + " --help)");
    if (*sub) return run_cache(sub->get_name(), c.cache_dir, c.max_bytes, c.f.json);
    actions.push_back(sub->get_name());
  }
  if (extra.empty()) throw UsageError("cache needs a command: " + spec_detail::join(actions) + " (ropegen cache --help)");
  throw UsageError("unknown cache command '" + extra[0] + "'" + spec_detail::suggestion(extra[0], actions) +
                   " (commands: " + spec_detail::join(actions) + ")");
}

/// After a successful parse: what the command line asks for.
int dispatch(CommandLine& c) {
  collect_spec_input(c);
  if (!c.generate_completion.empty()) {
    std::cout << (c.generate_completion == "bash" ? bash_completion(c.app) : zsh_completion(c.app));
    return kOk;
  }
  if (c.generate_man) {
    std::cout << man_page(c.app);
    return kOk;
  }
  check_combinations(c);
  if (c.list_keys_set) {
    std::cout << spec_fields_markdown();
    return kOk;
  }
  if (*c.cache_cmd) return run_cache_command(c);
  if (*c.bundle_cmd) return run_bundle(c.f, c.bundle_archs, c.bundle_out, c.bundle_jobs);
  if (*c.tune_cmd)
    return run_tune(c.f, c.tune_buckets, c.tune_reps,
                    c.tune_quick ? TuneSet::Quick : c.tune_full ? TuneSet::Full : TuneSet::Auto, !c.tune_no_store);
  return run(c.f);
}

}  // namespace

int main(int argc, char** argv) {
  // --json holds for errors too, including those of the command line itself.
  bool json_errors = false;
  for (int i = 1; i < argc; ++i) json_errors = json_errors || std::string(argv[i]) == "--json";
  CommandLine c;
  add_main_options(c);
  add_cache_command(c);
  add_bundle_command(c);
  add_tune_command(c);
  try {
    c.app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return c.app.exit(e) == 0 ? kOk : kUsage;  // --help, --version
  } catch (const CLI::ParseError& e) {
    // A value that is not one of its flag's (--tokens 99999, --device abc) is wrong input,
    // as --head-dim abc is; anything else is a command line that cannot act.
    const bool bad_value = dynamic_cast<const CLI::ValidationError*>(&e) || dynamic_cast<const CLI::ConversionError*>(&e);
    const int code = bad_value ? kError : kUsage;
    std::ostringstream text;
    c.app.exit(e, text, text);
    return report_error(json_errors, code, bad_value ? "value" : "usage", "user", e.what(), text.str());
  }
  try {
    return dispatch(c);
  } catch (const UsageError& e) {
    return report_error(c.f.json || json_errors, kUsage, "usage", "user", e.what(),
                        std::string("error: ") + e.what() + "\nRun with --help for more information.");
  } catch (const Error& e) {
    return report_error(c.f.json || json_errors, kError, to_string(e.kind()), to_string(e.fault()), e.message(),
                        e.what(), &e.loc(), &e.context());
  } catch (const std::bad_alloc&) {
    return report_error(c.f.json || json_errors, kError, "memory", "environment",
                        "out of memory (for --verify, try fewer --tokens)",
                        "error: out of memory (for --verify, try fewer --tokens)");
  } catch (const std::exception& e) {
    return report_error(c.f.json || json_errors, kError, "internal", "internal", e.what(),
                        std::string("error (internal): ") + e.what());
  }
}
