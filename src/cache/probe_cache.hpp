// Remembering what compiler probes found (versions, ISA lists), so a process that only
// hits the code-object cache does not load comgr/NVRTC or run clang just to learn their
// versions. Entries are tied to a fingerprint of the probed files (resolved path, size,
// modification time): replacing a compiler invalidates its entry.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ropegen::detail {

/// The probe result for `tool`: from <cache dir>/probes-2.json when the fingerprint of
/// `files` matches, else from `probe()` (then stored). Never throws for cache trouble.
nlohmann::json cached_probe(const std::string& tool, const std::vector<std::string>& files,
                            const std::function<nlohmann::json()>& probe);

/// Where the dynamic loader would find one of `names` ("" if not in the usual places:
/// $LD_LIBRARY_PATH, the system library directories, /opt/rocm/lib, CUDA's lib64).
/// A guess made without loading (NVRTC's probe); a probe of libraries that are loaded
/// anyway keys on detail::library_file() of the resolved symbols instead (hipRTC's).
std::string resolve_library(const std::vector<std::string>& names);

}  // namespace ropegen::detail
