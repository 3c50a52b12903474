// KernelSpec: the validated, canonical description of one kernel.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ropegen/dsl.hpp"
#include "ropegen/target.hpp"

namespace ropegen {

enum class Op { Rope, KvAppend, RopeKvAppend };
enum class Style { Neox, Gptj };
enum class DType { F32, F16, BF16 };
enum class IndexType { I32, I64 };
enum class CosSinSource { Table, Compute };
enum class Scaling { None, Linear };
enum class CacheKind { Contiguous, Paged };
enum class CacheOrder { Hnd, Nhd };

const char* to_string(Op v);
const char* to_string(Style v);
const char* to_string(DType v);
const char* to_string(IndexType v);
const char* to_string(CacheOrder v);
/// Bytes of one element of a storage dtype.
int dtype_bytes(DType t);

/// How cos/sin are obtained.
struct CosSin {
  CosSinSource source = CosSinSource::Table;
  double theta = 10000.0;       ///< base b, for Compute
  Scaling scaling = Scaling::None;
  double factor = 1.0;          ///< linear scaling factor
};

/// Where K and V go.
struct CacheLayout {
  CacheKind kind = CacheKind::Paged;
  int block = 16;               ///< tokens per block, for Paged
  CacheOrder order = CacheOrder::Nhd;
};

/// A kernel description. parse_* return validated specs; one built field by field is
/// checked with validate().
struct KernelSpec {
  std::string name = "kernel";  ///< label only: not part of the canonical form or hash
  Op op = Op::RopeKvAppend;
  int head_dim = 128;
  int rotary_dim = 128;
  Style style = Style::Neox;
  int q_heads = 32;
  int kv_heads = 8;
  DType dtype = DType::BF16;
  IndexType index = IndexType::I32;
  CosSin cos_sin;
  CacheLayout cache;
  int wave = 0;                 ///< 0: the target's default

  bool uses_rope() const { return op != Op::KvAppend; }
  bool uses_cache() const { return op != Op::Rope; }
  bool uses_q() const { return op != Op::KvAppend; }

  /// Canonical text: every field that changes the generated code, in a fixed order,
  /// defaults filled in; fields the op does not use are left out.
  std::string canonical() const;
  /// FNV-1a 64 of canonical(), as 16 lowercase hex digits. Stable across runs and machines.
  std::string hash() const;
  /// The wave size for a target: the spec's, or the target's default.
  int wave_for(const Target& t) const { return wave ? wave : t.default_wave; }
};

/// FNV-1a 64-bit hash of a byte string.
uint64_t fnv1a64(const std::string& bytes);
/// 16 lowercase hex digits.
std::string hex64(uint64_t v);

/// Where a spec's fields came from, so later checks (cross-field rules, the target's wave
/// sizes) can point at the right line and column.
struct SpecOrigin {
  SourceLoc kernel;                       ///< the kernel name (or start of a one-line form)
  std::map<std::string, SourceLoc> keys;  ///< explicitly set keys -> location of the value
};

/// A spec with the places its fields came from.
struct ParsedSpec {
  KernelSpec spec;
  SpecOrigin origin;
};

/// Lowers parsed entries onto a base spec (defaults, or values from a file), checking each
/// key and value, then the cross-field rules. Entries override the base; a key repeated
/// within one declaration is an error.
ParsedSpec lower(const dsl::KernelDecl& decl, const ParsedSpec& base);

/// Checks cross-field rules (rotary_dim <= head_dim, GQA ratio, fields the op ignores...),
/// pointing at the explicitly set key that breaks them.
void validate(const ParsedSpec& spec);

/// Checks the spec against a target (wave size); throws Error(Spec) pointing at `wave`.
void check_target(const ParsedSpec& spec, const Target& target);

/// Parses a file of kernel blocks (name is used in diagnostics).
std::vector<ParsedSpec> parse_spec_file(const std::string& name, const std::string& text);
/// Reads and parses a spec file from disk.
std::vector<ParsedSpec> load_spec_file(const std::string& path);
/// Parses the one-line form "head_dim=128 dtype=bf16" on top of defaults.
ParsedSpec parse_spec_line(const std::string& text, const std::string& source_name = "<spec>");
/// Parses one-line text on top of an existing spec (used for CLI flag overrides).
ParsedSpec parse_spec_line(const std::string& text, const ParsedSpec& base,
                           const std::string& source_name);

/// The keys the DSL accepts, in canonical order.
const std::vector<std::string>& spec_keys();

}  // namespace ropegen
