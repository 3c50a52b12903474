// The mla family (mla_rope_append, DeepSeek MLA): its entry for the registry
// (src/families/registry.cpp) and the parts its files define.
#pragma once

#include "families/family.hpp"

namespace ropegen {

const Family& mla_family();

// The folder's parts (mla.cpp gathers them into the family).
void mla_requirements(const ArgContext& ctx, std::vector<ArgRequirement>& out);  // args.cpp
void mla_expect_token(const reference::Problem& p, reference::RowWriter& w, long long t);  // reference.cpp
void mla_matrix(std::vector<MatrixCase>& out);  // cases.cpp

// cache_record (record.cpp): the row as a declared byte record.
struct SpecField;
SpecField cache_record_field();
/// Bytes a record part takes in a spec's row.
int record_part_bytes(const KernelSpec& s, const RecordPart& p);
/// "" when the spec's record is well formed (each field once, a quantized field's scales
/// placed, parts aligned, within size), else what is wrong.
std::string record_problem(const KernelSpec& s);
/// Where a well-formed record's parts start (bytes) and kv_c's format.
struct RecordLayout {
  int size = 0;
  RecordPart kvc;          ///< kv_c's values part
  int kvc_at = -1;         ///< kv_c's values
  int kvc_scales_at = -1;  ///< kv_c's scales (quantized kv_c)
  int kvc_scale_transpose = 1;  ///< their order: scales(of = kv_c, transpose = R)
  RecordPart pe;           ///< k_pe's values part (the dtype, or fp8 codes)
  int pe_at = -1;          ///< the rotated k_pe
};
RecordLayout record_layout(const KernelSpec& s);

}  // namespace ropegen
