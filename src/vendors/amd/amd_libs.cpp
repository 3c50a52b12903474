#include "amd_libs.hpp"

#include <limits.h>
#include <link.h>
#include <stdlib.h>

#include <cctype>
#include <cstdlib>

namespace ropegen::detail {
namespace {

std::string file_of_handle(void* handle) {
  struct link_map* map = nullptr;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) != 0 || !map || !map->l_name || !*map->l_name) return "";
  char resolved[PATH_MAX];
  return realpath(map->l_name, resolved) ? std::string(resolved) : std::string(map->l_name);
}

bool try_open(const std::string& path, int mode, AmdLib& out, bool noload) {
  void* h = dlopen(path.c_str(), mode | (noload ? RTLD_NOLOAD : 0));
  if (!h) {
    if (!noload) {
      const char* e = dlerror();
      out.tried += std::string(out.tried.empty() ? "" : "; ") + (e ? e : path + ": not found");
    } else {
      dlerror();
    }
    return false;
  }
  out.handle = h;
  out.file = file_of_handle(h);
  out.already_loaded = noload;
  return true;
}

std::string dir_of(const std::string& file) {
  auto slash = file.rfind('/');
  return slash == std::string::npos ? std::string() : file.substr(0, slash);
}

}  // namespace

AmdSearch AmdSearch::from_env() {
  AmdSearch s;
  for (const char* var : {"ROCM_PATH", "HIP_PATH"}) {
    const char* v = std::getenv(var);
    if (v && *v) s.dirs.push_back(std::string(v) + "/lib");
  }
  s.dirs.push_back("/opt/rocm/lib");
  return s;
}

AmdLib open_amd_library(const std::vector<std::string>& names, const std::vector<std::string>& dirs) {
  AmdLib lib;
  auto paths_for = [&](const std::string& name) {
    std::vector<std::string> p = {name};
    if (name.find('/') == std::string::npos)
      for (const auto& d : dirs) p.push_back(d + "/" + name);
    return p;
  };
  // A runtime already in the process (e.g. PyTorch's bundled copy) comes first.
  for (const auto& n : names)
    for (const auto& p : paths_for(n))
      if (try_open(p, RTLD_NOW | RTLD_LOCAL, lib, true)) return lib;
  for (const auto& n : names)
    for (const auto& p : paths_for(n))
      if (try_open(p, RTLD_NOW | RTLD_LOCAL, lib, false)) return lib;
  return lib;
}

std::string library_file(const void* symbol) {
  Dl_info info{};
  if (!symbol || !dladdr(symbol, &info) || !info.dli_fname) return "";
  char resolved[PATH_MAX];
  return realpath(info.dli_fname, resolved) ? std::string(resolved) : std::string(info.dli_fname);
}

int soname_major(const std::string& file) {
  const std::string base = file.substr(file.rfind('/') + 1);
  auto at = base.find(".so.");
  if (at == std::string::npos || at + 4 >= base.size() || !std::isdigit(static_cast<unsigned char>(base[at + 4])))
    return -1;
  return std::atoi(base.c_str() + at + 4);
}

AmdLibs& AmdLibs::get() {
  // Never destroyed: vendor libraries keep global state and threads; unloading is unsafe.
  static AmdLibs* libs = new AmdLibs(AmdSearch::from_env());
  return *libs;
}

const AmdLib& AmdLibs::hip() {
  std::lock_guard<std::mutex> lock(mu_);
  return hip_locked();
}

const AmdLib& AmdLibs::hip_locked() {
  if (!hip_done_) {
    hip_ = open_amd_library(search_.hip, search_.dirs);
    hip_done_ = true;
  }
  return hip_;
}

const AmdLib& AmdLibs::hiprtc() {
  std::lock_guard<std::mutex> lock(mu_);
  return hiprtc_locked();
}

const AmdLib& AmdLibs::hiprtc_locked() {
  if (hiprtc_done_) return hiprtc_;
  hiprtc_done_ = true;
  auto has_hiprtc = [](void* h) { return h && dlsym(h, "hiprtcCreateProgram") != nullptr; };
  // 1. A libhiprtc already in the process.
  AmdLib lib;
  for (const auto& n : search_.hiprtc)
    if (try_open(n, RTLD_NOW | RTLD_LOCAL, lib, true) && has_hiprtc(lib.handle)) return hiprtc_ = lib;
  const AmdLib& hip = hip_locked();
  std::string tried;
  if (hip.ok()) {
    // 2. libhiprtc of the same install as the HIP runtime.
    const std::string dir = dir_of(hip.file);
    for (const auto& n : search_.hiprtc) {
      lib = AmdLib{};
      if (!dir.empty() && try_open(dir + "/" + n, RTLD_NOW | RTLD_LOCAL, lib, false) && has_hiprtc(lib.handle))
        return hiprtc_ = lib;
    }
    // 3. ROCm 5.x and 6.x build hipRTC into libamdhip64.
    if (has_hiprtc(hip.handle)) return hiprtc_ = hip;
    tried = hip.file + " has no hiprtcCreateProgram";
  } else {
    tried = "libamdhip64: " + hip.tried;
  }
  // 4. libhiprtc anywhere (ROCm 7 builds hipRTC only into it).
  lib = open_amd_library(search_.hiprtc, search_.dirs);
  if (lib.ok() && !has_hiprtc(lib.handle)) {
    lib.tried = lib.file + " has no hiprtcCreateProgram";
    lib.handle = nullptr;
  }
  if (!lib.ok()) lib.tried = tried + "; " + lib.tried;
  return hiprtc_ = lib;
}

bool AmdLibs::comgr_loaded_locked() {
  // The comgr hipRTC itself loaded, as a dependency or with dlopen at its first use.
  if (comgr_done_) return comgr_.ok();
  for (const auto& n : search_.comgr)
    if (try_open(n, RTLD_NOW | RTLD_LOCAL, comgr_, true)) return comgr_done_ = true;
  return false;
}

std::string AmdLibs::comgr_beside_hiprtc_locked() {
  const AmdLib& rtc = hiprtc_locked();
  const std::string dir = rtc.ok() ? dir_of(rtc.file) : std::string();
  if (dir.empty()) return "";
  for (const auto& n : search_.comgr) {
    char resolved[PATH_MAX];
    if (realpath((dir + "/" + n).c_str(), resolved)) return resolved;
  }
  return "";
}

std::string AmdLibs::comgr_file_hint() {
  std::lock_guard<std::mutex> lock(mu_);
  if (comgr_done_ || comgr_loaded_locked()) return comgr_.file;
  return comgr_beside_hiprtc_locked();
}

const AmdLib& AmdLibs::comgr() {
  std::lock_guard<std::mutex> lock(mu_);
  if (comgr_done_ || comgr_loaded_locked()) return comgr_;
  comgr_done_ = true;
  const AmdLib& rtc = hiprtc_locked();
  const std::string dir = rtc.ok() ? dir_of(rtc.file) : std::string();
  if (!dir.empty())
    for (const auto& n : search_.comgr)
      if (try_open(dir + "/" + n, RTLD_NOW | RTLD_LOCAL, comgr_, false)) return comgr_;
  std::string tried = comgr_.tried;
  comgr_ = open_amd_library(search_.comgr, search_.dirs);
  if (!comgr_.ok()) comgr_.tried = tried + (tried.empty() ? "" : "; ") + comgr_.tried;
  return comgr_;
}

}  // namespace ropegen::detail
