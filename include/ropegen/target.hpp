// GPU / CPU targets: "gfx1100", "gfx90a:sramecc+:xnack-", "sm_90", "host".
#pragma once

#include <string>
#include <vector>

namespace ropegen {

/// Who makes the hardware, which decides the prelude, compilers and runtime.
enum class Vendor { Amd, Nvidia, Host };

const char* to_string(Vendor vendor);

/// What a target's hardware can do, as data (codegen and spec checks read it, templates
/// never test the vendor).
struct TargetCaps {
  bool fp8_ocp = false;   ///< OCP fp8 (e4m3fn, e5m2): NVIDIA sm_89+, AMD gfx950 and gfx12
  bool fp8_fnuz = false;  ///< FNUZ fp8 (e4m3fnuz, e5m2fnuz): AMD gfx942
  bool hw_f16 = false;    ///< f32 -> f16 conversion instruction (round to nearest even)
  bool hw_bf16 = false;   ///< f32 -> bf16 conversion instruction (round to nearest even)
  bool hw_fp8 = false;    ///< fp8 conversion instructions (else integer code)
  bool pdl = false;       ///< programmatic dependent launch (griddepcontrol); the host accepts it as a no-op
  /// f32 pair -> e2m1x2 conversion instruction (cvt.rn.satfinite.e2m1x2.f32, PTX ISA 8.6:
  /// NVIDIA's arch-specific sm_100a and sm_120a); else e2m1 codes are integer code
  bool hw_e2m1 = false;
  /// NVIDIA's approximate reciprocal rcp.approx.ftz.f32 (every sm_*): nvfp4 recipe = trtllm
  bool rcp_approx = false;
};

/// A parsed target id with the facts codegen and the compilers need.
struct Target {
  Vendor vendor = Vendor::Host;
  std::string arch;                 ///< "gfx1100", "sm_90", "host"
  std::string family;               ///< "RDNA3", "CDNA2", "Hopper", "CPU", ...
  std::vector<std::string> features;///< normalised, sorted: "sramecc+", "xnack-"
  int default_wave = 32;            ///< wave (warp) size used when the spec says auto
  std::vector<int> waves;           ///< wave sizes the target can run
  TargetCaps caps;

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
  TargetCaps caps;
};

/// Every target ropegen knows, in table order.
const std::vector<TargetInfo>& known_targets();

}  // namespace ropegen
