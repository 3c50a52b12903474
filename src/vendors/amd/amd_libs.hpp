// AMD's vendor libraries (libamdhip64, hipRTC, comgr), opened once per process and shared
// by the hipRTC compiler and the HIP runtime.
//
// Why one loader: a process must hold one HIP runtime. PyTorch's ROCm wheels bundle their
// own libamdhip64; a second copy opened by ropegen would not know PyTorch's streams. So a
// runtime already in the process is used first (RTLD_NOLOAD), as Triton's AMD driver does,
// and each library is opened at most once.
//
// Lookup order (docs/env.md): for each candidate name, newest first: a copy already loaded
// in the process (any name, any directory) wins; then, per version, the dynamic loader's
// search path and $ROCM_PATH/lib, $HIP_PATH/lib, /opt/rocm/lib by absolute path.
#pragma once

#include <dlfcn.h>

#include <mutex>
#include <string>
#include <vector>

namespace ropegen::detail {

/// One vendor library as it was found.
struct AmdLib {
  void* handle = nullptr;
  std::string file;             ///< the file it was loaded from (realpath), "" when not found
  bool already_loaded = false;  ///< found in the process before ropegen opened anything
  std::string tried;            ///< what was tried and why it failed, for messages

  bool ok() const { return handle != nullptr; }
  /// Looks up a symbol; a missing one is added to `missing` (if given) and gives false.
  template <typename Fn>
  bool sym(const char* name, Fn& out, std::string* missing = nullptr) const {
    out = handle ? reinterpret_cast<Fn>(dlsym(handle, name)) : nullptr;
    if (!out && missing) *missing += std::string(missing->empty() ? "" : ", ") + name;
    return out != nullptr;
  }
};

/// Candidate file names and directories; the defaults come from the environment.
struct AmdSearch {
  std::vector<std::string> hip = {"libamdhip64.so.7", "libamdhip64.so.6", "libamdhip64.so.5", "libamdhip64.so"};
  std::vector<std::string> hiprtc = {"libhiprtc.so.7", "libhiprtc.so.6", "libhiprtc.so"};
  std::vector<std::string> comgr = {"libamd_comgr.so.3", "libamd_comgr.so.2", "libamd_comgr.so"};
  /// Absolute directories tried after the loader's path: $ROCM_PATH/lib, $HIP_PATH/lib, /opt/rocm/lib.
  std::vector<std::string> dirs;
  static AmdSearch from_env();
};

/// Opens the first of `names`: one already in the process (RTLD_NOLOAD, by name and in
/// `dirs`), else by name through the loader's path, else `dir/name`, trying each name
/// newest first in both.
AmdLib open_amd_library(const std::vector<std::string>& names, const std::vector<std::string>& dirs);

/// The file a loaded symbol comes from (dladdr, then realpath); "" if unknown.
std::string library_file(const void* symbol);

/// The major version in a library file name ("libamdhip64.so.5.2.21153" -> 5), -1 if none.
int soname_major(const std::string& file);

/// The process's AMD libraries, each opened on first use and kept for the process's life.
class AmdLibs {
 public:
  /// The one instance, searching AmdSearch::from_env() (read at the first call).
  static AmdLibs& get();
  explicit AmdLibs(AmdSearch search) : search_(std::move(search)) {}

  /// libamdhip64: the HIP runtime.
  const AmdLib& hip();
  /// Where hiprtc* symbols come from: a loaded libhiprtc, else libhiprtc beside
  /// libamdhip64, else libamdhip64 itself (ROCm 5.x, 6.x), else libhiprtc found by search
  /// (ROCm 7 builds hipRTC only into libhiprtc).
  const AmdLib& hiprtc();
  /// comgr: the copy hipRTC loaded, else one beside hipRTC, else by search (.so.3, .so.2).
  const AmdLib& comgr();
  /// The file comgr() opens, told without loading it where that is exact (a comgr already
  /// in the process, or one beside hipRTC); "" when only opening it can tell. Lets a probe
  /// cache hit skip loading comgr (about 20 ms).
  std::string comgr_file_hint();

 private:
  AmdSearch search_;
  std::mutex mu_;
  bool hip_done_ = false, hiprtc_done_ = false, comgr_done_ = false;
  AmdLib hip_, hiprtc_, comgr_;
  const AmdLib& hip_locked();
  const AmdLib& hiprtc_locked();
  bool comgr_loaded_locked();
  std::string comgr_beside_hiprtc_locked();
};

}  // namespace ropegen::detail
