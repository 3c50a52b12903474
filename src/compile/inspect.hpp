// Reading compiled code objects: per-kernel resources from AMDGPU metadata notes or cubin
// attributes, and disassembly through the vendor tools.
#pragma once

#include <string>
#include <vector>

#include "compile/compile.hpp"

namespace ropegen {

/// Resources of one kernel; -1 where the code object does not say.
struct KernelResources {
  std::string name;
  int wave = -1;           ///< AMD .wavefront_size
  int vgprs = -1;          ///< AMD .vgpr_count
  int agprs = -1;          ///< AMD .agpr_count (accumulation registers; ISAs with MFMA only)
  int sgprs = -1;          ///< AMD .sgpr_count
  int registers = -1;      ///< NVIDIA registers per thread
  int lds_bytes = -1;      ///< static LDS / shared memory
  int scratch_bytes = -1;  ///< private segment (AMD) / local memory frame (NVIDIA)
  int max_threads = -1;    ///< max flat work-group size / launch bound
  int spills = -1;         ///< AMD vgpr + sgpr spills
};

/// What a code object says about itself.
struct CodeObjectInfo {
  std::string isa;         ///< AMD: "gfx1100" (+ features); NVIDIA: "sm_90"; host: "host"
  int code_object_version = -1;  ///< AMD: from the metadata's amdhsa.version (4, 5, ...); -1 elsewhere
  std::vector<KernelResources> kernels;
};

/// Parses the code object's metadata. Throws Error(Load) if it is malformed.
CodeObjectInfo inspect(const CodeObject& co);

/// Disassembly text: llvm-objdump for AMDGPU, cuobjdump/nvdisasm for cubins, PTX as is.
/// Throws Error(Io) naming the tool when none is installed.
std::string disassemble(const CodeObject& co);

}  // namespace ropegen
