// ropegen error type: one exception class with a kind and context fields.
#pragma once

#include <stdexcept>
#include <string>

namespace ropegen {

/// Which pipeline stage raised an error; Internal marks a broken invariant, not a user mistake.
enum class ErrorKind { Parse, Spec, Target, Codegen, Compile, Load, Launch, Cache, Io, Internal };

/// Name of an error kind as printed in messages ("parse", "spec", ...).
const char* to_string(ErrorKind kind);

/// A position in a source text (DSL file, one-line form or command-line flags).
struct SourceLoc {
  std::string file;       ///< file name or a pseudo name such as "<flags>"
  int line = 0;           ///< 1-based; 0 when unknown
  int col = 0;            ///< 1-based column of the first character
  int length = 1;         ///< characters to underline
  std::string line_text;  ///< the whole source line, for the caret display
  bool known() const { return line > 0; }
};

/// The one error type ropegen throws. what() is the full, printable message.
class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message);
  Error(ErrorKind kind, std::string message, SourceLoc loc);

  ErrorKind kind() const { return kind_; }
  /// The message without location or context decoration.
  const std::string& message() const { return message_; }
  const SourceLoc& loc() const { return loc_; }

  // Context fields, filled where they apply.
  std::string target;       ///< target id, e.g. "gfx1100"
  std::string options;      ///< compiler options used
  std::string log;          ///< compiler log
  std::string source_path;  ///< where the failing source was dumped

  /// Rebuilds what() after context fields were set.
  Error& finish();

 private:
  static std::string format(ErrorKind kind, const std::string& message, const SourceLoc& loc,
                            const Error* ctx);
  ErrorKind kind_;
  std::string message_;
  SourceLoc loc_;
  std::string what_;
 public:
  const char* what() const noexcept override { return what_.c_str(); }
};

}  // namespace ropegen
