// The options of a Context's JIT (where compiled kernels are cached, which compiler, what
// is dumped and said) and of one compile. Public: Context::open and Context::kernel take them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ropegen/plan.hpp"

namespace ropegen {

/// Options a caller may add to a compile.
struct CompileOptions {
  std::vector<std::string> extra;  ///< appended to the backend's own flags
};

/// Options of a Context's JIT (one per context); they govern every stage it runs: the
/// kernel cache, the compiler probes' cache and failed-compile dumps. from_env() reads the ROPEGEN_* variables (docs/env.md).
struct JitOptions {
  std::string cache_dir;                 ///< user cache directory; "" disables the disk cache
  std::vector<std::string> bundle_dirs;  ///< read-only directories searched first
  std::string compiler;                  ///< force a backend by name; "" = choose
  bool no_compile = false;               ///< a miss is an error naming the key
  std::string dump_dir;                  ///< write source, options, log, metadata per compile
  uint64_t max_bytes = 512ull << 20;     ///< user cache size cap (LRU eviction)
  int verbose = 0;                       ///< 1: one line per build on stderr
  PlanChoice plan;                       ///< schedule override for tuning (ROPEGEN_PLAN)
  std::string cache_note;                ///< why from_env() found no cache directory; warned once

  static JitOptions from_env();
};

/// Which schedules Context::tune times.
enum class TuneSet {
  Auto,   ///< Full on a GPU, Quick on the host (whose timings only exercise the path)
  Quick,  ///< tokens_per_block 1, 4, 16 x head_groups 1, codegen's, the most
  Full,   ///< tokens_per_block 1, 2, 4, 8, 16 x head_groups 1, 2, 4, ... up to the head tasks
};

/// Options of one tuning run (Context::tune, `ropegen tune`, ropegen_tune).
struct TuneOptions {
  std::vector<long long> buckets;  ///< token counts, increasing; empty: default_tune_buckets(target)
  int reps = 0;                    ///< timed repetitions per candidate (median); 0: 15 on a GPU, 3 on the host
  TuneSet set = TuneSet::Auto;
  bool store = true;               ///< keep the winners in the user cache directory
  void* stream = nullptr;          ///< stream to time on (nullptr: the default); never one being captured
};

}  // namespace ropegen
