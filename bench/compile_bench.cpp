// Compile-path benchmark (CPU only): cold compile per backend, a whole `ropegen` run that
// hits the disk cache, and the in-process hit. Prints a table; not a test.
//
//   build/bench/ropegen_compile_bench [path/to/ropegen]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "../src/common/process.hpp"
#include "jit/jit.hpp"
#include "ropegen/runtime.hpp"

using namespace ropegen;
using Clock = std::chrono::steady_clock;

static double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int main(int argc, char** argv) {
  const std::string cli = argc > 1 ? argv[1] : "build/ropegen";
  const std::string dir = detail::make_temp_dir("ropegen-bench");
  std::printf("%-14s %-10s %12s %12s\n", "backend", "target", "cold ms", "(median of)");
  struct Row {
    const char* backend;
    const char* target;
  };
  const Row rows[] = {{"hiprtc", "gfx90a"}, {"hiprtc", "gfx1030"}, {"clang-amdgpu", "gfx1100"},
                      {"clang-amdgpu", "gfx942"}, {"nvrtc", "sm_90"}, {"host-cxx", "host"}};
  for (const Row& r : rows) {
    // A fresh in-memory cache and distinct specs per repeat: every build is a real compile.
    std::vector<double> times;
    try {
      for (int rep = 0; rep < 5; ++rep) {
        JitOptions o;
        o.cache_dir = "";
        o.compiler = r.backend;
        Jit jit(o);
        KernelSpec s = parse_spec_line("head_dim=128 q_heads=" + std::to_string(8 * (rep + 1))).spec;
        Build b = jit.build(s, parse_target(r.target));
        times.push_back(b.code->compile_ms);
      }
      std::printf("%-14s %-10s %12.1f %12zu\n", r.backend, r.target, median(times), times.size());
    } catch (const std::exception& e) {
      std::printf("%-14s %-10s %12s  (%s)\n", r.backend, r.target, "n/a", e.what());
    }
  }

  // In-process hit: a map lookup.
  {
    JitOptions o;
    o.cache_dir = dir;
    Jit jit(o);
    const KernelSpec s = parse_spec_line("head_dim=128").spec;
    const Target t = parse_target("gfx1100");
    jit.build(s, t);
    const int n = 200000;
    auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) jit.build(s, t);
    std::printf("in-process hit: %.3f us per build() (%d calls)\n", ms_since(t0) * 1000.0 / n, n);
  }

  // ropegen's own part of a launch: argument checks and the grid (no device involved).
  {
    const KernelSpec s = parse_spec_line("head_dim=128").spec;
    GeneratedSource g = generate(s, parse_target("sm_90"));
    alignas(64) static unsigned char buf[1 << 20];
    static float table[1024];
    static int idx[1] = {0};
    ropegen_kernel_args a = ROPEGEN_KERNEL_ARGS_INIT;
    a.q = buf;
    a.k = a.k_cache = a.v_cache = buf;
    a.v = buf;
    a.positions = a.slot_mapping = idx;
    a.cos = a.sin = table;
    a.cos_sin_stride = 128;
    a.num_tokens = 1;
    a.q_stride = 32 * 128;
    a.k_stride = a.v_stride = 8 * 128;
    const int n = 1000000;
    unsigned sink = 0;
    auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) {
      check_args(s, g.align, a);
      sink += g.plan.grid(1 + (i & 7), 528).second;
    }
    std::printf("launch checks + grid: %.3f us per launch (%u)\n", ms_since(t0) * 1000.0 / n, sink & 1);
  }

  // A whole ropegen process that hits the disk cache (the entry was stored above).
  {
    std::vector<double> times;
    std::string env = "ROPEGEN_CACHE_DIR=" + dir;
    putenv(env.data());
    detail::run_process({cli, "--head-dim", "128", "--arch", "gfx1100"});  // warm the probe cache
    for (int i = 0; i < 20; ++i) {
      auto t0 = Clock::now();
      detail::ProcessResult r = detail::run_process({cli, "--head-dim", "128", "--arch", "gfx1100"});
      times.push_back(ms_since(t0));
      if (r.exit_code != 0 || r.output.find("hit (disk)") == std::string::npos) {
        std::printf("ropegen run did not hit the disk cache:\n%s\n", r.output.c_str());
        return 1;
      }
    }
    std::printf("whole `ropegen --head-dim 128 --arch gfx1100` on a disk hit: %.1f ms median of 20\n", median(times));
  }
  detail::remove_tree(dir);
  return 0;
}
