// The CUDA runtime's error paths without a GPU: a stand-in libcuda.so.1
// (tests/cuda_standin, on LD_LIBRARY_PATH in CTest test cuda_standin) answers as one sm_90
// device and fails a chosen cuEventCreate. Run outside that test, the cases say so and do
// nothing (the real driver, if any, must not be asked to fail).
#include <dlfcn.h>
#include <doctest/doctest.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "compile/compile.hpp"
#include "vendors/nvidia/nvidia.hpp"
#include "ropegen/error.hpp"
#include "ropegen/ropegen.hpp"
#include "ropegen/runtime.hpp"

using namespace ropegen;

namespace {

bool in_standin() {
  if (std::getenv("ROPEGEN_TEST_CUDA_STANDIN")) return true;
  MESSAGE("not run: this case runs as CTest test cuda_standin (the stand-in driver on LD_LIBRARY_PATH)");
  return false;
}

template <class Fn>
Fn standin_fn(const char* name) {
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  REQUIRE_MESSAGE(lib != nullptr, "libcuda.so.1 is not loaded");
  void* p = dlsym(lib, name);
  REQUIRE_MESSAGE(p != nullptr, name << ": not the stand-in driver");
  return reinterpret_cast<Fn>(p);
}

}  // namespace

TEST_CASE("cuda standin: timing leaves no event behind when an event cannot be created") {
  if (!in_standin()) return;
  std::unique_ptr<Runtime> rt = make_cuda_runtime(0);
  CHECK(rt->device_name().find("CUDA stand-in") != std::string::npos);
  auto live = standin_fn<int (*)()>("standin_events_live");
  auto fail = standin_fn<void (*)(int)>("standin_fail_event_create");

  CHECK(rt->time_ms([] {}, nullptr) == doctest::Approx(1.25));  // the stand-in's event time
  CHECK(live() == 0);
  for (int nth : {1, 2}) {  // the first event, then the second (the first must be destroyed)
    CAPTURE(nth);
    fail(nth);
    bool ran = false;
    try {
      rt->time_ms([&] { ran = true; }, nullptr);
      FAIL("timed without events");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::Launch);
      CHECK(std::string(e.what()).find("cuEventCreate: out of memory (stand-in)") != std::string::npos);
    }
    CHECK_FALSE(ran);
    CHECK(live() == 0);
  }
  // Work that throws destroys both events too.
  CHECK_THROWS_AS(rt->time_ms([] { throw Error(ErrorKind::Launch, "work failed"); }, nullptr), Error);
  CHECK(live() == 0);
}

TEST_CASE("cuda standin: tune refuses a stream that is capturing a graph") {
  if (!in_standin()) return;
  JitOptions o;
  o.cache_dir = "";
  Context ctx(make_cuda_runtime(0), o);  // loads the stand-in driver
  auto set_capturing = standin_fn<void (*)(void*)>("standin_set_capturing");
  Runtime& rt = ctx.runtime();
  void* s = rt.create_stream();
  CHECK_FALSE(rt.stream_capturing(s));
  set_capturing(s);
  CHECK(rt.stream_capturing(s));
  CHECK_FALSE(rt.stream_capturing(nullptr));
  TuneOptions to;
  to.stream = s;
  to.buckets = {1};
  to.store = false;
  CHECK_THROWS_WITH_AS(ctx.tune(parse_spec_line("head_dim=64", "<test>").spec, to),
                       doctest::Contains("the stream is capturing a graph; tune before capture"), Error);
  set_capturing(nullptr);
  rt.destroy_stream(s);
}

namespace {

/// Constructed before main, so destroyed after the stand-in driver's exit-time teardown
/// (registered by cuInit): a static context in an engine, as seen at exit.
struct CudaExitHolder {
  std::unique_ptr<Runtime> rt;
  std::unique_ptr<Kernel> kernel;
  void* stream = nullptr;
  void* buffer = nullptr;
  ~CudaExitHolder() {
    if (rt) {
      rt->free(buffer);
      rt->destroy_stream(stream);
    }
    kernel.reset();
    rt.reset();  // the primary context's release
  }
} g_cuda_exit_holder;

}  // namespace

TEST_CASE("cuda standin exit: objects destroyed after the driver's exit-time teardown make no CUDA calls") {
  if (!in_standin() || !std::getenv("ROPEGEN_TEST_CUDA_EXIT")) return;
  g_cuda_exit_holder.rt = make_cuda_runtime(0);
  CodeObject co;
  co.format = "cubin";
  co.entry = "k";
  co.target_id = "sm_90";
  co.bytes = {0x7f, 'E', 'L', 'F'};
  g_cuda_exit_holder.kernel = g_cuda_exit_holder.rt->load(co);
  g_cuda_exit_holder.stream = g_cuda_exit_holder.rt->create_stream();
  g_cuda_exit_holder.buffer = g_cuda_exit_holder.rt->alloc(64);
  // The process then exits; the stand-in ends it with status 86 on any release call after
  // its teardown, which CTest reports as a failure.
  CHECK(g_cuda_exit_holder.buffer != nullptr);
}
