#include "env.hpp"

#include <cctype>
#include <cstdio>
#include <mutex>
#include <set>

#include "printable.hpp"

namespace ropegen::detail {

bool parse_decimal(const std::string& text, uint64_t max, uint64_t& out) {
  if (text.empty()) return false;
  uint64_t n = 0;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (d > max || n > (max - d) / 10) return false;
    n = n * 10 + d;
  }
  out = n;
  return true;
}

bool parse_byte_size(const std::string& text, uint64_t& out) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  uint64_t n = 0;
  if (!parse_decimal(text.substr(0, i), UINT64_MAX, n)) return false;
  std::string unit = text.substr(i);
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (unit == "B" || unit.empty()) {
    out = n;
    return true;
  }
  int shift = 0;
  if (unit == "K" || unit == "KB" || unit == "KIB") shift = 10;
  else if (unit == "M" || unit == "MB" || unit == "MIB") shift = 20;
  else if (unit == "G" || unit == "GB" || unit == "GIB") shift = 30;
  else if (unit == "T" || unit == "TB" || unit == "TIB") shift = 40;
  else return false;
  if (n > (UINT64_MAX >> shift)) return false;
  out = n << shift;
  return true;
}

void warn_env_once(const char* name, const std::string& value, const std::string& problem) {
  static std::mutex mu;
  static std::set<std::string> warned;
  std::lock_guard<std::mutex> lock(mu);
  if (!warned.insert(name).second) return;
  std::fprintf(stderr, "ropegen: warning: %s=%s: %s\n", name, printable(value).c_str(), printable(problem).c_str());
}

namespace {
thread_local const StageOptions* t_stage = nullptr;
}  // namespace

const StageOptions* stage_options() { return t_stage; }

StageScope::StageScope(const StageOptions& options) : previous_(t_stage) { t_stage = &options; }
StageScope::~StageScope() { t_stage = previous_; }

}  // namespace ropegen::detail
