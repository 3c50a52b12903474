// HIP runtime (AMD), loaded with dlopen (libamdhip64.so.5), so the binary runs where ROCm
// is absent. No AMD GPU exists on the machines this project is built and tested on: this
// path is compiled and its no-device handling is tested, nothing more.
#include <sys/stat.h>

#include <cstring>
#include <vector>

#include "../../common/dynlib.hpp"
#include "ropegen/error.hpp"
#include "ropegen/runtime.hpp"

#if ROPEGEN_HAVE_HIP_HEADERS
#include <hip/hip_runtime_api.h>  // hipDeviceProp_t layout only; every call goes through dlopen
#endif

namespace ropegen {

#if ROPEGEN_HAVE_HIP_HEADERS
namespace {

using hipModule_t = void*;
using hipFunction_t = void*;
using hipStream_t = void*;

struct Hip {
  detail::DynLib lib{{"libamdhip64.so.5", "libamdhip64.so"}};
  int (*hipInit)(unsigned) = nullptr;
  int (*hipGetDeviceCount)(int*) = nullptr;
  int (*hipSetDevice)(int) = nullptr;
  int (*hipGetDeviceProperties)(hipDeviceProp_t*, int) = nullptr;
  int (*hipModuleLoadData)(hipModule_t*, const void*) = nullptr;
  int (*hipModuleUnload)(hipModule_t) = nullptr;
  int (*hipModuleGetFunction)(hipFunction_t*, hipModule_t, const char*) = nullptr;
  int (*hipModuleLaunchKernel)(hipFunction_t, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                               unsigned, hipStream_t, void**, void**) = nullptr;
  int (*hipMalloc)(void**, size_t) = nullptr;
  int (*hipFree)(void*) = nullptr;
  int (*hipMemcpyHtoD)(void*, void*, size_t) = nullptr;
  int (*hipMemcpyDtoH)(void*, void*, size_t) = nullptr;
  int (*hipMemcpyDtoDAsync)(void*, void*, size_t, hipStream_t) = nullptr;
  int (*hipDeviceSynchronize)() = nullptr;
  const char* (*hipGetErrorString)(int) = nullptr;
  std::string problem;

  Hip() {
    // Probe before calling into HIP: without the kernel driver's device file there is no
    // AMD GPU, and nothing in libamdhip64 needs to run.
    struct stat st {};
    if (stat("/dev/kfd", &st) != 0) {
      problem = "no AMD GPU: /dev/kfd does not exist";
      return;
    }
    if (!lib.ok()) {
      problem = "libamdhip64 cannot be loaded (" + lib.error() + ")";
      return;
    }
    bool ok = lib.sym("hipInit", hipInit) && lib.sym("hipGetDeviceCount", hipGetDeviceCount) &&
              lib.sym("hipSetDevice", hipSetDevice) && lib.sym("hipGetDeviceProperties", hipGetDeviceProperties) &&
              lib.sym("hipModuleLoadData", hipModuleLoadData) && lib.sym("hipModuleUnload", hipModuleUnload) &&
              lib.sym("hipModuleGetFunction", hipModuleGetFunction) &&
              lib.sym("hipModuleLaunchKernel", hipModuleLaunchKernel) && lib.sym("hipMalloc", hipMalloc) &&
              lib.sym("hipFree", hipFree) && lib.sym("hipMemcpyHtoD", hipMemcpyHtoD) &&
              lib.sym("hipMemcpyDtoH", hipMemcpyDtoH) && lib.sym("hipMemcpyDtoDAsync", hipMemcpyDtoDAsync) && lib.sym("hipDeviceSynchronize", hipDeviceSynchronize) &&
              lib.sym("hipGetErrorString", hipGetErrorString);
    if (!ok) {
      problem = "incomplete libamdhip64: " + lib.error();
      return;
    }
    int r = hipInit(0);
    if (r != 0) problem = std::string("hipInit failed: ") + hipGetErrorString(r);
  }
};

Hip& hip() {
  static Hip h;
  return h;
}

void check(int r, const std::string& what, ErrorKind kind = ErrorKind::Launch) {
  if (r != 0) throw Error(kind, what + ": " + hip().hipGetErrorString(r));
}

class HipKernel final : public Kernel {
 public:
  HipKernel(const CodeObject& co, hipModule_t m, hipFunction_t f, int device, int parallelism)
      : Kernel(co), module_(m), fn_(f), device_(device), parallelism_(parallelism) {}
  ~HipKernel() override { hip().hipModuleUnload(module_); }

 protected:
  void launch_checked(const ropegen_kernel_args& args, unsigned gx, unsigned gy, void* stream) const override {
    check(hip().hipSetDevice(device_), "hipSetDevice");  // the calling thread may be on another device
    ropegen_kernel_args copy = args;
    void* params[] = {&copy};
    check(hip().hipModuleLaunchKernel(fn_, gx, gy, 1, static_cast<unsigned>(plan().block_threads), 1, 1, 0,
                                      static_cast<hipStream_t>(stream), params, nullptr),
          "hipModuleLaunchKernel");
  }
  int default_parallelism() const override { return parallelism_; }

 private:
  hipModule_t module_;
  hipFunction_t fn_;
  int device_;
  int parallelism_;
};

class HipRuntime final : public Runtime {
 public:
  explicit HipRuntime(int device) {
    Hip& h = hip();
    if (!h.problem.empty()) throw Error(ErrorKind::Load, h.problem);
    int count = 0;
    check(h.hipGetDeviceCount(&count), "hipGetDeviceCount", ErrorKind::Load);
    if (device < 0) device = 0;
    if (device >= count)
      throw Error(ErrorKind::Load, "HIP device " + std::to_string(device) + " does not exist (" +
                                       std::to_string(count) + " present)");
    device_ = device;
    hipDeviceProp_t props;
    std::memset(&props, 0, sizeof props);
    check(h.hipGetDeviceProperties(&props, device), "hipGetDeviceProperties", ErrorKind::Load);
    arch_ = props.gcnArchName;  // e.g. "gfx90a:sramecc+:xnack-"
    name_ = props.name;
    cus_ = props.multiProcessorCount;
  }
  std::string name() const override { return "hip"; }
  std::string device_name() const override { return name_ + " (" + arch_ + ")"; }
  Target target() const override { return parse_target(arch_); }
  int multiprocessors() const override { return cus_; }

  std::unique_ptr<Kernel> load(const CodeObject& co) override {
    if (co.format != "hsaco")
      throw Error(ErrorKind::Load, "the HIP runtime loads AMDGPU code objects, not '" + co.format + "'");
    bind();
    hipModule_t m = nullptr;
    check(hip().hipModuleLoadData(&m, co.bytes.data()), "hipModuleLoadData for " + co.entry, ErrorKind::Load);
    hipFunction_t f = nullptr;
    int r = hip().hipModuleGetFunction(&f, m, co.entry.c_str());
    if (r != 0) {
      hip().hipModuleUnload(m);
      check(r, "hipModuleGetFunction " + co.entry, ErrorKind::Load);
    }
    return std::make_unique<HipKernel>(co, m, f, device_, 4 * cus_);
  }
  void* alloc(size_t bytes) override {
    bind();
    void* p = nullptr;
    check(hip().hipMalloc(&p, bytes ? bytes : 1), "hipMalloc");
    return p;
  }
  void free(void* p) override {
    if (p) hip().hipFree(p);
  }
  void copy_to_device(void* dst, const void* src, size_t n) override {
    bind();
    check(hip().hipMemcpyHtoD(dst, const_cast<void*>(src), n), "hipMemcpyHtoD");
  }
  void copy_to_host(void* dst, const void* src, size_t n) override {
    bind();
    check(hip().hipMemcpyDtoH(dst, const_cast<void*>(src), n), "hipMemcpyDtoH");
  }
  void copy_on_device(void* dst, const void* src, size_t n, void* stream) override {
    bind();
    check(hip().hipMemcpyDtoDAsync(dst, const_cast<void*>(src), n, static_cast<hipStream_t>(stream)), "hipMemcpyDtoDAsync");
  }
  void synchronize() override {
    bind();
    check(hip().hipDeviceSynchronize(), "hipDeviceSynchronize");
  }

 private:
  void bind() { check(hip().hipSetDevice(device_), "hipSetDevice"); }
  int device_ = 0;
  std::string arch_, name_;
  int cus_ = 1;
};

}  // namespace

std::unique_ptr<Runtime> make_hip_runtime(int device) { return std::make_unique<HipRuntime>(device); }

#else

std::unique_ptr<Runtime> make_hip_runtime(int) {
  throw Error(ErrorKind::Load, "this ropegen was built without HIP headers (libamdhip64-dev): no HIP runtime");
}

#endif

}  // namespace ropegen
