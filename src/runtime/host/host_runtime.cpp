// Host runtime: loads a host-cxx shared object from memory (memfd + dlopen) and calls its
// launcher, which runs every block and thread of the grid on the calling thread.
#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "ropegen/error.hpp"
#include "ropegen/runtime.hpp"

namespace ropegen {
namespace {

using HostLaunchFn = void (*)(unsigned, unsigned, unsigned, const ropegen_kernel_args*);

class HostKernel final : public Kernel {
 public:
  HostKernel(const CodeObject& co, void* handle, HostLaunchFn fn)
      : Kernel(co), handle_(handle), fn_(fn) {}
  ~HostKernel() override { dlclose(handle_); }

 protected:
  void launch_checked(const ropegen_kernel_args& args, unsigned gx, unsigned gy,
                      void* /*stream*/) const override {
    fn_(gx, gy, static_cast<unsigned>(plan().block_threads), &args);
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
    int fd = memfd_create(co.entry.c_str(), MFD_CLOEXEC);
    if (fd < 0) throw Error(ErrorKind::Load, std::string("memfd_create: ") + std::strerror(errno));
    size_t done = 0;
    while (done < co.bytes.size()) {
      ssize_t n = write(fd, co.bytes.data() + done, co.bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        int err = errno;
        close(fd);
        throw Error(ErrorKind::Load, std::string("writing the code object: ") + std::strerror(err));
      }
      done += static_cast<size_t>(n);
    }
    const std::string path = "/proc/self/fd/" + std::to_string(fd);
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    close(fd);  // the mapping keeps the object alive
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
    void* p = std::aligned_alloc(256, (bytes + 255) / 256 * 256 + 256);
    if (!p) throw Error(ErrorKind::Launch, "host allocation of " + std::to_string(bytes) + " bytes failed");
    return p;
  }
  void free(void* ptr) override { std::free(ptr); }
  void copy_to_device(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copy_to_host(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void synchronize() override {}
};

}  // namespace

std::unique_ptr<Runtime> make_host_runtime() { return std::make_unique<HostRuntime>(); }

}  // namespace ropegen
