#include "cache/cache.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

#include "../common/process.hpp"
#include "ropegen/error.hpp"

namespace ropegen {

const char* ropegen_version() { return "0.1.0"; }

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
  return {p.wave, p.vec, p.lanes_per_head, p.tokens_per_block, p.head_groups, p.num_tasks, p.block_threads};
}
LaunchPlan plan_from_json(const nlohmann::json& j) {
  LaunchPlan p;
  p.wave = j.at(0);
  p.vec = j.at(1);
  p.lanes_per_head = j.at(2);
  p.tokens_per_block = j.at(3);
  p.head_groups = j.at(4);
  p.num_tasks = j.at(5);
  p.block_threads = j.at(6);
  return p;
}

std::string read_all(const std::string& path, bool* ok) {
  *ok = false;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(fd);
      return {};
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  *ok = true;
  return out;
}

bool mkdirs(const std::string& dir) {
  std::string cur;
  for (size_t i = 0; i <= dir.size(); ++i) {
    if (i == dir.size() || dir[i] == '/') {
      if (!cur.empty() && mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) return false;
    }
    if (i < dir.size()) cur += dir[i];
  }
  return true;
}

}  // namespace

CacheKey make_cache_key(const GeneratedSource& src, const Compiler& compiler, const CompileOptions& opts) {
  std::string options;
  for (const auto& o : opts.extra) options += (options.empty() ? "" : " ") + o;
  CacheKey k;
  k.text = "format=" + std::to_string(kCacheFormatVersion) + "\nropegen=" + ropegen_version() +
           "\nspec=" + src.spec.canonical() + "\nsource=" + src.source_hash + "\ntarget=" + src.target.id() +
           "\nwave=" + std::to_string(src.plan.wave) + "\nbackend=" + compiler.name() +
           "\nbackend_version=" + compiler.version() + "\noptions=" + options + "\n";
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

CodeObject parse_entry(const std::string& b, const CacheKey* expect, std::string* key_text) {
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
    if (expect && key != expect->text) bad("key mismatch (a different kernel under the same hash)");
    co.backend = meta.at("backend");
    co.backend_version = meta.at("backend_version");
    co.target_id = meta.at("target");
    co.format = meta.at("format");
    co.entry = meta.at("entry");
    co.host_entry = meta.at("host_entry");
    co.spec = parse_spec_line(meta.at("spec").get<std::string>(), "<cache entry>").spec;
    co.plan = plan_from_json(meta.at("plan"));
    const auto& al = meta.at("align");
    co.align = {al.at(0), al.at(1), al.at(2), al.at(3)};
    co.options = meta.at("options");
    co.log = meta.at("log");
    co.compile_ms = meta.at("compile_ms");
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

std::optional<CodeObject> DiskCache::load(const CacheKey& key, std::string* problem) const {
  const std::string path = path_for(key);
  bool ok = false;
  std::string bytes = read_all(path, &ok);
  if (!ok) return std::nullopt;
  try {
    CodeObject co = parse_entry(bytes, &key);
    if (!read_only_) utimensat(AT_FDCWD, path.c_str(), nullptr, 0);  // last use, for LRU pruning
    return co;
  } catch (const Error& e) {
    if (problem) *problem = "cache entry " + path + " is unusable (" + e.message() + ")";
    return std::nullopt;
  }
}

std::string DiskCache::store(const CacheKey& key, const CodeObject& co) const {
  if (read_only_) bad("cache directory " + dir_ + " is read-only");
  if (!mkdirs(dir_)) bad("cannot create cache directory " + dir_ + ": " + std::strerror(errno));
  const std::string data = serialize_entry(key, co);
  static std::atomic<unsigned> counter{0};
  std::random_device rd;
  const std::string tmp = dir_ + "/.tmp-" + key.hash + "-" + std::to_string(getpid()) + "-" +
                          std::to_string(counter++) + "-" + std::to_string(rd());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) bad("cannot write to cache directory " + dir_ + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      close(fd);
      unlink(tmp.c_str());
      bad("cannot write cache entry in " + dir_ + ": " + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    bad("cannot flush cache entry in " + dir_ + ": " + std::strerror(err));
  }
  const std::string path = path_for(key);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    bad("cannot rename cache entry into place in " + dir_ + ": " + std::strerror(err));
  }
  return path;
}

std::vector<CacheEntryInfo> DiskCache::list(bool read_entries) const {
  std::vector<CacheEntryInfo> out;
  DIR* d = opendir(dir_.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.size() < 6 || name.compare(name.size() - 5, 5, kSuffix) != 0) continue;
    CacheEntryInfo info;
    info.path = dir_ + "/" + name;
    struct stat st {};
    if (stat(info.path.c_str(), &st) != 0) continue;
    info.bytes = static_cast<uint64_t>(st.st_size);
    info.last_used = st.st_mtime;
    if (!read_entries) {
      info.valid = true;  // not checked
      out.push_back(info);
      continue;
    }
    bool ok = false;
    std::string bytes = read_all(info.path, &ok);
    try {
      if (!ok) bad("unreadable");
      std::string key_text;
      CodeObject co = parse_entry(bytes, nullptr, &key_text);
      if (hex64(fnv1a64(key_text)) + kSuffix != name) bad("file name does not match its key");
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

size_t DiskCache::prune(uint64_t max_bytes, bool check_entries) const {
  if (read_only_) bad("cache directory " + dir_ + " is read-only");
  auto entries = list(check_entries);
  uint64_t total = 0;
  for (const auto& e : entries) total += e.bytes;
  if (!check_entries && total <= max_bytes) return 0;
  // Broken entries go first, then least recently used.
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    if (a.valid != b.valid) return !a.valid;
    return a.last_used < b.last_used;
  });
  size_t removed = 0;
  for (const auto& e : entries) {
    if (total <= max_bytes && e.valid) break;
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
    bool entry = name.size() > 5 && name.compare(name.size() - 5, 5, kSuffix) == 0;
    if (entry || name.rfind(".tmp-", 0) == 0) names.push_back(name);
  }
  closedir(d);
  for (const auto& n : names)
    if (unlink((dir_ + "/" + n).c_str()) == 0) ++removed;
  return removed;
}

std::string default_cache_dir() {
  if (const char* d = std::getenv("ROPEGEN_CACHE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/ropegen";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/ropegen";
  return "/tmp/ropegen-cache-" + std::to_string(getuid());
}

std::vector<std::string> default_bundle_dirs() {
  const char* p = std::getenv("ROPEGEN_CACHE_PATH");
  return p ? detail::split_nonempty(p, ':') : std::vector<std::string>{};
}

uint64_t default_cache_max_bytes() {
  const char* v = std::getenv("ROPEGEN_CACHE_MAX_BYTES");
  if (v && *v) {
    char* end = nullptr;
    unsigned long long n = std::strtoull(v, &end, 10);
    if (end && *end == '\0') return n;
  }
  return 512ull << 20;
}

}  // namespace ropegen
