// clang-amdgpu: LLVM's AMDGPU backend through the clang driver. Builds a loadable code
// object (an AMDGPU ELF, not an offload bundle) for any ISA the installed clang knows,
// including gfx11 and gfx942, without the ROCm device library: the templates use clang
// builtins only. Picks the newest clang-19..clang-15 on PATH, or $ROPEGEN_CLANG.
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <sstream>

#include "../vendors.hpp"
#include "../../common/process.hpp"
#include "cache/probe_cache.hpp"
#include "amd.hpp"
#include "ropegen/error.hpp"

namespace ropegen {
namespace {

struct ClangInfo {
  std::string path;
  std::string version;  // "--version" line plus the code object version (part of the cache key)
  int code_object_version = 4;
  std::vector<std::string> cpus;
  std::string problem;
};

/// Flags for a target beyond the ISA, -O3, C++17, the code object version and the wave.
/// CDNA: -fno-slp-vectorize. On the ISAs with packed fp32 math (gfx90a, gfx942) the SLP
/// vectorizer pairs each rotation's products into v_pk_mul_f32, which wants every (cos, sin)
/// pair in two adjacent registers, so the kernel keeps a second, paired copy of its cos/sin
/// values: the default bf16 kernel needs 66-67 VGPRs instead of 50-51 (full occupancy, 8
/// waves per SIMD, needs <= 64) and runs more instructions (the copies and the pairs' adds).
/// gfx908 has no packed fp32 (nothing changes there). hipRTC does not get the flag: the
/// ROCm 5.2 one vectorizes again when comgr generates code from the bitcode, where the flag
/// does not reach, and there the flag only moved f16 from 62 to 66 VGPRs.
std::vector<std::string> target_flags(const Target& t) {
  if (t.family.rfind("CDNA", 0) == 0) return {"-fno-slp-vectorize"};
  return {};
}
/// What target_flags() adds, in the version text of a CDNA code object (version_for()): cache
/// entries are matched on it, so entries built under another policy are rebuilt.
constexpr const char* kTargetFlagsNote = "CDNA: -fno-slp-vectorize";

const ClangInfo& clang_info() {
  static const ClangInfo info = [] {
    ClangInfo c;
    c.path = detail::find_program("ROPEGEN_CLANG", {"clang-19", "clang-18", "clang-17", "clang-16", "clang-15", "clang"});
    if (c.path.empty()) {
      c.problem = "no clang found on PATH (apt-get install clang-19 lld-19, or set ROPEGEN_CLANG)";
      return c;
    }
    nlohmann::json j = detail::cached_probe("clang:" + c.path, {c.path}, [&] {
      nlohmann::json r = {{"problem", ""}, {"version", ""}, {"cpus", nlohmann::json::array()}};
      detail::ProcessResult v = detail::run_process({c.path, "--version"});
      if (v.exit_code != 0) {
        r["problem"] = "'" + c.path + " --version' failed: " + v.error;
        return r;
      }
      r["version"] = v.output.substr(0, v.output.find('\n'));
      detail::ProcessResult l =
          detail::run_process({c.path, "--target=amdgcn-amd-amdhsa", "-nogpulib", "-print-supported-cpus"});
      std::istringstream in(l.output);
      std::string line;
      while (std::getline(in, line)) {
        line.erase(0, line.find_first_not_of(" \t"));
        if (line.rfind("gfx", 0) == 0) r["cpus"].push_back(line.substr(0, line.find_first_of(" \t")));
      }
      if (r["cpus"].empty()) {
        r["problem"] = c.path + " has no AMDGPU target (-print-supported-cpus listed no gfx ISA)";
        return r;
      }
      // The driver links code objects with the ld.lld installed beside it.
      char resolved[4096];
      if (realpath(c.path.c_str(), resolved)) {
        std::string dir = resolved;
        dir = dir.substr(0, dir.rfind('/'));
        if (access((dir + "/ld.lld").c_str(), X_OK) != 0)
          r["problem"] = c.path + " cannot link AMDGPU code objects: no ld.lld in " + dir + " (install lld of the same version)";
      }
      return r;
    });
    c.problem = j.value("problem", "");
    c.version = j.value("version", "");
    // Pinned, not left to the default (v4 before clang 17, v5 after): the ROCm 6 and 7
    // runtimes load v5; older clangs are paired with older ROCm and keep v4.
    const auto at = c.version.find("version ");
    const int major = at == std::string::npos ? 0 : std::atoi(c.version.c_str() + at + 8);
    c.code_object_version = major >= 17 ? 5 : 4;
    if (!c.version.empty())
      c.version += ", code object v" + std::to_string(c.code_object_version);
    c.cpus = j.value("cpus", std::vector<std::string>{});
    return c;
  }();
  return info;
}

class ClangAmdgpuCompiler final : public Compiler {
 public:
  std::string name() const override { return "clang-amdgpu"; }
  Vendor vendor() const override { return Vendor::Amd; }
  std::string version() const override { return clang_info().version; }
  std::string version_for(const Target& t) const override {
    const std::string& v = clang_info().version;
    return v.empty() || target_flags(t).empty() ? v : v + ", " + kTargetFlagsNote;
  }
  bool available(std::string* why) const override {
    if (clang_info().problem.empty()) return true;
    if (why) *why = clang_info().problem;
    return false;
  }
  bool supports(const Target& t, std::string* why) const override {
    if (!detail::same_vendor(*this, t, why)) return false;
    const auto& cpus = clang_info().cpus;
    if (std::find(cpus.begin(), cpus.end(), t.arch) == cpus.end()) {
      if (why) *why = clang_info().version + " does not know ISA " + t.arch;
      return false;
    }
    return true;
  }

  CodeObject compile(const GeneratedSource& src, const CompileOptions& opts) const override {
    detail::ensure_can_build(*this, src.target);
    auto t0 = std::chrono::steady_clock::now();
    const std::string dir = detail::make_temp_dir("ropegen-clang");
    const std::string in = dir + "/" + src.entry + ".hip", out = dir + "/" + src.entry + ".hsaco";
    std::vector<std::string> argv = {clang_info().path, "-x", "hip", "--offload-arch=" + src.target.id(),
                                     "-nogpulib", "-nogpuinc", "--cuda-device-only",
                                     "--no-gpu-bundle-output", "-O3", "-std=c++17",
                                     "-mcode-object-version=" + std::to_string(clang_info().code_object_version)};
    if (src.plan.wave == 64 && amd_default_wave(src.target) == 32) argv.push_back("-mwavefrontsize64");
    for (const auto& x : target_flags(src.target)) argv.push_back(x);
    for (const auto& x : opts.extra) argv.push_back(x);
    argv.insert(argv.end(), {"-o", out, in});
    detail::ProcessResult r;
    std::string bytes;
    try {
      detail::write_file(in, src.source);
      r = detail::run_process(argv);
      if (r.exit_code == 0) bytes = detail::read_file(out);
    } catch (...) {
      detail::remove_tree(dir);
      throw;
    }
    detail::remove_tree(dir);
    if (r.exit_code != 0 || bytes.empty()) {
      detail::throw_compile_failure(*this, src, r.error, detail::join_command(argv), r.output);
    }
    CodeObject co = make_amd_code_object(src, name(), version_for(src.target), std::move(bytes));
    co.options = detail::join_command(argv);
    co.log = r.output;
    co.compile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    check_amd_code_object(co, src, clang_info().code_object_version);
    return co;
  }
};

}  // namespace

std::unique_ptr<Compiler> make_clang_amdgpu_compiler() { return std::make_unique<ClangAmdgpuCompiler>(); }

}  // namespace ropegen
