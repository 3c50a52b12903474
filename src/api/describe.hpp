// What a kernel is, as JSON, from its Build: the CLI's --json and the C API's
// ropegen_kernel_describe report through this one function.
#pragma once

#include <nlohmann/json.hpp>

#include "jit/jit.hpp"

namespace ropegen {

/// {"kernel", "spec", "hash", "target", "family", "wave", "entry", "plan", "source_hash",
///  "origin", "key", "compiler", "arguments": [...]} (arguments: argument_requirements()).
nlohmann::json describe_kernel(const Build& build);
/// The plan alone, as in describe_kernel()["plan"].
nlohmann::json plan_json(const LaunchPlan& plan);

}  // namespace ropegen
