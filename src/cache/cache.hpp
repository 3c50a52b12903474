// The code-object cache on disk: one self-describing file per entry, keyed by everything
// that changes the bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "compile/compile.hpp"

namespace ropegen {

/// Bumped whenever the entry file layout changes; part of every key.
constexpr int kCacheFormatVersion = 1;
/// ropegen's own version; part of every key.
const char* ropegen_version();

/// A cache key: the full text (stored in the entry and compared on load) and its hash
/// (the file name).
struct CacheKey {
  std::string text;
  std::string hash;
};

/// Key for compiling `src` with `compiler` and `opts`: canonical spec, source hash, target
/// with features, wave size, backend name and version, options, ropegen and format versions.
CacheKey make_cache_key(const GeneratedSource& src, const Compiler& compiler, const CompileOptions& opts);

/// Entry file bytes for a code object: header, key, metadata, payload, checksum.
std::string serialize_entry(const CacheKey& key, const CodeObject& co);
/// Parses entry bytes; throws Error(Cache) saying what is wrong (magic, version, size,
/// checksum, key mismatch when `expect` is given).
CodeObject parse_entry(const std::string& bytes, const CacheKey* expect, std::string* key_text = nullptr);

/// One file of a cache directory, for listings.
struct CacheEntryInfo {
  std::string path;
  uint64_t bytes = 0;
  int64_t last_used = 0;   ///< seconds since the epoch (file mtime, touched on every hit)
  bool valid = false;
  std::string problem;     ///< why it is not valid
  std::string spec, target, backend, entry;
};

/// A directory of entries. Read-only directories (prebuilt bundles) are only read.
class DiskCache {
 public:
  DiskCache(std::string dir, bool read_only);
  const std::string& dir() const { return dir_; }
  bool read_only() const { return read_only_; }

  /// The entry for `key` if present and intact. A corrupt or foreign file is reported in
  /// `problem` (and counts as absent); it is never fatal.
  std::optional<CodeObject> load(const CacheKey& key, std::string* problem) const;
  /// Writes atomically (unique temp file, flush, fsync, rename). Throws Error(Cache) on failure.
  std::string store(const CacheKey& key, const CodeObject& co) const;
  /// Path an entry for `key` has (or would have).
  std::string path_for(const CacheKey& key) const;

  /// The entries with sizes and last-use times; `read_entries` also opens each one to
  /// check it and fill in spec, target and backend (slower).
  std::vector<CacheEntryInfo> list(bool read_entries = true) const;
  /// Removes least-recently-used entries until the total is at most `max_bytes`; with
  /// `check_entries`, damaged entries go first whatever the total. Returns files removed.
  size_t prune(uint64_t max_bytes, bool check_entries = true) const;
  /// Removes every entry (and stray temp files). Returns the number removed.
  size_t clear() const;

 private:
  std::string dir_;
  bool read_only_;
};

/// $ROPEGEN_CACHE_DIR, else $XDG_CACHE_HOME/ropegen, else ~/.cache/ropegen.
std::string default_cache_dir();
/// Directories in $ROPEGEN_CACHE_PATH (colon-separated), read-only.
std::vector<std::string> default_bundle_dirs();
/// $ROPEGEN_CACHE_MAX_BYTES, default 512 MiB.
uint64_t default_cache_max_bytes();

}  // namespace ropegen
