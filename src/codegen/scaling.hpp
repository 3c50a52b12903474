// The frequencies of a RoPE scaling family (rope-math.md), computed at generation time in
// double and baked into the kernel.
#pragma once

#include <vector>

#include "ropegen/spec.hpp"

namespace ropegen {

struct ScaledFrequencies {
  std::vector<double> inv_freq;  ///< rotary_dim / 2 values
  double attention = 1.0;        ///< m: multiplies cos and sin
  /// longrope with choose = runtime: the set a token whose sequence is longer than
  /// original_max_position_embeddings uses (inv_freq and attention are the short set).
  std::vector<double> inv_freq_long;
  double attention_long = 1.0;
};

/// inv_freq_j and the attention factor of cos_sin = compute(...) for a rotary dimension.
ScaledFrequencies scaled_frequencies(const CosSin& cs, int rotary_dim);

}  // namespace ropegen
