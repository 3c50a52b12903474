// ropegen error type: one exception class with a kind and context fields.
#pragma once

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace ropegen {

/// What went wrong, by stage. fault() says whose fault it is. Codegen: no source could be
/// generated for a valid spec (a template or kernel family is missing), always ropegen's
/// own fault (the C API reports it as ROPEGEN_ERROR_INTERNAL).
enum class ErrorKind { Parse, Spec, Target, Codegen, Compile, Load, Launch, Cache, Io, Internal };

/// Whose fault an error is: the caller's input (spec text, flags, arguments, an
/// unsupported target), the machine (a missing compiler or driver, a full disk, a damaged
/// cache file), or ropegen's own (a broken invariant: report it).
enum class Fault { User, Environment, Internal };

/// Name of an error kind as printed in messages ("parse", "spec", ...).
const char* to_string(ErrorKind kind);
/// "user", "environment", "internal".
const char* to_string(Fault fault);
/// The fault of each kind.
Fault fault_of(ErrorKind kind);

/// A position in a source text (DSL file, one-line form or command-line flags).
struct SourceLoc {
  std::string file;       ///< file name or a pseudo name such as "<flags>"
  int line = 0;           ///< 1-based; 0 when unknown
  int col = 0;            ///< 1-based column of the first character
  int length = 1;         ///< characters to underline
  /// The source text, shared by every location in it (never copied per location), and
  /// the byte range of this location's line in it.
  std::shared_ptr<const std::string> text;
  size_t line_begin = 0, line_end = 0;
  /// The whole source line, for the caret display; "" when there is no text.
  std::string line_text() const;
  bool known() const { return line > 0; }
};

/// Context of an error, in the order printed: ("target", "gfx1100"), ("options", ...),
/// ("source", path of the dumped source), ("compiler log", ...).
using ErrorContext = std::vector<std::pair<std::string, std::string>>;

/// The one error type ropegen throws; complete and immutable once constructed. what() is
/// the full, printable message.
class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message, SourceLoc loc = {}, ErrorContext context = {});
  Error(ErrorKind kind, std::string message, ErrorContext context)
      : Error(kind, std::move(message), SourceLoc{}, std::move(context)) {}

  ErrorKind kind() const { return kind_; }
  Fault fault() const { return fault_of(kind_); }
  /// The message without location or context decoration.
  const std::string& message() const { return message_; }
  const SourceLoc& loc() const { return loc_; }
  const ErrorContext& context() const { return context_; }
  /// A context value by key ("target", "options", "source", "compiler log"); "" if absent.
  const std::string& context(const std::string& key) const;
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  ErrorKind kind_;
  std::string message_;
  SourceLoc loc_;
  ErrorContext context_;
  std::string what_;
};

}  // namespace ropegen
