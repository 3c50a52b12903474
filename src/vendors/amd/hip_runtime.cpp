// HIP runtime (AMD), loaded with dlopen through the process's one AMD loader
// (src/vendors/amd/amd_libs.hpp), so the binary runs where ROCm is absent and shares the HIP
// runtime a host framework (PyTorch) already loaded. Needs no HIP headers: the device
// properties layouts it reads are defined in hip_props.hpp.
// No AMD GPU exists on the machines this project is built and tested on: this file is
// tested against stand-in libraries (tests/hip_loader) and on its no-device path only.
#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <vector>

#include "../../common/shutdown.hpp"
#include "amd_libs.hpp"
#include "hip_props.hpp"
#include "ropegen/error.hpp"
#include "compile/compile.hpp"
#include "ropegen/runtime.hpp"

namespace ropegen {
namespace {

using hipModule_t = void*;
using hipFunction_t = void*;
using hipStream_t = void*;
using hipEvent_t = void*;

constexpr unsigned kHipStreamNonBlocking = 0x01;

struct Hip {
  const detail::AmdLib* lib = nullptr;
  int (*hipInit)(unsigned) = nullptr;
  int (*hipGetDeviceCount)(int*) = nullptr;
  int (*hipGetDevice)(int*) = nullptr;
  int (*hipSetDevice)(int) = nullptr;
  int (*hipGetDeviceProperties)(void*, int) = nullptr;  // the layout below says which
  const detail::HipPropsLayout* props_layout = nullptr;
  int (*hipModuleLoadData)(hipModule_t*, const void*) = nullptr;
  int (*hipModuleUnload)(hipModule_t) = nullptr;
  int (*hipModuleGetFunction)(hipFunction_t*, hipModule_t, const char*) = nullptr;
  int (*hipModuleLaunchKernel)(hipFunction_t, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                               hipStream_t, void**, void**) = nullptr;
  int (*hipMalloc)(void**, size_t) = nullptr;
  int (*hipFree)(void*) = nullptr;
  int (*hipMemcpyHtoD)(void*, void*, size_t) = nullptr;
  int (*hipMemcpyDtoH)(void*, void*, size_t) = nullptr;
  int (*hipMemcpyDtoDAsync)(void*, void*, size_t, hipStream_t) = nullptr;
  int (*hipDeviceSynchronize)() = nullptr;
  int (*hipStreamCreateWithFlags)(hipStream_t*, unsigned) = nullptr;
  int (*hipStreamSynchronize)(hipStream_t) = nullptr;
  int (*hipStreamDestroy)(hipStream_t) = nullptr;
  int (*hipEventCreate)(hipEvent_t*) = nullptr;
  int (*hipEventRecord)(hipEvent_t, hipStream_t) = nullptr;
  int (*hipEventSynchronize)(hipEvent_t) = nullptr;
  int (*hipEventElapsedTime)(float*, hipEvent_t, hipEvent_t) = nullptr;
  int (*hipEventDestroy)(hipEvent_t) = nullptr;
  const char* (*hipGetErrorString)(int) = nullptr;
  int (*hipStreamIsCapturing)(hipStream_t, int*) = nullptr;  // optional: Context::tune's check
  std::string problem;

  Hip() {
    lib = &detail::AmdLibs::get().hip();
    if (!lib->ok()) {
      problem = "no HIP runtime: libamdhip64 cannot be loaded (" + lib->tried + ")";
      return;
    }
    std::string missing;
    const detail::AmdLib& l = *lib;
    l.sym("hipInit", hipInit, &missing);
    l.sym("hipGetDeviceCount", hipGetDeviceCount, &missing);
    l.sym("hipGetDevice", hipGetDevice, &missing);
    l.sym("hipSetDevice", hipSetDevice, &missing);
    // ROCm >= 6 exports both; the versioned one is what HIP's own headers call.
    props_layout = &detail::kHipPropsR0600;
    if (!l.sym(props_layout->symbol, hipGetDeviceProperties)) {
      props_layout = &detail::kHipPropsR0000;
      l.sym(props_layout->symbol, hipGetDeviceProperties, &missing);
    }
    l.sym("hipModuleLoadData", hipModuleLoadData, &missing);
    l.sym("hipModuleUnload", hipModuleUnload, &missing);
    l.sym("hipModuleGetFunction", hipModuleGetFunction, &missing);
    l.sym("hipModuleLaunchKernel", hipModuleLaunchKernel, &missing);
    l.sym("hipMalloc", hipMalloc, &missing);
    l.sym("hipFree", hipFree, &missing);
    l.sym("hipMemcpyHtoD", hipMemcpyHtoD, &missing);
    l.sym("hipMemcpyDtoH", hipMemcpyDtoH, &missing);
    l.sym("hipMemcpyDtoDAsync", hipMemcpyDtoDAsync, &missing);
    l.sym("hipDeviceSynchronize", hipDeviceSynchronize, &missing);
    l.sym("hipStreamCreateWithFlags", hipStreamCreateWithFlags, &missing);
    l.sym("hipStreamSynchronize", hipStreamSynchronize, &missing);
    l.sym("hipStreamDestroy", hipStreamDestroy, &missing);
    l.sym("hipEventCreate", hipEventCreate, &missing);
    l.sym("hipEventRecord", hipEventRecord, &missing);
    l.sym("hipEventSynchronize", hipEventSynchronize, &missing);
    l.sym("hipEventElapsedTime", hipEventElapsedTime, &missing);
    l.sym("hipEventDestroy", hipEventDestroy, &missing);
    l.sym("hipGetErrorString", hipGetErrorString, &missing);
    l.sym("hipStreamIsCapturing", hipStreamIsCapturing);  // optional (ROCm 5.3+)
    if (!missing.empty()) {
      problem = "incomplete HIP runtime " + l.file + ": missing " + missing;
      return;
    }
    int r = hipInit(0);
    // After hipInit, so that this handler runs before HIP's own exit-time teardown.
    detail::watch_vendor_exit(0);
    if (r != 0) {
      // Without the kernel driver's device file (/dev/kfd; /dev/dxg on WSL2) HIP finds no GPU.
      struct stat st {};
      const bool dev = stat("/dev/kfd", &st) == 0 || stat("/dev/dxg", &st) == 0;
      problem = std::string("no AMD GPU: hipInit failed with ") + err(r) + " (" + l.file + ")" +
                (dev ? "" : "; this machine has neither /dev/kfd nor /dev/dxg");
    }
  }

  std::string err(int r) const {
    const char* s = hipGetErrorString ? hipGetErrorString(r) : nullptr;
    return s ? std::string(s) : "HIP error " + std::to_string(r);
  }
};

Hip& hip() {
  static Hip h;
  return h;
}

/// One HIP runtime per process: a second libamdhip64 (a system ROCm beside PyTorch's copy)
/// has its own devices, streams and modules, so nothing crosses between them correctly.
void check_one_hip_runtime() {
  const std::string other = detail::other_hip_runtime(hip().lib->file);
  if (!other.empty())
    throw Error(ErrorKind::Load,
                "two HIP runtimes in one process: ropegen uses " + hip().lib->file + ", and " + other +
                    " is loaded too (streams and memory of one are not valid in the other). Load one ROCm: "
                    "import the framework (PyTorch) before ropegen creates a HIP context, or point "
                    "ROPEGEN_HIP_LIB_DIR at the framework's library folder (e.g. torch/lib)");
}

/// Whether a destructor may still call into HIP: not once exit() has begun tearing it down.
bool hip_alive() { return !detail::vendor_exit_started(); }

void check(int r, const std::string& what, ErrorKind kind = ErrorKind::Launch) {
  if (r != 0) throw Error(kind, what + ": " + hip().err(r));
}

/// Makes `device` current for a scope and restores the caller's device afterwards, so a
/// launch does not move PyTorch's (or an engine's) current device.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    check(hip().hipGetDevice(&previous_), "hipGetDevice");
    if (previous_ != device) {
      check(hip().hipSetDevice(device), "hipSetDevice(" + std::to_string(device) + ")");
      changed_ = true;
    }
  }
  /// For destructors: never throws; a failure leaves the current device as it was.
  DeviceGuard(int device, std::nothrow_t) {
    if (hip().hipGetDevice(&previous_) == 0 && previous_ != device) changed_ = hip().hipSetDevice(device) == 0;
  }
  ~DeviceGuard() {
    if (changed_) hip().hipSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
  bool changed_ = false;
};

/// A code object image in a private anonymous mapping. hipModuleLoadData keeps the pointer
/// it is given (no copy), and some ROCm 7 builds reject images on the brk heap, so the
/// image lives here, owned by the kernel, for as long as the module is loaded.
class MappedImage {
 public:
  explicit MappedImage(const std::vector<unsigned char>& bytes) : size_(bytes.empty() ? 1 : bytes.size()) {
    void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
      throw Error(ErrorKind::Load, "mmap of " + std::to_string(size_) +
                                       " bytes for a code object image failed: " + std::strerror(errno));
    if (!bytes.empty()) std::memcpy(p, bytes.data(), bytes.size());
    mprotect(p, size_, PROT_READ);
    data_ = p;
  }
  ~MappedImage() { munmap(data_, size_); }
  MappedImage(const MappedImage&) = delete;
  MappedImage& operator=(const MappedImage&) = delete;
  const void* data() const { return data_; }

 private:
  size_t size_;
  void* data_ = nullptr;
};

class HipKernel final : public Kernel {
 public:
  HipKernel(const CodeObject& co, std::unique_ptr<MappedImage> image, hipModule_t m, hipFunction_t f, int device,
            int parallelism)
      : Kernel(co), image_(std::move(image)), module_(m), fn_(f), device_(device), parallelism_(parallelism) {}
  ~HipKernel() override {
    if (!hip_alive()) {
      image_.release();  // HIP may still point at it; the process is ending
      return;
    }
    DeviceGuard g(device_, std::nothrow);
    hip().hipModuleUnload(module_);  // before image_ is unmapped
  }

 protected:
  void launch_checked(const ropegen_kernel_args& args, unsigned gx, unsigned gy, unsigned gz,
                      void* stream) const override {
    DeviceGuard g(device_);  // the calling thread may be on another device
    ropegen_kernel_args copy = args;
    void* params[] = {&copy};
    check(hip().hipModuleLaunchKernel(fn_, gx, gy, gz, static_cast<unsigned>(plan().block_threads), 1, 1, 0,
                                      static_cast<hipStream_t>(stream), params, nullptr),
          "hipModuleLaunchKernel");
  }
  int default_parallelism() const override { return parallelism_; }

 private:
  std::unique_ptr<MappedImage> image_;
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
    check_one_hip_runtime();
    int count = 0;
    check(h.hipGetDeviceCount(&count), "hipGetDeviceCount", ErrorKind::Load);
    if (count == 0) throw Error(ErrorKind::Load, "no AMD GPU: hipGetDeviceCount found none (" + h.lib->file + ")");
    if (device < 0) check(h.hipGetDevice(&device), "hipGetDevice", ErrorKind::Load);  // the caller's device
    if (device >= count)
      throw Error(ErrorKind::Load,
                  "HIP device " + std::to_string(device) + " does not exist (" + std::to_string(count) + " present)");
    device_ = device;
    std::vector<unsigned char> buf(detail::kHipPropsBufferBytes, 0);
    check(h.hipGetDeviceProperties(buf.data(), device), h.props_layout->symbol, ErrorKind::Load);
    props_ = detail::read_hip_props(buf.data(), *h.props_layout);
  }
  std::string name() const override { return "hip"; }
  std::string device_name() const override {
    return props_.name + " (" + props_.arch + ", " + std::to_string(props_.multiprocessors) + " CUs)";
  }
  Target target() const override {
    try {
      return parse_target(props_.arch);  // e.g. "gfx90a:sramecc+:xnack-"
    } catch (const Error& e) {
      throw Error(ErrorKind::Target, "HIP device " + std::to_string(device_) + " (" + props_.name + ") is " +
                                         props_.arch + ", which ropegen has no target for: " + e.what());
    }
  }
  int multiprocessors() const override { return props_.multiprocessors; }

  std::unique_ptr<Kernel> load(const CodeObject& co) override {
    if (co.format != "hsaco")
      throw Error(ErrorKind::Load,
                  "the HIP runtime loads AMDGPU code objects, not '" + co.format + "' for " + co.target_id);
    check_one_hip_runtime();  // a framework may have loaded its own since the context opened
    DeviceGuard g(device_);
    auto image = std::make_unique<MappedImage>(co.bytes);
    hipModule_t m = nullptr;
    check(hip().hipModuleLoadData(&m, image->data()), "hipModuleLoadData for " + co.entry + " (" + co.target_id + ")",
          ErrorKind::Load);
    hipFunction_t f = nullptr;
    int r = hip().hipModuleGetFunction(&f, m, co.entry.c_str());
    if (r != 0) {
      hip().hipModuleUnload(m);
      check(r, "hipModuleGetFunction " + co.entry, ErrorKind::Load);
    }
    return std::make_unique<HipKernel>(co, std::move(image), m, f, device_, 4 * props_.multiprocessors);
  }
  void* alloc(size_t bytes) override {
    DeviceGuard g(device_);
    void* p = nullptr;
    check(hip().hipMalloc(&p, bytes ? bytes : 1), "hipMalloc(" + std::to_string(bytes) + ")");
    return p;
  }
  void free(void* p) override {
    if (!p || !hip_alive()) return;
    DeviceGuard g(device_, std::nothrow);
    hip().hipFree(p);
  }
  void copy_to_device(void* dst, const void* src, size_t n) override {
    DeviceGuard g(device_);
    check(hip().hipMemcpyHtoD(dst, const_cast<void*>(src), n), "hipMemcpyHtoD");
  }
  void copy_to_host(void* dst, const void* src, size_t n) override {
    DeviceGuard g(device_);
    check(hip().hipMemcpyDtoH(dst, const_cast<void*>(src), n), "hipMemcpyDtoH");
  }
  void copy_on_device(void* dst, const void* src, size_t n, void* stream) override {
    DeviceGuard g(device_);
    check(hip().hipMemcpyDtoDAsync(dst, const_cast<void*>(src), n, static_cast<hipStream_t>(stream)),
          "hipMemcpyDtoDAsync");
  }
  void synchronize() override {
    DeviceGuard g(device_);
    check(hip().hipDeviceSynchronize(), "hipDeviceSynchronize");
  }
  void* create_stream() override {
    DeviceGuard g(device_);
    hipStream_t s = nullptr;
    check(hip().hipStreamCreateWithFlags(&s, kHipStreamNonBlocking), "hipStreamCreateWithFlags");
    return s;
  }
  void destroy_stream(void* s) override {
    if (!s || !hip_alive()) return;
    DeviceGuard g(device_, std::nothrow);
    hip().hipStreamDestroy(static_cast<hipStream_t>(s));
  }
  bool stream_capturing(void* s) override {
    if (!hip().hipStreamIsCapturing) return false;
    DeviceGuard g(device_);
    int status = 0;  // hipStreamCaptureStatusNone
    check(hip().hipStreamIsCapturing(static_cast<hipStream_t>(s), &status), "hipStreamIsCapturing");
    return status != 0;
  }
  void synchronize_stream(void* s) override {
    DeviceGuard g(device_);
    check(hip().hipStreamSynchronize(static_cast<hipStream_t>(s)), "hipStreamSynchronize");
  }
  double time_ms(const std::function<void()>& work, void* stream) override {
    DeviceGuard g(device_);
    Hip& h = hip();
    hipEvent_t start = nullptr, stop = nullptr;
    check(h.hipEventCreate(&start), "hipEventCreate");
    int r = h.hipEventCreate(&stop);
    if (r != 0) {
      h.hipEventDestroy(start);
      check(r, "hipEventCreate");
    }
    float ms = 0;
    try {
      check(h.hipEventRecord(start, static_cast<hipStream_t>(stream)), "hipEventRecord");
      work();
      check(h.hipEventRecord(stop, static_cast<hipStream_t>(stream)), "hipEventRecord");
      check(h.hipEventSynchronize(stop), "hipEventSynchronize");
      check(h.hipEventElapsedTime(&ms, start, stop), "hipEventElapsedTime");
    } catch (...) {
      h.hipEventDestroy(start);
      h.hipEventDestroy(stop);
      throw;
    }
    h.hipEventDestroy(start);
    h.hipEventDestroy(stop);
    return ms;
  }

 private:
  int device_ = 0;
  detail::HipDeviceProps props_;
};

}  // namespace

std::unique_ptr<Runtime> make_hip_runtime(int device) { return std::make_unique<HipRuntime>(device); }

}  // namespace ropegen
