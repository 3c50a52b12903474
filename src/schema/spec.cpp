// Lowering DSL declarations to KernelSpec: key and value checks, defaults, cross-field
// rules, canonical text and hash.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>

#include "../common/process.hpp"
#include "detail.hpp"
#include "families/family.hpp"
#include "dsl/dsl.hpp"
#include "ropegen/spec.hpp"
#include "fields.hpp"

namespace ropegen {

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

using namespace spec_detail;

std::string KernelSpec::canonical() const {
  std::string out;
  static const KernelSpec defaults;
  for (const SpecField& f : spec_fields()) {
    if (!f.used_by(op)) continue;
    if (f.omit_default && f.compare(*this, defaults) == 0) continue;
    if (!out.empty()) out += ' ';
    out += f.key;
    out += '=';
    f.text(*this, out);
  }
  return out;
}

std::string KernelSpec::hash() const { return hex64(fnv1a64(canonical())); }

std::string SpecField::flag() const {
  std::string f = std::string("--") + key;
  std::replace(f.begin(), f.end(), '_', '-');
  return f;
}

std::string SpecField::default_text() const {
  if (default_note) return default_note;
  std::string out;
  text(KernelSpec{}, out);
  return out;
}

const SpecField* find_spec_field(const std::string& key) {
  for (const SpecField& f : spec_fields())
    if (key == f.key) return &f;
  return nullptr;
}

const std::vector<std::string>& spec_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k;
    for (const SpecField& f : spec_fields()) k.push_back(f.key);
    return k;
  }();
  return keys;
}

int compare_specs(const KernelSpec& a, const KernelSpec& b) {
  for (const SpecField& f : spec_fields()) {
    if (!f.used_by(a.op)) continue;  // the op is the first field: both use the same ones
    if (int c = f.compare(a, b)) return c;
  }
  return 0;
}

std::string spec_fields_markdown() {
  std::string out = "| key | values | default | ops | meaning |\n|---|---|---|---|---|\n";
  for (const SpecField& f : spec_fields()) {
    std::string ops;
    for (const OpRow& r : op_rows())
      if (f.used_by(r.op)) ops += (ops.empty() ? "" : ", ") + std::string(r.name);
    std::string values = f.values;
    for (size_t i = 0; (i = values.find('|', i)) != std::string::npos; i += 2) values.replace(i, 1, "\\|");
    out += std::string("| ") + f.key + " | " + values + " | " + f.default_text() + " | " + ops + " | " + f.help +
           " |\n";
  }
  return out;
}

namespace {

void lower_entry(const dsl::Entry& e, KernelSpec& s) {
  const SpecField* f = find_spec_field(e.key);
  if (!f)
    fail(e.key_loc, "unknown key '" + e.key + "'" + suggestion(e.key, spec_keys()) + " (valid keys: " +
                        join(spec_keys()) + ")");
  f->lower(*f, e.value, s);
}

}  // namespace

const SpecField& lower_field(const std::string& key, const std::string& value, KernelSpec& spec,
                             const std::string& source_name) {
  const std::string text = key + "=" + value;
  dsl::Source src(source_name, text);
  dsl::KernelDecl decl = dsl::parse_entries(src);
  if (decl.entries.size() != 1 || decl.entries[0].key != key)
    fail(src.loc(0, text.size()), "expected one value for '" + key + "', found '" + value + "'");
  lower_entry(decl.entries[0], spec);
  return *find_spec_field(key);
}

void validate(const ParsedSpec& p) {
  const KernelSpec& s = p.spec;
  auto where = [&](const char* key) -> SourceLoc {
    auto it = p.origin.keys.find(key);
    return it != p.origin.keys.end() ? it->second : p.origin.kernel;
  };
  auto is_set = [&](const char* key) { return p.origin.keys.count(key) > 0; };
  // Field ranges first (a spec built in code has not been through the DSL's checks).
  for (const SpecField& f : spec_fields()) {
    if (!f.used_by(s.op) && !is_set(f.key)) continue;
    std::string problem = f.check(f, s);
    if (!problem.empty()) fail(where(f.key), problem);
  }
  // Cross-field rules.
  if (s.head_dim % 2 != 0)
    fail(where("head_dim"), "head_dim = " + std::to_string(s.head_dim) + " must be even");
  if (s.uses_rope()) {
    if (s.rotary_dim % 2 != 0)
      fail(where("rotary_dim"), "rotary_dim = " + std::to_string(s.rotary_dim) + " must be even");
    if (s.rotary_dim > s.head_dim)
      fail(where("rotary_dim"), "rotary_dim = " + std::to_string(s.rotary_dim) +
                                    " must be at most head_dim = " + std::to_string(s.head_dim));
    // rotary_dim = 0: a layer without RoPE (Llama 4's NoPE layers). The rest of the kernel
    // (norms, q_temperature, outputs, the cache write) stays; what only shapes a rotation is refused.
    if (s.rotary_dim == 0) {
      const char* nothing = "rotary_dim = 0 rotates nothing: ";
      if (s.rotary_offset != 0)
        fail(where("rotary_offset"), nothing + std::string("rotary_offset = ") + std::to_string(s.rotary_offset) +
                                         " has no rotated stretch to place (leave it 0)");
      if (s.cos_sin.source == CosSinSource::Table)
        fail(where("cos_sin"), nothing + std::string("cos_sin = table would pass tables no thread reads (in the DSL leave cos_sin unset; in code set "
                                                   "cos_sin.source = compute)"));
      else if (s.cos_sin.scaling != Scaling::None)
        fail(where("cos_sin"), nothing + std::string("cos_sin = compute(scaling = ") + scaling_family(s.cos_sin.scaling).name +
                                   ") has no frequencies to scale (leave cos_sin unset)");
      if (s.positions.kind != PositionsKind::Single)
        fail(where("positions"), nothing + std::string("positions with several rows select frequencies, and there are none "
                                                       "(leave positions unset)"));
    }
    if (s.rotary_offset % 2 != 0)
      fail(where("rotary_offset"), "rotary_offset = " + std::to_string(s.rotary_offset) + " must be even");
    if (s.rotary_offset + s.rotary_dim > s.head_dim)
      fail(where(is_set("rotary_offset") ? "rotary_offset" : "rotary_dim"),
           "rotary_offset + rotary_dim = " + std::to_string(s.rotary_offset + s.rotary_dim) +
               " is more than head_dim = " + std::to_string(s.head_dim) + " (the rotated stretch must fit in the head)");
  }
  if (s.uses_rope()) {
    const int half = s.rotary_dim / 2;
    const CosSin& cs = s.cos_sin;
    if (cs.source == CosSinSource::Compute) {
      const ScalingFamily& fam = scaling_family(cs.scaling);
      const ScalingParams& sp = cs.params;
      for (const ScalingParam& row : fam.params)
        if (row.list() && (row.kind == ScalingParam::Required || row.member.present(sp)) &&
            static_cast<int>(row.member.items(sp)->size()) != half)
          fail(where("cos_sin"), std::string(fam.name) + "(...): " + row.name + " has " +
                                     std::to_string(row.member.items(sp)->size()) + " values; expected rotary_dim / 2 = " +
                                     std::to_string(half));
      if (cs.scaling == Scaling::Llama3 && sp.low_freq_factor > sp.high_freq_factor)
        // Equal factors are valid (Llama 4 Scout ships low = high = 1): the smoothing band is empty.
        fail(where("cos_sin"), "llama3(...): low_freq_factor = " + format_double(sp.low_freq_factor) +
                                   " is more than high_freq_factor = " + format_double(sp.high_freq_factor) +
                                   "; expected low_freq_factor <= high_freq_factor");
      if (cs.scaling == Scaling::Dynamic || cs.scaling == Scaling::Longrope) {
        const bool fixed = sp.choose == Choose::Static;
        if (fixed && !sp.max_model_len)
          fail(where("cos_sin"), std::string(fam.name) + "(...): choose = static needs max_model_len (the length "
                                                          "the choice is made for, as vLLM's max_model_len)");
        if (!fixed && sp.max_model_len)
          fail(where("cos_sin"), std::string(fam.name) + "(...): max_model_len is only used with choose = static; "
                                                          "choose = runtime reads each token's seq_lens");
      }
    }
    if (s.angle == Angle::Exact && cs.source != CosSinSource::Compute)
      fail(where("angle"), "angle = exact needs cos_sin = compute (with a table the caller computes the angles)");
  }
  const StoreType ct = s.cache_dtype;
  const bool int_cache = ct == StoreType::Int8 || ct == StoreType::Int4;
  const bool fp4_cache = ct == StoreType::Nvfp4 || ct == StoreType::Mxfp4;
  if (s.uses_cache() && ct != StoreType::Auto && !is_fp8(ct) && !int_cache && !fp4_cache &&
      std::string(to_string(s.cache_dtype)) != to_string(s.dtype))
    fail(where("cache_dtype"), std::string("cache_dtype = ") + to_string(s.cache_dtype) + " with dtype = " +
                                   to_string(s.dtype) + ": a cache that is not fp8 has the activation dtype");
  if (s.uses_cache() && ct == StoreType::Nvfp4 && s.codec.v_swizzled &&
      (s.cache.kind != CacheKind::Paged || s.cache.order != CacheOrder::Hnd || s.cache.block % 4 != 0 ||
       s.head_dim % 64 != 0))
    fail(where("cache_dtype,cache"), "nvfp4(v_scales = swizzled) needs cache = paged(order = hnd) with block % 4 == 0 "
                                     "and head_dim % 64 == 0 (4-token groups inside each page and head tile)");
  // scales_at = page | row: the scales inside the cache's own records (docs/dsl.md).
  const ScalesAt at = s.codec.scales_at;
  if (s.uses_cache() && at != ScalesAt::Tensor) {
    const std::string named = std::string("cache_dtype = ") + to_string(ct) + "(scales_at = " + to_string(at) + ")";
    if (!quantized_cache(s))
      fail(where("cache_dtype,scales"), named + " needs scales = per_token_head: with scales = " + to_string(s.scales) +
                                            " the kernel writes no scales to place");
    if (at == ScalesAt::Row && s.scales != Scales::PerTokenHead)
      fail(where("cache_dtype"), named + ": row places one fp32 scale after each (token, head) row, which is "
                                         "scales = per_token_head's (int8, int4, fp8); " + to_string(ct) +
                                         "'s group scales go per page (scales_at = page) or in tensors (tensor)");
    if (s.cache.kind != CacheKind::Paged && at == ScalesAt::Page)
      fail(where("cache_dtype,cache"), named + " needs a paged cache (cache = paged(block = B, order = nhd | hnd)): "
                                               "the scales follow each page's codes");
    if (s.cache.kind == CacheKind::Paged && s.cache.order != CacheOrder::Nhd && s.cache.order != CacheOrder::Hnd)
      fail(where("cache_dtype,cache"), named + " with cache = paged(order = " + to_string(s.cache.order) +
                                           "): inline scales are laid out for order = nhd or hnd only");
    const long long code_bytes = static_cast<long long>(s.head_dim) * cache_bits(s) / 8;
    if (s.scales == Scales::PerTokenHead && code_bytes % 4 != 0)
      fail(where("cache_dtype,head_dim"),
           named + " with head_dim = " + std::to_string(s.head_dim) + ": a row's " + std::to_string(code_bytes) +
               " code bytes must be a multiple of 4, so that every fp32 scale " +
               (at == ScalesAt::Row ? "after a row" : "after a page's codes") + " is 4-byte aligned");
  }
  if (s.uses_cache() && quantized_cache(s)) {
    const int group = cache_group(s);
    if (s.head_dim % group != 0 || (cache_bits(s) == 4 && s.head_dim % 2 != 0))
      fail(where("head_dim"), "head_dim = " + std::to_string(s.head_dim) + " with cache_dtype = " + to_string(ct) +
                                  ": the format's scale groups of " + std::to_string(group) +
                                  " elements must tile a head");
  }
  // The family's rules name a key, or "a,b": the first of them set explicitly, else the last.
  family_of(s.op).validate(s, [&](const char* keys, const std::string& message) {
    std::string list = keys, key;
    for (size_t at = 0; at <= list.size();) {
      const size_t comma = std::min(list.find(',', at), list.size());
      key = list.substr(at, comma - at);
      if (is_set(key.c_str())) break;
      at = comma + 1;
    }
    fail(where(key.c_str()), message);
  });
  // Keys that the op ignores are mistakes worth reporting, not silently dropped.
  for (const SpecField& f : spec_fields())
    if (!f.used_by(s.op) && is_set(f.key))
      fail(where(f.key), std::string("key '") + f.key + "' has no effect for op = " + to_string(s.op));
}

void validate(const KernelSpec& spec, const std::string& where, const std::vector<std::string>& set_keys) {
  ParsedSpec p;
  p.spec = spec;
  p.origin.kernel.file = where;
  for (const auto& k : set_keys) p.origin.keys[k] = p.origin.kernel;
  validate(p);
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
  // rotary_dim = 0 reads no cos/sin: unless set, cos_sin is compute(), which passes no tables.
  if (out.spec.rotary_dim == 0 && !out.origin.keys.count("cos_sin")) out.spec.cos_sin.source = CosSinSource::Compute;
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
  if (p.spec.pdl == Pdl::On && !target.caps.pdl) {
    std::string valid;
    for (const auto& t : known_targets())
      if (t.caps.pdl) valid += (valid.empty() ? "" : ", ") + std::string(t.arch);
    auto it = p.origin.keys.find("pdl");
    fail(it != p.origin.keys.end() ? it->second : p.origin.kernel,
         "pdl = on needs programmatic dependent launch, which target " + target.id() + " (" + target.family +
             ") does not have; targets with it: " + valid);
  }
  if (p.spec.cache_dtype == StoreType::Nvfp4 && p.spec.codec.recipe == Nvfp4Recipe::Trtllm && !target.caps.rcp_approx) {
    auto it = p.origin.keys.find("cache_dtype");
    fail(it != p.origin.keys.end() ? it->second : p.origin.kernel,
         "cache_dtype = nvfp4(recipe = trtllm) cannot be built for target " + target.id() + " (" + target.family +
             "): recipe = trtllm uses NVIDIA's approximate reciprocal (rcp.approx.ftz.f32); use recipe = exact on " +
             target.id());
  }
  for (const auto& [field, st] : store_types(p.spec)) {
    const char* key = field->key;
    if (target_stores(target.caps, st)) continue;
    const bool fnuz = st == StoreType::Fp8E4m3Fnuz || st == StoreType::Fp8E5m2Fnuz;
    std::string valid;
    for (const auto& t : known_targets())
      if (target_stores(t.caps, st)) valid += (valid.empty() ? "" : ", ") + std::string(t.arch);
    auto it = p.origin.keys.find(key);
    fail(it != p.origin.keys.end() ? it->second : p.origin.kernel,
         std::string(key) + " = " + to_string(st) + " needs " + (fnuz ? "the FNUZ fp8 encodings" : "fp8 encodings (OCP or FNUZ)") +
             ", which target " + target.id() + " (" + target.family + ") does not have; targets with them: " + valid);
  }
}

bool target_stores(const TargetCaps& t, StoreType s) {
  if (!is_fp8(s)) return true;
  if (s == StoreType::Fp8E4m3Fnuz || s == StoreType::Fp8E5m2Fnuz) return t.fp8_fnuz;
  return t.fp8_ocp || t.fp8_fnuz;
}

bool fp8_fnuz_on(const TargetCaps& t, StoreType s) {
  return s == StoreType::Fp8E4m3Fnuz || s == StoreType::Fp8E5m2Fnuz || (is_fp8(s) && !t.fp8_ocp);
}

bool target_can_run(const KernelSpec& spec, const Target& target) {
  ParsedSpec p;
  p.spec = spec;
  try {
    check_target(p, target);
  } catch (const Error&) {
    return false;
  }
  return true;
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

namespace {
constexpr size_t kMaxSpecBytes = 16u << 20;  // far above any real spec; bounds --spec /dev/zero
}  // namespace

std::vector<ParsedSpec> load_spec_file(const std::string& path) {
  // Any file type (a pipe or /dev/stdin works), but bounded: /dev/zero must not read forever.
  return parse_spec_file(path, detail::read_file(path, kMaxSpecBytes, /*regular_only=*/false, "spec file"));
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
