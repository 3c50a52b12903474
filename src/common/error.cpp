#include "ropegen/error.hpp"

#include <sstream>

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

Error::Error(ErrorKind kind, std::string message) : Error(kind, std::move(message), SourceLoc{}) {}

Error::Error(ErrorKind kind, std::string message, SourceLoc loc)
    : std::runtime_error(message), kind_(kind), message_(std::move(message)), loc_(std::move(loc)) {
  what_ = format(kind_, message_, loc_, nullptr);
}

Error& Error::finish() {
  what_ = format(kind_, message_, loc_, this);
  return *this;
}

std::string Error::format(ErrorKind kind, const std::string& message, const SourceLoc& loc,
                          const Error* ctx) {
  std::ostringstream os;
  if (loc.known()) {
    os << loc.file << ':' << loc.line << ':' << loc.col << ": error: " << message;
    if (!loc.line_text.empty()) {
      os << "\n  " << loc.line_text << "\n  ";
      // Keep tabs so the caret lines up under the same characters.
      for (int i = 1; i < loc.col && i - 1 < static_cast<int>(loc.line_text.size()); ++i)
        os << (loc.line_text[i - 1] == '\t' ? '\t' : ' ');
      os << '^';
      for (int i = 1; i < loc.length; ++i) os << '~';
    }
  } else {
    os << "error";
    if (kind == ErrorKind::Internal) os << " (internal)";
    os << ": " << message;
  }
  if (ctx) {
    if (!ctx->target.empty()) os << "\n  target: " << ctx->target;
    if (!ctx->options.empty()) os << "\n  options: " << ctx->options;
    if (!ctx->source_path.empty()) os << "\n  source: " << ctx->source_path;
    if (!ctx->log.empty()) os << "\n  compiler log:\n" << ctx->log;
  }
  return os.str();
}

}  // namespace ropegen
