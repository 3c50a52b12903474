// The code-object cache on disk: one self-describing file per entry, keyed by everything
// that changes the bytes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "compile/compile.hpp"

namespace ropegen {

/// Bumped whenever the entry file layout or the key changes; part of every key.
constexpr int kCacheFormatVersion = 3;
/// ropegen's own version (CMake's project VERSION, the one definition: the CLI's --version
/// and man page and the C API's ropegen_version_string() read it); part of every key.
const char* ropegen_version();
/// Name of a bundle's manifest: `sha256sum` lines ("<hex>  <file>") of its entries.
constexpr const char* kBundleManifest = "SHA256SUMS";
/// Suffix of a tuned-plans record (cache/tuned.hpp) in a cache directory or bundle.
constexpr const char* kTunedSuffix = ".rgtune";
/// Temporary files older than this are stale (a writer died): prune removes them.
constexpr int64_t kStaleTempSeconds = 300;

/// A cache key: what the user asked for, computed without a compiler (so a bundle serves a
/// machine that has none). The compiler that built an entry is recorded in the entry.
struct CacheKey {
  std::string text;  ///< format, ropegen, spec, source hash, target, wave, options
  std::string hash;  ///< FNV-1a 64 of text: the file name
};

/// Key for building `src` with `opts`: canonical spec, source hash, target with features,
/// wave size, options, ropegen and format versions.
CacheKey make_cache_key(const GeneratedSource& src, const CompileOptions& opts);

/// Which compilers' entries a lookup accepts; an empty field accepts any. Bundles: any,
/// or the backend the user pinned. The user directory: the backend and version that would
/// compile now, so a compiler upgrade rebuilds.
struct CompilerMatch {
  std::string backend;
  std::string version;
  bool accepts(const CodeObject& co) const {
    return (backend.empty() || co.backend == backend) && (version.empty() || co.backend_version == version);
  }
};

/// Entry file bytes for a code object: header, key, metadata, payload, checksum.
std::string serialize_entry(const CacheKey& key, const CodeObject& co);
/// Parses entry bytes; throws Error(Cache) saying what is wrong (magic, version, size,
/// checksum). `key_text` receives the stored key.
CodeObject parse_entry(const std::string& bytes, std::string* key_text = nullptr);
/// Checks a parsed entry against the request it claims to serve: the stored key must be
/// `key`, and every field the request determines (spec, target, plan, alignment, entry
/// symbols) must equal `src`'s. Throws Error(Cache) naming the first field that differs.
void check_entry(const CodeObject& co, const std::string& key_text, const CacheKey& key, const GeneratedSource& src);
/// The same check with the request recomputed from the entry itself (its spec, target and
/// schedule), for `ropegen cache verify`, which has no request.
void check_entry(const CodeObject& co, const std::string& key_text);

/// Reads a file of a cache directory or bundle only if ropegen may trust it: a regular file
/// (no symbolic link, FIFO or device) owned by this user or root and not writable by group
/// or others, checked on the open descriptor. Returns false with `why` ("" when the file
/// does not exist).
bool read_trusted_file(const std::string& path, std::string* out, std::string* why);
/// Creates `dir` and its missing parents with mode 0700; false (errno set) on failure.
bool make_cache_dirs(const std::string& dir);
/// The manifest of a bundle directory: file name -> SHA-256 hex. Throws Error(Cache) naming
/// the manifest when it is missing, refused or malformed.
std::map<std::string, std::string> read_bundle_manifest(const std::string& dir);

/// Why ropegen must not load code from directory `dir` ("" when it may): it is not a
/// directory, is owned by another user (root excepted), or is writable by group or others.
std::string untrusted_dir_reason(const std::string& dir);

/// One file of a cache directory, for listings.
struct CacheEntryInfo {
  std::string path;
  uint64_t bytes = 0;
  int64_t last_used = 0;   ///< seconds since the epoch (file mtime, touched on every hit)
  bool valid = false;
  std::string problem;     ///< why it is not valid
  std::string spec, target, backend, entry;
};

/// Counts of a directory's files besides entries.
struct CacheDirStats {
  size_t stale_temp_files = 0;  ///< ".tmp-*" older than kStaleTempSeconds
  uint64_t stale_temp_bytes = 0;
};

/// A directory of entries. Read-only directories (prebuilt bundles) are only read.
class DiskCache {
 public:
  DiskCache(std::string dir, bool read_only);
  const std::string& dir() const { return dir_; }
  bool read_only() const { return read_only_; }

  /// The entry for `key` if present, intact, safe to load (a regular file owned by this
  /// user or root, not writable by others; in a read-only directory also listed with its
  /// SHA-256 in the manifest), built by a compiler `want` accepts, and matching `src` in
  /// every field the request determines. A file that fails a check is reported in
  /// `problem` (and counts as absent); it is never fatal. The caller checks the directory
  /// itself with untrusted_dir_reason().
  std::optional<CodeObject> load(const CacheKey& key, const GeneratedSource& src, const CompilerMatch& want,
                                 std::string* problem) const;
  /// Writes atomically (unique temp file, mode 0600, flush, fsync, rename); creates the
  /// directory with mode 0700. Throws Error(Cache) on failure.
  std::string store(const CacheKey& key, const CodeObject& co) const;
  /// Blocks until this process holds the machine-wide lock of `key` (an OFD lock on
  /// `<hash>.lock`, released when the fd closes or the process dies; the file is never
  /// removed). Returns the fd to close, or -1 when locking is not possible here.
  int lock(const CacheKey& key) const;
  /// Path an entry for `key` has (or would have).
  std::string path_for(const CacheKey& key) const;

  /// The entries with sizes and last-use times; `read_entries` also opens each one to
  /// check it and fill in spec, target and backend (slower).
  std::vector<CacheEntryInfo> list(bool read_entries = true) const;
  /// Temporary files left by writers that died.
  CacheDirStats stats() const;
  /// Removes least-recently-used entries until the total is at most `max_bytes`; with
  /// `check_entries`, damaged entries go first whatever the total; stale temporary files
  /// always go. The entry at path `keep` (the one just stored) is never removed, even when
  /// it alone is over the cap. Returns files removed.
  size_t prune(uint64_t max_bytes, bool check_entries = true, const std::string& keep = "") const;
  /// Removes every entry and the stale temporary files (a young one may be a live
  /// writer's, whose rename would then fail). Returns the number removed.
  size_t clear() const;

 private:
  std::string dir_;
  bool read_only_;
};

/// Writes the manifest (kBundleManifest) of a bundle directory: the SHA-256 of every entry;
/// makes the entries and manifest 0644 and the directory 0755 (a bundle is deployed for
/// other users to read). Returns the number of entries listed. Throws Error(Cache).
size_t write_bundle_manifest(const std::string& dir);

/// $ROPEGEN_CACHE_DIR, else $XDG_CACHE_HOME/ropegen, else ~/.cache/ropegen, else
/// $XDG_RUNTIME_DIR/ropegen; "" (memory only) when none is set, never a shared path.
/// `why_none`, if given, receives the reason when the result is "".
std::string default_cache_dir(std::string* why_none = nullptr);
/// Directories in $ROPEGEN_CACHE_PATH (colon-separated), read-only.
std::vector<std::string> default_bundle_dirs();
/// The user cache cap when $ROPEGEN_CACHE_MAX_BYTES is unset: 512 MiB (JitOptions::from_env
/// reads the variable, with K/M/G, and warns about a bad value).
uint64_t default_cache_max_bytes();

}  // namespace ropegen
