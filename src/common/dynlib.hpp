// Loading vendor libraries (NVRTC, the CUDA driver) at run time, so one build runs on
// machines that lack some of them; a missing one is reported, not fatal. AMD's libraries
// (libamdhip64, hipRTC, comgr) go through the one shared loader in amd_libs.hpp.
#pragma once

#include <dlfcn.h>

#include <string>
#include <vector>

namespace ropegen::detail {

class DynLib {
 public:
  /// Tries each name in turn (dlopen search rules); check ok() / error().
  explicit DynLib(const std::vector<std::string>& names) {
    for (const auto& n : names) {
      handle_ = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (handle_) {
        path_ = n;
        return;
      }
      const char* e = dlerror();
      if (!error_.empty()) error_ += "; ";
      error_ += e ? e : n + ": not found";
    }
  }
  ~DynLib() {
    // Vendor libraries keep global state and threads; unloading them is unsafe.
  }
  DynLib(const DynLib&) = delete;
  DynLib& operator=(const DynLib&) = delete;

  bool ok() const { return handle_ != nullptr; }
  const std::string& error() const { return error_; }
  const std::string& path() const { return path_; }
  void* handle() const { return handle_; }

  /// Looks up a symbol; records a missing one in error() and returns false.
  template <typename Fn>
  bool sym(const char* name, Fn& out) {
    out = handle_ ? reinterpret_cast<Fn>(dlsym(handle_, name)) : nullptr;
    if (!out) {
      if (!error_.empty()) error_ += "; ";
      error_ += std::string("missing symbol ") + name + (path_.empty() ? "" : " in " + path_);
    }
    return out != nullptr;
  }

 private:
  void* handle_ = nullptr;
  std::string path_;
  std::string error_;
};

}  // namespace ropegen::detail
