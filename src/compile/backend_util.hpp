// Helpers shared by the compiler backends.
#pragma once

#include <cstddef>
#include <string>

#include "compile/compile.hpp"

namespace ropegen::detail {

/// Writes a failing source where the user can read it: $ROPEGEN_DUMP_DIR if set, else a
/// fresh temporary directory `ropegen-failed-*`, of which the newest kMaxFailedDumps are
/// kept. Returns the path ("" if even that failed).
std::string dump_failed_source(const GeneratedSource& src);
constexpr size_t kMaxFailedDumps = 16;

/// A CodeObject with the fields every backend fills the same way.
CodeObject base_code_object(const GeneratedSource& src, const std::string& backend,
                            const std::string& version, const std::string& format,
                            std::string bytes);

/// Throws Error(Compile) "<backend> cannot build for <target>: why" unless the backend is
/// available and supports the target.
void ensure_can_build(const Compiler& c, const Target& t);


/// Throws the Error(Compile) of a failed compile: stage, target, options, log, and the path
/// the source was dumped to.
[[noreturn]] void throw_compile_failure(const Compiler& c, const GeneratedSource& src, const std::string& what,
                                        const std::string& options, const std::string& log);

/// Finds the first program of `names` on PATH (or the value of env var `env` if set).
/// Returns "" when none is found.
std::string find_program(const char* env, const std::vector<std::string>& names);

}  // namespace ropegen::detail
