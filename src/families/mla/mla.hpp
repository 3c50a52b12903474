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

}  // namespace ropegen
