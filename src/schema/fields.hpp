// The spec schema's rows: one SpecField per DSL key, the single declaration that lowering,
// range checks, canonical text, the request key, CLI flags, SpecBuilder::set and the
// documented key list derive from. Internal: its hooks take the DSL's parsed values, which
// embedders never see (they use the public ropegen/spec.hpp). A family adds its own rows
// (Family::spec_fields, src/families/<name>/).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "ropegen/spec.hpp"

namespace ropegen {

namespace dsl {
struct Value;
struct KernelDecl;
}  // namespace dsl

/// Which ops use a spec field: those that rotate and/or write a cache, optionally only the
/// ops of one family (src/families/<name>/).
struct FieldUse {
  bool rotates = false;          ///< only ops that rotate
  bool caches = false;           ///< only ops that write a cache
  const char* family = nullptr;  ///< only this family's ops
};

/// One field of a kernel spec: the single declaration that DSL lowering, range checks,
/// canonical text, the in-memory request key, CLI flags, SpecBuilder::set and the
/// documented key list derive from (src/schema/schema.cpp holds the table).
struct SpecField {
  const char* key;      ///< DSL key; the CLI flag is "--" + key with '_' -> '-'
  const char* values;   ///< accepted values, as shown in help and docs
  const char* help;     ///< one line: what the field means
  const char* default_note;  ///< when the default follows another field ("head_dim"); else null
  FieldUse ops;         ///< the ops that use the field
  /// Left out of the canonical text while it has its default, so fields added later do not
  /// change the text, hash and cache keys of the specs that existed before them.
  bool omit_default;
  /// Valid values, pairwise different in meaning (docs and the field-mutation test); an
  /// example may end with other `key=value` entries it needs to be valid on its own.
  std::vector<const char*> examples;
  /// Parses and range-checks a DSL value into the spec; throws Error(Spec) at the value.
  void (*lower)(const SpecField& f, const dsl::Value& v, KernelSpec& s);
  /// Appends the canonical text of the field's value.
  void (*text)(const KernelSpec& s, std::string& out);
  /// Range check of a built value; "" when fine, else the same message the DSL gives.
  std::string (*check)(const SpecField& f, const KernelSpec& s);
  /// Three-way comparison of the field's value (the request key).
  int (*compare)(const KernelSpec& a, const KernelSpec& b);
  /// A store-type key (cache_dtype, q_dtype, ...): the member it sets; null otherwise. Target
  /// checks, fp8 detection and the template's encoders walk these rows.
  StoreType KernelSpec::*store = nullptr;
  /// A family's row: the key it follows in canonical order (a shared row, or one of the
  /// family's rows before it), so moving a row into its family keeps the canonical text and
  /// cache keys of every spec; null: after every row before it (a new row goes last).
  const char* after = nullptr;

  bool used_by(Op op) const;
  /// "--head-dim".
  std::string flag() const;
  /// The default as canonical text, or default_note.
  std::string default_text() const;
};

/// Every spec field, in canonical order.
const std::vector<SpecField>& spec_fields();
/// The store-type keys a spec's op uses, with their values (schema order).
std::vector<std::pair<const SpecField*, StoreType>> store_types(const KernelSpec& spec);
/// The field for a key, or null.
const SpecField* find_spec_field(const std::string& key);
/// Lowers one field given as DSL text onto `spec` (value syntax and range only; the
/// cross-field rules run in validate()). Unknown keys get the DSL's message.
const SpecField& lower_field(const std::string& key, const std::string& value, KernelSpec& spec,
                             const std::string& source_name);
/// The documented key table (markdown), as docs/dsl.md holds it.
std::string spec_fields_markdown();

/// Lowers parsed entries onto a base spec (defaults, or values from a file), checking each
/// key and value, then the cross-field rules. Entries override the base; a key repeated
/// within one declaration is an error.
ParsedSpec lower(const dsl::KernelDecl& decl, const ParsedSpec& base);

}  // namespace ropegen
