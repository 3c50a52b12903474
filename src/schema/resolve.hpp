// Resolving the specs a request names: a file's kernels (or one from defaults) with one-line
// text and per-key overrides on top, the op decided first so overrides of keys the final op
// does not use say nothing.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "ropegen/spec.hpp"

namespace ropegen {

/// What a request says about its specs.
struct SpecRequest {
  std::string spec_file;  ///< "" : one spec from the defaults
  std::string kernel;     ///< pick this kernel of the file ("" : all)
  std::string one_line;   ///< "head_dim=64 dtype=f16", applied first
  /// key = value overrides, each one value of its key (checked), applied last.
  std::vector<std::pair<std::string, std::string>> fields;
};

/// The specs of a request, validated. Keys of a file that the new op does not use are
/// dropped with a note in `notes` (the overrides changed the op).
std::vector<ParsedSpec> resolve_specs(const SpecRequest& request, std::vector<std::string>* notes = nullptr);

}  // namespace ropegen
