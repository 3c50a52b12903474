// The vendor table: what each vendor brings (dialect preludes, compilers, runtime), in one
// place. Each vendor's code lives in its own folder beside this file; adding a vendor is a
// folder plus one row here (docs/architecture.md).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compile/compile.hpp"
#include "ropegen/runtime.hpp"

namespace ropegen {

struct VendorInfo {
  Vendor vendor;
  const char* name;          ///< "AMD", "NVIDIA", "host"
  const char* runtime_name;  ///< name in open_runtime(): "hip", "cuda", "host"
  /// Dialect: what generated source pastes for its targets (codegen reads it as data).
  Dialect dialect;
  /// Compiler backends, in order of preference.
  std::vector<std::unique_ptr<Compiler> (*)()> compilers;
  /// The runtime for a device of this vendor (device < 0: the caller's current one).
  std::unique_ptr<Runtime> (*runtime)(int device);
};

/// Every vendor; GPU vendors first, in the order "auto" tries their runtimes.
const std::vector<VendorInfo>& vendors();
/// The row of a vendor.
const VendorInfo& vendor_info(Vendor vendor);

namespace detail {
/// False (with `why`) when the target belongs to another vendor than the backend's.
bool same_vendor(const Compiler& c, const Target& t, std::string* why);
}  // namespace detail

}  // namespace ropegen
