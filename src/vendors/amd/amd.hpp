// Pieces shared by the two AMD backends (hiprtc, clang-amdgpu).
#pragma once

#include "../../compile/backend_util.hpp"
#include "compile/compile.hpp"
#include "ropegen/runtime.hpp"

namespace ropegen {

// The AMD vendor's factories, for its row in the vendor table (src/vendors/vendors.cpp).
/// hipRTC + comgr (dlopen).
std::unique_ptr<Compiler> make_hiprtc_compiler();
/// clang's AMDGPU backend.
std::unique_ptr<Compiler> make_clang_amdgpu_compiler();
/// HIP (AMD). Throws Error(Load) when there is no AMD GPU (checked before calling HIP).
std::unique_ptr<Runtime> make_hip_runtime(int device = -1);

/// The target's default wave size (32 on RDNA, 64 on CDNA).
inline int amd_default_wave(const Target& t) { return t.default_wave; }

/// Wraps the bytes of an AMDGPU code object (format "hsaco").
CodeObject make_amd_code_object(const GeneratedSource& src, const std::string& backend,
                                const std::string& version, std::string bytes);

/// Reads the metadata back and checks ISA, wave size and code object version (the
/// metadata's amdhsa.version and the ELF header's EI_ABIVERSION) against what was asked;
/// throws Error(Compile) on a mismatch (a compiler that silently built something else).
void check_amd_code_object(const CodeObject& co, const GeneratedSource& src, int code_object_version);

/// The code object version the ELF header states (e_ident[EI_ABIVERSION] + 2 under
/// ELFOSABI_AMDGPU_HSA: 2 = v4, 3 = v5); -1 if it is not an HSA code object.
int amd_elf_code_object_version(const std::vector<unsigned char>& bytes);

}  // namespace ropegen
