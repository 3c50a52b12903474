// AMD's vendor libraries (libamdhip64, hipRTC, comgr), opened once per process and shared
// by the hipRTC compiler and the HIP runtime.
//
// Why one loader: a process must hold one HIP runtime. PyTorch's ROCm wheels bundle their
// own libamdhip64 (torch/lib, unversioned file names), ROCm 7 "TheRock" wheels keep theirs in
// `_rocm_sdk_core/lib`; a second copy opened by ropegen would not know the framework's
// streams. So a runtime already in the process is used first (found by file name among the
// loaded objects, as Triton's AMD driver does), each library is opened at most once, and two
// different libamdhip64 files in one process are reported as an error by the HIP runtime.
//
// Lookup order (docs/env.md): a copy already in the process (any name, any folder) wins; then
// the folders of $ROPEGEN_HIP_LIB_DIR and the folders of framework libraries already loaded
// (libtorch*, libc10*: torch/lib); then, for each candidate name, newest first, the dynamic
// loader's search path and $ROCM_PATH/lib, $HIP_PATH/lib, /opt/rocm/lib by absolute path.
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
  /// Folders tried before the loader's path: $ROPEGEN_HIP_LIB_DIR (colon-separated), e.g.
  /// torch/lib or a TheRock wheel's _rocm_sdk_core/lib.
  std::vector<std::string> first_dirs;
  /// Absolute directories tried after the loader's path: $ROCM_PATH/lib, $HIP_PATH/lib, /opt/rocm/lib.
  std::vector<std::string> dirs;
  /// Also try the folders of framework libraries already in the process (torch/lib).
  bool framework_dirs = true;
  static AmdSearch from_env();
};

/// The files of the shared objects in this process whose file name starts with `prefix`
/// (dl_iterate_phdr, realpath, each once, in load order).
std::vector<std::string> loaded_library_files(const std::string& prefix);

/// Folders of framework libraries in the process that ship their own ROCm beside them
/// (libtorch*, libc10*: torch/lib), each once, in load order.
std::vector<std::string> framework_library_dirs();

/// Opens the first of `names`: one already in the process (a loaded file whose name starts
/// with `prefix`, accepted by `accept` when given), else `dir/name` for each of
/// `first_dirs`, else by name through the loader's path, else `dir/name` for each of
/// `dirs`, trying each name newest first.
AmdLib open_amd_library(const std::string& prefix, const std::vector<std::string>& names,
                        const std::vector<std::string>& first_dirs, const std::vector<std::string>& dirs,
                        bool (*accept)(void*) = nullptr);

/// The file a loaded symbol comes from (dladdr, then realpath); "" if unknown.
std::string library_file(const void* symbol);

/// The major version in a library file name ("libamdhip64.so.5.2.21153" -> 5), -1 if none.
int soname_major(const std::string& file);

/// The ROCm release a HIP library belongs to, read from the library itself: its
/// hipRuntimeGetVersion (HIP_VERSION: major * 10^7 + minor * 10^5 + patch), looked up in
/// `handle` and the libraries it depends on. {-1, -1} when it has none or it fails.
struct RocmVersion {
  int major = -1, minor = -1;
  std::string source;  ///< how it was told: "file name", "hipRuntimeGetVersion", ...
};
RocmVersion rocm_version_of(void* handle);

/// A HIP runtime file other than `used` that is loaded in this process too ("" if none):
/// two HIP runtimes in one process do not share streams, memory or modules.
std::string other_hip_runtime(const std::string& used);

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
  std::vector<std::string> first_dirs_locked() const;
  std::mutex mu_;
  bool hip_done_ = false, hiprtc_done_ = false, comgr_done_ = false;
  AmdLib hip_, hiprtc_, comgr_;
  const AmdLib& hip_locked();
  const AmdLib& hiprtc_locked();
  bool comgr_loaded_locked();
  std::string comgr_beside_hiprtc_locked();
};

}  // namespace ropegen::detail
