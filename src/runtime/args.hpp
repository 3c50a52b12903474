// Builders of argument requirements, shared by the families' requirement lists
// (src/families/<name>/) so each states what it reads and the checks stay one mechanism.
#pragma once

#include <string>
#include <vector>

#include "ropegen/runtime.hpp"

namespace ropegen {

/// What a family's requirement list is built from, with the shared row builders.
struct ArgContext {
  const KernelSpec& spec;
  const ArgAlignment& align;
  const Target* target;  ///< null: fp8 names without the target's encoding

  /// A [tokens, heads, head_dim] activation argument of the spec's dtype with its token
  /// stride field (q, k, v, q_out, k_out).
  ArgRequirement rows(const char* name, const char* stride, long long heads, const char* access,
                      std::string why) const;
  /// A per-token index argument (positions, slot_mapping, seq_lens) of the spec's index type.
  ArgRequirement index(const char* name, std::string why) const;
  /// An f32 scale argument of n values in device memory.
  ArgRequirement scale(const char* name, long long n, std::string why) const;
  /// cos and sin, [positions, rotary_dim / 2] with cos_sin_stride, when the spec reads tables.
  void tables(std::vector<ArgRequirement>& out) const;
  /// The element name of a store type (fp8: the encoding the target uses), and its bytes.
  std::string store_name(StoreType t) const;
  int store_bytes(StoreType t) const;
};

}  // namespace ropegen
