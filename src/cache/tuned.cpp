#include "cache/tuned.hpp"

#include <algorithm>
#include <dirent.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "../common/process.hpp"
#include "../common/sha256.hpp"
#include "cache/cache.hpp"
#include "ropegen/error.hpp"

namespace ropegen {
namespace {

constexpr const char* kTag = "ropegen-tuned-plans";

[[noreturn]] void bad(const std::string& why) { throw Error(ErrorKind::Cache, why); }

/// An integer field in [lo, hi]; anything else (a float, a string, out of range) is damage.
long long int_in(const nlohmann::json& j, const char* name, long long lo, long long hi) {
  if (!j.contains(name)) bad(std::string("a bucket has no \"") + name + "\"");
  const nlohmann::json& v = j.at(name);
  long long x = 0;
  if (v.is_number_unsigned() && v.get<uint64_t>() <= static_cast<uint64_t>(hi)) x = static_cast<long long>(v.get<uint64_t>());
  else if (v.is_number_integer()) x = v.get<int64_t>();
  else bad(std::string("\"") + name + "\" is a " + v.type_name() + ", not an integer");
  if (x < lo || x > hi)
    bad(std::string("\"") + name + "\" = " + std::to_string(x) + " is outside " + std::to_string(lo) + ".." +
        std::to_string(hi));
  return x;
}

double time_in(const nlohmann::json& j, const char* name) {
  if (!j.contains(name)) return 0;  // informative only
  const nlohmann::json& v = j.at(name);
  if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0)
    bad(std::string("\"") + name + "\" is not a non-negative number");
  return v.get<double>();
}

}  // namespace

std::string tuned_key_text(const KernelSpec& spec, const Target& target, const std::string& device) {
  return "tuned_format=" + std::to_string(kTunedFormatVersion) + "\nropegen=" + ropegen_version() +
         "\nspec=" + spec.canonical() + "\ntarget=" + target.id() + "\ndevice=" + device + "\n";
}

std::string tuned_path(const std::string& dir, const std::string& key_text) {
  return dir + "/" + hex64(fnv1a64(key_text)) + kTunedSuffix;
}

std::string serialize_tuned(const TunedRecord& r) {
  nlohmann::json buckets = nlohmann::json::array();
  for (const TunedBucketPlan& b : r.buckets)
    buckets.push_back({{"tokens", b.tokens},
                       {"tokens_per_block", b.choice.tokens_per_block},
                       {"head_groups", b.choice.head_groups},
                       {"us", b.us},
                       {"default_us", b.default_us}});
  nlohmann::json j = {{"format", kTag}, {"version", kTunedFormatVersion}, {"key", r.key_text}, {"buckets", buckets}};
  return j.dump(1) + "\n";
}

TunedRecord parse_tuned(const std::string& bytes) {
  if (bytes.size() > kTunedMaxBytes)
    bad("it is " + std::to_string(bytes.size()) + " bytes, more than a record's " + std::to_string(kTunedMaxBytes));
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(bytes);
  } catch (const std::exception& e) {
    bad(std::string("not JSON (truncated or damaged): ") + e.what());
  }
  if (!j.is_object() || !j.contains("format") || j.at("format") != kTag) bad("not a ropegen tuned-plans record");
  if (!j.contains("version") || !j.at("version").is_number_integer() || j.at("version").get<int64_t>() != kTunedFormatVersion)
    bad("tuned-plans format version " + (j.contains("version") ? j.at("version").dump() : std::string("missing")) +
        ", expected " + std::to_string(kTunedFormatVersion));
  if (!j.contains("key") || !j.at("key").is_string()) bad("no key");
  if (!j.contains("buckets") || !j.at("buckets").is_array()) bad("no buckets");
  const nlohmann::json& bs = j.at("buckets");
  if (bs.empty() || bs.size() > kTunedMaxBuckets)
    bad(std::to_string(bs.size()) + " buckets; a record holds 1 to " + std::to_string(kTunedMaxBuckets));
  TunedRecord r;
  r.key_text = j.at("key").get<std::string>();
  for (const nlohmann::json& b : bs) {
    if (!b.is_object()) bad("a bucket is not an object");
    TunedBucketPlan p;
    p.tokens = int_in(b, "tokens", 1, kTunedMaxTokens);
    p.choice.tokens_per_block = static_cast<int>(int_in(b, "tokens_per_block", 1, 1024));
    p.choice.head_groups = static_cast<int>(int_in(b, "head_groups", 1, 1024));
    p.us = time_in(b, "us");
    p.default_us = time_in(b, "default_us");
    if (!r.buckets.empty() && p.tokens <= r.buckets.back().tokens)
      bad("buckets are not strictly increasing (" + std::to_string(p.tokens) + " after " +
          std::to_string(r.buckets.back().tokens) + ")");
    r.buckets.push_back(p);
  }
  return r;
}

std::optional<TunedRecord> load_tuned(const std::string& dir, bool bundle, const std::string& key_text,
                                      std::string* problem) {
  const std::string path = tuned_path(dir, key_text);
  std::string bytes, why;
  if (!read_trusted_file(path, &bytes, &why)) {
    if (!why.empty() && problem) *problem = "refusing tuned-plans record " + path + ": " + why;
    return std::nullopt;
  }
  try {
    if (bundle) {
      const auto manifest = read_bundle_manifest(dir);
      const std::string name = path.substr(dir.size() + 1);
      auto it = manifest.find(name);
      if (it == manifest.end()) bad("it is not listed in the bundle's manifest");
      if (it->second != detail::sha256_hex(bytes)) bad("its SHA-256 does not match the bundle's manifest");
    }
    TunedRecord r = parse_tuned(bytes);
    if (r.key_text != key_text) bad("its key is another spec's, target's or device's (a different record under the same hash)");
    return r;
  } catch (const Error& e) {
    if (problem) *problem = "tuned-plans record " + path + " is unusable (" + e.message() + ")";
    return std::nullopt;
  }
}

std::string store_tuned(const std::string& dir, const TunedRecord& record) {
  if (!make_cache_dirs(dir)) bad("cannot create cache directory " + dir + ": " + std::strerror(errno));
  const std::string path = tuned_path(dir, record.key_text);
  try {
    detail::write_file(path, serialize_tuned(record), 0600, /*sync=*/true);
  } catch (const Error& e) {
    bad("cannot write tuned-plans record in " + dir + ": " + e.message());
  }
  return path;
}

namespace {

/// The value of line `name=` of a record's key.
std::string key_line(const std::string& key_text, const std::string& name) {
  const std::string tag = name + "=";
  size_t at = 0;
  while (at < key_text.size()) {
    size_t end = key_text.find('\n', at);
    if (end == std::string::npos) end = key_text.size();
    if (key_text.compare(at, tag.size(), tag) == 0) return key_text.substr(at + tag.size(), end - at - tag.size());
    at = end + 1;
  }
  return "";
}

}  // namespace

std::vector<TunedFile> list_tuned(const std::string& dir) {
  std::vector<TunedFile> out;
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  std::vector<std::string> names;
  const size_t n = std::strlen(kTunedSuffix);
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() > n && name.compare(name.size() - n, n, kTunedSuffix) == 0) names.push_back(name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    TunedFile f;
    f.path = dir + "/" + name;
    std::string why;
    try {
      if (!read_trusted_file(f.path, &f.bytes, &why)) bad(why.empty() ? "unreadable" : why);
      f.record = parse_tuned(f.bytes);
      if (tuned_path(dir, f.record.key_text) != f.path) bad("file name does not match its key");
      f.spec = key_line(f.record.key_text, "spec");
      f.target = key_line(f.record.key_text, "target");
      f.device = key_line(f.record.key_text, "device");
      f.valid = true;
    } catch (const Error& e) {
      f.problem = e.message();
    }
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<TunedFile> tuned_records_for(const std::string& dir, const KernelSpec& spec, const Target& target) {
  // The key without its last line (the device): every device's record of this spec and target.
  std::string prefix = tuned_key_text(spec, target, "");
  prefix.pop_back();
  std::vector<TunedFile> out;
  for (TunedFile& f : list_tuned(dir))
    if (f.valid && f.record.key_text.rfind(prefix, 0) == 0) out.push_back(std::move(f));
  return out;
}

std::vector<long long> bucket_limits(const std::vector<long long>& b) {
  std::vector<long long> out;
  for (size_t i = 0; i < b.size(); ++i) {
    if (i + 1 == b.size()) {
      out.push_back(LLONG_MAX);
      break;
    }
    // Geometric midpoint, rounded down; the boundaries stay increasing: b[i] <= mid < b[i+1].
    long long mid = static_cast<long long>(std::floor(std::sqrt(static_cast<long double>(b[i]) * b[i + 1])));
    mid = std::max(b[i], std::min(mid, b[i + 1] - 1));
    out.push_back(mid);
  }
  return out;
}

}  // namespace ropegen
