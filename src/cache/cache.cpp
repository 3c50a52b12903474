#include "cache/cache.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "../common/process.hpp"
#include "../common/sha256.hpp"
#include "../schema/detail.hpp"
#include "ropegen/error.hpp"

namespace ropegen {

const char* ropegen_version() { return ROPEGEN_VERSION; }  // CMake's project VERSION

namespace {

constexpr char kMagic[8] = {'R', 'G', 'C', 'O', 'D', 'E', '0', '\n'};
constexpr const char* kSuffix = ".rgco";

void put_u64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}
uint64_t get_u64(const std::string& s, size_t at) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(s[at + i])) << (8 * i);
  return v;
}

[[noreturn]] void bad(const std::string& why) { throw Error(ErrorKind::Cache, why); }

nlohmann::json plan_to_json(const LaunchPlan& p) {
  return {p.wave,        p.vec,       p.lanes_per_head, p.tokens_per_block, p.head_groups,
          p.num_tasks,   p.block_threads, p.prefetch_first, p.whole_token};
}
/// An int field of a header: anything else (a float, a string, out of range) is damage,
/// never a conversion (a float outside int's range is undefined behaviour).
int int_field(const nlohmann::json& v) {
  if (v.is_number_unsigned() && v.get<uint64_t>() <= static_cast<uint64_t>(INT32_MAX))
    return static_cast<int>(v.get<uint64_t>());
  if (v.is_number_integer() && v.get<int64_t>() >= INT32_MIN && v.get<int64_t>() <= INT32_MAX)
    return static_cast<int>(v.get<int64_t>());
  bad(std::string("bad metadata: a ") + v.type_name() + " value where a 32-bit integer belongs");
}

LaunchPlan plan_from_json(const nlohmann::json& j) {
  LaunchPlan p;
  p.wave = int_field(j.at(0));
  p.vec = int_field(j.at(1));
  p.lanes_per_head = int_field(j.at(2));
  p.tokens_per_block = int_field(j.at(3));
  p.head_groups = int_field(j.at(4));
  p.num_tasks = int_field(j.at(5));
  p.block_threads = int_field(j.at(6));
  if (!j.at(7).is_boolean()) bad(std::string("bad metadata: a ") + j.at(7).type_name() + " value where a boolean belongs");
  p.prefetch_first = j.at(7).get<bool>();
  // whole_token came later: an entry written before it has 8 fields (its kernels never needed it).
  if (j.size() > 8) {
    if (!j.at(8).is_boolean()) bad(std::string("bad metadata: a ") + j.at(8).type_name() + " value where a boolean belongs");
    p.whole_token = j.at(8).get<bool>();
  }
  return p;
}

/// Reads an entry file without following a symlink or blocking on a FIFO, and only if it is
/// safe to run code from: a regular file owned by this user or root, not writable by group
/// or others (checked on the open descriptor, so the file checked is the file read).
/// Returns false with `why` ("" when the file does not exist).
bool read_entry_file(const std::string& path, std::string* out, std::string* why) {
  why->clear();
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    if (errno != ENOENT && errno != ENOTDIR)
      *why = errno == ELOOP ? "it is a symbolic link" : std::string("cannot open it: ") + std::strerror(errno);
    return false;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    *why = std::string("cannot stat it: ") + std::strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    *why = "it is not a regular file";
  } else if (st.st_uid != geteuid() && st.st_uid != 0) {
    *why = "it is owned by another user (uid " + std::to_string(st.st_uid) + ")";
  } else if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    *why = "it is writable by group or others";
  }
  if (!why->empty()) {
    close(fd);
    return false;
  }
  out->clear();
  out->reserve(static_cast<size_t>(st.st_size));
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *why = std::string("cannot read it: ") + std::strerror(errno);
      close(fd);
      return false;
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return true;
}

bool mkdirs(const std::string& dir) {
  std::string cur;
  for (size_t i = 0; i <= dir.size(); ++i) {
    if (i == dir.size() || dir[i] == '/') {
      if (!cur.empty() && mkdir(cur.c_str(), 0700) != 0 && errno != EEXIST) return false;
    }
    if (i < dir.size()) cur += dir[i];
  }
  return true;
}

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

/// The manifest of a bundle directory: file name -> SHA-256 hex. Throws Error(Cache).
std::map<std::string, std::string> read_manifest(const std::string& dir) {
  const std::string path = dir + "/" + kBundleManifest;
  std::string text, why;
  if (!read_entry_file(path, &text, &why)) {
    if (why.empty())
      bad("bundle " + dir + " has no manifest " + kBundleManifest + " (write bundles with `ropegen bundle`)");
    bad("refusing the manifest " + path + ": " + why);
  }
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() < 67 || line.compare(64, 2, "  ") != 0) bad("malformed manifest " + path);
    out[line.substr(66)] = line.substr(0, 64);
  }
  return out;
}

std::string option_text(const CompileOptions& opts) {
  std::string options;
  for (const auto& o : opts.extra) options += (options.empty() ? "" : " ") + o;
  return options;
}

/// The value of line `name=` of a key text.
std::string key_field(const std::string& key_text, const std::string& name) {
  const std::string tag = "\n" + name + "=";
  size_t at = ("\n" + key_text).find(tag);
  if (at == std::string::npos) return "";
  at += tag.size() - 1;
  const size_t end = key_text.find('\n', at);
  return key_text.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

}  // namespace

bool read_trusted_file(const std::string& path, std::string* out, std::string* why) {
  return read_entry_file(path, out, why);
}

std::map<std::string, std::string> read_bundle_manifest(const std::string& dir) { return read_manifest(dir); }

bool make_cache_dirs(const std::string& dir) { return mkdirs(dir); }

CacheKey make_cache_key(const GeneratedSource& src, const CompileOptions& opts) {
  CacheKey k;
  k.text = "format=" + std::to_string(kCacheFormatVersion) + "\nropegen=" + ropegen_version() +
           "\nspec=" + src.spec.canonical() + "\nsource=" + src.source_hash + "\ntarget=" + src.target.id() +
           "\nwave=" + std::to_string(src.plan.wave) + "\noptions=" + option_text(opts) + "\n";
  k.hash = hex64(fnv1a64(k.text));
  return k;
}

std::string serialize_entry(const CacheKey& key, const CodeObject& co) {
  nlohmann::json meta = {{"key", key.text},
                         {"backend", co.backend},
                         {"backend_version", co.backend_version},
                         {"target", co.target_id},
                         {"format", co.format},
                         {"entry", co.entry},
                         {"host_entry", co.host_entry},
                         {"spec", co.spec.canonical()},
                         {"plan", plan_to_json(co.plan)},
                         {"align", {co.align.tensor_bytes, co.align.row_elems, co.align.table_bytes, co.align.table_elems}},
                         {"options", co.options},
                         {"log", co.log},
                         {"compile_ms", co.compile_ms}};
  const std::string header = meta.dump();
  std::string out(kMagic, sizeof kMagic);
  put_u64(out, kCacheFormatVersion);
  put_u64(out, header.size());
  out += header;
  put_u64(out, co.bytes.size());
  out.append(co.bytes.begin(), co.bytes.end());
  put_u64(out, fnv1a64(out));
  return out;
}

CodeObject parse_entry(const std::string& b, std::string* key_text) {
  if (b.size() < sizeof kMagic + 32 || std::memcmp(b.data(), kMagic, sizeof kMagic) != 0)
    bad("not a ropegen cache entry (bad magic or too short)");
  size_t at = sizeof kMagic;
  const uint64_t version = get_u64(b, at);
  at += 8;
  if (version != static_cast<uint64_t>(kCacheFormatVersion))
    bad("cache format version " + std::to_string(version) + ", expected " + std::to_string(kCacheFormatVersion));
  const uint64_t header_len = get_u64(b, at);
  at += 8;
  if (header_len > b.size() - at - 16) bad("truncated (header length " + std::to_string(header_len) + ")");
  const std::string header = b.substr(at, header_len);
  at += header_len;
  const uint64_t payload_len = get_u64(b, at);
  at += 8;
  if (payload_len != b.size() - at - 8) bad("truncated or padded (payload length does not match the file size)");
  const uint64_t sum = get_u64(b, b.size() - 8);
  if (sum != fnv1a64(b.substr(0, b.size() - 8))) bad("checksum mismatch");
  CodeObject co;
  try {
    nlohmann::json meta = nlohmann::json::parse(header);
    const std::string key = meta.at("key");
    if (key_text) *key_text = key;
    co.backend = meta.at("backend");
    co.backend_version = meta.at("backend_version");
    co.target_id = meta.at("target");
    co.format = meta.at("format");
    co.entry = meta.at("entry");
    co.host_entry = meta.at("host_entry");
    co.spec = parse_spec_line(meta.at("spec").get<std::string>(), "<cache entry>").spec;
    co.plan = plan_from_json(meta.at("plan"));
    const auto& al = meta.at("align");
    co.align = {int_field(al.at(0)), int_field(al.at(1)), int_field(al.at(2)), int_field(al.at(3))};
    co.options = meta.at("options");
    co.log = meta.at("log");
    if (!meta.at("compile_ms").is_number()) bad("bad metadata: compile_ms is not a number");
    co.compile_ms = meta.at("compile_ms").get<double>();
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Cache) throw;
    bad(std::string("bad metadata: ") + e.what());
  } catch (const std::exception& e) {
    bad(std::string("bad metadata: ") + e.what());
  }
  co.bytes.assign(b.begin() + static_cast<long>(at), b.end() - 8);
  return co;
}

DiskCache::DiskCache(std::string dir, bool read_only) : dir_(std::move(dir)), read_only_(read_only) {}

std::string DiskCache::path_for(const CacheKey& key) const { return dir_ + "/" + key.hash + kSuffix; }

void check_entry(const CodeObject& co, const std::string& key_text, const CacheKey& key, const GeneratedSource& src) {
  if (key_text != key.text) bad("key mismatch (a different kernel under the same hash)");
  auto differs = [](const char* what) { bad(std::string("its ") + what + " does not match the request"); };
  if (compare_specs(co.spec, src.spec) != 0) differs("spec");
  if (co.target_id != src.target.id()) differs("target");
  // The format picks the loader and the inspector: it must be one the target's vendor loads.
  const std::vector<std::string>& formats = dialect_for(src.target.vendor).code_formats;
  if (std::find(formats.begin(), formats.end(), co.format) == formats.end())
    bad("its format '" + co.format + "' is not a code-object format of target " + src.target.id() + " (" +
        spec_detail::join(formats) + ")");
  const LaunchPlan &a = co.plan, &b = src.plan;
  if (a.wave != b.wave || a.vec != b.vec || a.lanes_per_head != b.lanes_per_head ||
      a.tokens_per_block != b.tokens_per_block || a.head_groups != b.head_groups || a.num_tasks != b.num_tasks ||
      a.block_threads != b.block_threads || a.prefetch_first != b.prefetch_first || a.whole_token != b.whole_token)
    differs("launch plan");
  const ArgAlignment &x = co.align, &y = src.align;
  if (x.tensor_bytes != y.tensor_bytes || x.row_elems != y.row_elems || x.table_bytes != y.table_bytes ||
      x.table_elems != y.table_elems)
    differs("argument alignment");
  if (co.entry != src.entry) differs("entry symbol");
  if (co.host_entry != src.host_entry) differs("host entry symbol");
}

void check_entry(const CodeObject& co, const std::string& key_text) {
  GeneratedSource src;
  CompileOptions opts;
  try {
    const Target target = parse_target(co.target_id);
    // The schedule is the one part of a request that is not in the spec (ROPEGEN_PLAN):
    // take it from the entry; the source hash in the key then has to match.
    PlanChoice choice;
    choice.tokens_per_block = co.plan.tokens_per_block;
    choice.head_groups = co.plan.head_groups;
    src = generate(co.spec, target, choice);
    // The options line as one option: joined again, it is the same text whatever its spaces.
    const std::string options = key_field(key_text, "options");
    if (!options.empty()) opts.extra = {options};
  } catch (const Error& e) {
    bad(std::string("its fields do not describe a kernel: ") + e.message());
  }
  const CacheKey key = make_cache_key(src, opts);
  if (key.text != key_text) bad("its spec, target or schedule does not match its key");
  check_entry(co, key_text, key, src);
}

std::string untrusted_dir_reason(const std::string& dir) {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) return std::string("cannot stat it: ") + std::strerror(errno);
  if (!S_ISDIR(st.st_mode)) return "it is not a directory";
  if (st.st_uid != geteuid() && st.st_uid != 0)
    return "it is owned by another user (uid " + std::to_string(st.st_uid) + ")";
  if (st.st_mode & (S_IWGRP | S_IWOTH)) return "it is writable by group or others";
  return "";
}

std::optional<CodeObject> DiskCache::load(const CacheKey& key, const GeneratedSource& src, const CompilerMatch& want,
                                          std::string* problem) const {
  const std::string path = path_for(key);
  std::string bytes, why;
  if (!read_entry_file(path, &bytes, &why)) {
    if (!why.empty() && problem) *problem = "refusing cache entry " + path + ": " + why;
    return std::nullopt;
  }
  try {
    if (read_only_) {
      const auto manifest = read_manifest(dir_);
      auto it = manifest.find(key.hash + kSuffix);
      if (it == manifest.end()) bad("it is not listed in the bundle's manifest");
      if (it->second != detail::sha256_hex(bytes)) bad("its SHA-256 does not match the bundle's manifest");
    }
    std::string key_text;
    CodeObject co = parse_entry(bytes, &key_text);
    check_entry(co, key_text, key, src);
    if (!want.accepts(co)) return std::nullopt;                      // another compiler's build: not an error
    if (!read_only_) utimensat(AT_FDCWD, path.c_str(), nullptr, 0);  // last use, for LRU pruning
    return co;
  } catch (const Error& e) {
    if (problem) *problem = "cache entry " + path + " is unusable (" + e.message() + ")";
    return std::nullopt;
  }
}

int DiskCache::lock(const CacheKey& key) const {
  if (read_only_ || !mkdirs(dir_)) return -1;
  const std::string path = dir_ + "/" + key.hash + ".lock";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
  if (fd < 0) return -1;
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return -1;
  }
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  // An OFD lock belongs to this open file description: threads and processes alike wait,
  // and the kernel releases it when the process dies.
  while (fcntl(fd, F_OFD_SETLKW, &fl) != 0) {
    if (errno == EINTR) continue;
    close(fd);
    return -1;  // no OFD locks here (old kernel, some network file systems): compile anyway
  }
  return fd;
}

std::string DiskCache::store(const CacheKey& key, const CodeObject& co) const {
  if (read_only_) bad("cache directory " + dir_ + " is read-only");
  if (!mkdirs(dir_)) bad("cannot create cache directory " + dir_ + ": " + std::strerror(errno));
  const std::string path = path_for(key);
  try {
    detail::write_file(path, serialize_entry(key, co), 0600, /*sync=*/true);
  } catch (const Error& e) {
    bad("cannot write cache entry in " + dir_ + ": " + e.message());
  }
  return path;
}

namespace {

/// The temporary files of `dir` older than kStaleTempSeconds (left by writers that died),
/// with their sizes. Younger ones may belong to a live writer and are never listed.
std::vector<std::pair<std::string, uint64_t>> stale_temp_files(const std::string& dir) {
  std::vector<std::pair<std::string, uint64_t>> out;
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.rfind(detail::kTempPrefix, 0) != 0) continue;
    struct stat st {};
    if (lstat((dir + "/" + name).c_str(), &st) != 0 || now - st.st_mtime < kStaleTempSeconds) continue;
    out.emplace_back(dir + "/" + name, static_cast<uint64_t>(st.st_size));
  }
  closedir(d);
  return out;
}

}  // namespace

CacheDirStats DiskCache::stats() const {
  CacheDirStats out;
  for (const auto& [path, bytes] : stale_temp_files(dir_)) {
    ++out.stale_temp_files;
    out.stale_temp_bytes += bytes;
  }
  return out;
}

std::vector<CacheEntryInfo> DiskCache::list(bool read_entries) const {
  std::vector<CacheEntryInfo> out;
  // A directory with a manifest (a bundle) is checked against it too.
  std::optional<std::map<std::string, std::string>> manifest;
  if (read_entries && access((dir_ + "/" + kBundleManifest).c_str(), F_OK) == 0) {
    try {
      manifest = read_manifest(dir_);
    } catch (const Error&) {
      manifest.emplace();  // unreadable: no entry matches it
    }
  }
  DIR* d = opendir(dir_.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.size() < 6 || !ends_with(name, kSuffix)) continue;
    CacheEntryInfo info;
    info.path = dir_ + "/" + name;
    struct stat st {};
    if (lstat(info.path.c_str(), &st) != 0) continue;
    info.bytes = static_cast<uint64_t>(st.st_size);
    info.last_used = st.st_mtime;
    if (!read_entries) {
      info.valid = true;  // not checked
      out.push_back(info);
      continue;
    }
    std::string bytes, why;
    try {
      if (!read_entry_file(info.path, &bytes, &why)) bad(why.empty() ? "unreadable" : why);
      if (manifest && (!manifest->count(name) || manifest->at(name) != detail::sha256_hex(bytes)))
        bad("its SHA-256 does not match the manifest " + std::string(kBundleManifest));
      std::string key_text;
      CodeObject co = parse_entry(bytes, &key_text);
      if (hex64(fnv1a64(key_text)) + kSuffix != name) bad("file name does not match its key");
      check_entry(co, key_text);
      info.valid = true;
      info.spec = co.spec.canonical();
      info.target = co.target_id;
      info.backend = co.backend;
      info.entry = co.entry;
    } catch (const Error& err) {
      info.problem = err.message();
    }
    out.push_back(info);
  }
  closedir(d);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  return out;
}

size_t DiskCache::prune(uint64_t max_bytes, bool check_entries, const std::string& keep) const {
  if (read_only_) bad("cache directory " + dir_ + " is read-only");
  size_t removed = 0;
  for (const auto& stale : stale_temp_files(dir_)) removed += unlink(stale.first.c_str()) == 0 ? 1 : 0;
  auto entries = list(check_entries);
  uint64_t total = 0;
  for (const auto& e : entries) total += e.bytes;
  if (!check_entries && total <= max_bytes) return removed;
  // Broken entries go first, then least recently used.
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    if (a.valid != b.valid) return !a.valid;
    return a.last_used < b.last_used;
  });
  for (const auto& e : entries) {
    if (total <= max_bytes && e.valid) break;
    if (e.path == keep) continue;
    if (unlink(e.path.c_str()) == 0) {
      total -= e.bytes;
      ++removed;
    }
  }
  return removed;
}

size_t DiskCache::clear() const {
  if (read_only_) bad("cache directory " + dir_ + " is read-only");
  size_t removed = 0;
  DIR* d = opendir(dir_.c_str());
  if (!d) return 0;
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (ends_with(name, kSuffix) || ends_with(name, kTunedSuffix)) names.push_back(name);
  }
  closedir(d);
  for (const auto& n : names)
    if (unlink((dir_ + "/" + n).c_str()) == 0) ++removed;
  for (const auto& stale : stale_temp_files(dir_)) removed += unlink(stale.first.c_str()) == 0 ? 1 : 0;
  return removed;
}

size_t write_bundle_manifest(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (ends_with(e->d_name, kSuffix) || ends_with(e->d_name, kTunedSuffix)) names.push_back(e->d_name);
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  std::string text;
  for (const auto& n : names) {
    std::string bytes, why;
    if (!read_entry_file(dir + "/" + n, &bytes, &why)) bad("cannot add " + dir + "/" + n + " to the manifest: " + why);
    text += detail::sha256_hex(bytes) + "  " + n + "\n";
    // A bundle is an explicit output, deployed for other users: readable, never writable.
    if (chmod((dir + "/" + n).c_str(), 0644) != 0)
      bad("cannot make " + dir + "/" + n + " readable: " + std::strerror(errno));
  }
  if (chmod(dir.c_str(), 0755) != 0) bad("cannot make " + dir + " readable: " + std::strerror(errno));
  try {
    detail::write_file(dir + "/" + kBundleManifest, text, 0644, /*sync=*/true);
  } catch (const Error& e) {
    bad("cannot write the bundle manifest: " + e.message());
  }
  return names.size();
}

std::string default_cache_dir(std::string* why_none) {
  if (const char* d = std::getenv("ROPEGEN_CACHE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/ropegen";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/ropegen";
  // Never a predictable shared path such as /tmp/ropegen-<uid>: another user could create
  // it first and plant code there. The runtime directory is private to this user.
  if (const char* r = std::getenv("XDG_RUNTIME_DIR"); r && *r) return std::string(r) + "/ropegen";
  if (why_none)
    *why_none =
        "no cache directory: ROPEGEN_CACHE_DIR, XDG_CACHE_HOME, HOME and XDG_RUNTIME_DIR are all unset; "
        "caching in memory only";
  return "";
}

std::vector<std::string> default_bundle_dirs() {
  const char* p = std::getenv("ROPEGEN_CACHE_PATH");
  return p ? detail::split_nonempty(p, ':') : std::vector<std::string>{};
}

uint64_t default_cache_max_bytes() { return 512ull << 20; }

}  // namespace ropegen
