// Kernel benchmark: the generated kernels against the device's own limits, measured in one
// run: device-to-device copy bandwidth and the time of an empty kernel launch. Each row is
// timed twice: launches back to back on a stream (what a host loop costs) and inside a CUDA
// graph (what an engine's decode step costs; the empty kernel's graph node is the floor). Also the
// unfused pair (rope, then kv_append) and a seed-style baseline (fp32, one 256-thread block
// per token and head, scalar loads). Not a test.
//
//   ropegen_kernel_bench [--runtime cuda|host] [--quick] [--sweep] [--csv FILE] [--cache-dir DIR]
//
// The CSV goes beside the executable (the build tree's bench/) unless --csv says where, never
// to the working directory; kernels are compiled into a private cache directory there too,
// never the user's.
//
// The working set never sits in L2 between iterations: each launch uses the next of enough
// buffer sets (offsets into one pool per tensor) to cover at least 4x the L2 size.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>
#include <fstream>
#include <string>
#include <vector>

#include "compile/compile.hpp"
#include "jit/jit.hpp"
#include "ropegen/ropegen.hpp"

using namespace ropegen;

namespace {

constexpr double kL2Bytes = 50.0 * 1024 * 1024;  // H100: 50 MiB

struct Options {
  std::string runtime = "cuda";
  bool quick = false;
  std::string csv;        // default: <directory of the executable>/kernel_bench.csv
  std::string cache_dir;  // default: <directory of the executable>/bench-cache
  bool sweep = false;  // try launch plans for the Llama shape instead of the full table
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// Device memory freed on scope exit.
struct DevBuf {
  Runtime* rt = nullptr;
  void* p = nullptr;
  DevBuf() = default;
  DevBuf(Runtime& r, size_t bytes) : rt(&r), p(r.alloc(bytes)) {}
  DevBuf(DevBuf&& o) noexcept : rt(o.rt), p(o.p) { o.p = nullptr; }
  DevBuf& operator=(DevBuf&& o) noexcept {
    std::swap(rt, o.rt);
    std::swap(p, o.p);
    return *this;
  }
  ~DevBuf() {
    if (p) rt->free(p);
  }
  char* c() const { return static_cast<char*>(p); }
};

/// Inputs and outputs for `sets` independent launches of one shape.
struct Workload {
  KernelSpec spec;
  long long tokens = 0;
  int sets = 1;
  long long q_set = 0, kv_set = 0, cache_set = 0;  // elements per set
  long long cache_slots = 0;
  DevBuf q, k, v, kc, vc, pos, slots, table;
  DevBuf bounds;  // checks = bounds: the zeroed error buffer (in-range data: stays zero)
  int eb = 2;

  ropegen_kernel_args args(int set) const {
    ropegen_kernel_args a = ROPEGEN_KERNEL_ARGS_INIT;
    a.q = q.c() + static_cast<size_t>(set) * q_set * eb;
    a.k = k.c() + static_cast<size_t>(set) * kv_set * eb;
    a.v = v.c() + static_cast<size_t>(set) * kv_set * eb;
    a.k_cache = kc.c() + static_cast<size_t>(set) * cache_set * eb;
    a.v_cache = vc.c() + static_cast<size_t>(set) * cache_set * eb;
    a.positions = pos.p;
    a.slot_mapping = slots.p;
    a.cos = reinterpret_cast<const float*>(table.p);
    a.sin = reinterpret_cast<const float*>(table.p) + spec.rotary_dim / 2;
    a.cos_sin_stride = spec.rotary_dim;
    a.num_tokens = tokens;
    a.q_stride = static_cast<long long>(spec.q_heads) * spec.head_dim;
    a.k_stride = a.v_stride = static_cast<long long>(spec.kv_heads) * spec.head_dim;
    a.max_seq = cache_slots;
    a.cache_slots = cache_slots;  // paged(block = 16) and contiguous alike: a multiple of 16
    a.table_rows = tokens;        // the table holds positions 0 .. tokens - 1
    a.bounds_error = static_cast<unsigned long long*>(bounds.p);
    return a;
  }
};

/// Bytes a launch must move at least: every input read once, every output written once.
double ideal_bytes(const KernelSpec& s, long long T) {
  const double eb = dtype_bytes(s.dtype), ib = s.index == IndexType::I32 ? 4 : 8;
  const double qe = static_cast<double>(s.q_heads) * s.head_dim, kve = static_cast<double>(s.kv_heads) * s.head_dim;
  const double table = s.cos_sin.source == CosSinSource::Table ? s.rotary_dim * 4.0 : 0;  // cos + sin row
  double per_token = 0;
  if (s.op == Op::Rope) per_token = (2 * qe + 2 * kve) * eb + ib + table;
  if (s.op == Op::KvAppend) per_token = 4 * kve * eb + ib;
  if (s.op == Op::RopeKvAppend) per_token = (2 * qe + 4 * kve) * eb + 2 * ib + table;
  return per_token * static_cast<double>(T);
}

Workload make_workload(Runtime& rt, const KernelSpec& s, long long T) {
  Workload w;
  w.spec = s;
  w.tokens = T;
  w.eb = dtype_bytes(s.dtype);
  const double per_set = std::max(1.0, ideal_bytes(s, T));
  w.sets = static_cast<int>(std::min(8192.0, std::max(1.0, std::ceil(4 * kL2Bytes / per_set))));
  w.q_set = T * s.q_heads * s.head_dim;
  w.kv_set = T * s.kv_heads * s.head_dim;
  w.cache_slots = (T + 15) / 16 * 16;
  w.cache_set = w.cache_slots * s.kv_heads * s.head_dim;
  auto pool = [&](long long elems) {
    size_t bytes = static_cast<size_t>(elems) * w.sets * w.eb;
    DevBuf b(rt, bytes);
    std::vector<char> init(std::min<size_t>(bytes, 64 << 20), 0x11);  // finite values in every dtype
    for (size_t off = 0; off < bytes; off += init.size())
      rt.copy_to_device(b.c() + off, init.data(), std::min(init.size(), bytes - off));
    return b;
  };
  w.q = pool(w.q_set);
  w.k = pool(w.kv_set);
  w.v = pool(w.kv_set);
  w.kc = pool(w.cache_set);
  w.vc = pool(w.cache_set);
  // Positions by id, slots in order (decode: one token per sequence).
  std::vector<int> ids(static_cast<size_t>(T));
  for (long long t = 0; t < T; ++t) ids[t] = static_cast<int>(t);
  std::vector<long long> ids64(ids.begin(), ids.end());
  const bool i64 = s.index == IndexType::I64;
  w.pos = DevBuf(rt, T * (i64 ? 8 : 4));
  w.slots = DevBuf(rt, T * (i64 ? 8 : 4));
  rt.copy_to_device(w.pos.p, i64 ? static_cast<const void*>(ids64.data()) : ids.data(), T * (i64 ? 8 : 4));
  rt.copy_to_device(w.slots.p, i64 ? static_cast<const void*>(ids64.data()) : ids.data(), T * (i64 ? 8 : 4));
  std::vector<float> table(static_cast<size_t>(T) * s.rotary_dim);
  for (long long p = 0; p < T; ++p)
    for (int j = 0; j < s.rotary_dim / 2; ++j) {
      double a = p * std::pow(10000.0, -2.0 * j / s.rotary_dim);
      table[p * s.rotary_dim + j] = static_cast<float>(std::cos(a));
      table[p * s.rotary_dim + s.rotary_dim / 2 + j] = static_cast<float>(std::sin(a));
    }
  w.table = DevBuf(rt, table.size() * 4);
  rt.copy_to_device(w.table.p, table.data(), table.size() * 4);
  const unsigned long long zero[4] = {0, 0, 0, 0};
  w.bounds = DevBuf(rt, sizeof zero);
  rt.copy_to_device(w.bounds.p, zero, sizeof zero);
  return w;
}

/// Median microseconds per call of `launch(set)` launched back to back on `stream`.
template <typename Launch>
double time_per_call_us(Runtime& rt, void* stream, int sets, Launch&& launch, bool quick) {
  int next = 0;
  auto batch = [&](int n) {
    return rt.time_ms([&] {
      for (int i = 0; i < n; ++i) launch(next++ % sets);
    }, stream);
  };
  batch(3);  // warm up
  double probe = batch(10) / 10.0;
  const double target_ms = quick ? 0.5 : 3.0;
  int n = static_cast<int>(std::clamp(target_ms / std::max(probe, 1e-4), 20.0, 5000.0));
  std::vector<double> per;
  for (int r = 0; r < (quick ? 3 : 7); ++r) per.push_back(batch(n) * 1000.0 / n);
  return median(per);
}

/// Median microseconds per call inside a CUDA graph: `calls` calls (rotating buffer sets)
/// captured once, the graph replayed; -1 where the runtime has no graphs.
template <typename Launch>
double graph_per_call_us(Runtime& rt, void* stream, int sets, Launch&& launch, bool quick) {
  const int calls = std::max(sets, 200);
  std::vector<double> per;
  try {
    for (int r = 0; r < (quick ? 2 : 5); ++r)
      per.push_back(rt.graph_time_ms([&] { for (int i = 0; i < calls; ++i) launch(i % sets); }, stream,
                                     quick ? 2 : 5) * 1000.0 / calls);
  } catch (const Error&) {
    return -1;
  }
  return median(per);
}

struct Row {
  std::string name, variant, spec;
  long long tokens;
  double us, bytes;
  double graph_us;  ///< -1: no graphs on this runtime
};

}  // namespace

int run(int argc, char** argv) {
  Options o;
  // Beside the executable: the build tree when run from it, the staging folder when copied.
  std::string here = ".";
  {
    char buf[4096];
    const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n > 0) {
      const std::string exe(buf, static_cast<size_t>(n));
      here = exe.substr(0, exe.rfind('/'));
    }
  }
  o.csv = here + "/kernel_bench.csv";
  o.cache_dir = here + "/bench-cache";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--runtime" && i + 1 < argc) o.runtime = argv[++i];
    else if (a == "--quick") o.quick = true;
    else if (a == "--csv" && i + 1 < argc) o.csv = argv[++i];
    else if (a == "--sweep") o.sweep = true;
    else if (a == "--cache-dir" && i + 1 < argc) o.cache_dir = argv[++i];
    else {
      std::fprintf(stderr,
                   "usage: %s [--runtime cuda|host] [--quick] [--sweep] [--csv FILE] [--cache-dir DIR]\n"
                   "  --sweep      try launch plans for the Llama shape instead of the full table\n"
                   "  --csv        where to write the results (default %s)\n"
                   "  --cache-dir  private cache for the benchmark's kernels (default %s)\n",
                   argv[0], o.csv.c_str(), o.cache_dir.c_str());
      return 2;
    }
  }
  // Every Jit of this process (the Context's and the sweep's) reads its options from the
  // environment: point them at the private cache.
  setenv("ROPEGEN_CACHE_DIR", o.cache_dir.c_str(), 1);
  std::unique_ptr<Context> ctx;
  try {
    ctx = Context::open(o.runtime);
  } catch (const Error& e) {
    std::fprintf(stderr, "kernel benchmark needs a device: %s\n", e.what());
    return 2;
  }
  Runtime& rt = ctx->runtime();
  void* stream = rt.create_stream();
  const Target target = ctx->target();
  std::printf("device: %s\n", rt.device_name().c_str());

  // 1. Copy bandwidth: bytes read + written per second for a large device-to-device copy.
  const size_t copy_bytes = o.quick ? (64u << 20) : (1024u << 20);
  double copy_gbs = 0;
  {
    DevBuf a(rt, copy_bytes), b(rt, copy_bytes);
    std::vector<double> ms;
    rt.copy_on_device(b.p, a.p, copy_bytes, stream);
    for (int r = 0; r < 7; ++r) ms.push_back(rt.time_ms([&] { rt.copy_on_device(b.p, a.p, copy_bytes, stream); }, stream));
    copy_gbs = 2.0 * copy_bytes / (median(ms) * 1e-3) / 1e9;
  }
  std::printf("copy bandwidth: %.1f GB/s (device-to-device %zu MiB, read + write)\n", copy_gbs, copy_bytes >> 20);

  // Helper kernels: empty, and the seed-style baseline.
  const KernelSpec llama_f32 = parse_spec_line("head_dim=128 q_heads=32 kv_heads=8 dtype=f32").spec;
  auto helper = [&](const std::string& body, const std::string& entry, int tasks, int threads) {
    LaunchPlan plan;
    plan.wave = target.default_wave;
    plan.tokens_per_block = 1;
    plan.head_groups = 1;
    plan.num_tasks = tasks;
    plan.block_threads = threads;
    GeneratedSource g = wrap_kernel_body(body, entry, target, plan, llama_f32);
    g.align = generate(llama_f32, target).align;
    return rt.load(select_compiler(target).compile(g, {}));
  };
  auto empty = helper("RG_KERNEL(32) rg_empty(ropegen_kernel_args) {}\n", "rg_empty", 1, 32);
  // One block of 256 threads per (token, head), scalar fp32 loads: the build-time kernels'
  // shape (64 of 256 threads busy for head_dim 128).
  const char* seed_src = R"(
RG_KERNEL(256) rg_seed_rope(ropegen_kernel_args a) {
  const int t = rg_block_x(), h = rg_block_y(), i = rg_thread_x();
  if (i >= 64) return;
  float* x = h < 32 ? static_cast<float*>(a.q) + t * a.q_stride + h * 128
                    : static_cast<float*>(a.k) + t * a.k_stride + (h - 32) * 128;
  const int pos = static_cast<const int*>(a.positions)[t];
  const float c = a.cos[pos * a.cos_sin_stride + i], s = a.sin[pos * a.cos_sin_stride + i];
  const float x0 = x[i], x1 = x[i + 64];
  x[i] = x0 * c - x1 * s;
  x[i + 64] = x1 * c + x0 * s;
}
RG_KERNEL(256) rg_seed_append(ropegen_kernel_args a) {
  const int t = rg_block_x(), h = rg_block_y(), i = rg_thread_x();
  if (i >= 128) return;
  const long long slot = static_cast<const int*>(a.slot_mapping)[t];
  if (slot < 0) return;
  const long long dst = (slot * 8 + h) * 128 + i;
  static_cast<float*>(a.k_cache)[dst] = static_cast<const float*>(a.k)[t * a.k_stride + h * 128 + i];
  static_cast<float*>(a.v_cache)[dst] = static_cast<const float*>(a.v)[t * a.v_stride + h * 128 + i];
}
)";
  auto seed_rope = helper(seed_src, "rg_seed_rope", 40, 256);
  auto seed_append = helper(seed_src, "rg_seed_append", 8, 256);
  const int all_heads = 1 << 30;  // parallelism hint: grid y covers every head

  double empty_us = 0, empty_graph_us = -1;
  {
    Workload w = make_workload(rt, llama_f32, 1);
    ropegen_kernel_args a = w.args(0);
    empty_us = time_per_call_us(rt, stream, 1, [&](int) { empty->launch(a, stream, 1); }, o.quick);
    empty_graph_us = graph_per_call_us(rt, stream, 1, [&](int) { empty->launch(a, stream, 1); }, o.quick);
  }
  std::printf("empty kernel launch: %.2f us per launch (back to back, no host synchronisation)\n", empty_us);
  if (empty_graph_us >= 0)
    std::printf("empty kernel in a CUDA graph: %.2f us per node (the floor of graph mode)\n", empty_graph_us);
  else
    std::printf("graph mode: not available on this runtime\n");

  // Host-side cost of Kernel::launch (argument checks, grid, driver call): wall time of the
  // enqueueing loop alone, for the decode kernel.
  {
    KernelSpec s = parse_spec_line("head_dim=128 q_heads=32 kv_heads=8 dtype=bf16").spec;
    auto k = ctx->kernel(s);
    Workload w = make_workload(rt, s, 1);
    const int n = 1000;
    std::vector<double> per;
    for (int r = 0; r < 5; ++r) {
      rt.synchronize_stream(stream);
      auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < n; ++i) k->launch(w.args(i % w.sets), stream);
      per.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / n);
      rt.synchronize_stream(stream);
    }
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 100000; ++i) ctx->kernel(s);
    const double get_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / 100000;
    std::printf("host side: %.2f us per Kernel::launch (checks + driver enqueue), %.3f us per warm Context::kernel()\n\n",
                median(per), get_us);
  }

  if (o.sweep) {
    // Launch plans (tokens per block x head groups) for the Llama-3-8B bf16 shape.
    const KernelSpec s = parse_spec_line("head_dim=128 q_heads=32 kv_heads=8 dtype=bf16").spec;
    std::printf("%-8s %7s %10s %8s %10s %8s\n", "plan", "tokens", "us/call", "%copy", "graph us", "%copy");
    for (long long T : {1LL, 32LL, 256LL, 2048LL, 8192LL}) {
      Workload w = make_workload(rt, s, T);
      for (auto [tpb, hg] : std::vector<std::pair<int, int>>{{1, 8}, {1, 16}, {1, 32}, {2, 8}, {2, 16}, {4, 8},
                                                              {8, 4}, {4, 4}, {16, 2}, {8, 8}, {2, 32}, {1, 64}}) {
        JitOptions jo = JitOptions::from_env();
        jo.plan = {tpb, hg};
        Context c(open_runtime(o.runtime), jo);
        auto k = c.kernel(s);
        auto launch = [&](int set) { k->launch(w.args(set), stream); };
        double us = time_per_call_us(rt, stream, w.sets, launch, o.quick);
        double graph_us = graph_per_call_us(rt, stream, w.sets, launch, o.quick);
        double gbs = ideal_bytes(s, T) / (us * 1e-6) / 1e9;
        double graph_gbs = graph_us > 0 ? ideal_bytes(s, T) / (graph_us * 1e-6) / 1e9 : 0;
        std::printf("%2dx%-5d %7lld %10.2f %7.1f%% %10.2f %7.1f%%\n", tpb, hg, T, us, 100 * gbs / copy_gbs, graph_us,
                    100 * graph_gbs / copy_gbs);
      }
    }
    rt.destroy_stream(stream);
    return 0;
  }

  std::vector<Row> rows;
  auto run_spec = [&](const std::string& name, const std::string& text, long long T) {
    KernelSpec s = parse_spec_line(text, "<bench>").spec;
    auto k = ctx->kernel(s);
    Workload w = make_workload(rt, s, T);
    auto launch = [&](int set) { k->launch(w.args(set), stream); };
    double us = time_per_call_us(rt, stream, w.sets, launch, o.quick);
    double graph_us = graph_per_call_us(rt, stream, w.sets, launch, o.quick);
    if (s.checks == Checks::Bounds && read_bounds_error(rt, w.bounds.p).violated)
      throw Error(ErrorKind::Internal, "checks = bounds recorded a violation on in-range data: " + s.canonical());
    const LaunchPlan& p = k->build()->plan();  // what was built (ROPEGEN_PLAN included)
    rows.push_back({name, "fused, plan " + std::to_string(p.tokens_per_block) + "x" + std::to_string(p.head_groups),
                    s.canonical(), T, us, ideal_bytes(s, T), graph_us});
  };
  auto run_unfused = [&](const std::string& name, const std::string& text, long long T) {
    KernelSpec fused = parse_spec_line(text, "<bench>").spec;
    KernelSpec rope = fused, append = fused;
    rope.op = Op::Rope;
    append.op = Op::KvAppend;
    auto kr = ctx->kernel(rope);
    auto ka = ctx->kernel(append);
    Workload w = make_workload(rt, fused, T);
    auto launch = [&](int set) {
      ropegen_kernel_args a = w.args(set);
      kr->launch(a, stream);
      ka->launch(a, stream);
    };
    double us = time_per_call_us(rt, stream, w.sets, launch, o.quick);
    double graph_us = graph_per_call_us(rt, stream, w.sets, launch, o.quick);
    rows.push_back({name, "unfused rope + kv_append", fused.canonical(), T, us,
                    ideal_bytes(rope, T) + ideal_bytes(append, T), graph_us});
  };
  auto run_seed = [&](long long T) {
    Workload w = make_workload(rt, llama_f32, T);
    KernelSpec rope = llama_f32, append = llama_f32;
    rope.op = Op::Rope;
    append.op = Op::KvAppend;
    auto launch = [&](int set) {
      ropegen_kernel_args a = w.args(set);
      seed_rope->launch(a, stream, all_heads);
      seed_append->launch(a, stream, all_heads);
    };
    double us = time_per_call_us(rt, stream, w.sets, launch, o.quick);
    double graph_us = graph_per_call_us(rt, stream, w.sets, launch, o.quick);
    rows.push_back({"seed-style f32", "baseline: 2 kernels, 256 thr/head, scalar", llama_f32.canonical(), T, us,
                    ideal_bytes(rope, T) + ideal_bytes(append, T), graph_us});
  };

  const std::string llama = "head_dim=128 q_heads=32 kv_heads=8 dtype=bf16 cache=paged(block=16,order=nhd)";
  std::vector<long long> token_counts = o.quick ? std::vector<long long>{1, 32, 256}
                                                : std::vector<long long>{1, 32, 256, 2048, 8192, 32768};
  const long long prefill = o.quick ? 256 : 8192;
  for (long long T : token_counts) {
    run_spec("llama3-8b bf16", llama, T);
    run_unfused("llama3-8b bf16", llama, T);
  }
  for (long long T : {prefill, o.quick ? 256LL : 32768LL}) {
    run_spec("cos_sin=compute", llama + " cos_sin=compute(theta=500000)", T);
  }
  // The opt-in checked mode: the cost of the position and slot checks beside the plain rows.
  for (long long T : {1LL, 256LL, prefill}) run_spec("checks=bounds", llama + " checks=bounds", T);
  for (long long T : {1LL, prefill}) {
    run_spec("head_dim 64", "head_dim=64 q_heads=32 kv_heads=8 dtype=bf16", T);
    run_spec("head_dim 256", "head_dim=256 q_heads=32 kv_heads=8 dtype=bf16", T);
    run_spec("gptj", llama + " style=gptj", T);
    run_spec("f16", "head_dim=128 q_heads=32 kv_heads=8 dtype=f16", T);
    run_spec("contiguous hnd", "head_dim=128 q_heads=32 kv_heads=8 dtype=bf16 cache=contiguous(order=hnd)", T);
  }
  for (long long T : std::vector<long long>{1, 256, prefill, o.quick ? 256 : 32768}) {
    run_spec("llama3-8b f32", "head_dim=128 q_heads=32 kv_heads=8 dtype=f32", T);
    run_seed(T);
  }

  // Programmatic dependent launch: a producer that writes q, k and v (as the end of a QKV
  // projection would), then the fused kernel, without and with pdl = on. The producer lets
  // its dependent launch early; with PDL the fused kernel loads its indices and cos/sin rows
  // while the producer finishes, and waits for it before reading q, k, v.
  const char* producer_src = R"(
RG_KERNEL(256) rg_producer(ropegen_kernel_args a) {
  rg_allow_next_grid();
  const long long t = rg_block_x();
  if (t >= a.num_tokens) return;
  unsigned* q = static_cast<unsigned*>(a.q) + t * a.q_stride / 2;
  unsigned* k = static_cast<unsigned*>(a.k) + t * a.k_stride / 2;
  unsigned* v = static_cast<unsigned*>(const_cast<void*>(a.v)) + t * a.v_stride / 2;
  const unsigned one = 0x3f803f80u;  // two bf16 1.0
  for (int i = rg_thread_x(); i < 32 * 128 / 2; i += 256) q[i] = one;
  for (int i = rg_thread_x(); i < 8 * 128 / 2; i += 256) {
    k[i] = one;
    v[i] = one;
  }
}
)";
  auto producer = helper(producer_src, "rg_producer", 1, 256);
  for (long long T : std::vector<long long>{1, 32, 256, 2048}) {
    for (const char* mode : {"off", "on"}) {
      KernelSpec s = parse_spec_line(llama + " pdl=" + mode, "<bench>").spec;
      if (!target_can_run(s, target)) continue;
      auto k = ctx->kernel(s);
      Workload w = make_workload(rt, s, T);
      auto launch = [&](int set) {
        ropegen_kernel_args a = w.args(set);
        producer->launch(a, stream, 1);
        k->launch(a, stream);
      };
      double us = time_per_call_us(rt, stream, w.sets, launch, o.quick);
      double graph_us = graph_per_call_us(rt, stream, w.sets, launch, o.quick);
      rows.push_back({"producer+fused", std::string("pdl=") + mode, s.canonical(), T, us,
                      ideal_bytes(s, T) + 2.0 * static_cast<double>(T) * (32 + 16) * 128, graph_us});
    }
  }

  std::printf("%-16s %-42s %7s %10s %12s %9s %7s %10s %7s\n", "shape", "variant", "tokens", "us/call", "ideal bytes",
              "GB/s", "%copy", "graph us", "%copy");
  std::ofstream csv(o.csv);
  if (!csv) throw Error(ErrorKind::Io, "cannot write the CSV to '" + o.csv + "'");
  csv << "device,copy_GBps,empty_launch_us,empty_graph_us,shape,variant,tokens,us_per_call,ideal_bytes,GBps,pct_copy,"
         "graph_us_per_call,graph_pct_copy,spec\n";
  for (const Row& r : rows) {
    const double gbs = r.bytes / (r.us * 1e-6) / 1e9;
    const double graph_gbs = r.graph_us > 0 ? r.bytes / (r.graph_us * 1e-6) / 1e9 : 0;
    std::printf("%-16s %-42s %7lld %10.2f %12.0f %9.1f %6.1f%%", r.name.c_str(), r.variant.c_str(), r.tokens, r.us,
                r.bytes, gbs, 100.0 * gbs / copy_gbs);
    if (r.graph_us > 0) std::printf(" %10.2f %6.1f%%\n", r.graph_us, 100.0 * graph_gbs / copy_gbs);
    else std::printf(" %10s %7s\n", "-", "-");
    csv << '"' << rt.device_name() << "\"," << copy_gbs << ',' << empty_us << ',' << empty_graph_us << ",\""
        << r.name << "\",\"" << r.variant << "\"," << r.tokens << ',' << r.us << ',' << r.bytes << ',' << gbs << ','
        << 100.0 * gbs / copy_gbs << ',' << r.graph_us << ',' << (r.graph_us > 0 ? 100.0 * graph_gbs / copy_gbs : -1)
        << ",\"" << r.spec << "\"\n";
  }
  std::printf("\nwrote %s\n", o.csv.c_str());
  rt.destroy_stream(stream);
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
