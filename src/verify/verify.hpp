// Runs a loaded kernel on random inputs and compares every output buffer with the
// independent double-precision reference. Used by `ropegen --verify` and the tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ropegen/runtime.hpp"

namespace ropegen {

/// Most tokens a verification run takes (the CLI's --tokens limit).
constexpr long long kMaxVerifyTokens = 16384;

/// Shape of one verification run.
struct VerifyCase {
  long long tokens = 37;          ///< odd on purpose
  bool packed_qkv = false;        ///< q, k, v interleaved in one [tokens, q+2kv heads, D] buffer
  double padding = 0.15;          ///< fraction of tokens with slot -1 (paged/contiguous caches)
  bool slots_from_positions = false;  ///< contiguous caches: pass no slot_mapping
  bool past_max_seq = false;      ///< every third slot is >= max_seq (contiguous hnd skips them);
                                  ///< the caches get slack rows that must stay untouched
  bool out_of_range = false;      ///< pass the limits (cache_slots, table_rows) and plant tokens past
                                  ///< them: every fifth a slot at or past the cache (cache ops), every
                                  ///< fifth another a position outside the table (cos_sin = table); the
                                  ///< kernel skips them whole (checks = bounds: and records one)
  bool combined_table = true;     ///< one [max_pos, rot] cos|sin table (vLLM) vs two arrays
  long long max_position = 4096;  ///< positions are drawn below this
  bool head_strides = false;      ///< heads padded by one vector (q/k/v_head_stride, vLLM's layout)
  bool out_of_place = false;      ///< rope ops write q_out and k_out (rope_kv_append: k_out too)
  bool without_k = false;         ///< op = rope: k is null, only q is rotated
  /// cache = paged(order = strided): the cache's dimensions, outermost first, over N (pages),
  /// B (tokens of a page), H (heads) and 2 (K then V: both caches in one buffer, v_cache at
  /// the K-to-V distance); D is innermost. "NBH" is nhd, "NHB" hnd, "N2BH" a stacked 5-D cache.
  /// A quantized cache with scales_at = page: "N2" puts K's and V's pages in one buffer, each
  /// K page followed by its V page (cache_pad bytes after each pair).
  std::string cache_layout = "NBH";
  long long cache_pad = 0;        ///< elements of slack after each page (order = strided)
  bool sequences = false;         ///< tokens come as sequences: consecutive slots in their own pages
                                  ///< (paged caches; window = ring: consecutive positions from
                                  ///< ring_base), a padding token between some sequences
  int parallelism = 0;            ///< launch hint; > 1 on the host splits heads over grid y
  long long grid_h = 3, grid_w = 5;  ///< positions = grid: the token grid's height and width
  int layers = 0;                 ///< layers = many: the layers of the launch (0: 3; timing: 1)
  /// Plant special values among v's elements (and k's where the op does not rotate it): quiet
  /// and signaling NaN, +-inf, -0.0 and the dtype's largest finite value, about one element in
  /// eleven, and a v row of NaN alone; for the rows a kernel copies bit for bit (quantized caches:
  /// the codes and scales of NaN-containing and infinite groups, on every target).
  bool specials = false;
  uint64_t seed = 1;
  void* stream = nullptr;         ///< launch on this stream (nullptr: the default stream)
};

/// Errors found in one output buffer.
struct OutputReport {
  std::string name;
  long long rounded = 0;      ///< elements checked against a bound (rotated values)
  long long exact = 0;        ///< elements that must match bit for bit
  long long failures = 0;
  double max_abs_error = 0;   ///< over rounded elements
  double max_error_ratio = 0; ///< max |error| / bound; <= 1 passes
  std::string first_failure;  ///< description of the first failing element
};

struct VerifyReport {
  std::vector<OutputReport> outputs;
  bool passed = true;
  /// A table with one line per output.
  std::string describe() const;
};

/// Builds random inputs for the kernel's spec, launches it, and checks every buffer.
VerifyReport verify(Runtime& runtime, const Kernel& kernel, const VerifyCase& c);

class DeviceBuffers;
/// The inputs of a timing run (Context::tune) in `dev`: the problem verify() builds for
/// `c` (random valid values; positions and slots inside their bounds), uploaded, and its
/// argument block, which fits a launch of any num_tokens up to c.tokens. A family with its
/// own runner makes them itself (Family::prepare: the indexer); Error(Spec) where it makes none.
ropegen_kernel_args prepare_inputs(const Kernel& kernel, const VerifyCase& c, DeviceBuffers& dev);

/// One entry of the verification matrix: a one-line spec, a launch shape, and why it is there.
struct MatrixCase {
  std::string spec;
  VerifyCase vc;
  std::string note;
};

/// The matrix the tests and `ropegen --verify --matrix` run: every op x style x dtype x
/// cache layout, partial rotary, GQA 1/4/8 and MQA, i32/i64, odd token counts, padding,
/// packed QKV, both cos/sin sources, wave64 and split-head schedules.
std::vector<MatrixCase> verification_matrix();

/// Tolerance statement printed with results.
const char* tolerance_text();

}  // namespace ropegen
