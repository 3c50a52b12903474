// CUDA runtime through the driver API, loaded with dlopen (libcuda.so.1), so the same
// binary starts on machines without an NVIDIA driver and reports that instead.
// Works in the context current on the calling thread if there is one (so pointers from
// PyTorch, CuPy or an engine's allocator can be passed directly), else in the device's
// primary context.
#include <cstring>
#include <mutex>

#include "../../common/dynlib.hpp"
#include "../../common/shutdown.hpp"
#include "ropegen/error.hpp"
#include "nvidia.hpp"
#include "compile/compile.hpp"
#include "ropegen/runtime.hpp"

namespace ropegen {
namespace {

using CUresult = int;
using CUdevice = int;
using CUcontext = void*;
using CUmodule = void*;
using CUfunction = void*;
using CUstream = void*;
using CUdeviceptr = unsigned long long;

// cuLaunchKernelEx's configuration, laid out as cuda.h (CUDA 12+) defines it: a launch
// attribute is an id padded to 8 bytes and a 64-byte value union.
struct CUlaunchAttribute {
  int id;
  char pad[4];
  union {
    char bytes[64];
    int programmatic_stream_serialization_allowed;
  } value;
};
static_assert(sizeof(CUlaunchAttribute) == 72, "CUlaunchAttribute layout");
struct CUlaunchConfig {
  unsigned grid_x, grid_y, grid_z, block_x, block_y, block_z, shared_bytes;
  CUstream stream;
  CUlaunchAttribute* attrs;
  unsigned num_attrs;
};
static_assert(sizeof(CUlaunchConfig) == 56, "CUlaunchConfig layout");
constexpr int kAttrProgrammaticStreamSerialization = 6;  // CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION

struct Driver {
  detail::DynLib lib{{"libcuda.so.1", "libcuda.so"}};
  CUresult (*cuInit)(unsigned) = nullptr;
  CUresult (*cuDeviceGetCount)(int*) = nullptr;
  CUresult (*cuDeviceGet)(CUdevice*, int) = nullptr;
  CUresult (*cuDeviceGetAttribute)(int*, int, CUdevice) = nullptr;
  CUresult (*cuDeviceGetName)(char*, int, CUdevice) = nullptr;
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext*, CUdevice) = nullptr;
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice) = nullptr;
  CUresult (*cuCtxGetCurrent)(CUcontext*) = nullptr;
  CUresult (*cuCtxSetCurrent)(CUcontext) = nullptr;
  CUresult (*cuCtxGetDevice)(CUdevice*) = nullptr;
  CUresult (*cuCtxSynchronize)() = nullptr;
  CUresult (*cuModuleLoadData)(CUmodule*, const void*) = nullptr;
  CUresult (*cuModuleUnload)(CUmodule) = nullptr;
  CUresult (*cuModuleGetFunction)(CUfunction*, CUmodule, const char*) = nullptr;
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                             CUstream, void**, void**) = nullptr;
  CUresult (*cuMemAlloc)(CUdeviceptr*, size_t) = nullptr;
  CUresult (*cuMemFree)(CUdeviceptr) = nullptr;
  CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void*, size_t) = nullptr;
  CUresult (*cuMemcpyDtoH)(void*, CUdeviceptr, size_t) = nullptr;
  CUresult (*cuMemcpyDtoDAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream) = nullptr;
  CUresult (*cuGetErrorString)(CUresult, const char**) = nullptr;
  CUresult (*cuStreamCreate)(CUstream*, unsigned) = nullptr;
  CUresult (*cuStreamDestroy)(CUstream) = nullptr;
  CUresult (*cuStreamSynchronize)(CUstream) = nullptr;
  CUresult (*cuEventCreate)(void**, unsigned) = nullptr;
  CUresult (*cuEventRecord)(void*, CUstream) = nullptr;
  CUresult (*cuEventSynchronize)(void*) = nullptr;
  CUresult (*cuEventElapsedTime)(float*, void*, void*) = nullptr;
  CUresult (*cuEventDestroy)(void*) = nullptr;
  CUresult (*cuLaunchKernelEx)(const CUlaunchConfig*, CUfunction, void**, void**) = nullptr;  // optional: PDL
  // CUDA graphs (optional: the benchmark's graph mode).
  CUresult (*cuStreamBeginCapture)(CUstream, int) = nullptr;
  CUresult (*cuStreamEndCapture)(CUstream, void**) = nullptr;
  CUresult (*cuGraphInstantiateWithFlags)(void**, void*, unsigned long long) = nullptr;
  CUresult (*cuGraphLaunch)(void*, CUstream) = nullptr;
  CUresult (*cuGraphExecDestroy)(void*) = nullptr;
  CUresult (*cuGraphDestroy)(void*) = nullptr;
  CUresult (*cuStreamIsCapturing)(CUstream, int*) = nullptr;  // optional: Context::tune's check
  bool graphs = false;
  std::string problem;

  Driver() {
    if (!lib.ok()) {
      problem = "no NVIDIA driver: libcuda.so.1 cannot be loaded (" + lib.error() + ")";
      return;
    }
    bool ok = lib.sym("cuInit", cuInit) && lib.sym("cuDeviceGetCount", cuDeviceGetCount) &&
              lib.sym("cuDeviceGet", cuDeviceGet) && lib.sym("cuDeviceGetAttribute", cuDeviceGetAttribute) &&
              lib.sym("cuDeviceGetName", cuDeviceGetName) &&
              lib.sym("cuDevicePrimaryCtxRetain", cuDevicePrimaryCtxRetain) &&
              lib.sym("cuDevicePrimaryCtxRelease_v2", cuDevicePrimaryCtxRelease) &&
              lib.sym("cuCtxGetCurrent", cuCtxGetCurrent) && lib.sym("cuCtxSetCurrent", cuCtxSetCurrent) &&
              lib.sym("cuCtxGetDevice", cuCtxGetDevice) && lib.sym("cuCtxSynchronize", cuCtxSynchronize) &&
              lib.sym("cuModuleLoadData", cuModuleLoadData) && lib.sym("cuModuleUnload", cuModuleUnload) &&
              lib.sym("cuModuleGetFunction", cuModuleGetFunction) && lib.sym("cuLaunchKernel", cuLaunchKernel) &&
              lib.sym("cuMemAlloc_v2", cuMemAlloc) && lib.sym("cuMemFree_v2", cuMemFree) &&
              lib.sym("cuMemcpyHtoD_v2", cuMemcpyHtoD) && lib.sym("cuMemcpyDtoH_v2", cuMemcpyDtoH) && lib.sym("cuMemcpyDtoDAsync_v2", cuMemcpyDtoDAsync) &&
              lib.sym("cuGetErrorString", cuGetErrorString) && lib.sym("cuStreamCreate", cuStreamCreate) &&
              lib.sym("cuStreamDestroy_v2", cuStreamDestroy) && lib.sym("cuStreamSynchronize", cuStreamSynchronize) &&
              lib.sym("cuEventCreate", cuEventCreate) && lib.sym("cuEventRecord", cuEventRecord) &&
              lib.sym("cuEventSynchronize", cuEventSynchronize) &&
              lib.sym("cuEventElapsedTime", cuEventElapsedTime) && lib.sym("cuEventDestroy_v2", cuEventDestroy);
    if (!ok) {
      problem = "incomplete NVIDIA driver library: " + lib.error();
      return;
    }
    cuLaunchKernelEx = reinterpret_cast<decltype(cuLaunchKernelEx)>(dlsym(lib.handle(), "cuLaunchKernelEx"));
    cuStreamIsCapturing = reinterpret_cast<decltype(cuStreamIsCapturing)>(dlsym(lib.handle(), "cuStreamIsCapturing"));
    graphs = lib.sym("cuStreamBeginCapture_v2", cuStreamBeginCapture) &&
             lib.sym("cuStreamEndCapture", cuStreamEndCapture) &&
             lib.sym("cuGraphInstantiateWithFlags", cuGraphInstantiateWithFlags) &&
             lib.sym("cuGraphLaunch", cuGraphLaunch) && lib.sym("cuGraphExecDestroy", cuGraphExecDestroy) &&
             lib.sym("cuGraphDestroy", cuGraphDestroy);
    CUresult r = cuInit(0);
    // After cuInit, so that this handler runs before the driver's own exit-time teardown.
    detail::watch_vendor_exit(1);
    if (r != 0) problem = "cuInit failed: " + err(r);
  }

  std::string err(CUresult r) const {
    const char* s = nullptr;
    if (cuGetErrorString && cuGetErrorString(r, &s) == 0 && s) return s;
    return "CUDA error " + std::to_string(r);
  }
};

Driver& driver() {
  static Driver d;
  return d;
}

void check(CUresult r, const char* what, ErrorKind kind = ErrorKind::Launch) {
  if (r != 0) throw Error(kind, std::string(what) + ": " + driver().err(r));
}

class CudaRuntime;

class CudaKernel final : public Kernel {
 public:
  CudaKernel(const CodeObject& co, CUmodule m, CUfunction f, CUcontext ctx, int parallelism)
      : Kernel(co), module_(m), fn_(f), ctx_(ctx), parallelism_(parallelism) {}
  ~CudaKernel() override {
    if (!detail::vendor_exit_started()) driver().cuModuleUnload(module_);
  }

 protected:
  void launch_checked(const ropegen_kernel_args& args, unsigned gx, unsigned gy, unsigned gz,
                      void* stream) const override {
    // Engines launch from their own threads: make this kernel's context current there.
    CUcontext cur = nullptr;
    driver().cuCtxGetCurrent(&cur);
    if (cur != ctx_) check(driver().cuCtxSetCurrent(ctx_), "cuCtxSetCurrent");
    ropegen_kernel_args copy = args;
    void* params[] = {&copy};
    if (spec().pdl == Pdl::On) {
      // Programmatic stream serialization: the kernel may start before the previous one in
      // the stream ends; it waits for it (griddepcontrol.wait) before reading q, k, v.
      if (!driver().cuLaunchKernelEx)
        throw Error(ErrorKind::Launch, "pdl = on needs cuLaunchKernelEx, which this NVIDIA driver lacks");
      CUlaunchAttribute attr{};
      attr.id = kAttrProgrammaticStreamSerialization;
      attr.value.programmatic_stream_serialization_allowed = 1;
      CUlaunchConfig cfg{gx, gy, gz, static_cast<unsigned>(plan().block_threads), 1, 1, 0,
                         static_cast<CUstream>(stream), &attr, 1};
      check(driver().cuLaunchKernelEx(&cfg, fn_, params, nullptr), "cuLaunchKernelEx");
      return;
    }
    check(driver().cuLaunchKernel(fn_, gx, gy, gz, static_cast<unsigned>(plan().block_threads), 1, 1, 0,
                                  static_cast<CUstream>(stream), params, nullptr),
          "cuLaunchKernel");
  }
  int default_parallelism() const override { return parallelism_; }

 private:
  CUmodule module_;
  CUfunction fn_;
  CUcontext ctx_;
  int parallelism_;
};

class CudaRuntime final : public Runtime {
 public:
  explicit CudaRuntime(int device) {
    Driver& d = driver();
    if (!d.problem.empty()) throw Error(ErrorKind::Load, d.problem);
    int count = 0;
    check(d.cuDeviceGetCount(&count), "cuDeviceGetCount", ErrorKind::Load);
    CUcontext current = nullptr;
    d.cuCtxGetCurrent(&current);
    // A current context that no longer works (e.g. a released primary context) counts as none.
    CUdevice probe = 0;
    if (current && d.cuCtxGetDevice(&probe) != 0) current = nullptr;
    if (device < 0 && current) {
      // The caller's context decides the device.
      check(d.cuCtxGetDevice(&device_), "cuCtxGetDevice", ErrorKind::Load);
      ctx_ = current;
    } else {
      if (device < 0) device = 0;
      if (device >= count)
        throw Error(ErrorKind::Load, "CUDA device " + std::to_string(device) + " does not exist (" +
                                         std::to_string(count) + " present)");
      check(d.cuDeviceGet(&device_, device), "cuDeviceGet", ErrorKind::Load);
      check(d.cuDevicePrimaryCtxRetain(&ctx_, device_), "cuDevicePrimaryCtxRetain", ErrorKind::Load);
      owns_primary_ = true;
      if (!current) check(d.cuCtxSetCurrent(ctx_), "cuCtxSetCurrent", ErrorKind::Load);
    }
    int major = 0, minor = 0, sms = 0;
    d.cuDeviceGetAttribute(&major, 75, device_);  // COMPUTE_CAPABILITY_MAJOR
    d.cuDeviceGetAttribute(&minor, 76, device_);  // COMPUTE_CAPABILITY_MINOR
    d.cuDeviceGetAttribute(&sms, 16, device_);    // MULTIPROCESSOR_COUNT
    char name[256] = {0};
    d.cuDeviceGetName(name, sizeof name - 1, device_);
    name_ = name;
    sms_ = sms;
    arch_ = "sm_" + std::to_string(major) + std::to_string(minor);
  }
  ~CudaRuntime() override {
    if (!owns_primary_ || detail::vendor_exit_started()) return;
    // Leave no thread pointing at a context this runtime may have been the last user of.
    CUcontext cur = nullptr;
    driver().cuCtxGetCurrent(&cur);
    if (cur == ctx_) driver().cuCtxSetCurrent(nullptr);
    driver().cuDevicePrimaryCtxRelease(device_);
  }

  std::string name() const override { return "cuda"; }
  std::string device_name() const override { return name_ + " (" + arch_ + ", " + std::to_string(sms_) + " SMs)"; }
  Target target() const override {
    try {
      return parse_target(arch_);
    } catch (const Error&) {
      throw Error(ErrorKind::Target, "device " + name_ + " is " + arch_ + ", which ropegen has no target for");
    }
  }
  int multiprocessors() const override { return sms_; }

  std::unique_ptr<Kernel> load(const CodeObject& co) override {
    if (co.format != "cubin" && co.format != "ptx")
      throw Error(ErrorKind::Load, "the CUDA runtime loads cubin or PTX, not '" + co.format + "' for " + co.target_id);
    bind();
    std::string image(co.bytes.begin(), co.bytes.end());  // PTX must be NUL-terminated
    CUmodule m = nullptr;
    check(driver().cuModuleLoadData(&m, image.c_str()), ("cuModuleLoadData for " + co.entry).c_str(), ErrorKind::Load);
    CUfunction f = nullptr;
    CUresult r = driver().cuModuleGetFunction(&f, m, co.entry.c_str());
    if (r != 0) {
      driver().cuModuleUnload(m);
      check(r, ("cuModuleGetFunction " + co.entry).c_str(), ErrorKind::Load);
    }
    // Enough blocks in flight to cover every SM a few times.
    return std::make_unique<CudaKernel>(co, m, f, ctx_, 4 * sms_);
  }

  void* alloc(size_t bytes) override {
    bind();
    CUdeviceptr p = 0;
    check(driver().cuMemAlloc(&p, bytes ? bytes : 1), "cuMemAlloc");
    return reinterpret_cast<void*>(p);
  }
  void free(void* p) override {
    if (p && !detail::vendor_exit_started()) driver().cuMemFree(reinterpret_cast<CUdeviceptr>(p));
  }
  void copy_to_device(void* dst, const void* src, size_t n) override {
    bind();
    check(driver().cuMemcpyHtoD(reinterpret_cast<CUdeviceptr>(dst), src, n), "cuMemcpyHtoD");
  }
  void copy_to_host(void* dst, const void* src, size_t n) override {
    bind();
    check(driver().cuMemcpyDtoH(dst, reinterpret_cast<CUdeviceptr>(src), n), "cuMemcpyDtoH");
  }
  void copy_on_device(void* dst, const void* src, size_t n, void* stream) override {
    bind();
    check(driver().cuMemcpyDtoDAsync(reinterpret_cast<CUdeviceptr>(dst), reinterpret_cast<CUdeviceptr>(src), n,
                                     static_cast<CUstream>(stream)),
          "cuMemcpyDtoDAsync");
  }
  void synchronize() override {
    bind();
    check(driver().cuCtxSynchronize(), "cuCtxSynchronize");
  }
  void* create_stream() override {
    bind();
    CUstream s = nullptr;
    check(driver().cuStreamCreate(&s, 1 /*CU_STREAM_NON_BLOCKING*/), "cuStreamCreate");
    return s;
  }
  void destroy_stream(void* s) override {
    if (s && !detail::vendor_exit_started()) driver().cuStreamDestroy(static_cast<CUstream>(s));
  }
  void synchronize_stream(void* s) override {
    bind();
    check(driver().cuStreamSynchronize(static_cast<CUstream>(s)), "cuStreamSynchronize");
  }
  bool stream_capturing(void* s) override {
    bind();
    int status = 0;  // CU_STREAM_CAPTURE_STATUS_NONE
    if (!driver().cuStreamIsCapturing) return false;
    check(driver().cuStreamIsCapturing(static_cast<CUstream>(s), &status), "cuStreamIsCapturing");
    return status != 0;
  }
  double graph_time_ms(const std::function<void()>& work, void* stream, int replays) override {
    bind();
    Driver& d = driver();
    if (!d.graphs) throw Error(ErrorKind::Launch, "this NVIDIA driver has no CUDA graph entry points");
    if (!stream) throw Error(ErrorKind::Launch, "graph capture needs a created stream, not the default stream");
    CUstream s = static_cast<CUstream>(stream);
    void* graph = nullptr;
    void* exec = nullptr;
    check(d.cuStreamBeginCapture(s, 0 /* CU_STREAM_CAPTURE_MODE_GLOBAL */), "cuStreamBeginCapture");
    try {
      work();
    } catch (...) {
      d.cuStreamEndCapture(s, &graph);
      if (graph) d.cuGraphDestroy(graph);
      throw;
    }
    check(d.cuStreamEndCapture(s, &graph), "cuStreamEndCapture");
    double ms = 0;
    try {
      check(d.cuGraphInstantiateWithFlags(&exec, graph, 0), "cuGraphInstantiateWithFlags");
      check(d.cuGraphLaunch(exec, s), "cuGraphLaunch");  // warm up
      ms = time_ms([&] {
        for (int r = 0; r < replays; ++r) check(d.cuGraphLaunch(exec, s), "cuGraphLaunch");
      }, stream) / replays;
    } catch (...) {
      if (exec) d.cuGraphExecDestroy(exec);
      d.cuGraphDestroy(graph);
      throw;
    }
    d.cuGraphExecDestroy(exec);
    d.cuGraphDestroy(graph);
    return ms;
  }

  double time_ms(const std::function<void()>& work, void* stream) override {
    bind();
    Driver& d = driver();
    void* start = nullptr;
    void* stop = nullptr;
    check(d.cuEventCreate(&start, 0), "cuEventCreate");
    const CUresult r = d.cuEventCreate(&stop, 0);
    if (r != 0) {  // the first event would leak
      d.cuEventDestroy(start);
      check(r, "cuEventCreate");
    }
    float ms = 0;
    try {
      check(d.cuEventRecord(start, static_cast<CUstream>(stream)), "cuEventRecord");
      work();
      check(d.cuEventRecord(stop, static_cast<CUstream>(stream)), "cuEventRecord");
      check(d.cuEventSynchronize(stop), "cuEventSynchronize");
      check(d.cuEventElapsedTime(&ms, start, stop), "cuEventElapsedTime");
    } catch (...) {
      d.cuEventDestroy(start);
      d.cuEventDestroy(stop);
      throw;
    }
    d.cuEventDestroy(start);
    d.cuEventDestroy(stop);
    return ms;
  }

 private:
  // Calls from other threads need this runtime's context current.
  void bind() {
    CUcontext cur = nullptr;
    driver().cuCtxGetCurrent(&cur);
    if (cur != ctx_) check(driver().cuCtxSetCurrent(ctx_), "cuCtxSetCurrent");
  }
  CUdevice device_ = 0;
  CUcontext ctx_ = nullptr;
  bool owns_primary_ = false;
  std::string name_, arch_;
  int sms_ = 1;
};

}  // namespace

std::unique_ptr<Runtime> make_cuda_runtime(int device) { return std::make_unique<CudaRuntime>(device); }

}  // namespace ropegen
