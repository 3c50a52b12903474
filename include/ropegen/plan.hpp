// A kernel's launch plan and the alignment its arguments need: what Kernel reports.
#pragma once

#include <utility>

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

}  // namespace ropegen
