// The host vendor's factories, for its row in the vendor table (src/vendors/vendors.cpp).
#pragma once

#include <memory>

#include "compile/compile.hpp"
#include "ropegen/runtime.hpp"

namespace ropegen {

/// The system C++ compiler (host-cxx): shared objects of the generated source.
std::unique_ptr<Compiler> make_host_compiler();
/// The CPU runtime: loads host-cxx shared objects and runs them in-process.
std::unique_ptr<Runtime> make_host_runtime();

}  // namespace ropegen
