// A kernel's launch plan and the alignment its arguments need: what Kernel reports.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace ropegen {

/// How a generated kernel is launched. Chosen by codegen from the spec and wave size.
struct LaunchPlan {
  int wave = 32;             ///< wave (warp) size the plan was made for
  int vec = 1;               ///< elements per vector load/store
  int lanes_per_head = 1;    ///< threads that cover one head row
  int tokens_per_block = 1;  ///< tokens a block covers along grid x
  int head_groups = 1;       ///< thread groups per token; each walks every head_groups-th task
  int num_tasks = 1;         ///< head rows per token (Q heads + K heads [+ V heads])
  int block_threads = 1;     ///< threads per block (a multiple of the wave size)
  bool prefetch_first = false;  ///< load the first task's row before the position -> cos/sin chain
  /// All of a token's head tasks run in one block (a reduction over the token's heads, as
  /// qk_norm = rms(span = all_heads)): grid y stays 1.
  bool whole_token = false;

  /// Grid for a launch of `num_tokens` tokens. `parallelism` is how many blocks the device
  /// wants in flight: when the tokens alone give fewer blocks, head tasks are split across
  /// grid y (never with whole_token). Returns {grid_x, grid_y}; {0, 0} for zero tokens.
  std::pair<unsigned, unsigned> grid(long long num_tokens, int parallelism) const;
};

/// Alignment a launch needs from its arguments (bytes for pointers, elements for strides).
struct ArgAlignment {
  int tensor_bytes = 1;      ///< q, k, v, k_cache, v_cache
  int row_elems = 1;         ///< q_stride, k_stride, v_stride are multiples of this
  int table_bytes = 4;       ///< cos, sin
  int table_elems = 1;       ///< cos_sin_stride is a multiple of this
};

/// Overrides of the schedule codegen would choose (0 = codegen's choice). For tuning; set
/// through JitOptions::plan / ROPEGEN_PLAN="TOKENSxGROUPS".
struct PlanChoice {
  int tokens_per_block = 0;
  int head_groups = 0;
  bool empty() const { return tokens_per_block == 0 && head_groups == 0; }
};

/// One schedule timed by Context::tune.
struct TuneCandidate {
  PlanChoice choice;        ///< the override timed (empty: codegen's own choice)
  LaunchPlan plan;          ///< the plan it gave
  double us = 0;            ///< median time of one launch, microseconds
};

/// One token bucket of a tuning run: codegen's plan against the fastest candidate.
struct TuneBucket {
  long long tokens = 0;     ///< num_tokens of the timed launches
  LaunchPlan default_plan;  ///< codegen's choice (no override)
  double default_us = 0;
  LaunchPlan best_plan;     ///< the winner: codegen's unless another is more than 2% faster
  double best_us = 0;
  std::vector<TuneCandidate> candidates;  ///< every schedule timed, the default first
};

/// What Context::tune measured and kept.
struct TuneReport {
  std::string spec;         ///< canonical spec
  std::string target;       ///< target id
  std::string device;       ///< Runtime::device_name(): tuned plans are kept per device
  int reps = 0;             ///< timed repetitions per candidate (the median is reported)
  /// How launches were timed: "graph" (a GPU, inside a captured graph), "stream" (a GPU
  /// without graphs: events on the stream) or "host" (a steady clock).
  std::string mode;
  std::vector<TuneBucket> buckets;
  std::string record;       ///< the tuned-plans file written ("" when not stored)
};

}  // namespace ropegen
