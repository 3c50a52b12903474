// cache_record: the mla family's cache row declared as a byte record (cache-layouts.md,
// "DeepSeek MLA records"). The spec names the parts in byte order -- the values of kv_c and
// k_pe, each in a format, the scales of a quantized field, padding -- and the row's size;
// codegen binds the offsets and kv_c's codec (templates/quant.h), so a new record is a spec,
// not kernel code. `cache_record = fp8_ds_mla` names DeepSeek-V3.2's 656-byte record,
// `nvfp4_ds_mla` vLLM's 352-byte nvfp4 one.
#include <algorithm>
#include <cfloat>

#include "families/mla/mla.hpp"
#include "schema/detail.hpp"
#include "schema/rows.hpp"

namespace ropegen {

bool RecordPart::operator==(const RecordPart& o) const {
  return kind == o.kind && field == o.field && format == o.format && group == o.group && codec.qmax == o.codec.qmax &&
         codec.floor == o.codec.floor && codec.scale_round == o.codec.scale_round && divide == o.divide &&
         codec.recipe == o.codec.recipe && bytes == o.bytes && k_scale == o.k_scale && transpose == o.transpose;
}

namespace {

using namespace spec_detail;

constexpr int kMaxRecord = 65536;
const RealRange kFloor{0, 1, true};
const RealRange kQmax{0, 1e6, true};

/// DeepSeek-V3.2's fp8_ds_mla (vLLM's concat_and_cache_ds_mla): 512 e4m3 bytes of kv_c / s_t
/// in 4 tiles of 128, the 4 fp32 tile scales s_t = max(amax_t / 448, FLT_MIN), then the 64
/// rotated k_pe values in the activation dtype: 656 bytes.
CacheRecord fp8_ds_mla() {
  CacheRecord r;
  RecordPart kvc;
  kvc.field = "kv_c";
  kvc.format = StoreType::Fp8E4m3;
  kvc.group = 128;
  kvc.codec.qmax = 448;
  kvc.codec.floor = FLT_MIN;
  kvc.divide = true;
  RecordPart scales;
  scales.kind = RecordPart::Kind::Scales;
  scales.field = "kv_c";
  RecordPart pe;
  pe.field = "k_pe";
  r.parts = {kvc, scales, pe};
  r.size = 656;
  return r;
}

/// vLLM's nvfp4_ds_mla (concat_and_cache_nvfp4_ds_mla, vllm-project/vllm
/// csrc/libtorch_stable/nvfp4_ds_mla_cache_kernels.cu): 256 bytes of e2m1 codes of kv_c (element
/// 2i in the low nibble), the 64 rotated k_pe values as unscaled e4m3, then the 32 e4m3 block
/// scales (e4m3 of max(amax / 6, 2^-9) rounded up), group s at byte 8 (s % 4) + s / 4: 352 bytes.
CacheRecord nvfp4_ds_mla() {
  CacheRecord r;
  RecordPart kvc;
  kvc.field = "kv_c";
  kvc.format = StoreType::Nvfp4;
  kvc.group = 16;
  kvc.codec.recipe = Nvfp4Recipe::RoundUp;
  RecordPart pe;
  pe.field = "k_pe";
  pe.format = StoreType::Fp8E4m3;
  RecordPart scales;
  scales.kind = RecordPart::Kind::Scales;
  scales.field = "kv_c";
  scales.transpose = 4;
  r.parts = {kvc, pe, scales};
  r.size = 352;
  return r;
}

bool quantized(const RecordPart& p) { return p.kind == RecordPart::Kind::Values && p.format != StoreType::Auto; }

/// k_pe's values: the rotated row in the dtype (auto) or as fp8 codes of x / k_scale[0]
/// (scale = k_scale) or of x itself (scale = none), saturating: one scale for the row, none
/// stored in the record.
RecordPart lower_pe(const dsl::Value& v, const dsl::Value& format) {
  RecordPart p;
  p.field = v.text;
  p.format = pick<StoreType>(format, "format");
  if (p.format != StoreType::Auto && !is_fp8(p.format))
    fail(format.loc, std::string("k_pe(format = ") + to_string(p.format) +
                         ") is not a k_pe format; valid: auto (the dtype), fp8_e4m3, fp8_e5m2, fp8_e4m3fnuz, "
                         "fp8_e5m2fnuz (one scale for the row: scale = none | k_scale)");
  bool scale_given = false;
  for_args(v, is_fp8(p.format) ? std::vector<std::string>{"format", "scale"} : std::vector<std::string>{"format"},
           [&](const dsl::Value::Arg& a) {
             if (a.name != "scale") return;
             const dsl::Value& w = a.value;
             if (w.kind != dsl::Value::Kind::Ident || (w.text != "none" && w.text != "k_scale"))
               fail(w.loc, "invalid value " + describe_value(w) +
                               " for k_pe's scale; valid values: none (codes of x), k_scale (codes of x / k_scale[0])");
             p.k_scale = w.text == "k_scale";
             scale_given = true;
           });
  if (is_fp8(p.format) && !scale_given)
    fail(v.loc, "k_pe(format = " + std::string(to_string(p.format)) +
                    ") needs scale = none (codes of x, unscaled) | k_scale (codes of x / k_scale[0])");
  return p;
}

RecordPart lower_values(const dsl::Value& v) {
  RecordPart p;
  p.field = v.text;
  const dsl::Value* format = nullptr;
  for (const auto& a : v.args)
    if (a.name == "format") format = &a.value;
  if (!format && v.text == "k_pe") fail(v.loc, "k_pe(...) needs format = auto | fp8_e4m3 | fp8_e5m2 | fp8_e4m3fnuz | fp8_e5m2fnuz");
  if (!format) fail(v.loc, v.text + "(...) needs format = auto | fp8_e4m3 | fp8_e5m2 | fp8_e4m3fnuz | fp8_e5m2fnuz | nvfp4 | mxfp4");
  if (v.text == "k_pe") return lower_pe(v, *format);
  p.format = pick<StoreType>(*format, "format");
  std::vector<std::string> allowed = {"format"};
  if (is_fp8(p.format)) allowed = {"format", "group", "qmax", "floor", "quantize"};
  else if (p.format == StoreType::Mxfp4) allowed = {"format", "scale_round"};
  else if (p.format == StoreType::Nvfp4) allowed = {"format", "recipe"};
  else if (p.format != StoreType::Auto)
    fail(format->loc, std::string("format = ") + to_string(p.format) +
                          " is not a record format; valid: auto (the dtype), fp8_e4m3, fp8_e5m2, fp8_e4m3fnuz, "
                          "fp8_e5m2fnuz, nvfp4, mxfp4");
  if (is_fp8(p.format)) p.group = 0;
  if (p.format == StoreType::Nvfp4) p.group = 16;
  if (p.format == StoreType::Mxfp4) p.group = 32;
  bool group_given = false;
  for_args(v, allowed, [&](const dsl::Value::Arg& a) {
    if (a.name == "group") {
      p.group = static_cast<int>(integer(a.value, "group", IntRange{1, 8192}));
      group_given = true;
    } else if (a.name == "qmax") {
      p.codec.qmax = real(a.value, "qmax", kQmax);
    } else if (a.name == "floor") {
      p.codec.floor = real(a.value, "floor", kFloor);
    } else if (a.name == "quantize") {
      const dsl::Value& w = a.value;
      if (w.kind != dsl::Value::Kind::Ident || (w.text != "divide" && w.text != "multiply"))
        fail(w.loc, "invalid value " + describe_value(w) + " for quantize; valid values: divide (x / s), multiply (x * (1 / s))");
      p.divide = w.text == "divide";
    } else if (a.name == "scale_round") {
      p.codec.scale_round = pick<MxRound>(a.value, "scale_round");
    } else if (a.name == "recipe") {
      p.codec.recipe = pick<Nvfp4Recipe>(a.value, "recipe");
      if (p.codec.recipe == Nvfp4Recipe::Trtllm)
        fail(a.value.loc, "kv_c(format = nvfp4, recipe = trtllm) is not available: a record's nvfp4 kv_c takes "
                          "recipe = exact (k_scale[0] the global scale) | round_up (no global scale)");
    }
  });
  if (is_fp8(p.format) && !group_given) fail(v.loc, v.text + "(format = " + to_string(p.format) + ") needs group = N (elements per scale)");
  return p;
}

RecordPart lower_part(const dsl::Value& v) {
  if (v.kind != dsl::Value::Kind::Call && v.kind != dsl::Value::Kind::Ident)
    fail(v.loc, "expected a record part (kv_c(...), k_pe(...), scales(of = ...), pad(bytes = N)), found " + describe_value(v));
  if (v.text == "kv_c" || v.text == "k_pe") return lower_values(v);
  RecordPart p;
  if (v.text == "scales") {
    p.kind = RecordPart::Kind::Scales;
    for_args(v, {"of", "transpose"}, [&](const dsl::Value::Arg& a) {
      if (a.name == "transpose") {
        p.transpose = static_cast<int>(integer(a.value, "transpose", IntRange{1, 8192}));
        return;
      }
      if (a.value.kind != dsl::Value::Kind::Ident || (a.value.text != "kv_c" && a.value.text != "k_pe"))
        fail(a.value.loc, "invalid value " + describe_value(a.value) + " for of; valid values: kv_c, k_pe");
      p.field = a.value.text;
    });
    if (p.field.empty()) fail(v.loc, "scales(...) needs of = kv_c | k_pe (whose scales)");
    return p;
  }
  if (v.text == "pad") {
    p.kind = RecordPart::Kind::Pad;
    for_args(v, {"bytes"}, [&](const dsl::Value::Arg& a) {
      p.bytes = static_cast<int>(integer(a.value, "bytes", IntRange{1, kMaxRecord}));
    });
    if (p.bytes == 0) fail(v.loc, "pad(...) needs bytes = N");
    return p;
  }
  fail(v.loc, "unknown record part '" + v.text + "'" + suggestion(v.text, {"kv_c", "k_pe", "scales", "pad"}) +
                  " (valid: kv_c, k_pe, scales, pad)");
}

void lower_record(const SpecField& f, const dsl::Value& v, KernelSpec& s) {
  if (v.kind == dsl::Value::Kind::Ident && v.text == "none") {
    s.cache_record = CacheRecord{};
    return;
  }
  if (v.kind == dsl::Value::Kind::Ident && v.text == "fp8_ds_mla") {
    s.cache_record = fp8_ds_mla();
    return;
  }
  if (v.kind == dsl::Value::Kind::Ident && v.text == "nvfp4_ds_mla") {
    s.cache_record = nvfp4_ds_mla();
    return;
  }
  if (v.kind != dsl::Value::Kind::Call || v.text != "record")
    fail(v.loc, "invalid value " + describe_value(v) + " for " + f.key +
                    "; valid values: none, fp8_ds_mla, nvfp4_ds_mla, record(parts = [...], size = N)");
  CacheRecord r;
  bool has_parts = false;
  for_args(v, {"parts", "size"}, [&](const dsl::Value::Arg& a) {
    if (a.name == "size") {
      r.size = static_cast<int>(integer(a.value, "size", IntRange{1, kMaxRecord}));
      return;
    }
    if (a.value.kind != dsl::Value::Kind::List || a.value.items.empty())
      fail(a.value.loc, "parts = expects a non-empty list of record parts, found " + describe_value(a.value));
    if (a.value.items.size() > 64) fail(a.value.loc, "a record has at most 64 parts");
    for (const dsl::Value& item : a.value.items) r.parts.push_back(lower_part(item));
    has_parts = true;
  });
  if (!has_parts) fail(v.loc, "record(...) needs parts = [...]");
  if (r.size == 0) fail(v.loc, "record(...) needs size = N (bytes per row)");
  s.cache_record = r;
}

void text_part(const RecordPart& p, std::string& out) {
  if (p.kind == RecordPart::Kind::Scales) {
    out += "scales(of=" + p.field + (p.transpose != 1 ? ",transpose=" + std::to_string(p.transpose) : "") + ")";
  } else if (p.kind == RecordPart::Kind::Pad) {
    out += "pad(bytes=" + std::to_string(p.bytes) + ")";
  } else {
    out += p.field + "(format=" + name_of(p.format);
    if (p.field == "k_pe" && is_fp8(p.format))
      out += std::string(",scale=") + (p.k_scale ? "k_scale" : "none");
    else if (is_fp8(p.format))
      out += ",group=" + std::to_string(p.group) + ",qmax=" + (p.codec.qmax ? format_double(p.codec.qmax) : "auto") +
             ",floor=" + format_double(p.codec.floor) + ",quantize=" + (p.divide ? "divide" : "multiply");
    else if (p.format == StoreType::Mxfp4)
      out += std::string(",scale_round=") + name_of(p.codec.scale_round);
    else if (p.format == StoreType::Nvfp4 && p.codec.recipe != Nvfp4Recipe::Exact)  // exact: the text before recipes
      out += std::string(",recipe=") + name_of(p.codec.recipe);
    out += ")";
  }
}

void text_record(const KernelSpec& s, std::string& out) {
  const CacheRecord& r = s.cache_record;
  if (!r.used()) {
    out += "none";
    return;
  }
  out += "record(parts=[";
  for (size_t i = 0; i < r.parts.size(); ++i) {
    if (i) out += ",";
    text_part(r.parts[i], out);
  }
  out += "],size=" + std::to_string(r.size) + ")";
}

int compare_record(const KernelSpec& a, const KernelSpec& b) {
  std::string x, y;
  text_record(a, x);
  text_record(b, y);
  return cmp(x, y);
}

std::string check_record(const SpecField&, const KernelSpec& s) {
  for (const RecordPart& p : s.cache_record.parts) {
    if (p.kind != RecordPart::Kind::Values || !is_fp8(p.format)) continue;
    std::string e = kFloor.check("floor", p.codec.floor);
    if (e.empty() && p.codec.qmax != 0) e = kQmax.check("qmax", p.codec.qmax);
    if (!e.empty()) return e;
  }
  return "";
}

}  // namespace

int record_part_bytes(const KernelSpec& s, const RecordPart& p) {
  const int len = p.field == "kv_c" ? s.kv_lora_rank : s.rotary_dim;
  switch (p.kind) {
    case RecordPart::Kind::Pad: return p.bytes;
    case RecordPart::Kind::Values:
      if (p.format == StoreType::Auto) return len * dtype_bytes(s.dtype);
      return p.format == StoreType::Nvfp4 || p.format == StoreType::Mxfp4 ? len / 2 : len;
    case RecordPart::Kind::Scales: {
      const RecordPart* v = nullptr;
      for (const RecordPart& q : s.cache_record.parts)
        if (q.kind == RecordPart::Kind::Values && q.field == p.field) v = &q;
      if (!v || !v->group) return 0;
      return len / v->group * (is_fp8(v->format) ? 4 : 1);
    }
  }
  return 0;
}

std::string record_problem(const KernelSpec& s) {
  const CacheRecord& r = s.cache_record;
  const int vec = 16 / dtype_bytes(s.dtype);
  int at = 0;
  for (const char* field : {"kv_c", "k_pe"}) {
    int values = 0, scales = 0;
    const RecordPart *v = nullptr, *sc = nullptr;
    for (const RecordPart& p : r.parts) {
      if (p.field != field) continue;
      if (p.kind == RecordPart::Kind::Values) {
        ++values;
        v = &p;
      } else if (p.kind == RecordPart::Kind::Scales) {
        ++scales;
        sc = &p;
      }
    }
    const std::string f = field;
    if (values != 1) return "the record names " + f + "'s values " + std::to_string(values) + " times; it needs " + f + "(format = ...) once";
    if (f == "k_pe" && quantized(*v)) {  // fp8 codes with one scale for the row, not stored
      if (scales)
        return "scales(of = k_pe) names scales that k_pe(format = " + std::string(to_string(v->format)) +
               ") does not store: its codes share one scale, k_scale[0] or none (scale = k_scale | none)";
      continue;
    }
    if (quantized(*v) && scales != 1)
      return f + "(format = " + to_string(v->format) + ") needs its scales placed once: scales(of = " + f + ")";
    if (!quantized(*v) && scales)
      return "scales(of = " + f + ") names the scales of " + f + ", which has none (format = auto)";
    if (quantized(*v)) {
      const int len = s.kv_lora_rank;
      if (v->group % vec != 0 || len % v->group != 0)
        return f + "(group = " + std::to_string(v->group) + ") must be a multiple of the vector width (" +
               std::to_string(vec) + " " + to_string(s.dtype) + " elements) that divides kv_lora_rank = " +
               std::to_string(len);
      const int groups = len / v->group;
      if (groups % sc->transpose != 0)
        return "scales(of = " + f + ", transpose = " + std::to_string(sc->transpose) + ") must divide the " +
               std::to_string(groups) + " scales of " + f + " (kv_lora_rank / group)";
    }
  }
  for (const RecordPart& p : r.parts) {
    const int n = record_part_bytes(s, p);
    const bool scales = p.kind == RecordPart::Kind::Scales;
    const int align = p.kind == RecordPart::Kind::Pad ? 1 : scales ? std::min(n, 4) : 16;
    std::string name;
    text_part(p, name);
    if (at % align != 0)
      return "record part " + name + " starts at byte " + std::to_string(at) + ", which is not a multiple of " +
             std::to_string(align) + " (add pad(bytes = " + std::to_string(align - at % align) + ") before it)";
    at += n;
  }
  if (at > r.size)
    return "the record's parts take " + std::to_string(at) + " bytes, more than size = " + std::to_string(r.size);
  if (r.size % 16 != 0)
    return "record size = " + std::to_string(r.size) + " is not a multiple of 16 bytes (each row's vectors stay aligned)";
  return "";
}

RecordLayout record_layout(const KernelSpec& s) {
  RecordLayout l;
  l.size = s.cache_record.size;
  int at = 0;
  for (const RecordPart& p : s.cache_record.parts) {
    if (p.kind == RecordPart::Kind::Values && p.field == "kv_c") {
      l.kvc = p;
      l.kvc_at = at;
    } else if (p.kind == RecordPart::Kind::Values && p.field == "k_pe") {
      l.pe = p;
      l.pe_at = at;
    } else if (p.kind == RecordPart::Kind::Scales && p.field == "kv_c") {
      l.kvc_scales_at = at;
      l.kvc_scale_transpose = p.transpose;
    }
    at += record_part_bytes(s, p);
  }
  return l;
}

SpecField cache_record_field() {
  return SpecField{"cache_record",
                   "none | fp8_ds_mla | nvfp4_ds_mla | record(parts = [kv_c(format = F, ...), scales(of = kv_c, "
                   "transpose = R), k_pe(format = auto | fp8 format, scale = none | k_scale), pad(bytes = N), ...], "
                   "size = N)",
                   "mla_rope_append: the cache row as a byte record: its parts in byte order (kv_c and k_pe values in "
                   "a format, a quantized field's scales, padding) and its size; fp8_ds_mla is DeepSeek-V3.2's "
                   "656-byte record, nvfp4_ds_mla vLLM's 352-byte nvfp4 one (docs/dsl.md, records)",
                   nullptr,
                   FieldUse{false, false, "mla"},
                   /*omit_default=*/true,
                   {"none op=mla_rope_append",
                    "fp8_ds_mla op=mla_rope_append head_dim=192 rotary_dim=64 rotary_offset=128",
                    "nvfp4_ds_mla op=mla_rope_append head_dim=192 rotary_dim=64 rotary_offset=128",
                    "record(parts=[kv_c(format=nvfp4),scales(of=kv_c),k_pe(format=auto)],size=416) "
                    "op=mla_rope_append head_dim=192 rotary_dim=64 rotary_offset=128",
                    "record(parts=[kv_c(format=nvfp4),k_pe(format=fp8_e4m3,scale=none),scales(of=kv_c)],size=352) "
                    "op=mla_rope_append head_dim=192 rotary_dim=64 rotary_offset=128"},
                   lower_record,
                   text_record,
                   check_record,
                   compare_record};
}

}  // namespace ropegen
