// Helpers shared by the spec schema (schema.cpp) and lowering (spec.cpp); private.
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "dsl/dsl.hpp"
#include "ropegen/error.hpp"
#include "ropegen/spec.hpp"
#include "fields.hpp"

namespace ropegen::spec_detail {

/// Shortest decimal text that reads back as the same double.
std::string format_double(double d);
/// "; did you mean 'x'?" when one candidate is close, else "".
std::string suggestion(const std::string& word, const std::vector<std::string>& candidates);
/// "a, b, c".
std::string join(const std::vector<std::string>& v);
[[noreturn]] void fail(const SourceLoc& loc, const std::string& msg);
/// How a DSL value reads in a message: 'x', 'f(...)' or "a list".
std::string describe_value(const dsl::Value& v);

struct IntRange {
  long long lo, hi;
  std::string check(const std::string& what, long long v) const {
    if (v >= lo && v <= hi) return "";
    return what + " = " + std::to_string(v) + " is out of range; expected " + std::to_string(lo) + " to " +
           std::to_string(hi);
  }
};

/// Walks the named arguments of a call, rejecting unknown and repeated ones.
template <class Fn>
void for_args(const dsl::Value& call, const std::vector<std::string>& allowed, Fn&& fn) {
  std::map<std::string, SourceLoc> seen;
  for (const auto& a : call.args) {
    if (std::find(allowed.begin(), allowed.end(), a.name) == allowed.end()) {
      fail(a.name_loc, "unknown argument '" + a.name + "' for " + call.text + "(...)" +
                           suggestion(a.name, allowed) + " (valid: " + join(allowed) + ")");
    }
    auto it = seen.find(a.name);
    if (it != seen.end()) {
      fail(a.name_loc, "argument '" + a.name + "' given twice (first at column " + std::to_string(it->second.col) +
                           ")");
    }
    seen[a.name] = a.name_loc;
    fn(a);
  }
}

/// A call value (`name(...)`), as opposed to a bare word or number.
inline bool is_call_named(const dsl::Value& v, const char* name) {
  return (v.kind == dsl::Value::Kind::Ident || v.kind == dsl::Value::Kind::Call) && v.text == name;
}

/// An integer value in a range, or an error at the value naming `what`.
long long integer(const dsl::Value& v, const std::string& what, const IntRange& r);

template <class T>
int cmp(const T& a, const T& b) {
  return a < b ? -1 : b < a ? 1 : 0;
}

/// An integer member with a range.
template <int KernelSpec::*M, long long Lo, long long Hi>
SpecField int_field(const char* key, const char* values, const char* help, const char* note, FieldUse ops,
                    std::vector<const char*> examples, bool omit_default = false) {
  return SpecField{key,
                   values,
                   help,
                   note,
                   ops,
                   omit_default,
                   std::move(examples),
                   [](const SpecField& f, const dsl::Value& v, KernelSpec& s) {
                     s.*M = static_cast<int>(integer(v, f.key, IntRange{Lo, Hi}));
                   },
                   [](const KernelSpec& s, std::string& out) { out += std::to_string(s.*M); },
                   [](const SpecField& f, const KernelSpec& s) { return IntRange{Lo, Hi}.check(f.key, s.*M); },
                   [](const KernelSpec& a, const KernelSpec& b) { return cmp(a.*M, b.*M); }};
}

}  // namespace ropegen::spec_detail
