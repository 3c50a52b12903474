// The pieces schema rows are built from, for the shared table (schema.cpp) and the rows a
// family adds (src/families/<name>/): the word tables of the spec's enums (parsing, canonical
// text, to_string), picking a word or a number with the DSL's messages, and the row kinds.
// Private to the library.
#pragma once

#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "detail.hpp"
#include "dsl/dsl.hpp"
#include "families/family.hpp"
#include "fields.hpp"
#include "ropegen/spec.hpp"

namespace ropegen::spec_detail {

// ---- enum names: one table per enum, for parsing and printing ----

template <class E>
using Names = std::vector<std::pair<std::string, E>>;

inline const Names<Op>& names(Op*) {
  // The ops and their DSL names come from the family registry (src/families/registry.cpp).
  static const Names<Op> n = [] {
    Names<Op> out;
    for (const OpRow& r : op_rows()) out.emplace_back(r.name, r.op);
    return out;
  }();
  return n;
}
inline const Names<Style>& names(Style*) {
  static const Names<Style> n = {{"neox", Style::Neox}, {"gptj", Style::Gptj}};
  return n;
}
inline const Names<DType>& names(DType*) {
  static const Names<DType> n = {{"f32", DType::F32}, {"f16", DType::F16}, {"bf16", DType::BF16}};
  return n;
}
inline const Names<IndexType>& names(IndexType*) {
  static const Names<IndexType> n = {{"i32", IndexType::I32}, {"i64", IndexType::I64}};
  return n;
}
inline const Names<Pdl>& names(Pdl*) {
  static const Names<Pdl> n = {{"off", Pdl::Off}, {"on", Pdl::On}};
  return n;
}
inline const Names<Checks>& names(Checks*) {
  static const Names<Checks> n = {{"none", Checks::None}, {"bounds", Checks::Bounds}};
  return n;
}
inline const Names<Layers>& names(Layers*) {
  static const Names<Layers> n = {{"one", Layers::One}, {"many", Layers::Many}};
  return n;
}
inline const Names<Angle>& names(Angle*) {
  static const Names<Angle> n = {{"fp32", Angle::Fp32}, {"exact", Angle::Exact}};
  return n;
}
inline const Names<Heads>& names(Heads*) {
  static const Names<Heads> n = {{"packed", Heads::Packed}, {"strided", Heads::Strided}};
  return n;
}
inline const Names<Outputs>& names(Outputs*) {
  static const Names<Outputs> n = {{"in_place", Outputs::InPlace}, {"separate", Outputs::Separate}};
  return n;
}
inline const Names<StoreType>& names(StoreType*) {
  static const Names<StoreType> n = {{"auto", StoreType::Auto},          {"f32", StoreType::F32},
                                     {"f16", StoreType::F16},            {"bf16", StoreType::BF16},
                                     {"fp8_e4m3", StoreType::Fp8E4m3},   {"fp8_e5m2", StoreType::Fp8E5m2},
                                     {"fp8_e4m3fnuz", StoreType::Fp8E4m3Fnuz}, {"fp8_e5m2fnuz", StoreType::Fp8E5m2Fnuz},
                                     {"int8", StoreType::Int8},          {"int4", StoreType::Int4},
                                     {"nvfp4", StoreType::Nvfp4},        {"mxfp4", StoreType::Mxfp4}};
  return n;
}
inline const Names<Scales>& names(Scales*) {
  static const Names<Scales> n = {
      {"per_tensor", Scales::PerTensor}, {"per_head", Scales::PerHead}, {"per_token_head", Scales::PerTokenHead}};
  return n;
}
inline const Names<QuantRound>& names(QuantRound*) {
  static const Names<QuantRound> n = {{"rne", QuantRound::Rne}, {"trunc", QuantRound::Trunc}, {"rha", QuantRound::Rha}};
  return n;
}
inline const Names<Nvfp4Recipe>& names(Nvfp4Recipe*) {
  static const Names<Nvfp4Recipe> n = {
      {"exact", Nvfp4Recipe::Exact}, {"trtllm", Nvfp4Recipe::Trtllm}, {"round_up", Nvfp4Recipe::RoundUp}};
  return n;
}
inline const Names<NormWeight>& names(NormWeight*) {
  static const Names<NormWeight> n = {
      {"w", NormWeight::W}, {"one_plus_w", NormWeight::OnePlusW}, {"none", NormWeight::None}};
  return n;
}
inline const Names<NormSpan>& names(NormSpan*) {
  static const Names<NormSpan> n = {{"head", NormSpan::Head}, {"all_heads", NormSpan::AllHeads}};
  return n;
}
inline const Names<NormSums>& names(NormSums*) {
  static const Names<NormSums> n = {{"none", NormSums::None}, {"write", NormSums::Write}, {"read", NormSums::Read}};
  return n;
}
inline const Names<NormOrder>& names(NormOrder*) {
  static const Names<NormOrder> n = {{"pre", NormOrder::Pre}, {"post", NormOrder::Post}};
  return n;
}
inline const Names<Bias>& names(Bias*) {
  static const Names<Bias> n = {{"none", Bias::None}, {"qkv", Bias::Qkv}};
  return n;
}
inline const Names<Gate>& names(Gate*) {
  static const Names<Gate> n = {{"none", Gate::None}, {"interleaved", Gate::Interleaved}};
  return n;
}
inline const Names<VSource>& names(VSource*) {
  static const Names<VSource> n = {{"v", VSource::V}, {"k", VSource::K}};
  return n;
}
inline const Names<MxRound>& names(MxRound*) {
  static const Names<MxRound> n = {{"rceil", MxRound::Rceil}, {"floor", MxRound::Floor}, {"even", MxRound::Even}};
  return n;
}
inline const Names<ScalesAt>& names(ScalesAt*) {
  static const Names<ScalesAt> n = {{"tensor", ScalesAt::Tensor}, {"page", ScalesAt::Page}, {"row", ScalesAt::Row}};
  return n;
}
inline const Names<CacheOrder>& names(CacheOrder*) {
  static const Names<CacheOrder> n = {{"hnd", CacheOrder::Hnd}, {"nhd", CacheOrder::Nhd}, {"strided", CacheOrder::Strided},
                                      {"amd", CacheOrder::Amd},       {"amd_shuffle", CacheOrder::AmdShuffle}};
  return n;
}

template <class E>
inline const Names<E>& names_of() {
  return names(static_cast<E*>(nullptr));
}

// Other spellings users type, accepted as input only: canonical text, docs and errors use
// the names above.
template <class E>
inline const Names<E>& aliases(E*) {
  static const Names<E> none;
  return none;
}
inline const Names<Style>& aliases(Style*) {
  static const Names<Style> n = {{"rotate_half", Style::Neox}, {"interleaved", Style::Gptj}};
  return n;
}
inline const Names<DType>& aliases(DType*) {
  static const Names<DType> n = {
      {"float32", DType::F32}, {"float16", DType::F16}, {"half", DType::F16}, {"bfloat16", DType::BF16}};
  return n;
}

template <class E>
inline const Names<E>& aliases_of() {
  return aliases(static_cast<E*>(nullptr));
}

template <class E>
const char* name_of(E v) {
  for (const auto& n : names_of<E>())
    if (n.second == v) return n.first.c_str();
  return "?";
}

// ---- value helpers: the DSL's messages, shared with the checks of built specs ----


/// Picks one of the named words; errors list the valid ones.
template <typename E>
E pick(const dsl::Value& v, const std::string& what) {
  const Names<E>& options = names_of<E>();
  std::vector<std::string> valid;
  for (const auto& o : options) valid.push_back(o.first);
  if (v.kind == dsl::Value::Kind::Ident) {
    for (const auto& o : options)
      if (o.first == v.text) return o.second;
    for (const auto& o : aliases_of<E>())
      if (o.first == v.text) return o.second;
  }
  std::string hint = v.kind == dsl::Value::Kind::Ident ? suggestion(v.text, valid) : "";
  if (!hint.empty()) hint = " (" + hint.substr(2) + ")";
  fail(v.loc, "invalid value " + describe_value(v) + " for " + what + "; valid values: " + join(valid) + hint);
}

struct RealRange {
  double lo, hi;
  bool lo_open;
  std::string check(const std::string& what, double v, const std::string& spelled) const {
    bool below = lo_open ? !(v > lo) : !(v >= lo);
    if (!below && v <= hi) return "";
    return what + " = " + spelled + " is out of range; expected " + (lo_open ? "more than " : "at least ") +
           format_double(lo) + " and at most " + format_double(hi);
  }
  std::string check(const std::string& what, double v) const { return check(what, v, format_double(v)); }
};

inline double real(const dsl::Value& v, const std::string& what, const RealRange& r) {
  if (v.kind != dsl::Value::Kind::Number)
    fail(v.loc, "expected a number for " + what + ", found " + describe_value(v));
  std::string problem = r.check(what, v.number, v.text);
  if (!problem.empty()) fail(v.loc, problem);
  return v.number;
}

// ---- field kinds ----

// Which ops use a field: by what they touch, and the family serving them.
const FieldUse kAllOps{};
const FieldUse kRotating{true, false, nullptr};
const FieldUse kCaching{false, true, nullptr};

/// An enum member; its names come from the enum's table.
template <class E, E KernelSpec::*M>
SpecField enum_field(const char* key, const char* help, FieldUse ops, bool omit_default = false,
                     std::vector<const char*> examples = {}) {
  static const std::string values = [] {
    std::string v;
    for (const auto& n : names_of<E>()) v += (v.empty() ? "" : " | ") + n.first;
    return v;
  }();
  if (examples.empty())
    for (const auto& n : names_of<E>()) examples.push_back(n.first.c_str());
  SpecField f{key,
              values.c_str(),
              help,
              nullptr,
              ops,
              omit_default,
              std::move(examples),
              [](const SpecField& f, const dsl::Value& v, KernelSpec& s) { s.*M = pick<E>(v, f.key); },
              [](const KernelSpec& s, std::string& out) { out += name_of(s.*M); },
              [](const SpecField& f, const KernelSpec& s) -> std::string {
                for (const auto& n : names_of<E>())
                  if (n.second == s.*M) return "";
                return std::string(f.key) + " has an invalid value";
              },
              [](const KernelSpec& a, const KernelSpec& b) { return cmp(a.*M, b.*M); }};
  // A StoreType member is a store-type key: the schema lists them (store_types()).
  if constexpr (std::is_same_v<E, StoreType>) f.store = M;
  return f;
}

}  // namespace ropegen::spec_detail
