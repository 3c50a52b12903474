// The CUDA runtime's error paths without a GPU: a stand-in libcuda.so.1
// (tests/cuda_standin, on LD_LIBRARY_PATH in CTest test cuda_standin) answers as one sm_90
// device and fails a chosen cuEventCreate. Run outside that test, the cases say so and do
// nothing (the real driver, if any, must not be asked to fail).
#include <dlfcn.h>
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include "vendors/nvidia/nvidia.hpp"
#include "ropegen/error.hpp"
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
