// The kernel-description language: lexing and parsing into a small syntax tree.
// Meaning (which keys exist, valid values, ranges) is checked by spec lowering.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ropegen/error.hpp"

namespace ropegen::dsl {

/// A source text with a name, kept so diagnostics can quote any line.
class Source {
 public:
  Source(std::string name, std::string text);
  const std::string& name() const { return name_; }
  const std::string& text() const { return *text_; }
  /// Location of a byte offset; it shares the text (no copy of the line).
  SourceLoc loc(size_t offset, size_t length) const;

 private:
  std::string name_;
  std::shared_ptr<const std::string> text_;
  std::vector<size_t> line_starts_;
};

/// A value: `bf16`, `128`, `5e5`, a call `paged(block = 16, order = nhd)` or a list
/// `[1.0, 1.02, 1.5]`.
struct Value {
  enum class Kind { Ident, Number, Call, List };
  Kind kind = Kind::Ident;
  std::string text;  ///< identifier / call name, or the number's spelling
  double number = 0; ///< for Number
  bool is_integer = false;
  struct Arg;
  std::vector<Arg> args;  ///< for Call
  std::vector<Value> items;  ///< for List
  SourceLoc loc;          ///< the whole value (for calls: the name)
};

/// A named argument inside a call.
struct Value::Arg {
  std::string name;
  SourceLoc name_loc;
  Value value;
};

/// One `key = value` line.
struct Entry {
  std::string key;
  SourceLoc key_loc;
  Value value;
};

/// One `kernel NAME { ... }` block, or the body of a one-line form.
struct KernelDecl {
  std::string name;
  SourceLoc name_loc;
  std::vector<Entry> entries;
};

/// Deepest nesting of calls and lists a value may have; deeper input is a parse error
/// (recursion depth, so stack use, stays bounded).
constexpr int kMaxNesting = 64;

/// Parses a file holding one or more kernel blocks. Throws Error(Parse) with a location.
std::vector<KernelDecl> parse_file(const Source& src);

/// Parses a bare entry list ("head_dim=128 dtype=bf16"), the one-line and flag form.
KernelDecl parse_entries(const Source& src);

}  // namespace ropegen::dsl
