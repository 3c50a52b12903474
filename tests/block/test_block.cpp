// Block-level primitives (RG_SHARED, rg_barrier) on every target: kernels that reduce and
// exchange values through block-shared memory run and are checked bit for bit against
// values computed here; the same bodies compile for NVIDIA and AMD, whose code objects
// must use shared memory / LDS.
//   ROPEGEN_TEST_RUNTIME=host (default): the host target, whose launcher emulates each
//   block cooperatively; "host:" cases test that emulation itself.
//   ROPEGEN_TEST_RUNTIME=cuda: the same launches on the GPU; skipped with a printed reason
//   where there is no NVIDIA driver or device.
// GPU compilers that are not installed are skipped with a printed reason, unless named in
// ROPEGEN_REQUIRE_BACKENDS (as in tests/compile/test_compile.cpp).
#include <doctest/doctest.h>

#include "vendors/host/host.hpp"
#include "backends.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "codegen/codegen.hpp"
#include "skip.hpp"
#include "compile/compile.hpp"
#include "ropegen/error.hpp"
#include "compile/inspect.hpp"
#include "ropegen/runtime.hpp"

using namespace ropegen;

namespace {

constexpr int kThreads = 256;

// Tree reduction of the squares of a block's inputs in [lo, hi) (a per-block range read
// from `positions`); every thread of the range writes the block's total. Threads outside
// the range return before the first barrier: those below it are the ones that finished
// before any thread reached a barrier, those above it start no fiber at all. After the
// last barrier each thread also writes its own indices, which must be its own per fiber.
const char* kSumSquares = R"(
RG_KERNEL(256) rg_block_sum_squares(ropegen_kernel_args a) {
  RG_SHARED float partial[256];
  const int t = rg_thread_x();
  const long long b = rg_block_y() * a.num_tokens + rg_block_x();
  const int lo = static_cast<const int*>(a.positions)[2 * b];
  const int hi = static_cast<const int*>(a.positions)[2 * b + 1];
  if (t < lo || t >= hi) return;
  const int i = t - lo, count = hi - lo;
  const float x = static_cast<const float*>(a.v)[b * 256 + t];
  partial[i] = x * x;
  rg_barrier();
  for (int stride = 128; stride > 0; stride >>= 1) {
    if (i < stride && i + stride < count) partial[i] += partial[i + stride];
    rg_barrier();
  }
  static_cast<float*>(a.q)[b * 256 + t] = partial[0];
  static_cast<int*>(a.k_cache)[b * 256 + t] = rg_thread_x() + 1000 * rg_block_x() + 100000 * rg_block_y();
}
)";

// Two exchanges through shared memory: reverse the block's values, then every third thread
// returns while the others publish twice what they read and take their right neighbour's.
const char* kReverse = R"(
RG_KERNEL(256) rg_block_reverse(ropegen_kernel_args a) {
  RG_SHARED float s[256];
  const int t = rg_thread_x();
  const long long b = rg_block_y() * a.num_tokens + rg_block_x();
  float* out = static_cast<float*>(a.q) + b * 256;
  s[t] = static_cast<const float*>(a.v)[b * 256 + t];
  rg_barrier();
  const float r = s[255 - t];
  rg_barrier();
  if (t % 3 == 0) {
    out[t] = r;
    return;
  }
  s[t] = 2.0f * r;
  rg_barrier();
  out[t] = s[(t + 1) % 256];
  static_cast<int*>(a.k_cache)[b * 256 + t] = rg_thread_x() + 1000 * rg_block_x() + 100000 * rg_block_y();
}
)";

using test::backend;
using test::required;
using test::usable;

/// The kernels' plan: 256 threads, one block per "token" along x, and grid y up to
/// `grid_y` when the launch asks for that much parallelism.
LaunchPlan block_plan(const Target& target, int grid_y) {
  LaunchPlan plan;
  plan.wave = target.default_wave;
  plan.block_threads = kThreads;
  plan.tokens_per_block = 1;
  plan.head_groups = 1;
  plan.num_tasks = grid_y;
  return plan;
}

/// A spec whose argument checks the test's arguments satisfy (q, k, positions).
KernelSpec arg_spec() {
  return parse_spec_line("op=rope head_dim=64 q_heads=1 kv_heads=1 cos_sin=compute(theta=10000)").spec;
}

GeneratedSource wrap(const std::string& body, const std::string& entry, const Target& target, int grid_y = 2) {
  return wrap_kernel_body(body, entry, target, block_plan(target, grid_y), arg_spec());
}

std::string runtime_name() {
  const char* r = std::getenv("ROPEGEN_TEST_RUNTIME");
  return r && *r ? r : "host";
}

/// The runtime the launch tests use (ROPEGEN_TEST_RUNTIME: host by default, or cuda), or
/// null, with the reason printed, when it has no device.
Runtime* runtime() {
  static std::unique_ptr<Runtime> rt;
  static bool tried = false;
  if (!tried) {
    tried = true;
    try {
      rt = open_runtime(runtime_name());
      std::printf("block tests on %s: %s\n", runtime_name().c_str(), rt->device_name().c_str());
    } catch (const Error& e) {
      ropegen_test::skip_for_device("block tests on runtime '" + runtime_name() + "': " + e.what());
    }
  }
  return rt.get();
}

std::unique_ptr<Kernel> load_kernel(Runtime& rt, const std::string& body, const std::string& entry) {
  const Target t = rt.target();
  return rt.load(select_compiler(t).compile(wrap(body, entry, t), {}));
}

/// Device memory holding a copy of `data`, freed on scope exit.
struct DeviceCopy {
  Runtime& rt;
  size_t bytes;
  void* p;
  template <class T>
  DeviceCopy(Runtime& r, const std::vector<T>& data) : rt(r), bytes(data.size() * sizeof(T)), p(r.alloc(bytes)) {
    rt.copy_to_device(p, data.data(), bytes);
  }
  DeviceCopy(const DeviceCopy&) = delete;
  DeviceCopy& operator=(const DeviceCopy&) = delete;
  ~DeviceCopy() { rt.free(p); }
  template <class T>
  void read(std::vector<T>& data) const {
    rt.copy_to_host(data.data(), p, bytes);
  }
};

constexpr float kUnwritten = -7.0f;
constexpr int kUnwrittenIndex = -1;

/// One launch's buffers: inputs, per-block ranges (whole blocks unless changed), outputs
/// preset to "unwritten".
struct Launch {
  int grid_x, grid_y;
  std::vector<float> in, out;
  std::vector<int> ranges, index;
  Launch(int gx, int gy, unsigned seed) : grid_x(gx), grid_y(gy) {
    const size_t n = static_cast<size_t>(gx) * gy * kThreads;
    in.resize(n);
    out.assign(n, kUnwritten);
    index.assign(n, kUnwrittenIndex);
    for (int b = 0; b < gx * gy; ++b) ranges.insert(ranges.end(), {0, kThreads});
    unsigned r = seed;
    for (float& x : in) {
      r = r * 1664525u + 1013904223u;
      x = static_cast<float>(static_cast<int>(r >> 9) - (1 << 22)) * 0x1p-20f;  // about [-4, 4)
    }
  }
  void run(Runtime& rt, const Kernel& k) {
    DeviceCopy d_in(rt, in), d_out(rt, out), d_index(rt, index), d_ranges(rt, ranges);
    ropegen_kernel_args a = ROPEGEN_KERNEL_ARGS_INIT;
    a.v = d_in.p;
    a.q = d_out.p;
    a.k = d_out.p;  // checked as non-null, never read
    a.k_cache = d_index.p;
    a.positions = d_ranges.p;
    a.num_tokens = grid_x;
    a.q_stride = a.k_stride = kThreads;
    k.launch(a, nullptr, grid_y > 1 ? 1 << 30 : 1);  // enough parallelism asked for: grid y = grid_y
    rt.synchronize();
    d_out.read(out);
    d_index.read(index);
  }
  int expected_index(long long b, int t) const {
    return t + 1000 * static_cast<int>(b % grid_x) + 100000 * static_cast<int>(b / grid_x);
  }
};

/// Counts elements of a sum-of-squares launch that differ from the tree reduction done
/// here in the kernel's order (so the totals match bit for bit).
int sum_squares_mismatches(const Launch& L) {
  int bad = 0;
  for (long long b = 0; b < static_cast<long long>(L.grid_x) * L.grid_y; ++b) {
    const int lo = L.ranges[2 * b], hi = L.ranges[2 * b + 1], count = hi - lo;
    std::vector<float> p(kThreads, 0.0f);
    for (int i = 0; i < count; ++i) {
      const float x = L.in[b * kThreads + lo + i];
      p[i] = x * x;
    }
    for (int stride = 128; stride > 0; stride >>= 1)
      for (int i = 0; i < stride && i + stride < count; ++i) p[i] += p[i + stride];
    for (int t = 0; t < kThreads; ++t) {
      const bool active = t >= lo && t < hi;
      const float want = active ? p[0] : kUnwritten;
      const int want_index = active ? L.expected_index(b, t) : kUnwrittenIndex;
      const float got = L.out[b * kThreads + t];
      if (std::memcmp(&got, &want, sizeof got) != 0 || L.index[b * kThreads + t] != want_index) ++bad;
    }
  }
  return bad;
}

int reverse_mismatches(const Launch& L) {
  int bad = 0;
  for (long long b = 0; b < static_cast<long long>(L.grid_x) * L.grid_y; ++b) {
    const float* in = &L.in[b * kThreads];
    auto published = [&](int j) { return j % 3 == 0 ? in[j] : 2.0f * in[kThreads - 1 - j]; };
    for (int t = 0; t < kThreads; ++t) {
      const float want = t % 3 == 0 ? in[kThreads - 1 - t] : published((t + 1) % kThreads);
      const int want_index = t % 3 == 0 ? kUnwrittenIndex : L.expected_index(b, t);
      const float got = L.out[b * kThreads + t];
      if (std::memcmp(&got, &want, sizeof got) != 0 || L.index[b * kThreads + t] != want_index) ++bad;
    }
  }
  return bad;
}

/// Per-block [lo, hi) ranges for 4 x 2 blocks: whole blocks, threads returning above and
/// below the range, a single thread, an empty block, and the first barrier reached by a
/// thread other than 0.
std::vector<int> mixed_ranges() {
  return {0, 256, 0, 200, 37, 256, 100, 101, 0, 0, 255, 256, 1, 255, 0, 256};
}

}  // namespace

TEST_CASE("block: tree reduction in shared memory with barriers and early returns") {
  Runtime* rt = runtime();
  if (!rt) return;
  auto k = load_kernel(*rt, kSumSquares, "rg_block_sum_squares");
  Launch all(4, 2, 1);
  all.run(*rt, *k);
  CHECK(sum_squares_mismatches(all) == 0);

  Launch mixed(4, 2, 2);
  mixed.ranges = mixed_ranges();
  mixed.run(*rt, *k);
  CHECK(sum_squares_mismatches(mixed) == 0);

  // Grid y of 1: the same kernel, blocks along x only.
  Launch row(5, 1, 3);
  for (int b = 0; b < 5; ++b) {
    row.ranges[2 * b] = b;
    row.ranges[2 * b + 1] = kThreads - 3 * b;
  }
  row.run(*rt, *k);
  CHECK(sum_squares_mismatches(row) == 0);
}

TEST_CASE("block: two exchanges through shared memory, threads returning between barriers") {
  Runtime* rt = runtime();
  if (!rt) return;
  auto k = load_kernel(*rt, kReverse, "rg_block_reverse");
  Launch L(3, 2, 4);
  L.run(*rt, *k);
  CHECK(reverse_mismatches(L) == 0);
  // A second launch of the same kernel reuses nothing stale.
  Launch again(2, 1, 5);
  again.run(*rt, *k);
  CHECK(reverse_mismatches(again) == 0);
}

TEST_CASE("block: host: these checks fail when barriers do nothing (threads run to completion in turn)") {
  // The bodies with rg_barrier() defined away after the prelude: the host then runs each
  // thread to its end before the next starts, and the results must no longer match.
  const std::string noop = "#define rg_barrier() ((void)0)\n";
  auto rt = make_host_runtime();
  auto sum = load_kernel(*rt, noop + kSumSquares, "rg_block_sum_squares");
  Launch mixed(4, 2, 2);
  mixed.ranges = mixed_ranges();
  mixed.run(*rt, *sum);
  CHECK(sum_squares_mismatches(mixed) > 0);
  auto rev = load_kernel(*rt, noop + kReverse, "rg_block_reverse");
  Launch L(3, 2, 4);
  L.run(*rt, *rev);
  CHECK(reverse_mismatches(L) > 0);
}

TEST_CASE("block: host: concurrent launches on two OS threads keep their own shared memory") {
  auto rt = make_host_runtime();
  auto k = load_kernel(*rt, kSumSquares, "rg_block_sum_squares");
  int bad[2] = {0, 0};
  auto worker = [&](int w) {
    for (int rep = 0; rep < 20; ++rep) {
      Launch L(4, 2, static_cast<unsigned>(100 * w + rep));
      L.ranges = mixed_ranges();
      if (w == 1) L.ranges[0] = 3;  // the two threads' blocks differ
      L.run(*rt, *k);
      bad[w] += sum_squares_mismatches(L);
    }
  };
  std::thread other(worker, 1);
  worker(0);
  other.join();
  CHECK(bad[0] == 0);
  CHECK(bad[1] == 0);
}

TEST_CASE("block: compile: RG_SHARED and rg_barrier compile for NVIDIA and AMD and use shared memory") {
  struct Case {
    const char* backend;
    const char* target;
  };
  int compiled = 0;
  for (const Case& cs : {Case{"nvrtc", "sm_90"}, Case{"clang-amdgpu", "gfx1100"}, Case{"clang-amdgpu", "gfx90a"},
                         Case{"hiprtc", "gfx90a"}}) {
    const std::string where = std::string(cs.backend) + " " + cs.target;
    CAPTURE(where);
    const Compiler* c = usable(cs.backend);
    if (!c) continue;
    const Target t = parse_target(cs.target);
    for (const auto& kernel : {std::make_pair(kSumSquares, "rg_block_sum_squares"),
                               std::make_pair(kReverse, "rg_block_reverse")}) {
      const std::string entry = kernel.second;
      CAPTURE(entry);
      const GeneratedSource g = wrap(kernel.first, entry, t);
      const CodeObject co = c->compile(g, {});
      const CodeObjectInfo info = inspect(co);
      const KernelResources* k = nullptr;
      for (const KernelResources& r : info.kernels)
        if (r.name == entry) k = &r;
      REQUIRE(k != nullptr);
      CHECK(k->scratch_bytes == 0);
      if (t.vendor == Vendor::Amd) {
        CHECK(k->lds_bytes >= kThreads * 4);  // .group_segment_fixed_size: the 256-float array
        CHECK(k->max_threads == kThreads);
        std::string isa;
        try {
          isa = disassemble(co);
        } catch (const Error& e) {
          MESSAGE("skipping ISA check: " << e.what());
        }
        if (!isa.empty()) CHECK(isa.find("s_barrier") != std::string::npos);
      } else {
        // The PTX says it directly: a 1024-byte .shared array and a block barrier.
        const CodeObject ptx = c->compile(g, {{"--ptx"}});
        const std::string text(ptx.bytes.begin(), ptx.bytes.end());
        CHECK(text.find(".shared .align 4 .b8") != std::string::npos);
        CHECK(text.find("[1024]") != std::string::npos);
        CHECK(text.find("bar.sync") != std::string::npos);
      }
      ++compiled;
    }
  }
  MESSAGE("compiled " << compiled << " block-level kernels for GPU targets");
}
