// The embedded C++ API: Context, SpecBuilder, runtimes' no-device paths, streams, and
// several kernels in one process. CUDA parts run where a driver and GPU exist and print
// why they skip elsewhere.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <cstdio>
#include <thread>

#include "compile/compile.hpp"
#include "jit/jit.hpp"
#include "ropegen/ropegen.hpp"
#include "skip.hpp"
#include "verify/verify.hpp"

using namespace ropegen;

namespace {

std::unique_ptr<Context> cuda_or_skip() {
  try {
    return Context::open("cuda");
  } catch (const Error& e) {
    ropegen_test::skip_for_device(std::string("CUDA part: ") + e.what());
    return nullptr;
  }
}

}  // namespace

TEST_CASE("api: SpecBuilder builds and validates like the DSL") {
  KernelSpec s = SpecBuilder().head_dim(128).heads(32, 8).dtype(DType::F16).paged(16).build();
  CHECK(s.canonical() == parse_spec_line("head_dim=128 q_heads=32 kv_heads=8 dtype=f16").spec.canonical());
  KernelSpec c = SpecBuilder().op(Op::Rope).head_dim(64).rotary_dim(32).style(Style::Gptj).cos_sin_compute(500000, 2).build();
  CHECK(c.canonical() == parse_spec_line("op=rope head_dim=64 rotary_dim=32 style=gptj "
                                         "cos_sin=compute(theta=500000,scaling=linear(factor=2))").spec.canonical());
  CHECK_THROWS_WITH_AS(SpecBuilder().heads(32, 6).build(), doctest::Contains("not a multiple of kv_heads"), Error);
  CHECK_THROWS_WITH_AS(SpecBuilder().head_dim(64).rotary_dim(96).build(), doctest::Contains("at most head_dim = 64"), Error);
}

TEST_CASE("api: a Context serves kernels from memory after the first request") {
  auto ctx = Context::open("host");
  CHECK(ctx->target().id() == "host");
  auto a = ctx->kernel("op=rope head_dim=64 q_heads=4 kv_heads=2");
  const size_t compiles = ctx->jit().compiles();
  auto b = ctx->kernel("op=rope head_dim=64 q_heads=4 kv_heads=2");
  CHECK(a.get() == b.get());
  CHECK(ctx->jit().compiles() == compiles);
  // The kernel carries what was built for it.
  REQUIRE(a->build() != nullptr);
  CHECK(a->build()->generated->spec.canonical() == a->spec().canonical());
  CHECK(a->build()->plan().block_threads == a->plan().block_threads);
  CHECK(a->build()->code->entry == a->build()->generated->entry);
  // Two kernels of different specs side by side, each correct.
  auto c = ctx->kernel("op=kv_append head_dim=64 kv_heads=2 dtype=f16 cache=contiguous(order=nhd)");
  CHECK(c.get() != a.get());
  CHECK(verify(ctx->runtime(), *a, VerifyCase{}).passed);
  CHECK(verify(ctx->runtime(), *c, VerifyCase{}).passed);
  CHECK_THROWS_WITH_AS(ctx->kernel("head_dim = 65"), doctest::Contains("must be even"), Error);
  CHECK_THROWS_WITH_AS(ctx->kernel("wave = 128"), doctest::Contains("valid values: 32, 64, auto"), Error);
}

TEST_CASE("api: runtimes report a missing device instead of failing hard") {
  struct stat st {};
  if (stat("/dev/kfd", &st) != 0) {
    CHECK_THROWS_WITH_AS(make_hip_runtime(), doctest::Contains("no AMD GPU"), Error);
  }
  try {
    auto rt = make_cuda_runtime();
    CHECK(rt->target().vendor == Vendor::Nvidia);
    CHECK(rt->multiprocessors() > 0);
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Load);
    const std::string w = e.what();
    CHECK((w.find("no NVIDIA driver") != std::string::npos || w.find("cuInit") != std::string::npos ||
           w.find("does not exist") != std::string::npos));
  }
  CHECK_THROWS_WITH_AS(open_runtime("metal"), doctest::Contains("unknown runtime 'metal'"), Error);
  auto any = open_runtime("auto");
  CHECK(any != nullptr);
}

TEST_CASE("api: CUDA: non-default stream, two specs in one process, foreign code objects") {
  auto ctx = cuda_or_skip();
  if (!ctx) return;
  std::printf("CUDA device: %s\n", ctx->runtime().device_name().c_str());
  void* stream = ctx->runtime().create_stream();
  REQUIRE(stream != nullptr);
  VerifyCase vc;
  vc.stream = stream;
  vc.tokens = 257;
  auto a = ctx->kernel("head_dim=128 q_heads=32 kv_heads=8");
  auto b = ctx->kernel("op=rope head_dim=64 q_heads=16 kv_heads=4 style=gptj dtype=f16");
  VerifyReport ra = verify(ctx->runtime(), *a, vc);
  INFO(ra.describe());
  CHECK(ra.passed);
  VerifyReport rb = verify(ctx->runtime(), *b, vc);
  INFO(rb.describe());
  CHECK(rb.passed);
  ctx->runtime().destroy_stream(stream);
  // Launching from a thread where no context is current (an engine's worker thread).
  VerifyReport from_thread;
  std::thread worker([&] { from_thread = verify(ctx->runtime(), *b, VerifyCase{}); });
  worker.join();
  CHECK(from_thread.passed);
  // A host code object is refused by the CUDA runtime with a message, not a crash.
  CodeObject host_co;
  host_co.format = "elf-so";
  host_co.target_id = "host";
  CHECK_THROWS_WITH_AS(ctx->runtime().load(host_co), doctest::Contains("loads cubin or PTX"), Error);
  // Argument checks hold on the GPU path too.
  ropegen_kernel_args args = ROPEGEN_KERNEL_ARGS_INIT;
  args.num_tokens = 1;
  CHECK_THROWS_WITH_AS(a->launch(args), doctest::Contains("argument 'q' is null"), Error);
}

TEST_CASE("api: SpecBuilder::set takes any schema field in DSL syntax, with the DSL's messages") {
  KernelSpec s = SpecBuilder().set("cache", "contiguous(order = nhd)").set("head_dim", "64").set("dtype", "f16").build();
  CHECK(s.canonical() == parse_spec_line("cache=contiguous(order=nhd) head_dim=64 dtype=f16").spec.canonical());
  CHECK_THROWS_WITH_AS(SpecBuilder().set("dtyp", "f16"), doctest::Contains("unknown key 'dtyp'; did you mean 'dtype'?"), Error);
  CHECK_THROWS_WITH_AS(SpecBuilder().set("head_dim", "4096"), doctest::Contains("head_dim = 4096 is out of range; expected 2 to 1024"), Error);
  // Out-of-range values set through the typed setters are caught by build(), same message.
  CHECK_THROWS_WITH_AS(SpecBuilder().cos_sin_compute(0).build(),
                       doctest::Contains("theta = 0 is out of range; expected more than 1 and at most 1e+12"), Error);
  CHECK_THROWS_WITH_AS(SpecBuilder().paged(0).build(), doctest::Contains("block = 0 is out of range; expected 1 to 4096"), Error);
  CHECK_THROWS_WITH_AS(SpecBuilder().op(Op::KvAppend).style(Style::Gptj).build(),
                       doctest::Contains("key 'style' has no effect for op = kv_append"), Error);
}

TEST_CASE("api: Context::kernel(KernelSpec) validates a spec built by hand") {
  auto ctx = Context::open("host");
  KernelSpec s;
  s.cos_sin.source = CosSinSource::Compute;
  s.cos_sin.theta = 0;
  CHECK_THROWS_WITH_AS(ctx->kernel(s), doctest::Contains("theta = 0 is out of range"), Error);
  KernelSpec g;
  g.q_heads = 6;
  CHECK_THROWS_WITH_AS(ctx->kernel(g), doctest::Contains("not a multiple of kv_heads"), Error);
}

TEST_CASE("api: 'auto' says which runtime it chose and why; 'gpu' never falls back") {
  std::unique_ptr<Runtime> a = open_runtime("auto");
  CHECK(open_runtime("host")->selection().empty());  // asked for by name: nothing to explain
  if (a->target().vendor == Vendor::Host) {
    // No GPU here: auto says so, naming what each GPU runtime found; gpu is an error.
    CHECK(a->selection().find("auto: host, because no GPU was found (cuda: ") == 0);
    CHECK(a->selection().find("; hip: ") != std::string::npos);
    CHECK_THROWS_WITH_AS(open_runtime("gpu"), doctest::Contains("no GPU found (cuda: "), Error);
    CHECK_THROWS_WITH_AS(open_runtime("gpu", 3), doctest::Contains("no GPU 3 found"), Error);
    CHECK_THROWS_WITH_AS(Context::open("gpu"), doctest::Contains("no GPU found"), Error);
    CHECK(Context::open("auto")->runtime().selection().find("auto: host") == 0);
  } else {
    CHECK(a->selection().find("auto: ") == 0);
    std::unique_ptr<Runtime> g = open_runtime("gpu");
    CHECK(g->target().id() == a->target().id());
    CHECK(g->selection().find("gpu: ") == 0);
  }
  CHECK_THROWS_WITH_AS(open_runtime("tpu"), doctest::Contains("valid: auto, gpu, cuda, hip, host"), Error);
}
