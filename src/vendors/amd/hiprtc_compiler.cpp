// hiprtc: AMD's runtime compiler (libhiprtc on ROCm 7; inside libamdhip64 on ROCm 5.x/6.x)
// and comgr, opened through the process's one AMD loader (src/vendors/amd/amd_libs.hpp) so the
// same binary runs where ROCm is absent. Before any compile, comgr's ISA list is checked:
// ROCm 5.2's hipRTC aborts the whole process when asked for an ISA it does not know
// (e.g. gfx1100), so it is never called for one; without comgr it is not used at all.
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <mutex>

#include "../vendors.hpp"
#include "amd_libs.hpp"
#include "../../common/process.hpp"
#include "cache/probe_cache.hpp"
#include "amd.hpp"
#include "compile/compile.hpp"
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

/// hipRTC's and comgr's entry points, resolved from the process's AMD libraries.
struct Hiprtc {
  CreateFn create = nullptr;
  CompileFn compile = nullptr;
  SizeFn log_size = nullptr, code_size = nullptr;
  GetFn log = nullptr, code = nullptr;
  DestroyFn destroy = nullptr;
  VersionFn version = nullptr;
  ErrStrFn err = nullptr;
  IsaCountFn isa_count = nullptr;
  IsaNameFn isa_name = nullptr;
  ComgrVersionFn comgr_version = nullptr;
  std::string file;        // the library the hiprtc* symbols come from
  std::string comgr_file;  // "" when comgr was not found
  std::string comgr_problem;
  std::once_flag comgr_once;
  int rocm_major = -1;     // -1 unknown
  std::string rocm_source;  // how rocm_major was told, for the version text; "" from the file name
  std::string problem;     // empty when usable

  /// hiprtcGetErrorString's text; some builds return null for codes they do not name.
  std::string err_text(int rc) const {
    const char* s = err ? err(rc) : nullptr;
    return s ? std::string(s) : "hipRTC error " + std::to_string(rc) + " (hiprtcGetErrorString has no text for it)";
  }

  Hiprtc() {
    if (const char* off = std::getenv("ROPEGEN_DISABLE_HIPRTC"); off && std::string(off) == "1") {
      problem = "disabled by ROPEGEN_DISABLE_HIPRTC=1";
      return;
    }
    detail::AmdLibs& libs = detail::AmdLibs::get();
    const detail::AmdLib& rtc = libs.hiprtc();
    if (!rtc.ok()) {
      problem = "hipRTC not found (" + rtc.tried + ")";
      return;
    }
    std::string missing;
    rtc.sym("hiprtcCreateProgram", create, &missing);
    rtc.sym("hiprtcCompileProgram", compile, &missing);
    rtc.sym("hiprtcGetProgramLogSize", log_size, &missing);
    rtc.sym("hiprtcGetProgramLog", log, &missing);
    rtc.sym("hiprtcGetCodeSize", code_size, &missing);
    rtc.sym("hiprtcGetCode", code, &missing);
    rtc.sym("hiprtcDestroyProgram", destroy, &missing);
    rtc.sym("hiprtcVersion", version, &missing);
    rtc.sym("hiprtcGetErrorString", err, &missing);
    if (!missing.empty()) {
      problem = "incomplete hipRTC " + rtc.file + ": missing " + missing;
      return;
    }
    file = detail::library_file(reinterpret_cast<void*>(create));
    rocm_major = detail::soname_major(file);
    if (rocm_major < 0) {
      // An unversioned file (PyTorch's wheels ship libhiprtc.so, libamdhip64.so): ask the
      // library itself. hiprtcVersion does not follow ROCm releases (9.0 on ROCm 5.2), the
      // HIP runtime it belongs to does.
      detail::RocmVersion v = detail::rocm_version_of(rtc.handle);
      if (v.major < 0) v = detail::rocm_version_of(libs.hip().handle);
      if (v.major >= 0) {
        rocm_major = v.major;
        rocm_source = "ROCm " + std::to_string(v.major) + "." + std::to_string(v.minor) + " by " + v.source;
      }
    }
    // comgr is needed for the ISA list only, so a probe cache hit does not load it when
    // its file can be told without loading.
    comgr_file = libs.comgr_file_hint();
    if (comgr_file.empty()) load_comgr();
    // ROCm 5.x's hipRTC aborts the whole process for an ISA it does not know: it is only
    // used with comgr's ISA list in hand. Later releases report such ISAs as errors.
    if (comgr_file.empty() && needs_isa_gate())
      problem = "comgr " + comgr_problem + ", and " + file + " (ROCm " +
                (rocm_major < 0 ? "version unknown" : std::to_string(rocm_major)) +
                ") is only safe with comgr's ISA list";
  }

  /// Opens comgr and resolves its entry points; comgr_file is "" (with comgr_problem) when
  /// that fails.
  void load_comgr() {
    std::call_once(comgr_once, [this] {
      const detail::AmdLib& comgr = detail::AmdLibs::get().comgr();
      std::string missing;
      if (comgr.ok()) {
        comgr.sym("amd_comgr_get_isa_count", isa_count, &missing);
        comgr.sym("amd_comgr_get_isa_name", isa_name, &missing);
        comgr.sym("amd_comgr_get_version", comgr_version, &missing);
      }
      if (comgr.ok() && missing.empty()) {
        comgr_file = detail::library_file(reinterpret_cast<void*>(isa_count));
      } else {
        comgr_file.clear();
        isa_count = nullptr;
        comgr_problem = comgr.ok() ? "incomplete (" + comgr.file + ": missing " + missing + ")"
                                   : "not found (" + comgr.tried + ")";
      }
    });
  }

  /// ROCm 5.x (or a version that cannot be told) needs the ISA list before every compile.
  bool needs_isa_gate() const { return rocm_major < 6; }
  /// The code object version asked for: ROCm 5.x's hipRTC emits v4 whatever it is told;
  /// ROCm 6 and 7 default to v5, which their runtimes load.
  int code_object_version() const { return rocm_major >= 6 ? 5 : 4; }
};

Hiprtc& hiprtc() {
  static Hiprtc h;
  return h;
}

/// What hiprtc can do here, from the probe cache when the libraries are unchanged, so a
/// cache hit does not pay for asking comgr.
struct HiprtcProbe {
  std::string problem, version;
  std::vector<std::string> isas;
  bool gate = true;  // supports() only what comgr lists
};

const HiprtcProbe& probe() {
  static const HiprtcProbe p = [] {
    HiprtcProbe r;
    Hiprtc& h = hiprtc();
    if (!h.problem.empty()) {
      r.problem = h.problem;
      return r;
    }
    auto run = [&h] {
      h.load_comgr();
      std::vector<std::string> isas;
      size_t n = 0;
      if (h.isa_count && h.isa_count(&n) == 0) {
        for (size_t i = 0; i < n; ++i) {
          const char* name = nullptr;
          if (h.isa_name(i, &name) == 0 && name) {
            std::string s = name;  // "amdgcn-amd-amdhsa--gfx1030[:features]"
            auto pos = s.rfind("--");
            s = pos == std::string::npos ? s : s.substr(pos + 2);
            s = s.substr(0, s.find(':'));
            if (std::find(isas.begin(), isas.end(), s) == isas.end()) isas.push_back(s);
          }
        }
      }
      int major = 0, minor = 0;
      h.version(&major, &minor);
      std::string comgr = "no comgr";
      if (h.comgr_version) {
        size_t cmaj = 0, cmin = 0;
        h.comgr_version(&cmaj, &cmin);
        comgr = "comgr " + std::to_string(cmaj) + "." + std::to_string(cmin);
      }
      // hiprtcVersion's numbers do not follow ROCm releases; the library file name does, or
      // for an unversioned file the HIP runtime's version (named then). The code object
      // version is part of the version text, so of every cache key.
      const std::string version = "hipRTC " + h.file.substr(h.file.rfind('/') + 1) + " (" +
                                  (h.rocm_source.empty() ? "" : h.rocm_source + ", ") + "hiprtcVersion " +
                                  std::to_string(major) + "." + std::to_string(minor) + ", " + comgr +
                                  ", code object v" + std::to_string(h.code_object_version()) + ")";
      return nlohmann::json{{"version", version}, {"isas", isas}};
    };
    // Keyed on the files the resolved symbols come from, not on names searched for.
    std::vector<std::string> files = {h.file};
    if (!h.comgr_file.empty()) files.push_back(h.comgr_file);
    nlohmann::json j = detail::cached_probe("hiprtc-2", files, run);
    r.version = j.value("version", "");
    r.isas = j.value("isas", std::vector<std::string>{});
    r.gate = !h.comgr_file.empty() || h.needs_isa_gate();
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
    if (probe().gate && std::find(isas.begin(), isas.end(), t.arch) == isas.end()) {
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
    const int cov = h.code_object_version();
    std::vector<std::string> options = {"--offload-arch=" + src.target.id(), "-O3", "-std=c++17",
                                        "-mcode-object-version=" + std::to_string(cov)};
    if (src.plan.wave == 64 && amd_default_wave(src.target) == 32) options.push_back("-mwavefrontsize64");
    for (const auto& x : opts.extra) options.push_back(x);
    std::vector<const char*> argv;
    for (const auto& o : options) argv.push_back(o.c_str());
    // ROCm 5.2's hipRTC (comgr underneath) crashes when two threads compile at once
    // (seen with `ropegen bundle -j2`): one program at a time per process.
    static std::mutex one_at_a_time;
    std::lock_guard<std::mutex> serial(one_at_a_time);
    hiprtcProgram prog = nullptr;
    int rc = h.create(&prog, src.source.c_str(), (src.entry + ".hip").c_str(), 0, nullptr, nullptr);
    if (rc != 0) throw Error(ErrorKind::Compile, "hiprtcCreateProgram: " + h.err_text(rc));
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
      detail::throw_compile_failure(*this, src, rc ? h.err_text(rc) : "no code produced", detail::join_command(options), log);
    }
    CodeObject co = make_amd_code_object(src, name(), version(), std::move(bytes));
    co.options = detail::join_command(options);
    co.log = log;
    co.compile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    check_amd_code_object(co, src, cov);
    return co;
  }
};

}  // namespace

std::unique_ptr<Compiler> make_hiprtc_compiler() { return std::make_unique<HiprtcCompiler>(); }

}  // namespace ropegen
