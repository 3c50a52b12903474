// ROCm library discovery and the HIP ABI, without an AMD GPU: stand-in libraries
// (tests/hip_loader/*.c, built by tests/hip_loader/CMakeLists.txt) are named and laid out
// as ROCm 5.2, 6.x and 7.x install them. Libraries are opened once per process, so each
// scenario is its own CTest test (hip_loader_<scenario>) that sets the environment and runs
// the test cases of that scenario; run outside CTest, a scenario case says so and does
// nothing. These tests cover discovery and ABI logic only; nothing here ran on AMD hardware.
#include <dlfcn.h>
#include <doctest/doctest.h>
#include <limits.h>
#include <stdlib.h>

#include <cstring>
#include <string>

#include "vendors/amd/amd.hpp"
#include "vendors/amd/amd_libs.hpp"
#include "vendors/amd/amd.hpp"
#include "codegen/codegen.hpp"
#include "compile/compile.hpp"
#include "ropegen/error.hpp"
#include "ropegen/runtime.hpp"
#include "vendors/amd/hip_props.hpp"

#if __has_include(<hip/hip_runtime_api.h>) && __has_include(<hip/hip_version.h>)
#define __HIP_PLATFORM_AMD__ 1
#include <hip/hip_runtime_api.h>
#include <hip/hip_version.h>
#define ROPEGEN_TEST_HIP_HEADER 1
#endif

using namespace ropegen;
using detail::AmdLib;
using detail::AmdLibs;

namespace {

bool in_scenario(const char* name) {
  const char* s = std::getenv("ROPEGEN_TEST_HIP_SCENARIO");
  if (s && std::string(s) == name) return true;
  MESSAGE("not run: this case runs in its own process as CTest test hip_loader_" << name);
  return false;
}

std::string real(const std::string& path) {
  char buf[PATH_MAX];
  return realpath(path.c_str(), buf) ? std::string(buf) : path + " (missing)";
}

std::string standin(const std::string& rel) { return real(std::string(ROPEGEN_STANDIN_DIR) + "/" + rel); }

/// The file the library's `sym` resolves into (dladdr on the function pointer).
std::string file_of(const AmdLib& lib, const char* sym) {
  REQUIRE(lib.ok());
  void* p = dlsym(lib.handle, sym);
  REQUIRE_MESSAGE(p != nullptr, sym << " not in " << lib.file);
  return detail::library_file(p);
}

std::string call_log(const AmdLib& lib) {
  auto fn = reinterpret_cast<const char* (*)()>(dlsym(lib.handle, "standin_log"));
  REQUIRE(reinterpret_cast<void*>(fn) != nullptr);
  return fn();
}

void clear_log(const AmdLib& lib) {
  auto fn = reinterpret_cast<void (*)()>(dlsym(lib.handle, "standin_log_clear"));
  REQUIRE(reinterpret_cast<void*>(fn) != nullptr);
  fn();
}

int current_device(const AmdLib& lib) {
  auto fn = reinterpret_cast<int (*)(int*)>(dlsym(lib.handle, "hipGetDevice"));
  int d = -1;
  REQUIRE(fn(&d) == 0);
  return d;
}

void set_device(const AmdLib& lib, int d) {
  auto fn = reinterpret_cast<int (*)(int)>(dlsym(lib.handle, "hipSetDevice"));
  REQUIRE(fn(d) == 0);
}

const Compiler& hiprtc_backend() {
  for (const Compiler* c : compilers())
    if (c->name() == "hiprtc") return *c;
  FAIL("no hiprtc backend registered");
  throw 0;
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// Compiling through a stand-in hipRTC fails with a log that lists the options it got.
std::string stand_in_compile_error(const char* target) {
  const Compiler& c = hiprtc_backend();
  try {
    c.compile(generate(parse_spec_line("").spec, parse_target(target)), {});
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Compile);
    return e.what();
  }
  FAIL("the stand-in hipRTC compiled something");
  return "";
}

/// What every scenario with a stand-in runtime checks: the layout the stand-in filled.
void check_runtime(const std::string& name, const std::string& arch, int cus) {
  auto rt = make_hip_runtime(0);
  CHECK(rt->name() == "hip");
  CHECK(has(rt->device_name(), name));
  CHECK(rt->target().id() == parse_target(arch).id());
  CHECK(rt->multiprocessors() == cus);
}

}  // namespace

TEST_CASE("hip layouts: R0000 and R0600 device properties at pinned offsets") {
  // ROCm 5.x's hipDeviceProp_t (the unversioned export's layout).
  CHECK(detail::kHipPropsR0000.size == 792);
  CHECK(detail::kHipPropsR0000.name == 0);
  CHECK(detail::kHipPropsR0000.multi_processor_count == 336);
  CHECK(detail::kHipPropsR0000.gcn_arch_name == 396);
  CHECK(std::string(detail::kHipPropsR0000.symbol) == "hipGetDeviceProperties");
  // ROCm 6's hipDeviceProp_tR0600.
  CHECK(detail::kHipPropsR0600.size == 1472);
  CHECK(detail::kHipPropsR0600.name == 0);
  CHECK(detail::kHipPropsR0600.multi_processor_count == 388);
  CHECK(detail::kHipPropsR0600.gcn_arch_name == 1160);
  CHECK(std::string(detail::kHipPropsR0600.symbol) == "hipGetDevicePropertiesR0600");
  for (const auto* l : {&detail::kHipPropsR0000, &detail::kHipPropsR0600}) {
    CHECK(l->gcn_arch_name + detail::kHipNameBytes <= l->size);
    CHECK(l->size <= detail::kHipPropsBufferBytes);
  }
#ifdef ROPEGEN_TEST_HIP_HEADER
  // The installed HIP header (Debian's is ROCm 5.2) agrees with the pinned layout.
  const detail::HipPropsLayout& l = HIP_VERSION_MAJOR >= 6 ? detail::kHipPropsR0600 : detail::kHipPropsR0000;
  CAPTURE(HIP_VERSION_MAJOR);
  CHECK(sizeof(hipDeviceProp_t) == l.size);
  CHECK(offsetof(hipDeviceProp_t, name) == l.name);
  CHECK(offsetof(hipDeviceProp_t, multiProcessorCount) == l.multi_processor_count);
  CHECK(offsetof(hipDeviceProp_t, gcnArchName) == l.gcn_arch_name);
#else
  MESSAGE("no HIP header installed: offsets checked against the pinned values only");
#endif
  // Reading a filled buffer: fields come from the layout's offsets, names stop at 256 bytes.
  std::vector<unsigned char> buf(detail::kHipPropsBufferBytes, 0);
  std::strcpy(reinterpret_cast<char*>(buf.data()), "card");
  std::strcpy(reinterpret_cast<char*>(buf.data() + 1160), "gfx942:sramecc+:xnack-");
  const int cus = 304;
  std::memcpy(buf.data() + 388, &cus, sizeof cus);
  detail::HipDeviceProps p = detail::read_hip_props(buf.data(), detail::kHipPropsR0600);
  CHECK(p.name == "card");
  CHECK(p.arch == "gfx942:sramecc+:xnack-");
  CHECK(p.multiprocessors == 304);
  std::memset(buf.data(), 'x', 300);
  CHECK(detail::read_hip_props(buf.data(), detail::kHipPropsR0000).name.size() == 256);
}

TEST_CASE("hip layouts: library file names give the ROCm major version") {
  CHECK(detail::soname_major("/usr/lib/x86_64-linux-gnu/libamdhip64.so.5.2.21153") == 5);
  CHECK(detail::soname_major("/opt/rocm-7.0.1/lib/libhiprtc.so.7.0.70001") == 7);
  CHECK(detail::soname_major("libamdhip64.so.6") == 6);
  CHECK(detail::soname_major("/opt/rocm/lib/libamdhip64.so") == -1);
  CHECK(detail::soname_major("/x.so.1/libamdhip64.so") == -1);
}

TEST_CASE("hip loader system: Debian's ROCm 5.2 is found and the no-GPU path is an Error(Load)") {
  if (!in_scenario("system")) return;
  AmdLibs& libs = AmdLibs::get();
  const AmdLib& hip = libs.hip();
  if (!hip.ok()) {
    MESSAGE("no libamdhip64 on this machine: " << hip.tried);
    CHECK_THROWS_WITH_AS(make_hip_runtime(), doctest::Contains("no HIP runtime: libamdhip64 cannot be loaded"), Error);
    return;
  }
  CHECK(detail::soname_major(hip.file) >= 5);
  // ROCm 5.x: hipRTC lives in libamdhip64, opened once for both users.
  if (detail::soname_major(hip.file) == 5) CHECK(libs.hiprtc().handle == hip.handle);
  try {
    auto rt = make_hip_runtime();
    MESSAGE("an AMD GPU is present: " << rt->device_name());
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Load);
    CHECK(has(e.what(), "no AMD GPU"));
    CHECK(has(e.what(), hip.file));
  }
}

TEST_CASE("hip loader rocm52: hipRTC inside libamdhip64.so.5, comgr .so.2, R0000 properties") {
  if (!in_scenario("rocm52")) return;
  AmdLibs& libs = AmdLibs::get();
  const std::string hip_file = standin("rocm52/libamdhip64.so.5");
  CHECK(file_of(libs.hip(), "hipInit") == hip_file);
  CHECK(file_of(libs.hip(), "hipGetDeviceProperties") == hip_file);
  CHECK(dlsym(libs.hip().handle, "hipGetDevicePropertiesR0600") == nullptr);
  CHECK(file_of(libs.hiprtc(), "hiprtcCreateProgram") == hip_file);
  CHECK(libs.hiprtc().handle == libs.hip().handle);                      // one handle for both users
  CHECK(libs.comgr_file_hint() == standin("rocm52/libamd_comgr.so.2"));  // beside hipRTC, told unloaded
  CHECK(dlopen("libamd_comgr.so.2", RTLD_NOW | RTLD_NOLOAD) == nullptr);
  CHECK(file_of(libs.comgr(), "amd_comgr_get_isa_count") == standin("rocm52/libamd_comgr.so.2"));
  CHECK_FALSE(libs.comgr().already_loaded);
  check_runtime("Standin R0000 rocm52", "gfx90a:sramecc+:xnack-", 104);
  CHECK(has(call_log(libs.hip()), "hipGetDeviceProperties 0"));
  const Compiler& c = hiprtc_backend();
  std::string why;
  CHECK(c.available(&why));
  CHECK(has(c.version(), "libamdhip64.so.5"));
  CHECK(has(c.version(), "comgr 2.99"));
  CHECK(has(c.version(), "code object v4"));
  CHECK(c.supports(parse_target("gfx90a"), nullptr));
  CHECK_FALSE(c.supports(parse_target("gfx1100"), &why));  // the ISA gate of ROCm 5.x
  CHECK(has(why, "does not list ISA gfx1100"));
  const std::string err = stand_in_compile_error("gfx90a");
  CHECK(has(err, "standin hipRTC (rocm52)"));
  CHECK(has(err, "-mcode-object-version=4"));
}

TEST_CASE("hip loader rocm6: hipRTC inside libamdhip64.so.6, R0600 properties preferred") {
  if (!in_scenario("rocm6")) return;
  AmdLibs& libs = AmdLibs::get();
  const std::string hip_file = standin("rocm6/libamdhip64.so.6");
  CHECK(file_of(libs.hip(), "hipInit") == hip_file);
  CHECK(file_of(libs.hip(), "hipGetDevicePropertiesR0600") == hip_file);
  CHECK(file_of(libs.hiprtc(), "hiprtcCreateProgram") == hip_file);
  CHECK(file_of(libs.comgr(), "amd_comgr_get_isa_count") == standin("rocm6/libamd_comgr.so.2"));
  CHECK(libs.comgr().already_loaded);  // the comgr the HIP library had loaded
  check_runtime("Standin R0600 rocm6", "gfx1100", 48);
  const std::string log = call_log(libs.hip());
  CHECK(has(log, "hipGetDevicePropertiesR0600 0"));
  CHECK_FALSE(has(log, "hipGetDeviceProperties 0"));
  const Compiler& c = hiprtc_backend();
  CHECK(c.available(nullptr));
  CHECK(has(c.version(), "libamdhip64.so.6"));
  CHECK(has(c.version(), "code object v5"));
  CHECK(has(stand_in_compile_error("gfx1030"), "-mcode-object-version=5"));
}

TEST_CASE("hip loader rocm7: libamdhip64.so.7 and libhiprtc.so.7 through ROCM_PATH, comgr .so.3") {
  if (!in_scenario("rocm7")) return;
  AmdLibs& libs = AmdLibs::get();
  const std::string hip_file = standin("rocm7/lib/libamdhip64.so.7");
  CHECK_FALSE(libs.hip().already_loaded);
  CHECK(file_of(libs.hip(), "hipInit") == hip_file);
  CHECK(file_of(libs.hip(), "hipGetDevicePropertiesR0600") == hip_file);
  CHECK(dlsym(libs.hip().handle, "hiprtcCreateProgram") == nullptr);  // ROCm 7: not in libamdhip64
  CHECK(file_of(libs.hiprtc(), "hiprtcCreateProgram") == standin("rocm7/lib/libhiprtc.so.7"));
  CHECK(file_of(libs.comgr(), "amd_comgr_get_isa_count") == standin("rocm7/lib/libamd_comgr.so.3"));
  CHECK(libs.comgr().already_loaded);  // the comgr libhiprtc loaded, not a second copy
  check_runtime("Standin R0600 rocm7", "gfx1100", 48);
  const Compiler& c = hiprtc_backend();
  CHECK(c.available(nullptr));
  CHECK(has(c.version(), "libhiprtc.so.7"));
  CHECK(has(c.version(), "comgr 3.99"));
  CHECK(has(c.version(), "code object v5"));
  CHECK(c.supports(parse_target("gfx1100"), nullptr));  // comgr 3 lists it
  const std::string err = stand_in_compile_error("gfx1100");
  CHECK(has(err, "standin hipRTC (rocm7)"));
  CHECK(has(err, "-mcode-object-version=5"));
}

TEST_CASE("hip loader rocm7: device -1 is the caller's device; every call restores it") {
  if (!in_scenario("rocm7")) return;
  const AmdLib& hip = AmdLibs::get().hip();
  set_device(hip, 1);
  clear_log(hip);
  auto caller = make_hip_runtime(-1);
  CHECK(has(call_log(hip), "hipGetDevicePropertiesR0600 1"));
  CHECK(current_device(hip) == 1);

  auto rt = make_hip_runtime(0);
  CHECK(current_device(hip) == 1);
  clear_log(hip);
  void* d = rt->alloc(64);
  CHECK(current_device(hip) == 1);
  CHECK(has(call_log(hip), "hipSetDevice 0\nhipMalloc device 0 64\nhipSetDevice 1\n"));
  char host[64] = "ropegen";
  char back[64] = {};
  rt->copy_to_device(d, host, sizeof host);
  CHECK(current_device(hip) == 1);
  rt->copy_to_host(back, d, sizeof back);
  CHECK(current_device(hip) == 1);
  CHECK(std::string(back) == "ropegen");
  rt->synchronize();
  CHECK(current_device(hip) == 1);
  rt->free(d);
  CHECK(current_device(hip) == 1);
  const std::string log = call_log(hip);
  CHECK(has(log, "hipMemcpyHtoD device 0 64"));
  CHECK(has(log, "hipMemcpyDtoH device 0 64"));
  CHECK(has(log, "hipDeviceSynchronize device 0"));
  CHECK(has(log, "hipFree device 0"));

  // When the device is already current, nothing is set.
  set_device(hip, 0);
  clear_log(hip);
  void* e = rt->alloc(8);
  rt->free(e);
  CHECK_FALSE(has(call_log(hip), "hipSetDevice"));
  CHECK_THROWS_WITH_AS(make_hip_runtime(2), doctest::Contains("HIP device 2 does not exist (2 present)"), Error);
}

TEST_CASE("hip loader rocm7: streams pass through, events time the device, images live in a mapping") {
  if (!in_scenario("rocm7")) return;
  const AmdLib& hip = AmdLibs::get().hip();
  set_device(hip, 1);
  auto rt = make_hip_runtime(0);
  clear_log(hip);
  void* stream = rt->create_stream();
  REQUIRE(stream != nullptr);
  char created[64];
  std::snprintf(created, sizeof created, "%p", stream);
  CHECK(has(call_log(hip), "hipStreamCreateWithFlags device 0 flags 1 -> " + std::string(created)));
  CHECK(current_device(hip) == 1);

  std::unique_ptr<Kernel> k;
  {
    // The code object dies before the launch: the loaded image must not depend on it.
    const GeneratedSource g =
        generate(parse_spec_line("op=kv_append head_dim=64 kv_heads=1 dtype=f32 cache=contiguous(order=nhd)").spec,
                 parse_target("gfx1100"));
    std::string bytes =
        "\x7f"
        "ELF";
    bytes.resize(64, '\0');
    const CodeObject co = make_amd_code_object(g, "test", "0", bytes);
    k = rt->load(co);
  }
  CHECK_FALSE(has(call_log(hip), "refused"));  // not on the brk heap
  CHECK(has(call_log(hip), "hipModuleLoadData device 0"));
  CHECK(current_device(hip) == 1);
  alignas(256) static float buf[4][256];
  alignas(16) static int slots[1] = {0};
  ropegen_kernel_args a = ROPEGEN_KERNEL_ARGS_INIT;
  a.k = buf[0];
  a.v = buf[1];
  a.k_cache = buf[2];
  a.v_cache = buf[3];
  a.slot_mapping = slots;
  a.num_tokens = 1;
  a.k_stride = a.v_stride = 64;
  clear_log(hip);
  k->launch(a, stream);
  CHECK(has(call_log(hip), "hipModuleLaunchKernel device 0 stream " + std::string(created)));
  CHECK(current_device(hip) == 1);

  rt->copy_on_device(buf[0], buf[1], 16, stream);
  CHECK(has(call_log(hip), "hipMemcpyDtoDAsync device 0 stream " + std::string(created)));
  rt->synchronize_stream(stream);
  CHECK(has(call_log(hip), "hipStreamSynchronize " + std::string(created)));

  clear_log(hip);
  const double ms = rt->time_ms([&] { k->launch(a, stream); }, stream);
  CHECK(ms == doctest::Approx(1.25));  // the stand-in's event time, not a host clock
  const std::string log = call_log(hip);
  CHECK(has(log, "hipEventRecord stream " + std::string(created) + "\nhipModuleLaunchKernel device 0 stream " +
                     std::string(created) + " grid "));
  CHECK(has(log, "hipEventSynchronize"));
  CHECK(current_device(hip) == 1);

  k.reset();
  CHECK(has(call_log(hip), "hipModuleUnload device 0"));
  rt->destroy_stream(stream);
  CHECK(has(call_log(hip), "hipStreamDestroy " + std::string(created)));
  CHECK(current_device(hip) == 1);
}

TEST_CASE("hip loader preloaded: a HIP runtime already in the process is used, not a newer one") {
  if (!in_scenario("preloaded")) return;
  // As PyTorch's ROCm wheel does: its own libamdhip64 loaded before ropegen looks. ROCM_PATH
  // points at a newer (7.x) install, which must not be opened beside it.
  const std::string torch_hip = standin("rocm6/libamdhip64.so.6");
  void* h = dlopen(torch_hip.c_str(), RTLD_NOW | RTLD_GLOBAL);
  REQUIRE_MESSAGE(h != nullptr, dlerror());
  AmdLibs& libs = AmdLibs::get();
  CHECK(libs.hip().already_loaded);
  CHECK(libs.hip().handle == h);
  CHECK(file_of(libs.hip(), "hipInit") == torch_hip);
  CHECK(file_of(libs.hiprtc(), "hiprtcCreateProgram") == torch_hip);  // the same install's hipRTC
  CHECK(dlopen(standin("rocm7/lib/libamdhip64.so.7").c_str(), RTLD_NOW | RTLD_NOLOAD) == nullptr);
  check_runtime("Standin R0600 rocm6", "gfx1100", 48);
  // The framework's stream, created through its copy, is valid in ropegen's calls.
  auto create = reinterpret_cast<int (*)(void**, unsigned)>(dlsym(h, "hipStreamCreateWithFlags"));
  void* torch_stream = nullptr;
  REQUIRE(create(&torch_stream, 0) == 0);
  auto rt = make_hip_runtime(0);
  alignas(16) static char buf[32];
  rt->copy_on_device(buf, buf + 16, 16, torch_stream);
  char p[64];
  std::snprintf(p, sizeof p, "%p", torch_stream);
  CHECK(has(call_log(libs.hip()), "hipMemcpyDtoDAsync device 0 stream " + std::string(p)));
}

TEST_CASE("hip loader unknown_gpu: a GPU without a target names the device") {
  if (!in_scenario("unknown_gpu")) return;
  auto rt = make_hip_runtime(0);
  CHECK(has(rt->device_name(), "gfx9999"));
  try {
    rt->target();
    FAIL("no error for gfx9999");
  } catch (const Error& e) {
    const std::string w = e.what();
    CAPTURE(w);
    CHECK(e.kind() == ErrorKind::Target);
    CHECK(has(w, "HIP device 0 (Standin R0600 rocm7) is gfx9999, which ropegen has no target for"));
    CHECK(has(w, "unknown target 'gfx9999'"));
  }
}

namespace {

/// hipRTC from the machine's own ROCm (Debian's 5.2 here); null (with a message) when it has
/// none, a failure when CI requires it.
const Compiler* system_hiprtc() {
  const Compiler& c = hiprtc_backend();
  std::string why;
  if (c.available(&why)) return &c;
  const char* req = std::getenv("ROPEGEN_REQUIRE_BACKENDS");
  if (req && has("," + std::string(req) + ",", ",hiprtc,")) FAIL("hiprtc is required but not available: " << why);
  MESSAGE("no hipRTC on this machine: " << why);
  return nullptr;
}

}  // namespace

TEST_CASE("hip loader probe_warm: the hipRTC probe is stored in the probe cache") {
  if (!in_scenario("probe_warm")) return;
  const Compiler* c = system_hiprtc();
  if (!c) return;
  CHECK(has(c->version(), "code object v"));
}

TEST_CASE("hip loader probe_hit: a probe cache hit keys on the loaded files and does not load comgr") {
  if (!in_scenario("probe_hit")) return;
  const Compiler* c = system_hiprtc();
  if (!c) return;
  // The answers come from the cache entry hip_loader_probe_warm wrote...
  CHECK(has(c->version(), "code object v"));
  CHECK(c->supports(parse_target("gfx90a"), nullptr));
  // ...whose fingerprint is the files hipRTC's and comgr's symbols resolve to.
  const std::string comgr = AmdLibs::get().comgr_file_hint();
  CHECK_FALSE(comgr.empty());
  for (const char* name : {"libamd_comgr.so.3", "libamd_comgr.so.2", "libamd_comgr.so"}) {
    CAPTURE(name);
    CHECK(dlopen(name, RTLD_NOW | RTLD_NOLOAD) == nullptr);  // comgr was not loaded
  }
  // Opening it gives the file the hint named.
  CHECK(file_of(AmdLibs::get().comgr(), "amd_comgr_get_isa_count") == comgr);
}

// ---- PyTorch and TheRock layouts (issue 24), the one-runtime rule, exit order ----

namespace {

const std::string kTorchLib = std::string(ROPEGEN_STANDIN_DIR) + "/torch/lib";
const std::string kRockLib = std::string(ROPEGEN_STANDIN_DIR) + "/" + ROPEGEN_STANDIN_THEROCK;

bool loaded(const std::string& path) {
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  return h != nullptr;
}

/// What a process with PyTorch's libraries must show: torch/lib's runtime, hipRTC and comgr,
/// the ROCm release from hipRuntimeGetVersion, and the system's ROCm 5.2 never opened.
void check_torch_libraries() {
  AmdLibs& libs = AmdLibs::get();
  CHECK(file_of(libs.hip(), "hipInit") == standin("torch/lib/libamdhip64.so"));
  CHECK(file_of(libs.hiprtc(), "hiprtcCreateProgram") == standin("torch/lib/libhiprtc.so"));
  CHECK(file_of(libs.comgr(), "amd_comgr_get_isa_count") == standin("torch/lib/libamd_comgr.so"));
  CHECK_FALSE(loaded(standin("rocm52/libamdhip64.so.5")));
  CHECK_FALSE(loaded("libamdhip64.so.5"));
  const Compiler& c = hiprtc_backend();
  std::string why;
  CHECK_MESSAGE(c.available(&why), why);
  const std::string v = c.version();
  CAPTURE(v);
  // libhiprtc.so has no version in its name and answers hiprtcVersion 42.0: the release is
  // the runtime's (60241134 = 6.2), and ROCm 6 means code object v5.
  CHECK(has(v, "hipRTC libhiprtc.so (ROCm 6.2 by hipRuntimeGetVersion 60241134, hiprtcVersion 42.0"));
  CHECK(has(v, "code object v5"));
  const std::string err = stand_in_compile_error("gfx90a");
  CHECK(has(err, "standin hipRTC (torch)"));
  CHECK(has(err, "-mcode-object-version=5"));
  // hiprtcGetErrorString returned NULL for the failure: the code is named instead.
  CHECK(has(err, "hipRTC error 6 (hiprtcGetErrorString has no text for it)"));
  check_runtime("Standin R0600 torch", "gfx1100", 48);
}

}  // namespace

TEST_CASE("hip loader torch: PyTorch's unversioned torch/lib libraries, loaded first, are used") {
  if (!in_scenario("torch")) return;
  // `import torch` on ROCm: its libamdhip64.so is in the process before ropegen looks; a
  // system ROCm 5.2 is on the loader path.
  void* h = dlopen((kTorchLib + "/libamdhip64.so").c_str(), RTLD_NOW | RTLD_GLOBAL);
  REQUIRE_MESSAGE(h != nullptr, dlerror());
  CHECK(AmdLibs::get().hip().already_loaded);
  check_torch_libraries();
}

TEST_CASE("hip loader torch_first: ropegen first, ROPEGEN_HIP_LIB_DIR names torch/lib; torch then shares it") {
  if (!in_scenario("torch_first")) return;
  CHECK_FALSE(AmdLibs::get().hip().already_loaded);
  check_torch_libraries();
  // `import torch` afterwards opens the same file: one runtime, no error.
  void* h = dlopen((kTorchLib + "/libamdhip64.so").c_str(), RTLD_NOW | RTLD_GLOBAL);
  REQUIRE(h != nullptr);
  CHECK(h == AmdLibs::get().hip().handle);
  CHECK(detail::other_hip_runtime(AmdLibs::get().hip().file).empty());
  CHECK_NOTHROW(make_hip_runtime(0));
}

TEST_CASE("hip loader torch_folder: a framework library already loaded puts its folder before the system") {
  if (!in_scenario("torch_folder")) return;
  // torch's own libraries (libc10.so here) are loaded, its HIP runtime not yet.
  REQUIRE(dlopen((kTorchLib + "/libc10.so").c_str(), RTLD_NOW | RTLD_LOCAL) != nullptr);
  CHECK(detail::framework_library_dirs() == std::vector<std::string>{standin("torch/lib")});
  CHECK_FALSE(AmdLibs::get().hip().already_loaded);
  check_torch_libraries();
}

TEST_CASE("hip loader two_runtimes: a second libamdhip64 in the process is an error naming both") {
  if (!in_scenario("two_runtimes")) return;
  auto rt = make_hip_runtime(0);  // the loader path's ROCm 6
  const std::string ours = standin("rocm6/libamdhip64.so.6");
  CHECK(AmdLibs::get().hip().file == ours);
  CHECK(detail::other_hip_runtime(ours).empty());
  // Then a framework loads its own copy (a different file).
  REQUIRE(dlopen((kTorchLib + "/libamdhip64.so").c_str(), RTLD_NOW | RTLD_LOCAL) != nullptr);
  const std::string theirs = standin("torch/lib/libamdhip64.so");
  CHECK(detail::other_hip_runtime(ours) == theirs);
  const std::string both = "two HIP runtimes in one process: ropegen uses " + ours + ", and " + theirs +
                           " is loaded too";
  CHECK_THROWS_WITH_AS(make_hip_runtime(0), doctest::Contains(both.c_str()), Error);
  CHECK_THROWS_WITH_AS(make_hip_runtime(0), doctest::Contains("ROPEGEN_HIP_LIB_DIR"), Error);
  // A runtime opened before the second copy came refuses to load kernels into it.
  const GeneratedSource g = generate(parse_spec_line("head_dim=64").spec, parse_target("gfx1100"));
  std::string bytes = "\x7f" "ELF";
  bytes.resize(64, '\0');
  CHECK_THROWS_WITH_AS(rt->load(make_amd_code_object(g, "test", "0", bytes)), doctest::Contains(both.c_str()), Error);
}

TEST_CASE("hip loader therock: a TheRock wheel's _rocm_sdk_core/lib runtime, hipRTC and comgr") {
  if (!in_scenario("therock")) return;
  // PyTorch built on TheRock loads the wheel's runtime; ROCM_PATH names another ROCm 7.
  void* h = dlopen((kRockLib + "/libamdhip64.so.7").c_str(), RTLD_NOW | RTLD_GLOBAL);
  REQUIRE_MESSAGE(h != nullptr, dlerror());
  AmdLibs& libs = AmdLibs::get();
  CHECK(file_of(libs.hip(), "hipInit") == standin(std::string(ROPEGEN_STANDIN_THEROCK) + "/libamdhip64.so.7"));
  CHECK(file_of(libs.hiprtc(), "hiprtcCreateProgram") ==
        standin(std::string(ROPEGEN_STANDIN_THEROCK) + "/libhiprtc.so.7"));
  CHECK(file_of(libs.comgr(), "amd_comgr_get_isa_count") ==
        standin(std::string(ROPEGEN_STANDIN_THEROCK) + "/libamd_comgr.so.3"));
  CHECK_FALSE(loaded(standin("rocm7/lib/libamdhip64.so.7")));
  const Compiler& c = hiprtc_backend();
  CHECK(has(c.version(), "hipRTC libhiprtc.so.7 (hiprtcVersion"));
  CHECK(has(c.version(), "comgr 3.99"));
  CHECK(c.supports(parse_target("gfx1100"), nullptr));
  CHECK(has(stand_in_compile_error("gfx1100"), "standin hipRTC (therock)"));
  check_runtime("Standin R0600 therock", "gfx1100", 48);
}

TEST_CASE("hip loader therock_env: ROPEGEN_HIP_LIB_DIR finds the wheel's libraries before ROCM_PATH") {
  if (!in_scenario("therock_env")) return;
  AmdLibs& libs = AmdLibs::get();
  CHECK_FALSE(libs.hip().already_loaded);
  CHECK(file_of(libs.hip(), "hipInit") == standin(std::string(ROPEGEN_STANDIN_THEROCK) + "/libamdhip64.so.7"));
  CHECK(file_of(libs.hiprtc(), "hiprtcCreateProgram") ==
        standin(std::string(ROPEGEN_STANDIN_THEROCK) + "/libhiprtc.so.7"));
  CHECK(has(hiprtc_backend().version(), "code object v5"));
  check_runtime("Standin R0600 therock", "gfx1100", 48);
  CHECK_FALSE(loaded(standin("rocm7/lib/libamdhip64.so.7")));
}

namespace {

/// Constructed before main, so destroyed after every exit handler registered later, among
/// them the HIP runtime's teardown: what a static context in an engine, or an interpreter
/// freeing objects late, looks like.
struct ExitHolder {
  std::unique_ptr<Runtime> rt;
  std::unique_ptr<Kernel> kernel;
  void* stream = nullptr;
  void* buffer = nullptr;
  void* raw_buffer = nullptr;  // exit_control: freed with a direct call, not through ropegen
  ~ExitHolder() {
    if (raw_buffer) {
      auto free_fn = reinterpret_cast<int (*)(void*)>(dlsym(AmdLibs::get().hip().handle, "hipFree"));
      free_fn(raw_buffer);  // the stand-in ends the process here: the control works
    }
    if (rt) {
      rt->free(buffer);
      rt->destroy_stream(stream);
    }
    kernel.reset();
    rt.reset();
  }
} g_exit_holder;

void fill_exit_holder() {
  g_exit_holder.rt = make_hip_runtime(0);
  const GeneratedSource g = generate(parse_spec_line("head_dim=64").spec, parse_target("gfx1100"));
  std::string bytes = "\x7f" "ELF";
  bytes.resize(64, '\0');
  g_exit_holder.kernel = g_exit_holder.rt->load(make_amd_code_object(g, "test", "0", bytes));
  g_exit_holder.stream = g_exit_holder.rt->create_stream();
  g_exit_holder.buffer = g_exit_holder.rt->alloc(64);
}

}  // namespace

TEST_CASE("hip loader exit_order: objects destroyed after HIP's exit-time teardown make no HIP calls") {
  if (!in_scenario("exit_order")) return;
  fill_exit_holder();
  // Released before exit, the same objects do call HIP: the skip is for exit only.
  auto rt = make_hip_runtime(0);
  clear_log(AmdLibs::get().hip());
  void* p = rt->alloc(8);
  rt->free(p);
  CHECK(has(call_log(AmdLibs::get().hip()), "hipFree device 0"));
  // The process then exits; the stand-in ends it with status 86 on any call after its
  // teardown, which CTest reports as a failure.
}

TEST_CASE("hip loader exit_control: the stand-in catches a call after its teardown") {
  if (!in_scenario("exit_control")) return;
  fill_exit_holder();
  auto alloc = reinterpret_cast<int (*)(void**, size_t)>(dlsym(AmdLibs::get().hip().handle, "hipMalloc"));
  REQUIRE(alloc(&g_exit_holder.raw_buffer, 16) == 0);
}
