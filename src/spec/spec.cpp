// Lowering DSL declarations to KernelSpec: key and value checks, defaults, cross-field
// rules, canonical text and hash.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>

#include "ropegen/spec.hpp"

namespace ropegen {

const char* to_string(Op v) {
  switch (v) {
    case Op::Rope: return "rope";
    case Op::KvAppend: return "kv_append";
    case Op::RopeKvAppend: return "rope_kv_append";
  }
  return "?";
}
const char* to_string(Style v) { return v == Style::Neox ? "neox" : "gptj"; }
const char* to_string(DType v) {
  switch (v) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::BF16: return "bf16";
  }
  return "?";
}
const char* to_string(IndexType v) { return v == IndexType::I32 ? "i32" : "i64"; }
const char* to_string(CacheOrder v) { return v == CacheOrder::Hnd ? "hnd" : "nhd"; }
int dtype_bytes(DType t) { return t == DType::F32 ? 4 : 2; }

uint64_t fnv1a64(const std::string& bytes) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a 64 offset basis
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

/// Shortest decimal text that reads back as the same double.
static std::string format_double(double d) {
  char buf[64];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  return buf;
}

std::string KernelSpec::canonical() const {
  std::ostringstream os;
  os << "op=" << to_string(op) << " head_dim=" << head_dim;
  if (uses_rope()) os << " rotary_dim=" << rotary_dim << " style=" << to_string(style);
  if (uses_q()) os << " q_heads=" << q_heads;
  os << " kv_heads=" << kv_heads << " dtype=" << to_string(dtype) << " index=" << to_string(index);
  if (uses_rope()) {
    if (cos_sin.source == CosSinSource::Table) {
      os << " cos_sin=table";
    } else {
      os << " cos_sin=compute(theta=" << format_double(cos_sin.theta) << ",scaling=";
      if (cos_sin.scaling == Scaling::None) os << "none";
      else os << "linear(factor=" << format_double(cos_sin.factor) << ")";
      os << ")";
    }
  }
  if (uses_cache()) {
    if (cache.kind == CacheKind::Contiguous) os << " cache=contiguous(order=" << to_string(cache.order) << ")";
    else os << " cache=paged(block=" << cache.block << ",order=" << to_string(cache.order) << ")";
  }
  os << " wave=";
  if (wave) os << wave; else os << "auto";
  return os.str();
}

std::string KernelSpec::hash() const { return hex64(fnv1a64(canonical())); }

const std::vector<std::string>& spec_keys() {
  static const std::vector<std::string> keys = {"op", "head_dim", "rotary_dim", "style", "q_heads",
                                                "kv_heads", "dtype", "index", "cos_sin", "cache",
                                                "wave"};
  return keys;
}

namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

/// " (did you mean 'x'?)" when one candidate is close, else "".
std::string suggestion(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::string::npos;
  for (const auto& c : candidates) {
    size_t d = edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  size_t limit = std::max<size_t>(2, word.size() / 3);
  if (best_d <= limit) return "; did you mean '" + best + "'?";
  return "";
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

[[noreturn]] void fail(const SourceLoc& loc, const std::string& msg) {
  throw Error(ErrorKind::Spec, msg, loc);
}

std::string describe_value(const dsl::Value& v) {
  if (v.kind == dsl::Value::Kind::Call) return "'" + v.text + "(...)'";
  return "'" + v.text + "'";
}

/// Picks one of the named words; errors list the valid ones.
template <typename E>
E pick(const dsl::Value& v, const std::string& what,
       const std::vector<std::pair<std::string, E>>& options) {
  std::vector<std::string> names;
  for (const auto& o : options) names.push_back(o.first);
  if (v.kind == dsl::Value::Kind::Ident) {
    for (const auto& o : options)
      if (o.first == v.text) return o.second;
  }
  std::string hint = v.kind == dsl::Value::Kind::Ident ? suggestion(v.text, names) : "";
  if (!hint.empty()) hint = " (" + hint.substr(2) + ")";
  fail(v.loc, "invalid value " + describe_value(v) + " for " + what + "; valid values: " +
                  join(names) + hint);
}

long long integer(const dsl::Value& v, const std::string& what, long long lo, long long hi) {
  if (v.kind != dsl::Value::Kind::Number || !v.is_integer)
    fail(v.loc, "expected an integer for " + what + ", found " + describe_value(v));
  if (v.number < static_cast<double>(lo) || v.number > static_cast<double>(hi))
    fail(v.loc, what + " = " + v.text + " is out of range; expected " + std::to_string(lo) +
                    " to " + std::to_string(hi));
  return static_cast<long long>(v.number);
}

double real(const dsl::Value& v, const std::string& what, double lo, double hi, bool lo_open) {
  if (v.kind != dsl::Value::Kind::Number)
    fail(v.loc, "expected a number for " + what + ", found " + describe_value(v));
  bool below = lo_open ? v.number <= lo : v.number < lo;
  if (below || v.number > hi) {
    fail(v.loc, what + " = " + v.text + " is out of range; expected " +
                    (lo_open ? "more than " : "at least ") + format_double(lo) + " and at most " +
                    format_double(hi));
  }
  return v.number;
}

/// Walks the named arguments of a call, rejecting unknown and repeated ones.
void for_args(const dsl::Value& call, const std::vector<std::string>& allowed,
              const std::function<void(const dsl::Value::Arg&)>& fn) {
  std::map<std::string, SourceLoc> seen;
  for (const auto& a : call.args) {
    if (std::find(allowed.begin(), allowed.end(), a.name) == allowed.end()) {
      fail(a.name_loc, "unknown argument '" + a.name + "' for " + call.text + "(...)" +
                           suggestion(a.name, allowed) + " (valid: " + join(allowed) + ")");
    }
    auto it = seen.find(a.name);
    if (it != seen.end()) {
      fail(a.name_loc, "argument '" + a.name + "' given twice (first at column " +
                           std::to_string(it->second.col) + ")");
    }
    seen[a.name] = a.name_loc;
    fn(a);
  }
}

CosSin lower_cos_sin(const dsl::Value& v) {
  CosSin cs;
  if (v.kind == dsl::Value::Kind::Ident && v.text == "table") return cs;
  if (v.text != "compute" || v.kind == dsl::Value::Kind::Number) {
    fail(v.loc, "invalid value " + describe_value(v) +
                    " for cos_sin; valid values: table, compute(theta = B, scaling = none | "
                    "linear(factor = F))");
  }
  cs.source = CosSinSource::Compute;
  for_args(v, {"theta", "scaling"}, [&](const dsl::Value::Arg& a) {
    if (a.name == "theta") {
      cs.theta = real(a.value, "theta", 1.0, 1e12, true);
    } else {
      const dsl::Value& s = a.value;
      if (s.kind == dsl::Value::Kind::Ident && s.text == "none") {
        cs.scaling = Scaling::None;
      } else if (s.text == "linear" && s.kind != dsl::Value::Kind::Number) {
        cs.scaling = Scaling::Linear;
        bool has_factor = false;
        for_args(s, {"factor"}, [&](const dsl::Value::Arg& f) {
          cs.factor = real(f.value, "factor", 0.0, 1e6, true);
          has_factor = true;
        });
        if (!has_factor) fail(s.loc, "linear(...) needs factor = F");
      } else {
        fail(s.loc, "invalid scaling " + describe_value(s) + "; valid: none, linear(factor = F)");
      }
    }
  });
  return cs;
}

CacheLayout lower_cache(const dsl::Value& v) {
  CacheLayout c;
  std::vector<std::pair<std::string, CacheOrder>> orders = {{"hnd", CacheOrder::Hnd},
                                                             {"nhd", CacheOrder::Nhd}};
  if (v.kind != dsl::Value::Kind::Number && v.text == "contiguous") {
    c.kind = CacheKind::Contiguous;
    c.order = CacheOrder::Hnd;
    for_args(v, {"order"}, [&](const dsl::Value::Arg& a) { c.order = pick(a.value, "order", orders); });
    return c;
  }
  if (v.kind != dsl::Value::Kind::Number && v.text == "paged") {
    c.kind = CacheKind::Paged;
    for_args(v, {"block", "order"}, [&](const dsl::Value::Arg& a) {
      if (a.name == "block") c.block = static_cast<int>(integer(a.value, "block", 1, 4096));
      else c.order = pick(a.value, "order", orders);
    });
    return c;
  }
  std::string hint = v.kind == dsl::Value::Kind::Number ? "" : suggestion(v.text, {"contiguous", "paged"});
  fail(v.loc, "invalid value " + describe_value(v) +
                  " for cache; valid values: contiguous(order = hnd | nhd), paged(block = B, "
                  "order = nhd | hnd)" + hint);
}

void lower_entry(const dsl::Entry& e, KernelSpec& s) {
  const dsl::Value& v = e.value;
  const std::string& k = e.key;
  if (k == "op") {
    s.op = pick<Op>(v, "op", {{"rope", Op::Rope}, {"kv_append", Op::KvAppend},
                              {"rope_kv_append", Op::RopeKvAppend}});
  } else if (k == "head_dim") {
    s.head_dim = static_cast<int>(integer(v, "head_dim", 2, 1024));
  } else if (k == "rotary_dim") {
    s.rotary_dim = static_cast<int>(integer(v, "rotary_dim", 2, 1024));
  } else if (k == "style") {
    s.style = pick<Style>(v, "style", {{"neox", Style::Neox}, {"gptj", Style::Gptj}});
  } else if (k == "q_heads") {
    s.q_heads = static_cast<int>(integer(v, "q_heads", 1, 1024));
  } else if (k == "kv_heads") {
    s.kv_heads = static_cast<int>(integer(v, "kv_heads", 1, 1024));
  } else if (k == "dtype") {
    s.dtype = pick<DType>(v, "dtype", {{"f32", DType::F32}, {"f16", DType::F16}, {"bf16", DType::BF16}});
  } else if (k == "index") {
    s.index = pick<IndexType>(v, "index", {{"i32", IndexType::I32}, {"i64", IndexType::I64}});
  } else if (k == "cos_sin") {
    s.cos_sin = lower_cos_sin(v);
  } else if (k == "cache") {
    s.cache = lower_cache(v);
  } else if (k == "wave") {
    if (v.kind == dsl::Value::Kind::Ident && v.text == "auto") {
      s.wave = 0;
    } else {
      if (v.kind != dsl::Value::Kind::Number)
        fail(v.loc, "invalid value " + describe_value(v) + " for wave; valid values: 32, 64, auto");
      long long w = integer(v, "wave", 1, 1024);
      if (w != 32 && w != 64) fail(v.loc, "invalid value '" + v.text + "' for wave; valid values: 32, 64, auto");
      s.wave = static_cast<int>(w);
    }
  } else {
    fail(e.key_loc, "unknown key '" + k + "'" + suggestion(k, spec_keys()) +
                        " (valid keys: " + join(spec_keys()) + ")");
  }
}

}  // namespace

void validate(const ParsedSpec& p) {
  const KernelSpec& s = p.spec;
  auto where = [&](const char* key) -> SourceLoc {
    auto it = p.origin.keys.find(key);
    return it != p.origin.keys.end() ? it->second : p.origin.kernel;
  };
  auto is_set = [&](const char* key) { return p.origin.keys.count(key) > 0; };
  if (s.head_dim % 2 != 0)
    fail(where("head_dim"), "head_dim = " + std::to_string(s.head_dim) + " must be even");
  if (s.head_dim < 2 || s.head_dim > 1024)
    fail(where("head_dim"), "head_dim = " + std::to_string(s.head_dim) + " is out of range; expected 2 to 1024");
  if (s.uses_rope()) {
    if (s.rotary_dim % 2 != 0)
      fail(where("rotary_dim"), "rotary_dim = " + std::to_string(s.rotary_dim) + " must be even");
    if (s.rotary_dim < 2 || s.rotary_dim > s.head_dim)
      fail(where("rotary_dim"), "rotary_dim = " + std::to_string(s.rotary_dim) +
                                    " must be at least 2 and at most head_dim = " +
                                    std::to_string(s.head_dim));
  }
  if (s.q_heads < 1 || s.q_heads > 1024 || s.kv_heads < 1 || s.kv_heads > 1024)
    fail(where(s.kv_heads < 1 || s.kv_heads > 1024 ? "kv_heads" : "q_heads"),
         "q_heads and kv_heads must be between 1 and 1024");
  if (s.uses_q() && s.q_heads % s.kv_heads != 0) {
    fail(where(is_set("kv_heads") ? "kv_heads" : "q_heads"),
         "q_heads = " + std::to_string(s.q_heads) + " is not a multiple of kv_heads = " +
             std::to_string(s.kv_heads) + " (GQA/MQA need kv_heads to divide q_heads)");
  }
  if (s.cache.block < 1 || s.cache.block > 4096)
    fail(where("cache"), "cache block must be between 1 and 4096");
  if (s.wave != 0 && s.wave != 32 && s.wave != 64) fail(where("wave"), "wave must be 32, 64 or auto");
  // Keys that the op ignores are mistakes worth reporting, not silently dropped.
  const char* op_name = to_string(s.op);
  auto unused = [&](const char* key) {
    fail(where(key), std::string("key '") + key + "' has no effect for op = " + op_name);
  };
  if (!s.uses_rope()) {
    for (const char* k : {"rotary_dim", "style", "cos_sin"})
      if (is_set(k)) unused(k);
  }
  if (!s.uses_q() && is_set("q_heads")) unused("q_heads");
  if (!s.uses_cache() && is_set("cache")) unused("cache");
}

ParsedSpec lower(const dsl::KernelDecl& decl, const ParsedSpec& base) {
  ParsedSpec out = base;
  if (!decl.name.empty()) {
    out.spec.name = decl.name;
  }
  out.origin.kernel = decl.name_loc;
  std::map<std::string, SourceLoc> here;
  for (const auto& e : decl.entries) {
    auto it = here.find(e.key);
    if (it != here.end()) {
      fail(e.key_loc, "duplicate key '" + e.key + "' (first set at line " +
                          std::to_string(it->second.line) + ", column " +
                          std::to_string(it->second.col) + ")");
    }
    here[e.key] = e.key_loc;
    lower_entry(e, out.spec);
    out.origin.keys[e.key] = e.value.loc;
  }
  // rotary_dim follows head_dim unless set explicitly.
  if (!out.origin.keys.count("rotary_dim")) out.spec.rotary_dim = out.spec.head_dim;
  validate(out);
  return out;
}

void check_target(const ParsedSpec& p, const Target& target) {
  int wave = p.spec.wave_for(target);
  if (!target.supports_wave(wave)) {
    std::string valid;
    for (int w : target.waves) valid += (valid.empty() ? "" : ", ") + std::to_string(w);
    auto it = p.origin.keys.find("wave");
    SourceLoc loc = it != p.origin.keys.end() ? it->second : p.origin.kernel;
    fail(loc, "wave = " + std::to_string(wave) + " is not supported by target " + target.id() +
                  " (" + target.family + "); supported: " + valid);
  }
}

static ParsedSpec defaults() {
  ParsedSpec p;
  return p;
}

std::vector<ParsedSpec> parse_spec_file(const std::string& name, const std::string& text) {
  dsl::Source src(name, text);
  std::vector<dsl::KernelDecl> decls = dsl::parse_file(src);
  std::vector<ParsedSpec> out;
  std::map<std::string, SourceLoc> names;
  for (const auto& d : decls) {
    auto it = names.find(d.name);
    if (it != names.end()) {
      fail(d.name_loc, "kernel '" + d.name + "' is defined twice (first at line " +
                           std::to_string(it->second.line) + ")");
    }
    names[d.name] = d.name_loc;
    out.push_back(lower(d, defaults()));
  }
  return out;
}

std::vector<ParsedSpec> load_spec_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::Io, "cannot open spec file '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(ErrorKind::Io, "cannot read spec file '" + path + "'");
  return parse_spec_file(path, ss.str());
}

ParsedSpec parse_spec_line(const std::string& text, const std::string& source_name) {
  return parse_spec_line(text, defaults(), source_name);
}

ParsedSpec parse_spec_line(const std::string& text, const ParsedSpec& base,
                           const std::string& source_name) {
  dsl::Source src(source_name, text);
  dsl::KernelDecl decl = dsl::parse_entries(src);
  decl.name_loc = base.origin.kernel.known() ? base.origin.kernel : src.loc(0, text.empty() ? 1 : text.size());
  return lower(decl, base);
}

}  // namespace ropegen
