// Helpers shared by the spec schema (schema.cpp) and lowering (spec.cpp); private.
#pragma once

#include <string>
#include <vector>

#include "ropegen/error.hpp"

namespace ropegen::spec_detail {

/// Shortest decimal text that reads back as the same double.
std::string format_double(double d);
/// "; did you mean 'x'?" when one candidate is close, else "".
std::string suggestion(const std::string& word, const std::vector<std::string>& candidates);
/// "a, b, c".
std::string join(const std::vector<std::string>& v);
[[noreturn]] void fail(const SourceLoc& loc, const std::string& msg);

}  // namespace ropegen::spec_detail
