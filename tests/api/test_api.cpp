// The embedded C++ API: Context, SpecBuilder, runtimes' no-device paths, streams, and
// several kernels in one process. CUDA parts run where a driver and GPU exist and print
// why they skip elsewhere.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <cstdio>
#include <thread>
#include <vector>

#include "api/access.hpp"
#include "vendors/amd/amd.hpp"
#include "vendors/nvidia/nvidia.hpp"
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
  const size_t compiles = InternalAccess::jit(*ctx).compiles();
  auto b = ctx->kernel("op=rope head_dim=64 q_heads=4 kv_heads=2");
  CHECK(a.get() == b.get());
  CHECK(InternalAccess::jit(*ctx).compiles() == compiles);
  // The kernel carries what was built for it.
  REQUIRE(InternalAccess::build(*a) != nullptr);
  CHECK(InternalAccess::build(*a)->generated->spec.canonical() == a->spec().canonical());
  CHECK(InternalAccess::build(*a)->plan().block_threads == a->plan().block_threads);
  CHECK(InternalAccess::build(*a)->code->entry == InternalAccess::build(*a)->generated->entry);
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

// checks = bounds on the host: out-of-range tokens are skipped whole and the first one is
// recorded; the other tokens come out exactly as a checks = none kernel makes them.
TEST_CASE("api: checks = bounds skips out-of-range tokens and records the first") {
  auto ctx = Context::open("host");
  Runtime& rt = ctx->runtime();
  const std::string shape = " head_dim=64 q_heads=2 kv_heads=1 dtype=f32 cache=paged(block=4,order=nhd)";
  auto checked = ctx->kernel("checks=bounds" + shape);
  auto plain = ctx->kernel(shape);
  const int D = 64, HQ = 2, SLOTS = 16, ROWS = 32, HALF = 32;
  // Token:          0  1   2   3   4  5
  // position:       3  4   5  32  -1  6    (32 is past the 32-row table, -1 is negative)
  // slot:           0 16  -1   2   3  5    (16 is past the 16-slot cache, -1 is padding)
  const std::vector<int> pos = {3, 4, 5, 32, -1, 6}, slot = {0, 16, -1, 2, 3, 5};
  const int T = static_cast<int>(pos.size());
  auto values = [](size_t n, float base) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = base + 0.001f * static_cast<float>(i % 997);
    return v;
  };
  const std::vector<float> q0 = values(T * HQ * D, 1.0f), k0 = values(T * D, 2.0f), v0 = values(T * D, 3.0f);
  const std::vector<float> cache0 = values(SLOTS * D, -1.0f);
  std::vector<float> table(2 * ROWS * HALF);
  for (int p = 0; p < ROWS; ++p)
    for (int j = 0; j < HALF; ++j) {
      table[p * HALF + j] = std::cos(0.1f * p * (j + 1));
      table[(ROWS + p) * HALF + j] = std::sin(0.1f * p * (j + 1));
    }
  struct Out {
    std::vector<float> q, k, kc, vc;
  };
  std::vector<void*> owned;
  auto upload = [&](const void* data, size_t bytes) {
    void* p = rt.alloc(bytes);
    rt.copy_to_device(p, data, bytes);
    owned.push_back(p);
    return p;
  };
  auto download = [&](const void* p, size_t n) {
    std::vector<float> v(n);
    rt.copy_to_host(v.data(), p, n * sizeof(float));
    return v;
  };
  // Launches `kernel` on the tokens listed, from fresh copies of the inputs.
  auto run = [&](Kernel& kernel, const std::vector<int>& tokens, unsigned long long* err) {
    std::vector<float> q, k, v;
    std::vector<int> p, s;
    for (int t : tokens) {
      q.insert(q.end(), q0.begin() + t * HQ * D, q0.begin() + (t + 1) * HQ * D);
      k.insert(k.end(), k0.begin() + t * D, k0.begin() + (t + 1) * D);
      v.insert(v.end(), v0.begin() + t * D, v0.begin() + (t + 1) * D);
      p.push_back(pos[t]);
      s.push_back(slot[t]);
    }
    const size_t n = tokens.size();
    ropegen_kernel_args a = ROPEGEN_KERNEL_ARGS_INIT;
    a.num_tokens = static_cast<long long>(n);
    a.q = upload(q.data(), q.size() * 4);
    a.k = upload(k.data(), k.size() * 4);
    a.v = upload(v.data(), v.size() * 4);
    a.q_stride = HQ * D;
    a.k_stride = a.v_stride = D;
    a.positions = upload(p.data(), n * 4);
    a.slot_mapping = upload(s.data(), n * 4);
    const float* tab = static_cast<const float*>(upload(table.data(), table.size() * 4));
    a.cos = tab;
    a.sin = tab + ROWS * HALF;
    a.cos_sin_stride = HALF;
    a.k_cache = upload(cache0.data(), cache0.size() * 4);
    a.v_cache = upload(cache0.data(), cache0.size() * 4);
    a.cache_slots = SLOTS;
    a.table_rows = ROWS;
    a.bounds_error = err;
    kernel.launch(a);
    rt.synchronize();
    return Out{download(a.q, q.size()), download(a.k, k.size()), download(a.k_cache, cache0.size()),
               download(a.v_cache, cache0.size())};
  };
  const unsigned long long zero[4] = {0, 0, 0, 0};
  auto* err = static_cast<unsigned long long*>(upload(zero, sizeof zero));
  CHECK_FALSE(read_bounds_error(rt, err).violated);

  const Out got = run(*checked, {0, 1, 2, 3, 4, 5}, err);
  const Out want = run(*plain, {0, 2, 5}, nullptr);  // the good tokens only, unchecked
  // The first violation: token 1's slot 16 against 16 slots.
  const BoundsError e = read_bounds_error(rt, err);
  CHECK(e.violated);
  CHECK(e.token == 1);
  CHECK(e.value == 16);
  CHECK(e.limit == SLOTS);
  CHECK(e.kind == 2);
  // Good tokens as the unchecked kernel makes them; bad tokens untouched (not rotated).
  const int good[] = {0, 2, 5};
  for (int i = 0; i < 3; ++i) {
    const int t = good[i];
    CHECK(std::equal(got.q.begin() + t * HQ * D, got.q.begin() + (t + 1) * HQ * D, want.q.begin() + i * HQ * D));
    CHECK(std::equal(got.k.begin() + t * D, got.k.begin() + (t + 1) * D, want.k.begin() + i * D));
  }
  for (int t : {1, 3, 4}) {
    CHECK(std::equal(got.q.begin() + t * HQ * D, got.q.begin() + (t + 1) * HQ * D, q0.begin() + t * HQ * D));
    CHECK(std::equal(got.k.begin() + t * D, got.k.begin() + (t + 1) * D, k0.begin() + t * D));
  }
  // The caches: the good tokens' rows written, every other row (slots 2 and 3 of the
  // bad-position tokens included) as it was.
  CHECK(got.kc == want.kc);
  CHECK(got.vc == want.vc);
  CHECK(got.kc != cache0);
  for (int s : {2, 3}) CHECK(std::equal(got.kc.begin() + s * D, got.kc.begin() + (s + 1) * D, cache0.begin() + s * D));

  // The buffer keeps the first violation until the caller zeroes it.
  run(*checked, {3}, err);
  CHECK(read_bounds_error(rt, err).token == 1);
  rt.copy_to_device(err, zero, sizeof zero);
  run(*checked, {2, 4}, err);  // token 1 of this launch: position -1
  const BoundsError p = read_bounds_error(rt, err);
  CHECK(p.violated);
  CHECK(p.token == 1);
  CHECK(p.value == -1);
  CHECK(p.limit == ROWS);
  CHECK(p.kind == 1);
  rt.copy_to_device(err, zero, sizeof zero);
  run(*checked, {3, 0}, err);  // position 32 against 32 rows
  const BoundsError r = read_bounds_error(rt, err);
  CHECK((r.violated && r.token == 0 && r.value == 32 && r.limit == ROWS && r.kind == 1));
  rt.copy_to_device(err, zero, sizeof zero);
  run(*checked, {0, 2, 5}, err);  // in range: nothing recorded
  CHECK_FALSE(read_bounds_error(rt, err).violated);

  // Computed cos/sin: only the lower bound; a contiguous(order = hnd) cache: slot max_seq,
  // which checks = none skips silently, is recorded.
  {
    auto rope = ctx->kernel("checks=bounds op=rope head_dim=64 q_heads=1 kv_heads=1 dtype=f32 cos_sin=compute");
    std::vector<float> q = values(2 * D, 1.0f), k = values(2 * D, 2.0f);
    const int p2[2] = {100000, -5};
    ropegen_kernel_args a = ROPEGEN_KERNEL_ARGS_INIT;
    a.num_tokens = 2;
    a.q = upload(q.data(), q.size() * 4);
    a.k = upload(k.data(), k.size() * 4);
    a.q_stride = a.k_stride = D;
    a.positions = upload(p2, sizeof p2);
    a.bounds_error = err;
    rt.copy_to_device(err, zero, sizeof zero);
    rope->launch(a);
    const BoundsError c = read_bounds_error(rt, err);
    CHECK((c.violated && c.token == 1 && c.value == -5 && c.limit == 0 && c.kind == 1));
    const std::vector<float> qo = download(a.q, q.size());
    CHECK(std::equal(qo.begin() + D, qo.end(), q.begin() + D));      // token 1 untouched
    CHECK_FALSE(std::equal(qo.begin(), qo.begin() + D, q.begin()));  // token 0 rotated
  }
  {
    auto app = ctx->kernel("checks=bounds op=kv_append head_dim=64 kv_heads=2 dtype=f32 cache=contiguous(order=hnd)");
    std::vector<float> k = values(2 * 2 * D, 2.0f), cache = values(2 * 8 * D, -1.0f);
    const int s2[2] = {7, 8};
    ropegen_kernel_args a = ROPEGEN_KERNEL_ARGS_INIT;
    a.num_tokens = 2;
    a.k = upload(k.data(), k.size() * 4);
    a.v = upload(k.data(), k.size() * 4);
    a.k_stride = a.v_stride = 2 * D;
    a.slot_mapping = upload(s2, sizeof s2);
    a.k_cache = upload(cache.data(), cache.size() * 4);
    a.v_cache = upload(cache.data(), cache.size() * 4);
    a.max_seq = 8;
    a.bounds_error = err;
    CHECK_THROWS_WITH_AS(app->launch(a), doctest::Contains("argument 'cache_slots' = 0 must be positive"), Error);
    a.cache_slots = 8;
    rt.copy_to_device(err, zero, sizeof zero);
    app->launch(a);
    const BoundsError c = read_bounds_error(rt, err);
    CHECK((c.violated && c.token == 1 && c.value == 8 && c.limit == 8 && c.kind == 2));
    const std::vector<float> kc = download(a.k_cache, cache.size());
    CHECK(!std::equal(kc.begin() + 7 * D, kc.begin() + 8 * D, cache.begin() + 7 * D));  // slot 7 written (head 0)
  }
  for (void* p : owned) rt.free(p);

  // verify() reads the buffer: slots past max_seq (which checks = none skips silently) are
  // skipped whole and recorded by a checked kernel, and verify reports it.
  VerifyCase past;
  past.tokens = 25;
  past.past_max_seq = true;
  auto hnd = ctx->kernel("head_dim=64 q_heads=4 kv_heads=2 cache=contiguous(order=hnd)");
  auto hnd_checked = ctx->kernel("checks=bounds head_dim=64 q_heads=4 kv_heads=2 cache=contiguous(order=hnd)");
  CHECK(verify(rt, *hnd, past).passed);
  const VerifyReport bad = verify(rt, *hnd_checked, past);
  CHECK_FALSE(bad.passed);
  REQUIRE(!bad.outputs.empty());
  CHECK(bad.outputs.back().name == "bounds");
  CHECK(bad.outputs.back().first_failure.find("recorded a bounds violation: token 2, slot") != std::string::npos);
}

TEST_CASE("api: contiguous(order = hnd) with max_seq 4 and slots 0..7 writes no other head's rows") {
  // Issue 26, item 4: slots 4..7 of a [kv_heads = 2, max_seq = 4, head_dim] cache would land in
  // head 1's rows (head 0) and past the cache (head 1). They are skipped: without cache_slots
  // like padding (the cache row only), with cache_slots = max_seq the whole token.
  auto ctx = Context::open("host");
  Runtime& rt = ctx->runtime();
  const int D = 64, KV = 2, HQ = 2, MAX_SEQ = 4, T = 8, ROWS = 16, HALF = 32;
  auto values = [](size_t n, float base) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = base + 0.001f * static_cast<float>(i % 997);
    return v;
  };
  const std::vector<float> q0 = values(T * HQ * D, 1.0f), k0 = values(T * KV * D, 2.0f), v0 = values(T * KV * D, 3.0f);
  // The cache and, after it, as many slack rows again: none of them may change.
  const std::vector<float> cache0 = values(2 * KV * MAX_SEQ * D, -1.0f);
  std::vector<float> table(2 * ROWS * HALF);
  for (int p = 0; p < ROWS; ++p)
    for (int j = 0; j < HALF; ++j) {
      table[p * HALF + j] = std::cos(0.1f * p * (j + 1));
      table[(ROWS + p) * HALF + j] = std::sin(0.1f * p * (j + 1));
    }
  std::vector<int> idx(T);
  for (int t = 0; t < T; ++t) idx[t] = t;
  std::vector<void*> owned;
  auto upload = [&](const void* data, size_t bytes) {
    void* p = rt.alloc(bytes);
    rt.copy_to_device(p, data, bytes);
    owned.push_back(p);
    return p;
  };
  auto download = [&](const void* p, size_t n) {
    std::vector<float> v(n);
    rt.copy_to_host(v.data(), p, n * sizeof(float));
    return v;
  };
  for (const char* op : {"kv_append", "rope_kv_append"})
    for (bool with_slots : {true, false})
      for (long long cache_slots : {0, MAX_SEQ}) {
        CAPTURE(op);
        CAPTURE(with_slots);
        CAPTURE(cache_slots);
        const bool rope = std::string(op) == "rope_kv_append";
        auto kernel = ctx->kernel(std::string("op=") + op + " head_dim=64 kv_heads=2" + (rope ? " q_heads=2" : "") +
                                  " dtype=f32 cache=contiguous(order=hnd)");
        ropegen_kernel_args a = ROPEGEN_KERNEL_ARGS_INIT;
        a.num_tokens = T;
        if (rope) {
          a.q = upload(q0.data(), q0.size() * 4);
          a.q_stride = HQ * D;
          const float* tab = static_cast<const float*>(upload(table.data(), table.size() * 4));
          a.cos = tab;
          a.sin = tab + ROWS * HALF;
          a.cos_sin_stride = HALF;
        }
        a.k = upload(k0.data(), k0.size() * 4);
        a.v = upload(v0.data(), v0.size() * 4);
        a.k_stride = a.v_stride = KV * D;
        a.positions = upload(idx.data(), T * 4);
        if (with_slots) a.slot_mapping = upload(idx.data(), T * 4);
        a.k_cache = upload(cache0.data(), cache0.size() * 4);
        a.v_cache = upload(cache0.data(), cache0.size() * 4);
        a.max_seq = MAX_SEQ;
        a.cache_slots = cache_slots;
        kernel->launch(a);
        rt.synchronize();
        const std::vector<float> vc = download(a.v_cache, cache0.size());
        // Slots 0..3 of each head hold tokens 0..3 of that head; nothing else changed.
        std::vector<float> want = cache0;
        for (int h = 0; h < KV; ++h)
          for (int s = 0; s < MAX_SEQ; ++s)
            std::copy(v0.begin() + (s * KV + h) * D, v0.begin() + (s * KV + h + 1) * D,
                      want.begin() + (h * MAX_SEQ + s) * D);
        CHECK(vc == want);
        const std::vector<float> kc = download(a.k_cache, cache0.size());
        CHECK(std::equal(kc.begin() + KV * MAX_SEQ * D, kc.end(), cache0.begin() + KV * MAX_SEQ * D));
        if (rope) {
          // Tokens 4..7: q rotated like padding without cache_slots, untouched with it.
          const std::vector<float> q = download(a.q, q0.size());
          for (int t = MAX_SEQ; t < T; ++t)
            CHECK(std::equal(q.begin() + t * HQ * D, q.begin() + (t + 1) * HQ * D, q0.begin() + t * HQ * D) ==
                  (cache_slots > 0));
        }
      }
  for (void* p : owned) rt.free(p);
}

TEST_CASE("api: the all-heads QK norm across launches: two ranks' sums, added, give the unsplit result") {
  // MiniMax-M2's norm under tensor parallelism: heads split over two ranks; each rank's first
  // launch (sums = write, op = rope) writes its tokens' sums of squares, the caller adds them
  // (the all-reduce), each rank's second launch (sums = read, ranks = 2) normalizes, rotates
  // and writes its cache. Compared with the one-launch kernel over all heads, on the host and,
  // where there is one, on the CUDA GPU.
  std::vector<std::unique_ptr<Context>> ctxs;
  ctxs.push_back(Context::open("host"));
  try {
    ctxs.push_back(Context::open("cuda"));
  } catch (const Error& e) {
    MESSAGE("the CUDA part of this test does not run here: " << std::string(e.what()));
  }
  const std::string base = " head_dim=64 rotary_dim=32 cos_sin=compute(theta=10000) cache=paged(block=4,order=nhd)";
  struct Variant {
    const char* dtype;
    const char* norm;  // the qk_norm arguments every launch shares
    double tol;        // relative: the sums meet in another order
  };
  for (const Variant& var : {Variant{"f32", "eps=1e-6,span=all_heads", 2e-6},
                             Variant{"bf16", "eps=1e-5,span=all_heads,weight=none,order=post", 1.0 / 128}}) {
    for (auto& ctx : ctxs) {
      const std::string dtype_name = var.dtype;
      CAPTURE(dtype_name);
      CAPTURE(ctx->runtime().selection());
      Runtime& rt = ctx->runtime();
      const bool bf = std::string(var.dtype) == "bf16";
      const int T = 7, D = 64, HQ = 8, HK = 2, R = 2, SLOTS = 16, eb = bf ? 2 : 4;
      const std::string dt = std::string(" dtype=") + var.dtype;
      auto unsplit = ctx->kernel("op=rope_kv_append q_heads=8 kv_heads=2" + dt + base + " qk_norm=rms(" + var.norm + ")");
      auto sums = ctx->kernel("op=rope q_heads=4 kv_heads=1" + dt +
                              " head_dim=64 rotary_dim=32 cos_sin=compute(theta=10000) qk_norm=rms(" + var.norm +
                              ",sums=write)");
      auto apply = ctx->kernel("op=rope_kv_append q_heads=4 kv_heads=1" + dt + base + " qk_norm=rms(" + var.norm +
                               ",sums=read,ranks=2)");
      // Inputs in the dtype's bits: values (37 i % 101) / 50 - 1 and weights 0.5 + (i % 13) / 16.
      auto bits = [&](size_t n, int mul, int add) {
        std::vector<unsigned char> v(n * eb);
        for (size_t i = 0; i < n; ++i) {
          float x = static_cast<float>((mul * static_cast<long long>(i) + add) % 101) / 50.0f - 1.0f;
          if (mul == 0) x = 0.5f + static_cast<float>(i % 13) / 16.0f;
          std::uint32_t u;
          std::memcpy(&u, &x, 4);
          if (bf) {
            const std::uint16_t h = static_cast<std::uint16_t>(u >> 16);  // exact: x has few bits
            std::memcpy(&v[i * 2], &h, 2);
          } else {
            std::memcpy(&v[i * 4], &u, 4);
          }
        }
        return v;
      };
      auto value = [&](const std::vector<unsigned char>& v, size_t i) {
        std::uint32_t u = 0;
        if (bf) {
          std::uint16_t h;
          std::memcpy(&h, &v[i * 2], 2);
          u = static_cast<std::uint32_t>(h) << 16;
        } else {
          std::memcpy(&u, &v[i * 4], 4);
        }
        float x;
        std::memcpy(&x, &u, 4);
        return static_cast<double>(x);
      };
      const std::vector<unsigned char> q0 = bits(T * HQ * D, 37, 3), k0 = bits(T * HK * D, 29, 5),
                                       v0 = bits(T * HK * D, 31, 7), qw = bits(HQ * D, 0, 0), kw = bits(HK * D, 0, 0);
      const std::vector<int> pos = {0, 3, 9, 100, 4095, 17, 2}, slot = {0, 1, 2, -1, 5, 8, 15};
      std::vector<void*> owned;
      auto up = [&](const void* data, size_t n) {
        void* p = rt.alloc(n);
        rt.copy_to_device(p, data, n);
        owned.push_back(p);
        return p;
      };
      auto down = [&](const void* p, size_t n) {
        std::vector<unsigned char> v(n);
        rt.copy_to_host(v.data(), p, n);
        return v;
      };
      void* dpos = up(pos.data(), pos.size() * 4);
      void* dslot = up(slot.data(), slot.size() * 4);
      const std::vector<unsigned char> cache0(SLOTS * HK * D * eb, 0);
      // The unsplit launch.
      ropegen_kernel_args u = ROPEGEN_KERNEL_ARGS_INIT;
      u.num_tokens = T;
      u.q = up(q0.data(), q0.size());
      u.k = up(k0.data(), k0.size());
      u.v = up(v0.data(), v0.size());
      u.q_stride = HQ * D;
      u.k_stride = u.v_stride = HK * D;
      u.positions = dpos;
      u.slot_mapping = dslot;
      u.k_cache = up(cache0.data(), cache0.size());
      u.v_cache = up(cache0.data(), cache0.size());
      if (!bf) {
        u.q_norm_weight = up(qw.data(), qw.size());
        u.k_norm_weight = up(kw.data(), kw.size());
      }
      unsplit->launch(u);
      rt.synchronize();
      const std::vector<unsigned char> uq = down(u.q, q0.size()), ukc = down(u.k_cache, cache0.size());
      // The ranks: q heads 4r..4r+3 and kv head r, views into the same full tensors.
      ropegen_kernel_args w[R], a[R];
      void* dq = up(q0.data(), q0.size());
      void* dk = up(k0.data(), k0.size());
      void* dv = up(v0.data(), v0.size());
      std::vector<float> zero(2 * T, -1.0f);
      void* rank_sums[R];
      void* rank_kc[R];
      void* rank_vc[R];
      const std::vector<unsigned char> rank_cache0(SLOTS * D * eb, 0);
      for (int r = 0; r < R; ++r) {
        w[r] = ROPEGEN_KERNEL_ARGS_INIT;
        w[r].num_tokens = T;
        w[r].q = static_cast<unsigned char*>(dq) + r * 4 * D * eb;
        w[r].k = static_cast<unsigned char*>(dk) + r * D * eb;
        w[r].q_stride = HQ * D;
        w[r].k_stride = HK * D;
        w[r].positions = dpos;
        rank_sums[r] = up(zero.data(), zero.size() * 4);
        w[r].norm_sums = static_cast<float*>(rank_sums[r]);
        sums->launch(w[r]);
      }
      rt.synchronize();
      // Neither first launch touches q or k.
      CHECK(down(dq, q0.size()) == q0);
      CHECK(down(dk, k0.size()) == k0);
      // The all-reduce, and the sums against double sums of squares of the rank's rows (order =
      // post: the kernel's rotated rows, which these sums cannot see: only pre is compared).
      std::vector<float> total(2 * T, 0.0f);
      for (int r = 0; r < R; ++r) {
        const std::vector<unsigned char> s = down(rank_sums[r], total.size() * 4);
        std::vector<float> f(total.size());
        std::memcpy(f.data(), s.data(), s.size());
        for (size_t i = 0; i < total.size(); ++i) total[i] += f[i];
        if (std::string(var.norm).find("post") == std::string::npos)
          for (int t = 0; t < T; ++t) {
            double sq = 0, sk = 0;
            for (int e = 0; e < 4 * D; ++e) sq += std::pow(value(q0, t * HQ * D + r * 4 * D + e), 2);
            for (int e = 0; e < D; ++e) sk += std::pow(value(k0, t * HK * D + r * D + e), 2);
            CHECK(f[2 * t] == doctest::Approx(sq).epsilon(1e-6));
            CHECK(f[2 * t + 1] == doctest::Approx(sk).epsilon(1e-6));
          }
      }
      void* dtotal = up(total.data(), total.size() * 4);
      for (int r = 0; r < R; ++r) {
        a[r] = w[r];
        a[r].norm_sums = static_cast<float*>(dtotal);
        a[r].v = static_cast<unsigned char*>(dv) + r * D * eb;
        a[r].v_stride = HK * D;
        a[r].slot_mapping = dslot;
        rank_kc[r] = up(rank_cache0.data(), rank_cache0.size());
        rank_vc[r] = up(rank_cache0.data(), rank_cache0.size());
        a[r].k_cache = rank_kc[r];
        a[r].v_cache = rank_vc[r];
        if (!bf) {
          a[r].q_norm_weight = static_cast<const unsigned char*>(u.q_norm_weight) + r * 4 * D * eb;
          a[r].k_norm_weight = static_cast<const unsigned char*>(u.k_norm_weight) + r * D * eb;
        }
        apply->launch(a[r]);
      }
      rt.synchronize();
      const std::vector<unsigned char> sq_ = down(dq, q0.size());
      int compared = 0;
      for (size_t i = 0; i < q0.size() / eb; ++i, ++compared)
        REQUIRE(value(sq_, i) == doctest::Approx(value(uq, i)).epsilon(var.tol));
      for (int r = 0; r < R; ++r) {
        const std::vector<unsigned char> kc = down(rank_kc[r], rank_cache0.size());
        for (int s = 0; s < SLOTS; ++s)
          for (int e = 0; e < D; ++e, ++compared)
            REQUIRE(value(kc, s * D + e) == doctest::Approx(value(ukc, (s * HK + r) * D + e)).epsilon(var.tol));
      }
      CHECK(compared == T * HQ * D + R * SLOTS * D);
      for (void* p : owned) rt.free(p);
    }
  }
}
