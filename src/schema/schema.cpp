// The spec schema: every field of KernelSpec declared once, with its DSL lowering, range
// check, canonical text and comparison. Everything else (lowering loop, canonical(), the
// request key, CLI flags, SpecBuilder::set, docs) walks this table.
//
// To add a field: a member in KernelSpec (spec.hpp), one row in spec_fields() below (or in
// the family's spec_fields() when only one family reads it), its use in the family's
// template binding and in its reference (src/families/<name>/). The field-mutation
// test (tests/unit/test_schema.cpp) then checks that the new field reaches the key and hash.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <tuple>
#include <type_traits>

#include "detail.hpp"
#include "dsl/dsl.hpp"
#include "families/family.hpp"
#include "ropegen/spec.hpp"
#include "fields.hpp"
#include "rows.hpp"

namespace ropegen {
namespace spec_detail {

std::string format_double(double d) {
  char buf[64];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  return buf;
}

/// Edits (insert, delete, substitute, swap two neighbours) from a to b: "lsit" is one from
/// "list", as typed.
static size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> before(b.size() + 1), prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) cur[j] = std::min(cur[j], before[j - 2] + 1);
    }
    std::swap(before, prev);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

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
  // Close relative to the word's length, and never between two type widths: "fp8" is not
  // a typo of "f32", while "bf17" (no such width) is one of "bf16".
  size_t limit = std::max<size_t>(2, word.size() / 3);
  if (best_d > limit || 2 * best_d >= word.size()) return "";
  auto width = [](const std::string& w) -> long {
    const size_t digits = w.find_first_of("0123456789");
    if (digits == 0 || digits == std::string::npos || w.find_first_not_of("0123456789", digits) != std::string::npos)
      return 0;
    const long n = std::atol(w.c_str() + digits);
    return n > 0 && (n & (n - 1)) == 0 ? n : 0;  // a power of two: a width someone means
  };
  if (width(word) && width(best) && width(word) != width(best)) return "";
  return "; did you mean '" + best + "'?";
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

void fail(const SourceLoc& loc, const std::string& msg) { throw Error(ErrorKind::Spec, msg, loc); }

std::string describe_value(const dsl::Value& v) {
  if (v.kind == dsl::Value::Kind::Call) return "'" + v.text + "(...)'";
  if (v.kind == dsl::Value::Kind::List) return "a list";
  return "'" + v.text + "'";
}

long long integer(const dsl::Value& v, const std::string& what, const IntRange& r) {
  if (v.kind != dsl::Value::Kind::Number || !v.is_integer)
    fail(v.loc, "expected an integer for " + what + ", found " + describe_value(v));
  if (v.number < static_cast<double>(r.lo) || v.number > static_cast<double>(r.hi))
    fail(v.loc, what + " = " + v.text + " is out of range; expected " + std::to_string(r.lo) + " to " +
                    std::to_string(r.hi));
  return static_cast<long long>(v.number);
}


}  // namespace spec_detail

using namespace spec_detail;

namespace {

// ---- the composite fields ----

const RealRange kTheta{1.0, 1e12, true};
const IntRange kBlock{1, 4096};

const char* const kCosSinValues =
    "table | table(per_head = true) | compute(theta = B, scaling = none | linear(...) | ntk(...) | ntk_alpha(...) | yarn(...) | "
    "deepseek_yarn(...) | llama3(...) | dynamic(...) | longrope(...))";
const char* const kCacheValues = "paged(block = 1..4096, order = nhd | hnd | strided | amd | amd_shuffle) | contiguous(order = hnd | nhd)";

std::string family_syntax(const ScalingFamily& f) {
  std::string out = std::string(f.name) + "(";
  bool first = true;
  for (const ScalingParam& p : f.params) {
    out += (first ? "" : ", ") + std::string(p.name);
    if (p.list()) out += " = [...]";
    if (p.kind == ScalingParam::Default)
      out += " = " + (p.boolean()          ? std::string(p.def ? "true" : "false")
                      : !p.words.empty()   ? std::string(p.words[static_cast<size_t>(p.def)])
                                           : format_double(p.def));
    if (p.kind == ScalingParam::Optional) out += "?";
    first = false;
  }
  return out + ")";
}

std::string families_list() {
  std::string out;
  for (const ScalingFamily& f : scaling_families())
    out += (out.empty() ? "" : ", ") + (f.id == Scaling::None ? std::string("none") : family_syntax(f));
  return out;
}

/// The range message of a parameter, or "".
std::string check_param(const ScalingParam& p, double v, const std::string& spelled) {
  if (p.boolean()) return v == 0 || v == 1 ? "" : std::string(p.name) + " must be true or false";
  return RealRange{p.lo, p.hi, p.lo_open}.check(p.name, v, spelled);
}

void lower_cos_sin(const SpecField&, const dsl::Value& v, KernelSpec& s) {
  CosSin cs;
  if (v.kind == dsl::Value::Kind::Ident && v.text == "table") {
    s.cos_sin = cs;
    return;
  }
  if (is_call_named(v, "table")) {
    for_args(v, {"per_head"}, [&](const dsl::Value::Arg& a) {
      const dsl::Value& b = a.value;
      if (b.kind != dsl::Value::Kind::Ident || (b.text != "true" && b.text != "false"))
        fail(b.loc, "expected true or false for per_head, found " + describe_value(b));
      cs.per_head = b.text == "true";
    });
    s.cos_sin = cs;
    return;
  }
  if (!is_call_named(v, "compute"))
    fail(v.loc, "invalid value " + describe_value(v) + " for cos_sin; valid values: table, table(per_head = true), "
                                                       "compute(theta = B, scaling = S)");
  cs.source = CosSinSource::Compute;
  for_args(v, {"theta", "scaling"}, [&](const dsl::Value::Arg& a) {
    if (a.name == "theta") {
      cs.theta = real(a.value, "theta", kTheta);
      return;
    }
    const dsl::Value& sc = a.value;
    const ScalingFamily* fam = nullptr;
    std::vector<std::string> names;
    for (const ScalingFamily& f : scaling_families()) {
      names.push_back(f.name);
      const bool bare_ok = f.params.empty() && sc.kind == dsl::Value::Kind::Ident;
      if (sc.text == f.name && (bare_ok || sc.kind == dsl::Value::Kind::Call)) fam = &f;
    }
    for (const ScalingFamily& f : scaling_families())
      if (!fam && sc.text == f.name && sc.kind == dsl::Value::Kind::Ident)
        fail(sc.loc, "scaling " + std::string(f.name) + " needs its parameters: " + family_syntax(f));
    if (!fam) {
      std::string hint = sc.kind == dsl::Value::Kind::Number ? "" : suggestion(sc.text, names);
      fail(sc.loc, "invalid scaling " + describe_value(sc) + "; valid: " + families_list() + hint);
    }
    cs.scaling = fam->id;
    std::vector<std::string> allowed;
    for (const ScalingParam& p : fam->params) allowed.push_back(p.name);
    std::map<std::string, double> given;
    for_args(sc, allowed, [&](const dsl::Value::Arg& arg) {
      const ScalingParam& p = *std::find_if(fam->params.begin(), fam->params.end(),
                                            [&](const ScalingParam& q) { return arg.name == q.name; });
      double value;
      if (p.list()) {
        const dsl::Value& l = arg.value;
        if (l.kind != dsl::Value::Kind::List)
          fail(l.loc, "expected a list of numbers for " + arg.name + " (rotary_dim / 2 of them), found " +
                          describe_value(l));
        std::vector<double> items;
        for (const dsl::Value& it : l.items) {
          if (it.kind != dsl::Value::Kind::Number)
            fail(it.loc, "expected a number in " + arg.name + ", found " + describe_value(it));
          std::string problem = RealRange{p.lo, p.hi, p.lo_open}.check(
              arg.name + "[" + std::to_string(items.size()) + "]", it.number, it.text);
          if (!problem.empty()) fail(it.loc, problem);
          items.push_back(it.number);
        }
        p.member.set_items(cs.params, std::move(items));
        given[arg.name] = 0;
        return;
      }
      if (!p.words.empty()) {
        const dsl::Value& w = arg.value;
        std::vector<std::string> valid(p.words.begin(), p.words.end());
        auto at = std::find(valid.begin(), valid.end(), w.text);
        if (w.kind != dsl::Value::Kind::Ident || at == valid.end())
          fail(w.loc, "invalid value " + describe_value(w) + " for " + arg.name + "; valid values: " + join(valid));
        value = static_cast<double>(at - valid.begin());
      } else if (p.boolean()) {
        const dsl::Value& b = arg.value;
        if (b.kind != dsl::Value::Kind::Ident || (b.text != "true" && b.text != "false"))
          fail(b.loc, "expected true or false for " + arg.name + ", found " + describe_value(b));
        value = b.text == "true" ? 1 : 0;
      } else {
        if (arg.value.kind != dsl::Value::Kind::Number)
          fail(arg.value.loc, "expected a number for " + arg.name + ", found " + describe_value(arg.value));
        value = arg.value.number;
        std::string problem = check_param(p, value, arg.value.text);
        if (!problem.empty()) fail(arg.value.loc, problem);
      }
      given[arg.name] = value;
    });
    for (const ScalingParam& p : fam->params) {
      auto it = given.find(p.name);
      if (it != given.end()) {
        if (!p.list()) p.member.set(cs.params, it->second);
      } else if (p.kind == ScalingParam::Default) p.member.set(cs.params, p.def);
      else if (p.kind == ScalingParam::Required)
        fail(sc.loc, std::string(fam->name) + "(...) needs " + p.name + " (" + family_syntax(*fam) + ")");
    }
  });
  s.cos_sin = cs;
}

void text_cos_sin(const KernelSpec& s, std::string& out) {
  const CosSin& c = s.cos_sin;
  if (c.source == CosSinSource::Table) {
    out += c.per_head ? "table(per_head=true)" : "table";  // the plain table's text (and cache keys) as before
    return;
  }
  const ScalingFamily& fam = scaling_family(c.scaling);
  out += "compute(theta=" + format_double(c.theta) + ",scaling=" + fam.name;
  if (!fam.params.empty()) {
    out += "(";
    bool first = true;
    // The family's numbers in its declared order, then its lists (the text's order since
    // lists were added).
    for (const ScalingParam& p : fam.params) {
      if (p.list() || !p.member.present(c.params)) continue;
      const double value = p.member.get(c.params);
      std::string v = format_double(value);
      if (p.boolean()) v = value ? "true" : "false";
      if (!p.words.empty() && value >= 0 && value < static_cast<double>(p.words.size()))
        v = p.words[static_cast<size_t>(value)];
      out += (first ? "" : ",") + std::string(p.name) + "=" + v;
      first = false;
    }
    for (const ScalingParam& p : fam.params) {
      if (!p.list() || !p.member.present(c.params)) continue;
      const std::vector<double>& l = *p.member.items(c.params);
      out += (first ? "" : ",") + std::string(p.name) + "=[";
      for (size_t i = 0; i < l.size(); ++i) out += (i ? "," : "") + format_double(l[i]);
      out += "]";
      first = false;
    }
    out += ")";
  }
  out += ")";
}

std::string check_cos_sin(const SpecField&, const KernelSpec& s) {
  const CosSin& c = s.cos_sin;
  if (c.source == CosSinSource::Table) return "";
  std::string p = kTheta.check("theta", c.theta);
  if (!p.empty()) return p;
  const ScalingFamily& fam = scaling_family(c.scaling);
  for (const ScalingParam& sp : fam.params) {
    if (sp.list()) {
      // Its length (rotary_dim / 2; an empty list included) is a cross-field rule (validate()).
      const std::vector<double>& l = *sp.member.items(c.params);
      for (size_t i = 0; i < l.size(); ++i) {
        std::string problem =
            RealRange{sp.lo, sp.hi, sp.lo_open}.check(sp.name + ("[" + std::to_string(i) + "]"), l[i]);
        if (!problem.empty()) return problem;
      }
      continue;
    }
    if (!sp.member.present(c.params)) {
      if (sp.kind != ScalingParam::Optional) return std::string(fam.name) + "(...) needs " + sp.name;
      continue;
    }
    const double value = sp.member.get(c.params);
    std::string problem = check_param(sp, value, format_double(value));
    if (!problem.empty()) return problem;
  }
  // The members of other families' parameters keep their defaults (they reach no text).
  const ScalingParams unset;
  for (const ScalingFamily& other : scaling_families())
    for (const ScalingParam& sp : other.params) {
      if (std::any_of(fam.params.begin(), fam.params.end(),
                      [&](const ScalingParam& q) { return std::string(q.name) == sp.name; }))
        continue;
      const bool set = sp.list() ? *sp.member.items(c.params) != *sp.member.items(unset)
                                 : sp.member.present(c.params) != sp.member.present(unset) ||
                                       sp.member.get(c.params) != sp.member.get(unset);
      if (set) return "unknown argument '" + std::string(sp.name) + "' for " + fam.name + "(...)";
    }
  return "";
}

int compare_cos_sin(const KernelSpec& a, const KernelSpec& b) {
  // Parameters that do not reach the kernel (theta of a table) do not make a difference.
  const CosSin &x = a.cos_sin, &y = b.cos_sin;
  if (int c = cmp(x.source, y.source)) return c;
  if (x.source == CosSinSource::Table) return cmp(x.per_head, y.per_head);
  if (int c = cmp(x.theta, y.theta)) return c;
  if (int c = cmp(x.scaling, y.scaling)) return c;
  // The family's parameters only (members it does not have are not in the text either).
  for (const ScalingParam& p : scaling_family(x.scaling).params) {
    if (p.list()) {
      if (int c = cmp(*p.member.items(x.params), *p.member.items(y.params))) return c;
      continue;
    }
    const bool px = p.member.present(x.params), py = p.member.present(y.params);
    if (int c = cmp(px, py)) return c;
    if (px)
      if (int c = cmp(p.member.get(x.params), p.member.get(y.params))) return c;
  }
  return 0;
}

void lower_cache(const SpecField&, const dsl::Value& v, KernelSpec& s) {
  CacheLayout c;
  if (is_call_named(v, "contiguous")) {
    c.kind = CacheKind::Contiguous;
    c.order = CacheOrder::Hnd;
    for_args(v, {"order"}, [&](const dsl::Value::Arg& a) {
      c.order = pick<CacheOrder>(a.value, "order");
      if (c.order != CacheOrder::Hnd && c.order != CacheOrder::Nhd)
        fail(a.value.loc, std::string("order = ") + name_of(c.order) + " is for paged caches (paged(block = B, order = " +
                              name_of(c.order) + ")); a contiguous cache is hnd or nhd");
    });
  } else if (is_call_named(v, "paged")) {
    c.kind = CacheKind::Paged;
    for_args(v, {"block", "order"}, [&](const dsl::Value::Arg& a) {
      if (a.name == "block") c.block = static_cast<int>(integer(a.value, "block", kBlock));
      else c.order = pick<CacheOrder>(a.value, "order");
    });
  } else {
    std::string hint = v.kind == dsl::Value::Kind::Ident || v.kind == dsl::Value::Kind::Call
                           ? suggestion(v.text, {"contiguous", "paged"})
                           : "";
    fail(v.loc, "invalid value " + describe_value(v) +
                    " for cache; valid values: contiguous(order = hnd | nhd), paged(block = B, order = nhd | hnd | strided | "
                    "amd | amd_shuffle)" +
                    hint);
  }
  s.cache = c;
}

void text_cache(const KernelSpec& s, std::string& out) {
  const CacheLayout& c = s.cache;
  if (c.kind == CacheKind::Contiguous)
    out += std::string("contiguous(order=") + name_of(c.order) + ")";
  else
    out += "paged(block=" + std::to_string(c.block) + ",order=" + name_of(c.order) + ")";
}

std::string check_cache(const SpecField&, const KernelSpec& s) {
  return s.cache.kind == CacheKind::Paged ? kBlock.check("block", s.cache.block) : "";
}

int compare_cache(const KernelSpec& a, const KernelSpec& b) {
  const CacheLayout &x = a.cache, &y = b.cache;
  if (int c = cmp(x.kind, y.kind)) return c;
  if (int c = cmp(x.order, y.order)) return c;
  return x.kind == CacheKind::Paged ? cmp(x.block, y.block) : 0;
}

void lower_wave(const SpecField&, const dsl::Value& v, KernelSpec& s) {
  if (v.kind == dsl::Value::Kind::Ident && v.text == "auto") {
    s.wave = 0;
    return;
  }
  const std::string bad = "invalid value " + describe_value(v) + " for wave; valid values: 32, 64, auto";
  if (v.kind != dsl::Value::Kind::Number) fail(v.loc, bad);
  long long w = integer(v, "wave", IntRange{1, 1024});
  if (w != 32 && w != 64) fail(v.loc, bad);
  s.wave = static_cast<int>(w);
}

// cache_dtype: a store type, with the quantized formats' parameters in parentheses. Setting
// it resets the parameters to the format's defaults; the canonical text of the formats that
// existed before parameters (auto, f32, f16, bf16, fp8 without per_token_head parameters)
// stays the bare name, so their cache keys do not change.
const RealRange kScaleFloor{0, 1, true};
const RealRange kQmax{0, 1e6, true};

/// The parameters a cache_dtype value takes.
std::vector<std::string> codec_params(StoreType t) {
  if (t == StoreType::Int8 || t == StoreType::Int4) return {"round", "floor", "scales_at"};
  if (t == StoreType::Nvfp4) return {"recipe", "v_scales", "scales_at"};
  if (t == StoreType::Mxfp4) return {"scale_round", "scales_at"};
  if (is_fp8(t)) return {"qmax", "floor", "scales_at"};
  return {};
}

void lower_cache_dtype(const SpecField& f, const dsl::Value& v, KernelSpec& s) {
  dsl::Value word = v;
  if (word.kind == dsl::Value::Kind::Call) {
    word.kind = dsl::Value::Kind::Ident;
    word.args.clear();
  }
  const StoreType t = pick<StoreType>(word, f.key);
  CacheCodec c;
  if (t == StoreType::Int4) c.round = QuantRound::Rha;
  if (v.kind == dsl::Value::Kind::Call) {
    const std::vector<std::string> allowed = codec_params(t);
    if (allowed.empty() && !v.args.empty())
      fail(v.args.front().name_loc, std::string("cache_dtype = ") + to_string(t) + " takes no parameters");
    for_args(v, allowed, [&](const dsl::Value::Arg& a) {
      if (a.name == "round") c.round = pick<QuantRound>(a.value, "round");
      else if (a.name == "floor") c.floor = real(a.value, "floor", kScaleFloor);
      else if (a.name == "qmax")  // auto: the format's largest value (the canonical text writes it so)
        c.qmax = a.value.kind == dsl::Value::Kind::Ident && a.value.text == "auto" ? 0 : real(a.value, "qmax", kQmax);
      else if (a.name == "recipe") {
        c.recipe = pick<Nvfp4Recipe>(a.value, "recipe");
        if (c.recipe == Nvfp4Recipe::RoundUp)
          fail(a.value.loc, "recipe = round_up is an MLA record's kv_c rule (kv_c(format = nvfp4, recipe = round_up)); "
                            "cache_dtype = nvfp4 takes recipe = exact | trtllm");
      } else if (a.name == "v_scales") {
        const dsl::Value& w = a.value;
        if (w.kind != dsl::Value::Kind::Ident || (w.text != "linear" && w.text != "swizzled"))
          fail(w.loc, "invalid value " + describe_value(w) + " for v_scales; valid values: linear, swizzled");
        c.v_swizzled = w.text == "swizzled";
      } else if (a.name == "scales_at") c.scales_at = pick<ScalesAt>(a.value, "scales_at");
      else c.scale_round = pick<MxRound>(a.value, "scale_round");
    });
  }
  s.cache_dtype = t;
  s.codec = c;
}

/// The parameters a cache_dtype's text shows: every one of the new formats, the fp8
/// parameters only when they differ from the defaults.
/// scales_at only when it is not tensor (the texts from before it existed stay as they were).
void text_cache_dtype(const KernelSpec& s, std::string& out) {
  const StoreType t = s.cache_dtype;
  const CacheCodec& c = s.codec;
  const std::string at = c.scales_at != ScalesAt::Tensor ? std::string(",scales_at=") + name_of(c.scales_at) : "";
  out += name_of(t);
  if (t == StoreType::Int8 || t == StoreType::Int4)
    out += std::string("(round=") + name_of(c.round) + ",floor=" + format_double(c.floor) + at + ")";
  else if (t == StoreType::Nvfp4)
    out += std::string("(recipe=") + name_of(c.recipe) + (c.v_swizzled ? ",v_scales=swizzled" : "") + at + ")";
  else if (t == StoreType::Mxfp4)
    out += std::string("(scale_round=") + name_of(c.scale_round) + at + ")";
  else if (is_fp8(t) && !at.empty())  // qmax only when given (no "auto": the text parses back)
    out += "(" + (c.qmax ? "qmax=" + format_double(c.qmax) + "," : std::string()) + "floor=" + format_double(c.floor) +
           at + ")";
  else if (is_fp8(t) && (c.qmax != 0 || c.floor != 1e-6))
    out += "(qmax=" + (c.qmax ? format_double(c.qmax) : std::string("auto")) + ",floor=" + format_double(c.floor) + ")";
}

std::string check_cache_dtype(const SpecField& f, const KernelSpec& s) {
  bool named = false;
  for (const auto& n : names_of<StoreType>()) named = named || n.second == s.cache_dtype;
  if (!named) return std::string(f.key) + " has an invalid value";
  const std::vector<std::string> params = codec_params(s.cache_dtype);
  auto has = [&](const char* p) { return std::find(params.begin(), params.end(), p) != params.end(); };
  if (has("floor")) {
    const std::string e = kScaleFloor.check("floor", s.codec.floor);
    if (!e.empty()) return e;
  }
  if (has("qmax") && s.codec.qmax != 0) return kQmax.check("qmax", s.codec.qmax);
  if (has("recipe") && s.codec.recipe == Nvfp4Recipe::RoundUp)
    return "recipe = round_up is an MLA record's kv_c rule (kv_c(format = nvfp4, recipe = round_up)); "
           "cache_dtype = nvfp4 takes recipe = exact | trtllm";
  return "";
}

int compare_cache_dtype(const KernelSpec& a, const KernelSpec& b) {
  if (int c = cmp(a.cache_dtype, b.cache_dtype)) return c;
  const std::vector<std::string> params = codec_params(a.cache_dtype);
  for (const std::string& p : params) {
    int c = 0;
    if (p == "round") c = cmp(a.codec.round, b.codec.round);
    else if (p == "floor") c = cmp(a.codec.floor, b.codec.floor);
    else if (p == "qmax") c = cmp(a.codec.qmax, b.codec.qmax);
    else if (p == "recipe") c = cmp(a.codec.recipe, b.codec.recipe);
    else if (p == "v_scales") c = cmp(a.codec.v_swizzled, b.codec.v_swizzled);
    else if (p == "scales_at") c = cmp(a.codec.scales_at, b.codec.scales_at);
    else c = cmp(a.codec.scale_round, b.codec.scale_round);
    if (c) return c;
  }
  return 0;
}

/// How the table walkers read and write a ScalingParams member of each type.
template <class T>
struct MemberOps;
template <>
struct MemberOps<double> {
  static constexpr ScalingMember::Type type = ScalingMember::Real;
  static bool present(const double&) { return true; }
  static double get(const double& m) { return m; }
  static void set(double& m, double v) { m = v; }
};
template <>
struct MemberOps<std::optional<double>> {
  static constexpr ScalingMember::Type type = ScalingMember::Real;
  static bool present(const std::optional<double>& m) { return m.has_value(); }
  static double get(const std::optional<double>& m) { return m.value_or(0); }
  static void set(std::optional<double>& m, double v) { m = v; }
};
template <>
struct MemberOps<bool> {
  static constexpr ScalingMember::Type type = ScalingMember::Flag;
  static bool present(const bool&) { return true; }
  static double get(const bool& m) { return m ? 1 : 0; }
  static void set(bool& m, double v) { m = v != 0; }
};
template <>
struct MemberOps<Choose> {  // a word parameter: the value is the word's index
  static constexpr ScalingMember::Type type = ScalingMember::Word;
  static bool present(const Choose&) { return true; }
  static double get(const Choose& m) { return static_cast<double>(static_cast<int>(m)); }
  static void set(Choose& m, double v) { m = static_cast<Choose>(static_cast<int>(v)); }
};
template <>
struct MemberOps<std::vector<double>> {
  static constexpr ScalingMember::Type type = ScalingMember::List;
  static bool present(const std::vector<double>& m) { return !m.empty(); }
  static double get(const std::vector<double>&) { return 0; }
  static void set(std::vector<double>&, double) {}
};
template <class>
struct MemberType;
template <class T>
struct MemberType<T ScalingParams::*> {
  using type = T;
};

/// The accessor of a ScalingParams member, for its row in scaling_families().
template <auto M>
ScalingMember at() {
  using T = typename MemberType<decltype(M)>::type;
  using O = MemberOps<T>;
  ScalingMember m{O::type,
                  [](const ScalingParams& p) { return O::present(p.*M); },
                  [](const ScalingParams& p) { return O::get(p.*M); },
                  [](ScalingParams& p, double v) { O::set(p.*M, v); },
                  nullptr,
                  nullptr};
  if constexpr (std::is_same_v<T, std::vector<double>>) {
    m.items = [](const ScalingParams& p) -> const std::vector<double>* { return &(p.*M); };
    m.set_items = [](ScalingParams& p, std::vector<double> v) { p.*M = std::move(v); };
  }
  return m;
}

}  // namespace

const std::vector<ScalingFamily>& scaling_families() {
  using P = ScalingParam;
  using S = ScalingParams;
  const double big = 1e9;
  const P factor{"factor", P::Required, 0, 0, 1e6, true, at<&S::factor>()};
  const P omax{"original_max_position_embeddings", P::Required, 0, 0, big, true, at<&S::original_max_position_embeddings>()};
  static const std::vector<ScalingFamily> families = {
      {Scaling::None, "none", {}},
      {Scaling::Linear, "linear", {factor}},
      {Scaling::Ntk, "ntk", {factor}},
      {Scaling::NtkAlpha, "ntk_alpha", {{"alpha", P::Required, 0, 0, 1e6, true, at<&S::alpha>()}}},
      {Scaling::Yarn,
       "yarn",
       {factor, omax, {"beta_fast", P::Default, 32, 0, 1e6, true, at<&S::beta_fast>()},
        {"beta_slow", P::Default, 1, 0, 1e6, true, at<&S::beta_slow>()},
        {"attention_factor", P::Optional, 0, 0, 1e6, true, at<&S::attention_factor>()},
        {"mscale", P::Optional, 0, 0, 1e6, false, at<&S::mscale>()},
        {"mscale_all_dim", P::Optional, 0, 0, 1e6, false, at<&S::mscale_all_dim>()},
        {"truncate", P::Default, 1, 0, 1, false, at<&S::truncate>()}}},
      {Scaling::DeepseekYarn,
       "deepseek_yarn",
       {factor, omax, {"beta_fast", P::Required, 0, 0, 1e6, true, at<&S::beta_fast>()},
        {"beta_slow", P::Required, 0, 0, 1e6, true, at<&S::beta_slow>()},
        {"mscale", P::Required, 0, 0, 1e6, false, at<&S::mscale>()},
        {"mscale_all_dim", P::Required, 0, 0, 1e6, false, at<&S::mscale_all_dim>()},
        {"attn_factor", P::Default, 1, 0, 1e6, true, at<&S::attn_factor>()},
        {"extrapolation_factor", P::Default, 1, 0, 1e6, false, at<&S::extrapolation_factor>()}}},
      {Scaling::Llama3,
       "llama3",
       {factor, {"low_freq_factor", P::Required, 0, 0, 1e6, true, at<&S::low_freq_factor>()},
        {"high_freq_factor", P::Required, 0, 0, 1e6, true, at<&S::high_freq_factor>()}, omax}},
      // choose: runtime reads the sequence length (seq_lens) per token; static decides once
      // from max_model_len, as vLLM does.
      {Scaling::Dynamic,
       "dynamic",
       {factor, omax, {"choose", P::Default, 0, 0, 1, false, at<&S::choose>(), {"runtime", "static"}},
        {"max_model_len", P::Optional, 0, 0, big, true, at<&S::max_model_len>()}}},
      {Scaling::Longrope,
       "longrope",
       {{"short_factor", P::Required, 0, 0, 1e6, true, at<&S::short_factor>()},
        {"long_factor", P::Required, 0, 0, 1e6, true, at<&S::long_factor>()}, omax,
        {"max_position_embeddings", P::Required, 0, 0, big, true, at<&S::max_position_embeddings>()},
        {"attention_factor", P::Optional, 0, 0, 1e6, true, at<&S::attention_factor>()},
        {"short_mscale", P::Optional, 0, 0, 1e6, true, at<&S::short_mscale>()},
        {"long_mscale", P::Optional, 0, 0, 1e6, true, at<&S::long_mscale>()},
        {"choose", P::Default, 0, 0, 1, false, at<&S::choose>(), {"runtime", "static"}},
        {"max_model_len", P::Optional, 0, 0, big, true, at<&S::max_model_len>()}}},
      // Gemma 4's global layers: the first int(p * d / 2) frequencies of plain RoPE over the
      // whole rotated stretch, the rest 0 (those pairs pass through), all divided by factor.
      {Scaling::Proportional,
       "proportional",
       {{"partial_rotary_factor", P::Required, 0, 0, 1, true, at<&S::partial_rotary_factor>()},
        {"factor", P::Default, 1, 0, 1e6, true, at<&S::factor>()}}},
  };
  return families;
}

const ScalingFamily& scaling_family(Scaling id) {
  for (const ScalingFamily& f : scaling_families())
    if (f.id == id) return f;
  throw Error(ErrorKind::Internal, "no scaling family row");
}

bool CosSin::runtime_length() const {
  return source == CosSinSource::Compute && (scaling == Scaling::Dynamic || scaling == Scaling::Longrope) &&
         params.choose == Choose::Runtime;
}

int Positions::row_of(int j) const {
  if (kind == PositionsKind::Single) return 0;
  if (kind == PositionsKind::Vision) return j < sections[0] ? 0 : 1;
  if (kind == PositionsKind::Mrope || kind == PositionsKind::Grid) {  // contiguous sections
    if (j < sections[0]) return 0;
    return j < sections[0] + sections[1] ? 1 : 2;
  }
  // imrope: rows cycle t, h, w over j while a row has indices left (Qwen3-VL's
  // mrope_interleaved: index j goes to h when j % 3 == 1 and j < 3 * sections[1], to w
  // when j % 3 == 2 and j < 3 * sections[2], else to t).
  if (j % 3 == 1 && j < 3 * sections[1]) return 1;
  if (j % 3 == 2 && j < 3 * sections[2]) return 2;
  return 0;
}

const std::vector<SpecField>& spec_fields() {
  static const std::vector<SpecField> fields = [] {
  std::vector<SpecField> rows = {
      enum_field<Op, &KernelSpec::op>("op", "what the kernel does", kAllOps),
      int_field<&KernelSpec::head_dim, 2, 1024>("head_dim", "even, 2..1024", "elements per head", nullptr,
                                                     kAllOps, {"64", "128", "256"}),
      int_field<&KernelSpec::rotary_dim, 0, 1024>("rotary_dim", "even, 0..head_dim",
                                                       "rotated elements per head; the rest pass through (0: none, a NoPE layer)",
                                                       "head_dim", kRotating, {"32", "64"}),
      int_field<&KernelSpec::rotary_offset, 0, 1022>("rotary_offset", "even, 0..head_dim - rotary_dim",
                                                     "first rotated element (DeepSeek's q_pe after q_nope: 128)",
                                                     nullptr, kRotating,
                                                     // examples may set other keys so they are valid alone
                                                     {"0 rotary_dim=64", "32 rotary_dim=64", "64 rotary_dim=64"},
                                                     /*omit_default=*/true),
      enum_field<Style, &KernelSpec::style>("style", "rotation pairs: neox (i, i + rot/2), gptj (2i, 2i + 1)",
                                            kRotating),
      int_field<&KernelSpec::q_heads, 1, 1024>("q_heads", "1..1024, a multiple of kv_heads", "query heads",
                                                    nullptr, kRotating, {"32", "64"}),
      enum_field<DType, &KernelSpec::dtype>("dtype", "element type of q, k, v and the cache", kAllOps),
      enum_field<IndexType, &KernelSpec::index>("index", "integer type of positions and slots", kAllOps),
      SpecField{"cos_sin",
                kCosSinValues,
                "fp32 tables indexed by position, or computed in the kernel",
                nullptr,
                kRotating,
                false,
                {"table", "table(per_head=true)", "compute(theta=10000)", "compute(theta=500000)", "compute(theta=10000,scaling=linear(factor=2))",
                 "compute(theta=10000,scaling=linear(factor=4))", "compute(scaling=ntk(factor=2))",
                 "compute(scaling=ntk_alpha(alpha=2))",
                 "compute(scaling=yarn(factor=4,original_max_position_embeddings=32768))",
                 "compute(scaling=yarn(factor=4,original_max_position_embeddings=32768,truncate=false))",
                 "compute(scaling=yarn(factor=4,original_max_position_embeddings=32768,mscale=1,mscale_all_dim=1))",
                 "compute(scaling=deepseek_yarn(factor=40,original_max_position_embeddings=4096,beta_fast=32,"
                 "beta_slow=1,mscale=1,mscale_all_dim=1))",
                 "compute(scaling=llama3(factor=8,low_freq_factor=1,high_freq_factor=4,"
                 "original_max_position_embeddings=8192))",
                 "compute(scaling=dynamic(factor=2,original_max_position_embeddings=4096)) rotary_dim=8",
                 "compute(scaling=dynamic(factor=2,original_max_position_embeddings=4096,choose=static,"
                 "max_model_len=8192)) rotary_dim=8",
                 "compute(scaling=longrope(short_factor=[1,1,1,1],long_factor=[1,2,3,4],"
                 "original_max_position_embeddings=4096,max_position_embeddings=131072)) rotary_dim=8",
                 "compute(scaling=longrope(short_factor=[1,1,1,1],long_factor=[1,2,3,4],"
                 "original_max_position_embeddings=4096,max_position_embeddings=131072,choose=static,"
                 "max_model_len=131072)) rotary_dim=8"},
                lower_cos_sin,
                text_cos_sin,
                check_cos_sin,
                compare_cos_sin},
      SpecField{"cache",
                kCacheValues,
                "KV-cache layout the kernel writes",
                nullptr,
                kCaching,
                false,
                {"paged(block=16)", "paged(block=32)", "paged(block=16,order=hnd)", "paged(block=16,order=strided)", "paged(block=16,order=amd)",
                 "paged(block=16,order=amd_shuffle)",
                 "contiguous(order=hnd)", "contiguous(order=nhd)"},
                lower_cache,
                text_cache,
                check_cache,
                compare_cache},
      SpecField{"wave",
                "32 | 64 | auto",
                "wave (warp) size; auto: the target's default",
                nullptr,
                kAllOps,
                false,
                {"auto", "32", "64"},
                lower_wave,
                [](const KernelSpec& s, std::string& out) { out += s.wave ? std::to_string(s.wave) : "auto"; },
                [](const SpecField&, const KernelSpec& s) -> std::string {
                  return s.wave == 0 || s.wave == 32 || s.wave == 64 ? "" : "wave must be 32, 64 or auto";
                },
                [](const KernelSpec& a, const KernelSpec& b) { return cmp(a.wave, b.wave); }},
      enum_field<Pdl, &KernelSpec::pdl>("pdl",
                                        "programmatic dependent launch: start while the previous kernel in the "
                                        "stream finishes (NVIDIA sm_90+)",
                                        kAllOps, /*omit_default=*/true),
      enum_field<Angle, &KernelSpec::angle>("angle",
                                            "cos_sin = compute: fp32 rounds p * inv_freq to fp32 (as the models "
                                            "were trained); exact reduces the angle in double (a few fp32 ulps "
                                            "from fp64 at any position below 2^24)",
                                            kRotating, /*omit_default=*/true,
                                            {"fp32 cos_sin=compute", "exact cos_sin=compute"}),
      [] {
        SpecField f{"cache_dtype",
                    "auto | f32 | f16 | bf16 | fp8_e4m3 | fp8_e5m2 | fp8_e4m3fnuz | fp8_e5m2fnuz (qmax = Q | auto, floor = F) | "
                    "int8 (round = rne | trunc | rha, floor = F) | int4 (round = rha | rne | trunc, floor = F) | "
                    "nvfp4 (recipe = exact | trtllm, v_scales = linear | swizzled) | mxfp4 (scale_round = rceil | floor | even); "
                    "every quantized format also (scales_at = tensor | page | row)",
                    "storage of the KV cache; auto: dtype; fp8 stores saturate(round(x / scale)) with the target's "
                    "encoding (OCP, else FNUZ; _fnuz asks for FNUZ); int8, int4 (with scales = per_token_head), "
                    "nvfp4 and mxfp4 store codes and write their scales to k_cache_scales, v_cache_scales "
                    "(scales_at = tensor), inside each page after its codes (page: [codes | scales] per page and "
                    "side, vLLM's nvfp4 cache) or after each (token, head) row's codes (row: per_token_head, "
                    "head_dim * bits / 8 code bytes then the fp32 scale) (docs/dsl.md, quantized caches)",
                    nullptr,
                    kCaching,
                    /*omit_default=*/true,
                    {"auto", "fp8_e4m3", "fp8_e5m2", "fp8_e4m3fnuz", "fp8_e5m2fnuz", "f32 dtype=f32",
                     "int8 scales=per_token_head", "int8(round=trunc) scales=per_token_head",
                     "int4 scales=per_token_head", "fp8_e4m3(qmax=224) scales=per_token_head", "nvfp4",
                     "nvfp4(v_scales=swizzled) cache=paged(block=16,order=hnd)",
                     "mxfp4", "mxfp4(scale_round=floor)", "mxfp4(scale_round=even)",
                     "nvfp4(scales_at=page) cache=paged(block=16,order=nhd)",
                     "int8(scales_at=row) scales=per_token_head"},
                    lower_cache_dtype,
                    text_cache_dtype,
                    check_cache_dtype,
                    compare_cache_dtype};
        f.store = &KernelSpec::cache_dtype;
        return f;
      }(),
  };
  // Rows only one family reads (src/families/<name>/), in registry order: each after the
  // row it names (SpecField::after), else last.
  for (const Family* f : families()) {
    if (!f->spec_fields) continue;
    for (SpecField& row : f->spec_fields()) {
      if (!row.after) {
        rows.push_back(std::move(row));
        continue;
      }
      auto at = std::find_if(rows.begin(), rows.end(),
                             [&](const SpecField& r) { return std::string(r.key) == row.after; });
      if (at == rows.end())
        throw Error(ErrorKind::Internal, std::string("schema: family ") + f->name + "'s row '" + row.key +
                                             "' follows '" + row.after + "', which no row before it has");
      rows.insert(at + 1, std::move(row));
    }
  }
  return rows;
  }();
  return fields;
}

bool SpecField::used_by(Op op) const {
  const OpRow& r = op_row(op);
  return (!ops.rotates || r.rotates) && (!ops.caches || r.caches) &&
         (!ops.family || std::string(ops.family) == family_of(op).name);
}

const char* to_string(Op v) { return name_of(v); }
const char* to_string(Style v) { return name_of(v); }
const char* to_string(DType v) { return name_of(v); }
const char* to_string(IndexType v) { return name_of(v); }
const char* to_string(CacheOrder v) { return name_of(v); }
const char* to_string(Pdl v) { return name_of(v); }
const char* to_string(Checks v) { return name_of(v); }
const char* to_string(Angle v) { return name_of(v); }
const char* to_string(StoreType v) { return name_of(v); }
const char* to_string(Scales v) { return name_of(v); }
const char* to_string(QuantRound v) { return name_of(v); }
const char* to_string(MxRound v) { return name_of(v); }
const char* to_string(ScalesAt v) { return name_of(v); }

bool is_fp8(StoreType t) {
  return t == StoreType::Fp8E4m3 || t == StoreType::Fp8E5m2 || t == StoreType::Fp8E4m3Fnuz || t == StoreType::Fp8E5m2Fnuz;
}

std::vector<std::pair<const SpecField*, StoreType>> store_types(const KernelSpec& s) {
  std::vector<std::pair<const SpecField*, StoreType>> out;
  for (const SpecField& f : spec_fields())
    if (f.store && f.used_by(s.op)) out.emplace_back(&f, s.*f.store);
  return out;
}

bool quantized_cache(const KernelSpec& s) {
  if (!s.uses_cache()) return false;
  const StoreType t = s.cache_dtype;
  return t == StoreType::Int8 || t == StoreType::Int4 || t == StoreType::Nvfp4 || t == StoreType::Mxfp4 ||
         (is_fp8(t) && s.scales == Scales::PerTokenHead);
}

int cache_bits(const KernelSpec& s) {
  switch (s.cache_dtype) {
    case StoreType::Int4:
    case StoreType::Nvfp4:
    case StoreType::Mxfp4: return 4;
    case StoreType::Int8: return 8;
    case StoreType::Auto: return 8 * dtype_bytes(s.dtype);
    case StoreType::F32: return 32;
    case StoreType::F16:
    case StoreType::BF16: return 16;
    default: return 8;  // fp8
  }
}

int amd_piece_elems(const KernelSpec& s) { return 16 * 8 / cache_bits(s); }

int cache_group(const KernelSpec& s) {
  if (!quantized_cache(s)) return 0;
  if (s.cache_dtype == StoreType::Nvfp4) return 16;
  if (s.cache_dtype == StoreType::Mxfp4) return 32;
  return s.head_dim;
}

long long cache_record_bytes(const KernelSpec& s) {
  if (!quantized_cache(s) || s.codec.scales_at == ScalesAt::Tensor) return 0;
  const long long group = cache_group(s);
  const long long scale_bytes = s.scales == Scales::PerTokenHead ? 4 : 1;
  const long long row = s.head_dim * cache_bits(s) / 8 + s.head_dim / group * scale_bytes;
  return s.codec.scales_at == ScalesAt::Row ? row : row * s.cache.block * s.kv_heads;
}

int cache_record_align(const KernelSpec& s) {
  const long long r = cache_record_bytes(s);
  int a = 16;
  while (r > 0 && r % a != 0) a /= 2;
  return a;
}

bool KernelSpec::uses_fp8() const {
  for (const auto& st : store_types(*this))
    if (is_fp8(st.second)) return true;
  return false;
}
const char* to_string(Heads v) { return name_of(v); }
const char* to_string(Outputs v) { return name_of(v); }
const char* to_string(NormWeight v) { return name_of(v); }
const char* to_string(NormSpan v) { return name_of(v); }
const char* to_string(NormOrder v) { return name_of(v); }
const char* to_string(NormSums v) { return name_of(v); }
const char* to_string(VSource v) { return name_of(v); }
const char* to_string(Bias v) { return name_of(v); }
const char* to_string(Gate v) { return name_of(v); }

}  // namespace ropegen
