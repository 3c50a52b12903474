// Host runtime: loads a host-cxx shared object (dlopen) and calls its
// launcher, which runs every block and thread of the grid on the calling thread.
#include <dlfcn.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "../../common/process.hpp"
#include "compile/compile.hpp"
#include "ropegen/error.hpp"
#include "host.hpp"
#include "ropegen/runtime.hpp"

namespace ropegen {
namespace {

// The generated host entry: grid x, y, z, block x, the argument block.
using HostLaunchFn = void (*)(unsigned, unsigned, unsigned, unsigned, const ropegen_kernel_args*);

class HostKernel final : public Kernel {
 public:
  HostKernel(const CodeObject& co, void* handle, HostLaunchFn fn)
      : Kernel(co), handle_(handle), fn_(fn) {}
  ~HostKernel() override { dlclose(handle_); }

 protected:
  void launch_checked(const ropegen_kernel_args& args, unsigned gx, unsigned gy, unsigned gz,
                      void* /*stream*/) const override {
    fn_(gx, gy, gz, static_cast<unsigned>(plan().block_threads), &args);
  }
  int default_parallelism() const override { return 1; }

 private:
  void* handle_;
  HostLaunchFn fn_;
};

class HostRuntime final : public Runtime {
 public:
  std::string name() const override { return "host"; }
  Target target() const override { return parse_target("host"); }

  std::unique_ptr<Kernel> load(const CodeObject& co) override {
    if (co.format != "elf-so" || co.host_entry.empty())
      throw Error(ErrorKind::Load, "the host runtime loads host-cxx shared objects, not '" +
                                       co.format + "' code objects for " + co.target_id);
    // dlopen needs a file, and glibc reuses an already loaded object whose path matches, so
    // each load gets a fresh private directory; the file is removed once mapped. Its name is
    // fixed: nothing read from a cache entry becomes part of a path.
    const std::string dir = detail::make_temp_dir("ropegen-load");
    const std::string path = dir + "/code.so";
    void* handle = nullptr;
    try {
      detail::write_file(path, std::string(co.bytes.begin(), co.bytes.end()));
      handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    } catch (...) {
      detail::remove_tree(dir);
      throw;
    }
    detail::remove_tree(dir);
    if (!handle) {
      const char* err = dlerror();
      throw Error(ErrorKind::Load, std::string("cannot load host code object for ") + co.entry +
                                       ": " + (err ? err : "unknown dlopen error"));
    }
    auto fn = reinterpret_cast<HostLaunchFn>(dlsym(handle, co.host_entry.c_str()));
    if (!fn) {
      dlclose(handle);
      throw Error(ErrorKind::Load, "code object has no symbol '" + co.host_entry + "'");
    }
    return std::make_unique<HostKernel>(co, handle, fn);
  }

  void* alloc(size_t bytes) override {
    // Rounded up to 256 bytes plus 256 of slack; a size whose rounding would wrap is refused.
    if (bytes > SIZE_MAX - 512)
      throw Error(ErrorKind::Launch, "host allocation of " + std::to_string(bytes) + " bytes is too large");
    void* p = std::aligned_alloc(256, (bytes + 255) / 256 * 256 + 256);
    if (!p) throw Error(ErrorKind::Launch, "host allocation of " + std::to_string(bytes) + " bytes failed");
    return p;
  }
  void free(void* ptr) override { std::free(ptr); }
  // An empty copy may name NULL pointers (the C API allows it), which memcpy must never get.
  void copy_to_device(void* dst, const void* src, size_t bytes) override {
    if (bytes) std::memcpy(dst, src, bytes);
  }
  void copy_to_host(void* dst, const void* src, size_t bytes) override {
    if (bytes) std::memcpy(dst, src, bytes);
  }
  void copy_on_device(void* dst, const void* src, size_t bytes, void*) override {
    if (bytes) std::memmove(dst, src, bytes);
  }
  void synchronize() override {}
};

}  // namespace

std::unique_ptr<Runtime> make_host_runtime() { return std::make_unique<HostRuntime>(); }

}  // namespace ropegen
