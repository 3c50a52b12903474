// hiprtc: AMD's runtime compiler (libamdhip64 + comgr). Loaded with dlopen so the same
// binary runs where ROCm is absent. Before any compile, comgr's ISA list is checked:
// ROCm 5.2's hipRTC aborts the whole process when asked for an ISA it does not know
// (e.g. gfx1100), so it is never called for one.
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <mutex>

#include "../../common/dynlib.hpp"
#include "../../common/process.hpp"
#include "../probe_cache.hpp"
#include "amd.hpp"
#include "ropegen/compile.hpp"
#include "ropegen/error.hpp"

namespace ropegen {
namespace {

using hiprtcProgram = void*;
using CreateFn = int (*)(hiprtcProgram*, const char*, const char*, int, const char**, const char**);
using CompileFn = int (*)(hiprtcProgram, int, const char**);
using SizeFn = int (*)(hiprtcProgram, size_t*);
using GetFn = int (*)(hiprtcProgram, char*);
using DestroyFn = int (*)(hiprtcProgram*);
using VersionFn = int (*)(int*, int*);
using ErrStrFn = const char* (*)(int);

using IsaCountFn = int (*)(size_t*);
using IsaNameFn = int (*)(size_t, const char**);
using ComgrVersionFn = void (*)(size_t*, size_t*);

struct Hiprtc {
  detail::DynLib lib{{"libamdhip64.so.5", "libamdhip64.so", "libhiprtc.so"}};
  detail::DynLib comgr{{"libamd_comgr.so.2", "libamd_comgr.so"}};
  CreateFn create = nullptr;
  CompileFn compile = nullptr;
  SizeFn log_size = nullptr, code_size = nullptr;
  GetFn log = nullptr, code = nullptr;
  DestroyFn destroy = nullptr;
  VersionFn version = nullptr;
  ErrStrFn err = nullptr;
  std::vector<std::string> isas;  // "gfx1030", "gfx90a", ... as comgr lists them
  std::string version_text;
  std::string problem;            // empty when usable

  Hiprtc() {
    if (const char* off = std::getenv("ROPEGEN_DISABLE_HIPRTC"); off && std::string(off) == "1") {
      problem = "disabled by ROPEGEN_DISABLE_HIPRTC=1";
      return;
    }
    if (!lib.ok()) {
      problem = "libamdhip64 not found (" + lib.error() + ")";
      return;
    }
    if (!comgr.ok()) {
      problem = "libamd_comgr not found (" + comgr.error() + ")";
      return;
    }
    bool ok = lib.sym("hiprtcCreateProgram", create) && lib.sym("hiprtcCompileProgram", compile) &&
              lib.sym("hiprtcGetProgramLogSize", log_size) && lib.sym("hiprtcGetProgramLog", log) &&
              lib.sym("hiprtcGetCodeSize", code_size) && lib.sym("hiprtcGetCode", code) &&
              lib.sym("hiprtcDestroyProgram", destroy) && lib.sym("hiprtcVersion", version) &&
              lib.sym("hiprtcGetErrorString", err);
    IsaCountFn isa_count = nullptr;
    IsaNameFn isa_name = nullptr;
    ComgrVersionFn comgr_version = nullptr;
    ok = ok && comgr.sym("amd_comgr_get_isa_count", isa_count) &&
         comgr.sym("amd_comgr_get_isa_name", isa_name) && comgr.sym("amd_comgr_get_version", comgr_version);
    if (!ok) {
      problem = lib.error() + " " + comgr.error();
      return;
    }
    size_t n = 0;
    if (isa_count(&n) != 0) {
      problem = "amd_comgr_get_isa_count failed";
      return;
    }
    for (size_t i = 0; i < n; ++i) {
      const char* name = nullptr;
      if (isa_name(i, &name) == 0 && name) {
        std::string s = name;  // "amdgcn-amd-amdhsa--gfx1030[:features]"
        auto pos = s.rfind("--");
        s = pos == std::string::npos ? s : s.substr(pos + 2);
        s = s.substr(0, s.find(':'));
        if (std::find(isas.begin(), isas.end(), s) == isas.end()) isas.push_back(s);
      }
    }
    int major = 0, minor = 0;
    version(&major, &minor);
    size_t cmaj = 0, cmin = 0;
    comgr_version(&cmaj, &cmin);
    // hiprtcVersion's numbers do not follow ROCm releases; the library file name does.
    std::string file = lib.path();
    Dl_info dl{};
    char resolved[4096];
    if (dladdr(reinterpret_cast<void*>(create), &dl) && dl.dli_fname && realpath(dl.dli_fname, resolved))
      file = resolved;
    version_text = "hipRTC " + file.substr(file.rfind('/') + 1) + " (hiprtcVersion " +
                   std::to_string(major) + "." + std::to_string(minor) + ", comgr " +
                   std::to_string(cmaj) + "." + std::to_string(cmin) + ")";
  }
};

Hiprtc& hiprtc() {
  static Hiprtc h;
  return h;
}

/// What hiprtc can do here, from the probe cache when the libraries are unchanged, so a
/// cache hit does not pay for loading comgr.
struct HiprtcProbe {
  std::string problem, version;
  std::vector<std::string> isas;
};

const HiprtcProbe& probe() {
  static const HiprtcProbe p = [] {
    auto run = [] {
      Hiprtc& h = hiprtc();
      return nlohmann::json{{"problem", h.problem}, {"version", h.version_text}, {"isas", h.isas}};
    };
    HiprtcProbe r;
    if (const char* off = std::getenv("ROPEGEN_DISABLE_HIPRTC"); off && std::string(off) == "1") {
      r.problem = "disabled by ROPEGEN_DISABLE_HIPRTC=1";
      return r;
    }
    const std::string hip = detail::resolve_library({"libamdhip64.so.5", "libamdhip64.so"});
    const std::string comgr = detail::resolve_library({"libamd_comgr.so.2", "libamd_comgr.so"});
    nlohmann::json j = hip.empty() || comgr.empty() ? run() : detail::cached_probe("hiprtc", {hip, comgr}, run);
    r.problem = j.value("problem", "");
    r.version = j.value("version", "");
    r.isas = j.value("isas", std::vector<std::string>{});
    return r;
  }();
  return p;
}

class HiprtcCompiler final : public Compiler {
 public:
  std::string name() const override { return "hiprtc"; }
  Vendor vendor() const override { return Vendor::Amd; }
  std::string version() const override { return probe().version; }
  bool available(std::string* why) const override {
    if (probe().problem.empty()) return true;
    if (why) *why = probe().problem;
    return false;
  }
  bool supports(const Target& t, std::string* why) const override {
    if (!detail::same_vendor(*this, t, why)) return false;
    const auto& isas = probe().isas;
    if (std::find(isas.begin(), isas.end(), t.arch) == isas.end()) {
      if (why) *why = "comgr does not list ISA " + t.arch + " (" + probe().version + ")";
      return false;
    }
    return true;
  }

  CodeObject compile(const GeneratedSource& src, const CompileOptions& opts) const override {
    detail::ensure_can_build(*this, src.target);
    Hiprtc& h = hiprtc();
    if (!h.problem.empty()) throw Error(ErrorKind::Compile, "hiprtc: " + h.problem);
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::string> options = {"--offload-arch=" + src.target.id(), "-O3", "-std=c++17"};
    if (src.plan.wave == 64 && amd_default_wave(src.target) == 32) options.push_back("-mwavefrontsize64");
    for (const auto& x : opts.extra) options.push_back(x);
    std::vector<const char*> argv;
    for (const auto& o : options) argv.push_back(o.c_str());
    hiprtcProgram prog = nullptr;
    int rc = h.create(&prog, src.source.c_str(), (src.entry + ".hip").c_str(), 0, nullptr, nullptr);
    if (rc != 0) throw Error(ErrorKind::Compile, std::string("hiprtcCreateProgram: ") + h.err(rc));
    rc = h.compile(prog, static_cast<int>(argv.size()), argv.data());
    std::string log;
    size_t n = 0;
    if (h.log_size(prog, &n) == 0 && n > 1) {
      log.resize(n);
      h.log(prog, log.data());
      log.resize(n - 1);
    }
    std::string bytes;
    if (rc == 0 && h.code_size(prog, &n) == 0 && n > 0) {
      bytes.resize(n);
      if (h.code(prog, bytes.data()) != 0) bytes.clear();
    }
    h.destroy(&prog);
    if (rc != 0 || bytes.empty()) {
      detail::throw_compile_failure(*this, src, rc ? h.err(rc) : "no code produced", detail::join_command(options), log);
    }
    CodeObject co = make_amd_code_object(src, name(), version(), std::move(bytes));
    co.options = detail::join_command(options);
    co.log = log;
    co.compile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    check_amd_code_object(co, src);
    return co;
  }
};

}  // namespace

std::unique_ptr<Compiler> make_hiprtc_compiler() { return std::make_unique<HiprtcCompiler>(); }

}  // namespace ropegen
