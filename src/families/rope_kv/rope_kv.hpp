// The rope_kv family (rope, kv_append, rope_kv_append): its entry for the registry
// (src/families/registry.cpp) and the parts its files define.
#pragma once

#include "families/family.hpp"

namespace ropegen {

const Family& rope_kv_family();

// The folder's parts (rope_kv.cpp gathers them into the family).
void rope_kv_requirements(const ArgContext& ctx, std::vector<ArgRequirement>& out);  // args.cpp
void rope_kv_expect_token(const reference::Problem& p, reference::RowWriter& w, long long t);  // reference.cpp
void rope_kv_matrix(std::vector<MatrixCase>& out);  // cases.cpp
std::vector<SpecField> rope_kv_spec_fields();  // fields.cpp

}  // namespace ropegen
