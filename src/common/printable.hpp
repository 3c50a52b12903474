// Text from outside (spec files, cache entries, the environment) as shown in diagnostics.
#pragma once

#include <string>

namespace ropegen::detail {

/// `text` with control bytes (NUL, ESC, CR, DEL, ...) written as `\xHH`, so a message never
/// stops at a NUL or drives the terminal; `keep` passes through (a message's '\n', a source
/// line's '\t'; ' ' keeps none). Defined in error.cpp, which formats every Error with it.
std::string printable(const std::string& text, char keep = '\n');

}  // namespace ropegen::detail
