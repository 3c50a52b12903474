// Tuned plans on disk: per (spec, target, device), the schedule that won each token bucket
// of a tuning run (Context::tune), one small JSON record per key beside the code objects.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ropegen/plan.hpp"
#include "ropegen/spec.hpp"
#include "ropegen/target.hpp"

namespace ropegen {

/// Bumped whenever the record's layout or key changes; part of every key.
constexpr int kTunedFormatVersion = 1;
/// Records larger than this are refused unread past it (a real one is a few hundred bytes).
constexpr size_t kTunedMaxBytes = 64 * 1024;
/// Most buckets a record may hold.
constexpr size_t kTunedMaxBuckets = 64;
/// Largest bucket (token count) a record may name.
constexpr long long kTunedMaxTokens = 1ll << 40;

/// One bucket's winner.
struct TunedBucketPlan {
  long long tokens = 0;  ///< the bucket (num_tokens timed)
  PlanChoice choice;     ///< its schedule (both fields set)
  double us = 0;         ///< the winner's time, microseconds (informative)
  double default_us = 0; ///< codegen's plan's time (informative)
};

/// A tuned-plans record: what it serves (its key) and the winners, buckets increasing.
struct TunedRecord {
  std::string key_text;
  std::vector<TunedBucketPlan> buckets;
};

/// The key of the tuned plans of a spec on a target and device: the code-object key without
/// the schedule (format, ropegen version, canonical spec, target with features), plus the
/// device name. Never a compiler: plans outlive compiler upgrades.
std::string tuned_key_text(const KernelSpec& spec, const Target& target, const std::string& device);
/// File of the record for `key_text` in `dir`: <fnv1a64 of the key>.rgtune.
std::string tuned_path(const std::string& dir, const std::string& key_text);

/// The record's bytes (JSON).
std::string serialize_tuned(const TunedRecord& record);
/// Parses and checks a record: the format tag and version, bucket count, each bucket's
/// tokens (1..kTunedMaxTokens, strictly increasing) and schedule (1..1024 each). Throws
/// Error(Cache) saying what is wrong. Legality for the spec is checked by whoever builds
/// the plans (codegen's plan()).
TunedRecord parse_tuned(const std::string& bytes);

/// The record for `key_text` in `dir`, if present and trusted: a regular file owned by this
/// user or root, not writable by others, at most kTunedMaxBytes, parsed and holding exactly
/// that key; in a bundle (`bundle`) also listed with its SHA-256 in the manifest. A file
/// refused is described in `problem` (path and reason) and counts as absent; never fatal.
std::optional<TunedRecord> load_tuned(const std::string& dir, bool bundle, const std::string& key_text,
                                      std::string* problem);
/// Writes the record atomically (unique temp file, 0600, fsync, rename; the directory is
/// created 0700). Returns its path. Throws Error(Cache).
std::string store_tuned(const std::string& dir, const TunedRecord& record);

/// A record file of a directory, for listings.
struct TunedFile {
  std::string path, bytes;
  bool valid = false;
  std::string problem;  ///< why it is not valid
  TunedRecord record;
  std::string spec, target, device;  ///< from its key (valid records)
};
/// Every record file of `dir` (sorted by name), each read and checked as load_tuned does,
/// and its file name against its key's hash.
std::vector<TunedFile> list_tuned(const std::string& dir);
/// The valid records in `dir` whose key is for `spec` on `target` (any device): what
/// `ropegen bundle` copies.
std::vector<TunedFile> tuned_records_for(const std::string& dir, const KernelSpec& spec, const Target& target);

/// The most tokens each bucket serves: bucket i serves num_tokens up to the geometric
/// midpoint floor(sqrt(b[i] * b[i+1])) of it and the next; the last serves every larger
/// count, and the first every smaller one. `buckets` increasing.
std::vector<long long> bucket_limits(const std::vector<long long>& buckets);

}  // namespace ropegen
