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
  /// Dialect: embedded headers pasted before the common ones, in order (prelude first).
  std::vector<std::string> preludes;
  /// The fp8 converters (the vendor's hardware paths, then the portable code), pasted for
  /// specs that store fp8.
  std::vector<std::string> fp8_headers;
  bool host_launcher;  ///< emit a launcher that runs the grid on the CPU
  /// Compiler backends, in order of preference.
  std::vector<std::unique_ptr<Compiler> (*)()> compilers;
  /// The runtime for a device of this vendor (device < 0: the caller's current one).
  std::unique_ptr<Runtime> (*runtime)(int device);
  /// The code-object formats (CodeObject::format) its compilers produce and its runtime loads.
  std::vector<std::string> code_formats;
};

/// Every vendor; GPU vendors first, in the order "auto" tries their runtimes.
const std::vector<VendorInfo>& vendors();
/// The row of a vendor.
const VendorInfo& vendor_info(Vendor vendor);

}  // namespace ropegen
