#include "amd_libs.hpp"

#include <limits.h>
#include <link.h>
#include <stdlib.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace ropegen::detail {
namespace {

std::vector<std::string> split_colons(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text + ":") {
    if (c != ':') {
      cur += c;
    } else if (!cur.empty()) {
      while (cur.size() > 1 && cur.back() == '/') cur.pop_back();
      out.push_back(cur);
      cur.clear();
    }
  }
  return out;
}

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

std::string base_of(const std::string& file) { return file.substr(file.rfind('/') + 1); }

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

void add_once(std::vector<std::string>& list, const std::string& item) {
  if (!item.empty() && std::find(list.begin(), list.end(), item) == list.end()) list.push_back(item);
}

/// Every loaded object's file (realpath), in load order.
std::vector<std::string> loaded_files() {
  std::vector<std::string> files;
  dl_iterate_phdr(
      [](struct dl_phdr_info* info, size_t, void* data) {
        if (info->dlpi_name && *info->dlpi_name) {
          char resolved[PATH_MAX];
          auto* out = static_cast<std::vector<std::string>*>(data);
          add_once(*out, realpath(info->dlpi_name, resolved) ? std::string(resolved) : std::string(info->dlpi_name));
        }
        return 0;
      },
      &files);
  return files;
}

}  // namespace

std::vector<std::string> loaded_library_files(const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& f : loaded_files())
    if (starts_with(base_of(f), prefix)) out.push_back(f);
  return out;
}

std::vector<std::string> framework_library_dirs() {
  std::vector<std::string> out;
  for (const auto& f : loaded_files()) {
    const std::string base = base_of(f);
    if (starts_with(base, "libtorch") || starts_with(base, "libc10")) add_once(out, dir_of(f));
  }
  return out;
}

RocmVersion rocm_version_of(void* handle) {
  RocmVersion v;
  if (!handle) return v;
  // dlsym on a handle searches the library and the ones it depends on: libhiprtc finds the
  // libamdhip64 it was linked with.
  auto fn = reinterpret_cast<int (*)(int*)>(dlsym(handle, "hipRuntimeGetVersion"));
  int hv = 0;
  if (fn && fn(&hv) == 0 && hv >= 10000000) {
    v.major = hv / 10000000;
    v.minor = hv / 100000 % 100;
    v.source = "hipRuntimeGetVersion " + std::to_string(hv);
  }
  return v;
}

std::string other_hip_runtime(const std::string& used) {
  for (const auto& f : loaded_library_files("libamdhip64"))
    if (f != used) return f;
  return "";
}

AmdSearch AmdSearch::from_env() {
  AmdSearch s;
  if (const char* v = std::getenv("ROPEGEN_HIP_LIB_DIR"))
    for (const auto& d : split_colons(v)) add_once(s.first_dirs, d);
  for (const char* var : {"ROCM_PATH", "HIP_PATH"}) {
    const char* v = std::getenv(var);
    if (v && *v) s.dirs.push_back(std::string(v) + "/lib");
  }
  s.dirs.push_back("/opt/rocm/lib");
  return s;
}

AmdLib open_amd_library(const std::string& prefix, const std::vector<std::string>& names,
                        const std::vector<std::string>& first_dirs, const std::vector<std::string>& dirs,
                        bool (*accept)(void*)) {
  AmdLib lib;
  auto take = [&](const std::string& path, bool noload) {
    AmdLib l;
    l.tried = lib.tried;
    if (!try_open(path, RTLD_NOW | RTLD_LOCAL, l, noload)) {
      lib.tried = l.tried;
      return false;
    }
    if (accept && !accept(l.handle)) {
      lib.tried = l.tried + (l.tried.empty() ? "" : "; ") + l.file + ": not the library sought";
      dlclose(l.handle);  // drops the reference this dlopen took
      return false;
    }
    lib = l;
    return true;
  };
  // A copy already in the process (PyTorch's bundled one, under any name) comes first.
  for (const auto& f : loaded_library_files(prefix))
    if (take(f, true)) return lib;
  for (const auto& d : first_dirs)
    for (const auto& n : names)
      if (take(d + "/" + n, false)) return lib;
  for (const auto& n : names) {
    if (take(n, false)) return lib;
    if (n.find('/') == std::string::npos)
      for (const auto& d : dirs)
        if (take(d + "/" + n, false)) return lib;
  }
  return lib;
}

std::vector<std::string> AmdLibs::first_dirs_locked() const {
  std::vector<std::string> out = search_.first_dirs;
  if (search_.framework_dirs)
    for (const auto& d : framework_library_dirs()) add_once(out, d);
  return out;
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
    hip_ = open_amd_library("libamdhip64", search_.hip, first_dirs_locked(), search_.dirs);
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
  bool (*has_hiprtc)(void*) = [](void* h) { return h && dlsym(h, "hiprtcCreateProgram") != nullptr; };
  // 1. A libhiprtc already in the process (not libhiprtc-builtins: it has no hiprtc* entry points).
  AmdLib lib;
  for (const auto& f : loaded_library_files("libhiprtc"))
    if (try_open(f, RTLD_NOW | RTLD_LOCAL, lib, true) && has_hiprtc(lib.handle)) return hiprtc_ = lib;
  lib = AmdLib{};
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
  lib = open_amd_library("libhiprtc", search_.hiprtc, first_dirs_locked(), search_.dirs, has_hiprtc);
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
  for (const auto& f : loaded_library_files("libamd_comgr"))
    if (try_open(f, RTLD_NOW | RTLD_LOCAL, comgr_, true)) return comgr_done_ = true;
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
  comgr_ = open_amd_library("libamd_comgr", search_.comgr, first_dirs_locked(), search_.dirs);
  if (!comgr_.ok()) comgr_.tried = tried + (tried.empty() ? "" : "; ") + comgr_.tried;
  return comgr_;
}

}  // namespace ropegen::detail
