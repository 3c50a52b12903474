#include "ropegen/error.hpp"

#include <sstream>

#include "printable.hpp"

namespace ropegen {

const char* to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Parse: return "parse";
    case ErrorKind::Spec: return "spec";
    case ErrorKind::Target: return "target";
    case ErrorKind::Codegen: return "codegen";
    case ErrorKind::Compile: return "compile";
    case ErrorKind::Load: return "load";
    case ErrorKind::Launch: return "launch";
    case ErrorKind::Cache: return "cache";
    case ErrorKind::Io: return "io";
    case ErrorKind::Internal: return "internal";
  }
  return "unknown";
}

const char* to_string(Fault fault) {
  switch (fault) {
    case Fault::User: return "user";
    case Fault::Environment: return "environment";
    case Fault::Internal: return "internal";
  }
  return "unknown";
}

Fault fault_of(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Parse:
    case ErrorKind::Spec:
    case ErrorKind::Target:
    case ErrorKind::Launch: return Fault::User;
    case ErrorKind::Compile:
    case ErrorKind::Load:
    case ErrorKind::Cache:
    case ErrorKind::Io: return Fault::Environment;
    case ErrorKind::Codegen:
    case ErrorKind::Internal: return Fault::Internal;
  }
  return Fault::Internal;
}

std::string SourceLoc::line_text() const {
  if (!text || line_begin > line_end || line_end > text->size()) return "";
  return text->substr(line_begin, line_end - line_begin);
}

namespace {

/// One byte as printable() shows it.
std::string shown(char c, char keep) {
  const auto u = static_cast<unsigned char>(c);
  if (c == keep || (u >= 0x20 && u != 0x7f)) return std::string(1, c);
  static const char hex[] = "0123456789abcdef";
  return std::string("\\x") + hex[u >> 4] + hex[u & 15];
}

}  // namespace

std::string detail::printable(const std::string& text, char keep) {
  std::string out;
  for (char c : text) out += shown(c, keep);
  return out;
}

namespace {

using detail::printable;

std::string format(ErrorKind kind, const std::string& message, const SourceLoc& loc, const ErrorContext& ctx) {
  std::ostringstream os;
  if (loc.known()) {
    os << printable(loc.file, ' ') << ':' << loc.line << ':' << loc.col << ": error: " << printable(message, '\n');
    const std::string line_text = loc.line_text();
    if (!line_text.empty()) {
      os << "\n  " << printable(line_text, '\t') << "\n  ";
      // Keep tabs so the caret lines up under the same characters; an escaped byte is 4 wide.
      const size_t n = line_text.size();
      for (size_t i = 0; i + 1 < static_cast<size_t>(loc.col) && i < n; ++i)
        os << (line_text[i] == '\t' ? "\t" : std::string(shown(line_text[i], '\t').size(), ' '));
      size_t width = 0;
      for (size_t i = static_cast<size_t>(loc.col) - 1; i + 1 < static_cast<size_t>(loc.col + loc.length); ++i)
        width += i < n ? shown(line_text[i], '\t').size() : 1;
      os << '^' << std::string(width > 1 ? width - 1 : 0, '~');
    }
  } else {
    os << "error";
    if (fault_of(kind) == Fault::Internal) os << " (internal)";
    os << ": " << printable(message, '\n');
  }
  for (const auto& kv : ctx) {
    if (kv.second.empty()) continue;
    // A log is multi-line: it starts on a line of its own.
    if (kv.second.find('\n') != std::string::npos) os << "\n  " << kv.first << ":\n" << kv.second;
    else os << "\n  " << kv.first << ": " << kv.second;
  }
  return os.str();
}

}  // namespace

Error::Error(ErrorKind kind, std::string message, SourceLoc loc, ErrorContext context)
    : std::runtime_error(message),
      kind_(kind),
      message_(std::move(message)),
      loc_(std::move(loc)),
      context_(std::move(context)),
      what_(format(kind_, message_, loc_, context_)) {}

const std::string& Error::context(const std::string& key) const {
  static const std::string none;
  for (const auto& kv : context_)
    if (kv.first == key) return kv.second;
  return none;
}

}  // namespace ropegen
