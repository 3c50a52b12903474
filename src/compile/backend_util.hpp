// Helpers shared by the compiler backends.
#pragma once

#include <string>

#include "ropegen/compile.hpp"

namespace ropegen::detail {

/// Writes a failing source where the user can read it: $ROPEGEN_DUMP_DIR if set, else a
/// fresh temporary directory. Returns the path ("" if even that failed).
std::string dump_failed_source(const GeneratedSource& src);

/// A CodeObject with the fields every backend fills the same way.
CodeObject base_code_object(const GeneratedSource& src, const std::string& backend,
                            const std::string& version, const std::string& format,
                            std::string bytes);

/// Finds the first program of `names` on PATH (or the value of env var `env` if set).
/// Returns "" when none is found.
std::string find_program(const char* env, const std::vector<std::string>& names);

}  // namespace ropegen::detail
