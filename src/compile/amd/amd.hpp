// Pieces shared by the two AMD backends (hiprtc, clang-amdgpu).
#pragma once

#include "../backend_util.hpp"
#include "ropegen/compile.hpp"

namespace ropegen {

/// The target's default wave size (32 on RDNA, 64 on CDNA).
inline int amd_default_wave(const Target& t) { return t.default_wave; }

/// Wraps the bytes of an AMDGPU code object (format "hsaco").
CodeObject make_amd_code_object(const GeneratedSource& src, const std::string& backend,
                                const std::string& version, std::string bytes);

/// Reads the metadata back and checks ISA and wave size against what was asked;
/// throws Error(Compile) on a mismatch (a compiler that silently built something else).
void check_amd_code_object(const CodeObject& co, const GeneratedSource& src);

}  // namespace ropegen
