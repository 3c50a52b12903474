// The registry: every kernel family, one line each. Adding a family is a folder under
// src/families/, its line here and its docs (docs/architecture.md, "Add a family").
#include <cstring>

#include "families/indexer/indexer.hpp"
#include "families/mla/mla.hpp"
#include "families/rope_kv/rope_kv.hpp"
#include "ropegen/error.hpp"

namespace ropegen {

const std::vector<const Family*>& families() {
  static const std::vector<const Family*> all = {
      &rope_kv_family(),
      &mla_family(),
      &indexer_family(),  // indexer_append (DeepSeek-V3.2's sparse-attention indexer cache)
  };
  return all;
}

const std::vector<OpRow>& op_rows() {
  static const std::vector<OpRow> rows = [] {
    std::vector<OpRow> out;
    for (const Family* f : families()) out.insert(out.end(), f->ops.begin(), f->ops.end());
    return out;
  }();
  return rows;
}

const Family& family_of(Op op) {
  for (const Family* f : families())
    for (const OpRow& r : f->ops)
      if (r.op == op) return *f;
  throw Error(ErrorKind::Codegen, "no kernel family serves op number " + std::to_string(static_cast<int>(op)));
}

const OpRow& op_row(Op op) {
  for (const OpRow& r : op_rows())
    if (r.op == op) return r;
  throw Error(ErrorKind::Internal, "no op row for op number " + std::to_string(static_cast<int>(op)));
}

const char* arg_name(const KernelSpec& spec, const char* field) {
  for (const auto& n : family_of(spec.op).arg_names)
    if (std::strcmp(n.first, field) == 0) return n.second;
  return field;
}

bool KernelSpec::uses_rope() const { return op_row(op).rotates; }
bool KernelSpec::uses_cache() const { return op_row(op).caches; }
bool KernelSpec::uses_q() const { return op_row(op).reads_q; }

}  // namespace ropegen
