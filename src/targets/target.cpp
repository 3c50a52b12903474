#include "ropegen/target.hpp"

#include <algorithm>
#include <cctype>
#include <sstream>

#include "ropegen/error.hpp"

namespace ropegen {

const char* to_string(Vendor vendor) {
  switch (vendor) {
    case Vendor::Amd: return "amd";
    case Vendor::Nvidia: return "nvidia";
    case Vendor::Host: return "host";
  }
  return "unknown";
}

const std::vector<TargetInfo>& known_targets() {
  // Capabilities: {fp8_ocp, fp8_fnuz, hw_f16, hw_bf16, hw_fp8, pdl, hw_e2m1, rcp_approx}.
  const TargetCaps cdna{false, false, true, false, false};
  const TargetCaps cdna3{false, true, true, false, true};   // v_cvt_pk_fp8_f32 (FNUZ)
  const TargetCaps cdna4{true, false, true, true, true};   // OCP fp8, v_cvt_pk_bf16_f32
  const TargetCaps rdna{false, false, true, false, false};
  const TargetCaps rdna4{true, false, true, false, true};  // OCP fp8 conversions
  // Every NVIDIA target has rcp.approx.ftz.f32 (nvfp4 recipe = trtllm).
  const TargetCaps turing{false, false, true, false, false, false, false, true};  // no bf16 conversions before sm_80
  const TargetCaps ampere{false, false, true, true, false, false, false, true};
  const TargetCaps ada{true, false, true, true, true, false, false, true};  // cvt.rn.satfinite.e4m3x2/e5m2x2
  const TargetCaps hopper{true, false, true, true, true, true, false, true};  // + griddepcontrol (PDL)
  // Arch-specific Blackwell: + cvt.rn.satfinite.e2m1x2.f32 (PTX ISA 8.6, sm_100a / sm_120a only:
  // code for them runs on compute capability 10.0 / 12.0 exactly, not on later GPUs).
  const TargetCaps blackwell_a{true, false, true, true, true, true, true, true};
  const TargetCaps host{true, true, false, false, false, true};  // integer code for every format; PDL a no-op
  static const std::vector<TargetInfo> table = {
      {"gfx906", Vendor::Amd, "GCN5", 64, {64}, {"sramecc", "xnack"}, cdna},  // Vega 20 (MI50/MI60, Radeon VII)
      {"gfx908", Vendor::Amd, "CDNA", 64, {64}, {"sramecc", "xnack"}, cdna},
      {"gfx90a", Vendor::Amd, "CDNA2", 64, {64}, {"sramecc", "xnack"}, cdna},
      {"gfx942", Vendor::Amd, "CDNA3", 64, {64}, {"sramecc", "xnack"}, cdna3},
      {"gfx950", Vendor::Amd, "CDNA4", 64, {64}, {"sramecc", "xnack"}, cdna4},  // clang >= 20; hipRTC of ROCm >= 6.4
      {"gfx1030", Vendor::Amd, "RDNA2", 32, {32, 64}, {}, rdna},
      {"gfx1031", Vendor::Amd, "RDNA2", 32, {32, 64}, {}, rdna},
      {"gfx1032", Vendor::Amd, "RDNA2", 32, {32, 64}, {}, rdna},
      {"gfx1100", Vendor::Amd, "RDNA3", 32, {32, 64}, {}, rdna},
      {"gfx1101", Vendor::Amd, "RDNA3", 32, {32, 64}, {}, rdna},
      {"gfx1102", Vendor::Amd, "RDNA3", 32, {32, 64}, {}, rdna},
      {"gfx1103", Vendor::Amd, "RDNA3", 32, {32, 64}, {}, rdna},  // Phoenix APUs
      {"gfx1150", Vendor::Amd, "RDNA3.5", 32, {32, 64}, {}, rdna},
      {"gfx1151", Vendor::Amd, "RDNA3.5", 32, {32, 64}, {}, rdna},
      {"gfx1152", Vendor::Amd, "RDNA3.5", 32, {32, 64}, {}, rdna},
      {"gfx1153", Vendor::Amd, "RDNA3.5", 32, {32, 64}, {}, rdna},  // clang >= 20 (19 does not know it)
      {"gfx1200", Vendor::Amd, "RDNA4", 32, {32, 64}, {}, rdna4},
      {"gfx1201", Vendor::Amd, "RDNA4", 32, {32, 64}, {}, rdna4},
      {"sm_75", Vendor::Nvidia, "Turing", 32, {32}, {}, turing},
      {"sm_80", Vendor::Nvidia, "Ampere", 32, {32}, {}, ampere},
      {"sm_86", Vendor::Nvidia, "Ampere", 32, {32}, {}, ampere},
      {"sm_89", Vendor::Nvidia, "Ada", 32, {32}, {}, ada},
      {"sm_90", Vendor::Nvidia, "Hopper", 32, {32}, {}, hopper},
      {"sm_90a", Vendor::Nvidia, "Hopper", 32, {32}, {}, hopper},  // arch-specific (wgmma, setmaxnreg)
      {"sm_100", Vendor::Nvidia, "Blackwell", 32, {32}, {}, hopper},
      {"sm_100a", Vendor::Nvidia, "Blackwell", 32, {32}, {}, blackwell_a},  // arch-specific (B200/GB200)
      {"sm_120", Vendor::Nvidia, "Blackwell", 32, {32}, {}, hopper},  // GeForce / RTX Pro Blackwell
      {"sm_120a", Vendor::Nvidia, "Blackwell", 32, {32}, {}, blackwell_a},  // arch-specific
      // The host target emulates either wave layout, so CI runs both schedules.
      {"host", Vendor::Host, "CPU", 32, {32, 64}, {}, host},
  };
  return table;
}

std::string Target::id() const {
  std::string out = arch;
  for (const auto& f : features) out += ":" + f;
  return out;
}

bool Target::supports_wave(int wave) const {
  return std::find(waves.begin(), waves.end(), wave) != waves.end();
}

/// "; did you mean 'sm_90'?" for the spellings people type: another case, "sm90" without
/// the underscore, "compute_90", a prefix of a few targets ("gfx110" -> gfx1100..gfx1103).
/// No guesses by edit distance: gfx1300 is not a typo of gfx1200.
static std::string target_hint(const std::string& arch) {
  std::string a;
  for (char c : arch) a += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (a.size() > 2 && a.compare(0, 2, "sm") == 0 && std::isdigit(static_cast<unsigned char>(a[2])))
    a.insert(2, "_");
  if (a.compare(0, 8, "compute_") == 0) a = "sm_" + a.substr(8);
  std::vector<std::string> hits;
  for (const auto& t : known_targets())
    if (a == t.arch) return "; did you mean '" + a + "'?";
  if (a.size() >= 4)
    for (const auto& t : known_targets())
      if (std::string(t.arch).compare(0, a.size(), a) == 0) hits.push_back(t.arch);
  if (hits.empty() || hits.size() > 4) return "";
  std::string out = "; did you mean ";
  for (size_t i = 0; i < hits.size(); ++i)
    out += (i == 0 ? "" : i + 1 == hits.size() ? " or " : ", ") + ("'" + hits[i] + "'");
  return out + "?";
}

static std::string known_list() {
  std::string out;
  for (const auto& t : known_targets()) {
    if (!out.empty()) out += ", ";
    out += t.arch;
  }
  return out;
}

Target parse_target(const std::string& text) {
  std::vector<std::string> parts;
  {
    std::string cur;
    for (char c : text) {
      if (c == ':') {
        parts.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    parts.push_back(cur);
  }
  const std::string& arch = parts[0];
  const TargetInfo* info = nullptr;
  for (const auto& t : known_targets())
    if (arch == t.arch) info = &t;
  if (!info) {
    throw Error(ErrorKind::Target, "unknown target '" + (arch.empty() ? text : arch) + "'" + target_hint(arch) +
                                       "; known targets: " + known_list());
  }
  Target t;
  t.vendor = info->vendor;
  t.arch = info->arch;
  t.family = info->family;
  t.default_wave = info->default_wave;
  t.waves = info->waves;
  t.caps = info->caps;
  std::vector<std::string> seen;
  for (size_t i = 1; i < parts.size(); ++i) {
    const std::string& p = parts[i];
    if (p.size() < 2 || (p.back() != '+' && p.back() != '-')) {
      throw Error(ErrorKind::Target, "bad feature '" + p + "' in target '" + text +
                                         "': expected NAME+ or NAME- (e.g. xnack-)");
    }
    std::string name = p.substr(0, p.size() - 1);
    if (std::find(info->features.begin(), info->features.end(), name) == info->features.end()) {
      std::string valid;
      for (const auto& f : info->features) valid += (valid.empty() ? "" : ", ") + f;
      throw Error(ErrorKind::Target,
                  "target " + t.arch + " has no feature '" + name + "'" +
                      (valid.empty() ? std::string(" (it takes no features)")
                                     : "; valid features: " + valid));
    }
    if (std::find(seen.begin(), seen.end(), name) != seen.end())
      throw Error(ErrorKind::Target, "feature '" + name + "' given twice in target '" + text + "'");
    seen.push_back(name);
    t.features.push_back(p);
  }
  std::sort(t.features.begin(), t.features.end());
  return t;
}

}  // namespace ropegen
