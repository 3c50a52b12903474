// host-cxx: compiles the generated source with the system C++ compiler into a shared
// object that the host runtime loads. This is how CI runs the generated kernels.
#include <chrono>
#include <cstdlib>
#include <mutex>

#include "../vendors.hpp"
#include "../../common/process.hpp"
#include "../../compile/backend_util.hpp"
#include "compile/compile.hpp"
#include "ropegen/error.hpp"
#include "host.hpp"

namespace ropegen {
namespace {

std::string host_cxx() {
  const char* env = std::getenv("ROPEGEN_HOST_CXX");
  return env && *env ? env : "c++";
}

class HostCompiler final : public Compiler {
 public:
  std::string name() const override { return "host-cxx"; }

  Vendor vendor() const override { return Vendor::Host; }
  std::string version() const override {
    std::call_once(version_once_, [this] {
      detail::ProcessResult r = detail::run_process({host_cxx(), "--version"});
      if (r.exit_code == 0) {
        version_ = r.output.substr(0, r.output.find('\n'));
      } else {
        version_error_ = r.error.empty() ? "'" + host_cxx() + " --version' failed" : r.error;
      }
    });
    return version_;
  }

  bool available(std::string* why) const override {
    if (!version().empty()) return true;
    if (why) *why = version_error_ + " (set ROPEGEN_HOST_CXX to a C++17 compiler)";
    return false;
  }

  bool supports(const Target& target, std::string* why) const override {
    return detail::same_vendor(*this, target, why);
  }

  CodeObject compile(const GeneratedSource& src, const CompileOptions& opts) const override {
    detail::ensure_can_build(*this, src.target);
    auto t0 = std::chrono::steady_clock::now();
    const std::string dir = detail::make_temp_dir("ropegen-host");
    const std::string cpp = dir + "/" + src.entry + ".cpp";
    const std::string so = dir + "/" + src.entry + ".so";
    std::vector<std::string> argv = {host_cxx(), "-std=c++17", "-O2", "-fPIC", "-shared",
                                     "-fno-fast-math", "-w"};
    for (const auto& x : opts.extra) argv.push_back(x);
    argv.insert(argv.end(), {"-o", so, cpp});
    detail::ProcessResult r;
    try {
      detail::write_file(cpp, src.source);
      r = detail::run_process(argv);
    } catch (...) {
      detail::remove_tree(dir);
      throw;
    }
    if (r.exit_code != 0) {
      detail::remove_tree(dir);
      detail::throw_compile_failure(*this, src, r.error, detail::join_command(argv), r.output);
    }
    CodeObject co;
    try {
      std::string bytes = detail::read_file(so);
      co.bytes.assign(bytes.begin(), bytes.end());
    } catch (...) {
      detail::remove_tree(dir);
      throw;
    }
    detail::remove_tree(dir);
    co.backend = name();
    co.backend_version = version();
    co.target_id = src.target.id();
    co.format = "elf-so";
    co.entry = src.entry;
    co.host_entry = src.host_entry;
    co.plan = src.plan;
    co.align = src.align;
    co.spec = src.spec;
    co.options = detail::join_command(argv);
    co.log = r.output;
    co.compile_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return co;
  }

 private:
  mutable std::once_flag version_once_;
  mutable std::string version_;
  mutable std::string version_error_;
};

}  // namespace

std::unique_ptr<Compiler> make_host_compiler() { return std::make_unique<HostCompiler>(); }

}  // namespace ropegen
