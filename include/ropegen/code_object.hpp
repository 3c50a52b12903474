// A compiled kernel: the bytes a runtime loads (Runtime::load), with the spec, plan and
// alignment its launches need. What the JIT produces, what the cache and bundles store.
#pragma once

#include <string>
#include <vector>

#include "ropegen/plan.hpp"
#include "ropegen/spec.hpp"

namespace ropegen {

/// A compiled kernel: the bytes a runtime loads, with what it needs to launch them.
struct CodeObject {
  std::string backend;          ///< compiler that produced it ("host-cxx", ...)
  std::string backend_version;
  std::string target_id;        ///< Target::id() it was built for
  std::string format;           ///< "elf-so" (host), "hsaco", "cubin", "ptx"
  std::string entry;            ///< kernel symbol
  std::string host_entry;       ///< host target: launcher symbol
  LaunchPlan plan;
  ArgAlignment align;
  KernelSpec spec;
  std::vector<unsigned char> bytes;
  std::string options;          ///< the compiler command / flags used
  std::string log;              ///< compiler output (warnings)
  double compile_ms = 0;
};

}  // namespace ropegen
