// The rope_kv family's spec rows: the keys only rope, kv_append and rope_kv_append read.
// Each row follows the key it followed when the schema held it (SpecField::after), so the
// canonical text, hash and cache keys of every spec stay as they were; window and cache_tail
// came later and go last, then layers.
#include <string>
#include <vector>

#include "families/rope_kv/rope_kv.hpp"
#include "schema/detail.hpp"
#include "schema/fields.hpp"
#include "schema/rows.hpp"

namespace ropegen {
namespace {

using namespace spec_detail;

// Which of the family's ops use a row.
const FieldUse kRowOps{false, false, "rope_kv"};   // every op of the family
const FieldUse kRopeOps{true, false, "rope_kv"};   // the ops that rotate
const FieldUse kCacheOps{false, true, "rope_kv"};  // the ops that write a cache

const char* const kPositionsValues =
    "single | mrope(sections = [t, h, w]) | imrope(sections = [t, h, w]) | vision(sections = [row, column]) | "
    "grid(sections = [t, h, w])";

/// What a positions kind's sections list: its size and the rows they name.
int section_count(PositionsKind k) { return k == PositionsKind::Vision ? 2 : 3; }
const char* section_rows(PositionsKind k) { return k == PositionsKind::Vision ? "row, column" : "t, h, w"; }

const IntRange kSection{0, 512};
const RealRange kEps{0, 1, true};

const IntRange kRanks{1, 1 << 16};

const char* const kQkNormValues =
    "none, rms(eps = E, weight = w | one_plus_w | none, span = head | all_heads, order = pre | post, sums = none | "
    "write | read, ranks = N)";

/// A norm key's value: false for none, true for rms(...) (whose arguments the caller reads);
/// anything else is an error at the value listing `valid`.
bool rms_call(const dsl::Value& v, const char* key, const char* valid) {
  if (v.kind == dsl::Value::Kind::Ident && v.text == "none") return false;
  if (!is_call_named(v, "rms")) {
    std::string hint = v.kind == dsl::Value::Kind::Ident || v.kind == dsl::Value::Kind::Call
                           ? suggestion(v.text, {"none", "rms"})
                           : "";
    fail(v.loc, "invalid value " + describe_value(v) + " for " + key + "; valid values: " + valid + hint);
  }
  return true;
}

void lower_qk_norm(const SpecField&, const dsl::Value& v, KernelSpec& s) {
  QkNorm n;
  if (!rms_call(v, "qk_norm", kQkNormValues)) {
    s.qk_norm = n;
    return;
  }
  n.on = true;
  const dsl::Value::Arg* gemma = nullptr;
  const dsl::Value::Arg* weight = nullptr;
  for_args(v, {"eps", "gemma", "weight", "span", "order", "sums", "ranks"}, [&](const dsl::Value::Arg& a) {
    if (a.name == "eps") n.eps = real(a.value, "eps", kEps);
    else if (a.name == "sums") n.sums = pick<NormSums>(a.value, "sums");
    else if (a.name == "ranks") n.ranks = static_cast<int>(integer(a.value, "ranks", kRanks));
    else if (a.name == "weight") {
      n.weight = pick<NormWeight>(a.value, "weight");
      weight = &a;
    } else if (a.name == "span") n.span = pick<NormSpan>(a.value, "span");
    else if (a.name == "order") n.order = pick<NormOrder>(a.value, "order");
    else {  // gemma = true is weight = one_plus_w, the spelling from before weight existed
      const dsl::Value& b = a.value;
      if (b.kind != dsl::Value::Kind::Ident || (b.text != "true" && b.text != "false"))
        fail(b.loc, "expected true or false for gemma, found " + describe_value(b));
      gemma = &a;
    }
  });
  if (gemma) {
    const bool on = gemma->value.text == "true";
    if (weight && (n.weight == NormWeight::OnePlusW) != on)
      fail(gemma->name_loc, "gemma = " + gemma->value.text + " contradicts weight = " + to_string(n.weight) +
                                " (gemma = true means weight = one_plus_w; give one of the two)");
    if (on) n.weight = NormWeight::OnePlusW;
  }
  s.qk_norm = n;
}

// rms(eps, gemma) as before weight, span and order existed (their cache keys stay); the
// others only when they differ from the defaults.
void text_qk_norm(const KernelSpec& s, std::string& out) {
  const QkNorm& n = s.qk_norm;
  if (!n.on) {
    out += "none";
    return;
  }
  out += "rms(eps=" + format_double(n.eps) + ",gemma=" + (n.weight == NormWeight::OnePlusW ? "true" : "false");
  if (n.weight == NormWeight::None) out += ",weight=none";
  if (n.span != NormSpan::Head) out += std::string(",span=") + name_of(n.span);
  if (n.order != NormOrder::Pre) out += std::string(",order=") + name_of(n.order);
  if (n.sums != NormSums::None) out += std::string(",sums=") + name_of(n.sums);
  if (n.ranks != 1) out += ",ranks=" + std::to_string(n.ranks);
  out += ")";
}

std::string check_qk_norm(const SpecField&, const KernelSpec& s) {
  if (!s.qk_norm.on) return "";
  if (std::string e = kRanks.check("ranks", s.qk_norm.ranks); !e.empty()) return e;
  return kEps.check("eps", s.qk_norm.eps);
}

int compare_qk_norm(const KernelSpec& a, const KernelSpec& b) {
  if (int c = cmp(a.qk_norm.on, b.qk_norm.on)) return c;
  if (!a.qk_norm.on) return 0;
  if (int c = cmp(a.qk_norm.eps, b.qk_norm.eps)) return c;
  if (int c = cmp(a.qk_norm.weight, b.qk_norm.weight)) return c;
  if (int c = cmp(a.qk_norm.span, b.qk_norm.span)) return c;
  if (int c = cmp(a.qk_norm.sums, b.qk_norm.sums)) return c;
  if (int c = cmp(a.qk_norm.ranks, b.qk_norm.ranks)) return c;
  return cmp(a.qk_norm.order, b.qk_norm.order);
}

void lower_v_norm(const SpecField&, const dsl::Value& v, KernelSpec& s) {
  VNorm n;
  if (!rms_call(v, "v_norm", "none, rms(eps = E)")) {
    s.v_norm = n;
    return;
  }
  n.on = true;
  for_args(v, {"eps"}, [&](const dsl::Value::Arg& a) { n.eps = real(a.value, "eps", kEps); });
  s.v_norm = n;
}

void text_v_norm(const KernelSpec& s, std::string& out) {
  out += s.v_norm.on ? "rms(eps=" + format_double(s.v_norm.eps) + ")" : std::string("none");
}

std::string check_v_norm(const SpecField&, const KernelSpec& s) {
  return s.v_norm.on ? kEps.check("eps", s.v_norm.eps) : "";
}

int compare_v_norm(const KernelSpec& a, const KernelSpec& b) {
  if (int c = cmp(a.v_norm.on, b.v_norm.on)) return c;
  return a.v_norm.on ? cmp(a.v_norm.eps, b.v_norm.eps) : 0;
}

const RealRange kAttnScale{0, 1e3, true};
const RealRange kFloorScale{0, 1e9, true};
const RealRange kLognBase{1, 1e9, true};

void lower_q_temperature(const SpecField&, const dsl::Value& v, KernelSpec& s) {
  QTemperature q;
  if (v.kind == dsl::Value::Kind::Ident && v.text == "none") {
    s.q_temperature = q;
    return;
  }
  if (is_call_named(v, "llama4")) {
    q.kind = QTemperature::Llama4;
    for_args(v, {"attn_scale", "floor_scale"}, [&](const dsl::Value::Arg& a) {
      if (a.name == "attn_scale") q.attn_scale = real(a.value, "attn_scale", kAttnScale);
      else q.floor_scale = real(a.value, "floor_scale", kFloorScale);
    });
  } else if (is_call_named(v, "logn")) {
    q.kind = QTemperature::Logn;
    bool base = false;
    for_args(v, {"base"}, [&](const dsl::Value::Arg& a) {
      q.base = real(a.value, "base", kLognBase);
      base = true;
    });
    if (!base) fail(v.loc, "logn(...) needs base (the length from which q is scaled by log(p + 1) / log(base))");
  } else {
    std::string hint = v.kind == dsl::Value::Kind::Ident || v.kind == dsl::Value::Kind::Call
                           ? suggestion(v.text, {"none", "llama4", "logn"})
                           : "";
    fail(v.loc, "invalid value " + describe_value(v) +
                    " for q_temperature; valid values: none, llama4(attn_scale = A, floor_scale = F), logn(base = N)" +
                    hint);
  }
  s.q_temperature = q;
}

void text_q_temperature(const KernelSpec& s, std::string& out) {
  const QTemperature& q = s.q_temperature;
  if (q.kind == QTemperature::None) out += "none";
  else if (q.kind == QTemperature::Llama4)
    out += "llama4(attn_scale=" + format_double(q.attn_scale) + ",floor_scale=" + format_double(q.floor_scale) + ")";
  else out += "logn(base=" + format_double(q.base) + ")";
}

std::string check_q_temperature(const SpecField&, const KernelSpec& s) {
  const QTemperature& q = s.q_temperature;
  if (q.kind == QTemperature::Llama4) {
    std::string e = kAttnScale.check("attn_scale", q.attn_scale);
    return e.empty() ? kFloorScale.check("floor_scale", q.floor_scale) : e;
  }
  return q.kind == QTemperature::Logn ? kLognBase.check("base", q.base) : "";
}

int compare_q_temperature(const KernelSpec& a, const KernelSpec& b) {
  const QTemperature &x = a.q_temperature, &y = b.q_temperature;
  if (int c = cmp(static_cast<int>(x.kind), static_cast<int>(y.kind))) return c;
  if (x.kind == QTemperature::Llama4) {
    if (int c = cmp(x.attn_scale, y.attn_scale)) return c;
    return cmp(x.floor_scale, y.floor_scale);
  }
  return x.kind == QTemperature::Logn ? cmp(x.base, y.base) : 0;
}

void lower_positions(const SpecField&, const dsl::Value& v, KernelSpec& s) {
  Positions p;
  if (v.kind == dsl::Value::Kind::Ident && v.text == "single") {
    s.positions = p;
    return;
  }
  if (is_call_named(v, "mrope")) p.kind = PositionsKind::Mrope;
  else if (is_call_named(v, "imrope")) p.kind = PositionsKind::Imrope;
  else if (is_call_named(v, "vision")) p.kind = PositionsKind::Vision;
  else if (is_call_named(v, "grid")) p.kind = PositionsKind::Grid;
  else {
    std::string hint = v.kind == dsl::Value::Kind::Ident || v.kind == dsl::Value::Kind::Call
                           ? suggestion(v.text, {"single", "mrope", "imrope", "vision", "grid"})
                           : "";
    fail(v.loc, "invalid value " + describe_value(v) + " for positions; valid values: " + kPositionsValues + hint);
  }
  const size_t n = static_cast<size_t>(section_count(p.kind));
  for_args(v, {"sections"}, [&](const dsl::Value::Arg& a) {
    if (a.value.kind != dsl::Value::Kind::List || a.value.items.size() != n)
      fail(a.value.loc, "sections must be a list of " + std::to_string(n) + " integers (frequency indices per " +
                            section_rows(p.kind) + " row), found " +
                            (a.value.kind == dsl::Value::Kind::List
                                 ? "a list of " + std::to_string(a.value.items.size())
                                 : describe_value(a.value)));
    for (const dsl::Value& it : a.value.items) p.sections.push_back(static_cast<int>(integer(it, "sections[i]", kSection)));
  });
  if (p.sections.empty())
    fail(v.loc, std::string(v.text) + "(...) needs sections = [" + section_rows(p.kind) + "]");
  s.positions = p;
}

void text_positions(const KernelSpec& s, std::string& out) {
  const Positions& p = s.positions;
  if (p.kind == PositionsKind::Single) {
    out += "single";
    return;
  }
  out += p.kind == PositionsKind::Mrope    ? "mrope(sections=["
         : p.kind == PositionsKind::Imrope ? "imrope(sections=["
         : p.kind == PositionsKind::Grid   ? "grid(sections=["
                                           : "vision(sections=[";
  for (size_t i = 0; i < p.sections.size(); ++i) out += (i ? "," : "") + std::to_string(p.sections[i]);
  out += "])";
}

std::string check_positions(const SpecField&, const KernelSpec& s) {
  const Positions& p = s.positions;
  if (p.kind == PositionsKind::Single) return p.sections.empty() ? "" : "positions = single takes no sections";
  const size_t n = static_cast<size_t>(section_count(p.kind));
  if (p.sections.size() != n)
    return "sections must be a list of " + std::to_string(n) + " integers (frequency indices per " +
           section_rows(p.kind) + " row)";
  for (int x : p.sections)
    if (std::string e = kSection.check("sections[i]", x); !e.empty()) return e;
  return "";
}

int compare_positions(const KernelSpec& a, const KernelSpec& b) {
  if (int c = cmp(a.positions.kind, b.positions.kind)) return c;
  return cmp(a.positions.sections, b.positions.sections);
}

const IntRange kWindow{1, 1 << 30};

// window = none | ring(size = W, sinks = S).
void lower_window(const SpecField&, const dsl::Value& v, KernelSpec& s) {
  RingWindow w;
  if (v.kind == dsl::Value::Kind::Ident && v.text == "none") {
    s.window = w;
    return;
  }
  if (!is_call_named(v, "ring"))
    fail(v.loc, "invalid value " + describe_value(v) + " for window; valid values: none, ring(size = W, sinks = S)" +
                    (v.kind == dsl::Value::Kind::Ident || v.kind == dsl::Value::Kind::Call ? suggestion(v.text, {"none", "ring"})
                                                                                          : ""));
  w.on = true;
  bool has_size = false;
  for_args(v, {"size", "sinks"}, [&](const dsl::Value::Arg& a) {
    if (a.name == "size") {
      w.size = static_cast<int>(integer(a.value, "size", kWindow));
      has_size = true;
    } else {
      w.sinks = static_cast<int>(integer(a.value, "sinks", IntRange{0, (1 << 30) - 1}));
    }
  });
  if (!has_size) fail(v.loc, "window = ring(...) needs size = W (the tokens the window keeps, sinks included)");
  s.window = w;
}

void text_window(const KernelSpec& s, std::string& out) {
  out += s.window.on ? "ring(size=" + std::to_string(s.window.size) + ",sinks=" + std::to_string(s.window.sinks) + ")"
                     : "none";
}

std::string check_window(const SpecField&, const KernelSpec& s) {
  if (!s.window.on) return "";
  if (std::string e = kWindow.check("size", s.window.size); !e.empty()) return e;
  if (s.window.sinks < 0 || s.window.sinks >= s.window.size)
    return "sinks = " + std::to_string(s.window.sinks) + " is out of range; expected 0 to size - 1 = " +
           std::to_string(s.window.size - 1);
  return "";
}

int compare_window(const KernelSpec& a, const KernelSpec& b) {
  if (int c = cmp(a.window.on, b.window.on)) return c;
  if (!a.window.on) return 0;
  if (int c = cmp(a.window.size, b.window.size)) return c;
  return cmp(a.window.sinks, b.window.sinks);
}

// cache_tail = keep | zero.
void lower_cache_tail(const SpecField&, const dsl::Value& v, KernelSpec& s) {
  if (v.kind == dsl::Value::Kind::Ident && (v.text == "keep" || v.text == "zero")) {
    s.cache_tail = v.text == "zero" ? CacheTail::Zero : CacheTail::Keep;
    return;
  }
  fail(v.loc, "invalid value " + describe_value(v) + " for cache_tail; valid values: keep, zero" +
                  (v.kind == dsl::Value::Kind::Ident ? suggestion(v.text, {"keep", "zero"}) : ""));
}

}  // namespace

std::vector<SpecField> rope_kv_spec_fields() {
  std::vector<SpecField> rows;
  rows.push_back(int_field<&KernelSpec::kv_heads, 1, 1024>("kv_heads", "1..1024", "key/value heads (GQA, MQA)", nullptr,
                                                     kRowOps, {"1", "8", "16"}));
  rows.back().after = "q_heads";
  rows.push_back(enum_field<Checks, &KernelSpec::checks>("checks",
                                              "bounds: require the limits (cache_slots, table_rows; they skip "
                                              "out-of-range tokens in every mode), also skip a negative position "
                                              "with computed cos/sin, and record the first skipped token in "
                                              "bounds_error",
                                              kRowOps, /*omit_default=*/true));
  rows.back().after = "pdl";
  rows.push_back(SpecField{"positions",
                kPositionsValues,
                "position rows per token: one, or t/h/w rows ([3, tokens], positions_stride apart) for multimodal "
                "RoPE; sections split the rotary_dim / 2 frequencies among the rows, contiguous (mrope) or "
                "cycling (imrope); vision: row and column rows ([2, tokens]) of a vision tower's 2-D RoPE, the "
                "frequency exponent restarting in the column section (b^(-4j'/rotary_dim), j' within its section); "
                "grid: video DiTs' 3-D RoPE, one position per token (its index in the frames x grid_h x grid_w grid, "
                "whose height and width the argument block passes) giving frame, row and column, each section "
                "with its own frequencies b^(-j'/n) (n: the section's size, j' within it)",
                nullptr,
                kRopeOps,
                /*omit_default=*/true,
                {"single", "mrope(sections=[16,24,24])", "mrope(sections=[24,20,20])", "imrope(sections=[24,20,20])",
                 "vision(sections=[32,32])", "grid(sections=[22,21,21]) style=gptj"},
                lower_positions,
                text_positions,
                check_positions,
                compare_positions});
  rows.back().after = "checks";
  rows.push_back(enum_field<Heads, &KernelSpec::heads>("heads",
                                            "packed: a token's heads are head_dim apart; strided: "
                                            "q/k/v_head_stride apart (vLLM's padded heads)",
                                            kRowOps, /*omit_default=*/true));
  rows.back().after = "angle";
  rows.push_back(enum_field<Outputs, &KernelSpec::outputs>("outputs",
                                                "in_place: q and k are rotated where they are; separate: to q_out "
                                                "and k_out (rope_kv_append: k to the cache and k_out)",
                                                kRopeOps, /*omit_default=*/true));
  rows.back().after = "heads";
  rows.push_back(enum_field<StoreType, &KernelSpec::q_dtype>(
          "q_dtype", "auto: q keeps dtype; fp8: the rotated q goes to q_out in fp8, scaled by q_scale", kRopeOps,
          /*omit_default=*/true, {"auto", "fp8_e4m3 outputs=separate", "fp8_e5m2 outputs=separate"}));
  rows.back().after = "cache_dtype";
  rows.push_back(enum_field<Scales, &KernelSpec::scales>(
          "scales",
          "cache scales: fp8 reads one float (per_tensor) or one per KV head (per_head) from k_scale, v_scale "
          "(nvfp4: its global scale, per_tensor); per_token_head computes one per (token, head) from the row "
          "(max(amax / qmax, floor)) and writes it to k_cache_scales, v_cache_scales (int8 and int4 need it)",
          kCacheOps, /*omit_default=*/true,
          {"per_tensor cache_dtype=fp8_e4m3", "per_head cache_dtype=fp8_e4m3",
           "per_token_head cache_dtype=fp8_e4m3"}));
  rows.back().after = "q_dtype";
  rows.push_back(enum_field<Scales, &KernelSpec::q_scales>(
          "q_scales",
          "fp8 q_out: divided by q_scale[0] (per_tensor), or by a scale per (token, head) computed in the kernel "
          "(max(amax / the format's largest value, 1e-6)) and written to q_out_scales (per_token_head)",
          kRopeOps, /*omit_default=*/true,
          {"per_tensor q_dtype=fp8_e4m3 outputs=separate", "per_token_head q_dtype=fp8_e4m3 outputs=separate"}));
  rows.back().after = "scales";
  rows.push_back(SpecField{"qk_norm",
                "none | rms(eps = E, weight = w | one_plus_w | none, span = head | all_heads, order = pre | post, "
                "sums = none | write | read, ranks = N)",
                "RMSNorm of q and k in fp32 (weights q_norm_weight, k_norm_weight): y = x / sqrt(mean(x^2) + eps) "
                "* w (one_plus_w, also written gemma = true: * (1 + w); none: no weight); span = all_heads: one "
                "RMS over all of a token's q heads and one over its k heads, weights heads * head_dim long; "
                "order = post: after the rotation; sums (span = all_heads under tensor parallelism): write "
                "(op = rope) only writes each token's sums of squares to norm_sums, read normalizes with the sums "
                "read from norm_sums (added over the ranks) divided by ranks * heads * head_dim",
                nullptr,
                kRopeOps,
                /*omit_default=*/true,
                {"none", "rms(eps=1e-6)", "rms(eps=1e-5)", "rms(eps=1e-6,gemma=true)", "rms(eps=1e-6,weight=none)",
                 "rms(eps=1e-6,span=all_heads)", "rms(eps=1e-5,weight=none,order=post)",
                 "rms(eps=1e-6,span=all_heads,sums=read,ranks=2)"},
                lower_qk_norm,
                text_qk_norm,
                check_qk_norm,
                compare_qk_norm});
  rows.back().after = "q_scales";
  rows.push_back(SpecField{"v_norm",
                "none | rms(eps = E)",
                "weightless RMSNorm of each v head before the cache write, in fp32: v / sqrt(mean(v^2) + eps)",
                nullptr,
                kCacheOps,
                /*omit_default=*/true,
                {"none", "rms(eps=1e-6)"},
                lower_v_norm,
                text_v_norm,
                check_v_norm,
                compare_v_norm});
  rows.back().after = "qk_norm";
  rows.push_back(SpecField{"q_temperature",
                "none | llama4(attn_scale = A, floor_scale = F) | logn(base = N)",
                "q times a factor of the token's position p, in fp32 after the rotation and norms: llama4: "
                "log(floor((p + 1) / floor_scale) + 1) * attn_scale + 1 (Llama 4's NoPE layers); logn: "
                "log(p + 1) / log(base) once p + 1 > base",
                nullptr,
                kRopeOps,
                /*omit_default=*/true,
                {"none", "llama4(attn_scale=0.1,floor_scale=8192)", "logn(base=8192)"},
                lower_q_temperature,
                text_q_temperature,
                check_q_temperature,
                compare_q_temperature});
  rows.back().after = "v_norm";
  rows.push_back(enum_field<VSource, &KernelSpec::v_source>(
          "v_source", "where the cache's v rows come from: v, or k as given (before any norm and rotation; v is "
          "not read)", kCacheOps, /*omit_default=*/true, {"v", "k"}));
  rows.back().after = "q_temperature";
  rows.push_back(enum_field<Bias, &KernelSpec::bias>(
          "bias", "qkv: q, k and v plus q_bias, k_bias and v_bias (the activation dtype; q's over its whole row, the "
          "gate halves included), added in fp32 and rounded to the dtype as the rows are read, before the norms and "
          "the rotation (a QKV projection whose GEMM has no bias epilogue)", kRowOps, /*omit_default=*/true,
          {"none", "qkv"}));
  rows.back().after = "v_source";
  rows.push_back(enum_field<Gate, &KernelSpec::gate>(
          "gate", "interleaved: q's rows hold per head [q_h | gate_h] (Qwen3-Next, Qwen3.5 gated attention): q is "
          "read 2 * head_dim per head and each gate half is written to gate_out [tokens, q_heads, head_dim] (the "
          "engine applies the sigmoid after attention)", kRopeOps, /*omit_default=*/true, {"none", "interleaved"}));
  rows.back().after = "bias";
  rows.push_back(SpecField{"window",
                    "none | ring(size = W, sinks = S)",
                    "paged caches: ring(...) writes a sliding-window ring: position p < S keeps slot p, later ones "
                    "slot S + bubble + (p - S) mod (W - S) (bubble pads the sinks to a page), from ring_base",
                    nullptr,
                    kCacheOps,
                    /*omit_default=*/true,
                    {"none", "ring(size=256,sinks=0)", "ring(size=100,sinks=4)"},
                    lower_window,
                    text_window,
                    check_window,
                    compare_window});
  rows.push_back(SpecField{"cache_tail",
                    "keep | zero",
                    "paged caches: zero: a token whose next token does not write the next slot of its page zeroes "
                    "the rest of that page (for readers of whole pages)",
                    nullptr,
                    kCacheOps,
                    /*omit_default=*/true,
                    {"keep", "zero"},
                    lower_cache_tail,
                    [](const KernelSpec& s, std::string& out) { out += s.cache_tail == CacheTail::Zero ? "zero" : "keep"; },
                    [](const SpecField&, const KernelSpec&) { return std::string(); },
                    [](const KernelSpec& a, const KernelSpec& b) { return cmp(a.cache_tail, b.cache_tail); }});
  rows.push_back(enum_field<Layers, &KernelSpec::layers>(
          "layers",
          "many: one launch writes num_layers layers (grid z): layer l reads q, k, v at l times q_layer_stride, "
          "k_layer_stride, v_layer_stride and takes its caches, scales, norm weights, biases and outputs from the "
          "device array layers[l] (ropegen_layer_args); positions, slots and cos/sin are shared",
          kCacheOps, /*omit_default=*/true, {"one", "many"}));
  return rows;
}

}  // namespace ropegen
