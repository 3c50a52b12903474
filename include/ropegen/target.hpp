// GPU / CPU targets: "gfx1100", "gfx90a:sramecc+:xnack-", "sm_90", "host".
#pragma once

#include <string>
#include <vector>

namespace ropegen {

/// Who makes the hardware, which decides the prelude, compilers and runtime.
enum class Vendor { Amd, Nvidia, Host };

const char* to_string(Vendor vendor);

/// A parsed target id with the facts codegen and the compilers need.
struct Target {
  Vendor vendor = Vendor::Host;
  std::string arch;                 ///< "gfx1100", "sm_90", "host"
  std::string family;               ///< "RDNA3", "CDNA2", "Hopper", "CPU", ...
  std::vector<std::string> features;///< normalised, sorted: "sramecc+", "xnack-"
  int default_wave = 32;            ///< wave (warp) size used when the spec says auto
  std::vector<int> waves;           ///< wave sizes the target can run

  /// Canonical id: arch plus features in sorted order ("gfx90a:sramecc+:xnack-").
  std::string id() const;
  bool supports_wave(int wave) const;
};

/// Parses a target id; throws Error(Target) naming the bad part and listing known targets.
Target parse_target(const std::string& text);

/// One row of the target table, for --list-targets.
struct TargetInfo {
  const char* arch;
  Vendor vendor;
  const char* family;
  int default_wave;
  std::vector<int> waves;
  std::vector<std::string> features;  ///< feature names the arch accepts ("sramecc", "xnack")
};

/// Every target ropegen knows, in table order.
const std::vector<TargetInfo>& known_targets();

}  // namespace ropegen
