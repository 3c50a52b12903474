// nvrtc: NVIDIA's runtime compiler, loaded with dlopen (libnvrtc.so.13/12 from the loader
// path, $CUDA_HOME/lib64 or /usr/local/cuda/lib64). Produces a cubin for sm_XX, or PTX
// when asked with the option "--ptx".
#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "../vendors.hpp"
#include "../../common/dynlib.hpp"
#include "../../common/process.hpp"
#include "../../compile/backend_util.hpp"
#include "cache/probe_cache.hpp"
#include "compile/compile.hpp"
#include "ropegen/error.hpp"
#include "nvidia.hpp"

namespace ropegen {
namespace {

using nvrtcProgram = void*;
using CreateFn = int (*)(nvrtcProgram*, const char*, const char*, int, const char* const*, const char* const*);
using CompileFn = int (*)(nvrtcProgram, int, const char* const*);
using SizeFn = int (*)(nvrtcProgram, size_t*);
using GetFn = int (*)(nvrtcProgram, char*);
using DestroyFn = int (*)(nvrtcProgram*);
using VersionFn = int (*)(int*, int*);
using ErrStrFn = const char* (*)(int);
using NumArchFn = int (*)(int*);
using ArchFn = int (*)(int*);

std::vector<std::string> nvrtc_candidates() {
  std::vector<std::string> names;
  for (const char* dir_env : {"ROPEGEN_CUDA_HOME", "CUDA_HOME", "CUDA_PATH"}) {
    const char* d = std::getenv(dir_env);
    if (d && *d) {
      names.push_back(std::string(d) + "/lib64/libnvrtc.so.13");
      names.push_back(std::string(d) + "/lib64/libnvrtc.so.12");
    }
  }
  for (const char* n : {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so", "/usr/local/cuda/lib64/libnvrtc.so.13",
                        "/usr/local/cuda/lib64/libnvrtc.so.12", "/usr/local/cuda/lib64/libnvrtc.so"})
    names.push_back(n);
  return names;
}

struct Nvrtc {
  detail::DynLib lib{nvrtc_candidates()};
  CreateFn create = nullptr;
  CompileFn compile = nullptr;
  SizeFn log_size = nullptr, cubin_size = nullptr, ptx_size = nullptr;
  GetFn log = nullptr, cubin = nullptr, ptx = nullptr;
  DestroyFn destroy = nullptr;
  VersionFn version = nullptr;
  ErrStrFn err = nullptr;
  std::vector<int> archs;
  std::string version_text, problem;

  Nvrtc() {
    if (!lib.ok()) {
      problem = "libnvrtc not found (install the CUDA toolkit or set CUDA_HOME)";
      return;
    }
    NumArchFn num_archs = nullptr;
    ArchFn get_archs = nullptr;
    bool ok = lib.sym("nvrtcCreateProgram", create) && lib.sym("nvrtcCompileProgram", compile) &&
              lib.sym("nvrtcGetProgramLogSize", log_size) && lib.sym("nvrtcGetProgramLog", log) &&
              lib.sym("nvrtcGetCUBINSize", cubin_size) && lib.sym("nvrtcGetCUBIN", cubin) &&
              lib.sym("nvrtcGetPTXSize", ptx_size) && lib.sym("nvrtcGetPTX", ptx) &&
              lib.sym("nvrtcDestroyProgram", destroy) && lib.sym("nvrtcVersion", version) &&
              lib.sym("nvrtcGetErrorString", err) && lib.sym("nvrtcGetNumSupportedArchs", num_archs) &&
              lib.sym("nvrtcGetSupportedArchs", get_archs);
    if (!ok) {
      problem = lib.error();
      return;
    }
    int major = 0, minor = 0, n = 0;
    version(&major, &minor);
    version_text = "NVRTC " + std::to_string(major) + "." + std::to_string(minor);
    if (num_archs(&n) == 0 && n > 0) {
      archs.resize(static_cast<size_t>(n));
      get_archs(archs.data());
    }
  }
};

Nvrtc& nvrtc() {
  static Nvrtc n;
  return n;
}

/// What NVRTC can do here, from the probe cache when the library is unchanged.
struct NvrtcProbe {
  std::string problem, version;
  std::vector<int> archs;
};

const NvrtcProbe& probe() {
  static const NvrtcProbe p = [] {
    auto run = [] {
      Nvrtc& n = nvrtc();
      return nlohmann::json{{"problem", n.problem}, {"version", n.version_text}, {"archs", n.archs}};
    };
    const std::string lib = detail::resolve_library(nvrtc_candidates());
    nlohmann::json j = lib.empty() ? run() : detail::cached_probe("nvrtc", {lib}, run);
    NvrtcProbe r;
    r.problem = j.value("problem", "");
    r.version = j.value("version", "");
    r.archs = j.value("archs", std::vector<int>{});
    return r;
  }();
  return p;
}

int sm_number(const Target& t) { return std::atoi(t.arch.c_str() + 3); }

class NvrtcCompiler final : public Compiler {
 public:
  std::string name() const override { return "nvrtc"; }
  Vendor vendor() const override { return Vendor::Nvidia; }
  std::string version() const override { return probe().version; }
  bool available(std::string* why) const override {
    if (probe().problem.empty()) return true;
    if (why) *why = probe().problem;
    return false;
  }
  bool supports(const Target& t, std::string* why) const override {
    if (!detail::same_vendor(*this, t, why)) return false;
    const auto& a = probe().archs;
    if (!a.empty() && std::find(a.begin(), a.end(), sm_number(t)) == a.end()) {
      if (why) *why = probe().version + " does not support " + t.arch;
      return false;
    }
    return true;
  }

  CodeObject compile(const GeneratedSource& src, const CompileOptions& opts) const override {
    detail::ensure_can_build(*this, src.target);
    Nvrtc& n = nvrtc();
    if (!n.problem.empty()) throw Error(ErrorKind::Compile, "nvrtc: " + n.problem);
    auto t0 = std::chrono::steady_clock::now();
    bool want_ptx = false;
    std::vector<std::string> options = {"--gpu-architecture=" + src.target.arch, "-std=c++17"};
    for (const auto& x : opts.extra) {
      if (x == "--ptx") {
        want_ptx = true;
        options[0] = "--gpu-architecture=compute_" + src.target.arch.substr(3);
      } else {
        options.push_back(x);
      }
    }
    std::vector<const char*> argv;
    for (const auto& o : options) argv.push_back(o.c_str());
    nvrtcProgram prog = nullptr;
    int rc = n.create(&prog, src.source.c_str(), (src.entry + ".cu").c_str(), 0, nullptr, nullptr);
    if (rc != 0) throw Error(ErrorKind::Compile, std::string("nvrtcCreateProgram: ") + n.err(rc));
    rc = n.compile(prog, static_cast<int>(argv.size()), argv.data());
    std::string log, bytes;
    size_t size = 0;
    if (n.log_size(prog, &size) == 0 && size > 1) {
      log.resize(size);
      n.log(prog, log.data());
      log.resize(size - 1);
    }
    if (rc == 0) {
      SizeFn get_size = want_ptx ? n.ptx_size : n.cubin_size;
      GetFn get = want_ptx ? n.ptx : n.cubin;
      if (get_size(prog, &size) == 0 && size > 0) {
        bytes.resize(size);
        if (get(prog, bytes.data()) != 0) bytes.clear();
      }
    }
    n.destroy(&prog);
    if (rc != 0 || bytes.empty()) {
      detail::throw_compile_failure(*this, src, rc ? n.err(rc) : "no code produced", detail::join_command(options), log);
    }
    CodeObject co = detail::base_code_object(src, name(), version(), want_ptx ? "ptx" : "cubin", std::move(bytes));
    co.options = detail::join_command(options);
    co.log = log;
    co.compile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return co;
  }
};

}  // namespace

std::unique_ptr<Compiler> make_nvrtc_compiler() { return std::make_unique<NvrtcCompiler>(); }

}  // namespace ropegen
