// The verification matrix shared by the numerics tests (host in CI, CUDA on the GPU
// machine) and `ropegen --verify --matrix`: every family's cases, in registry order.
#include "families/family.hpp"
#include "verify/verify.hpp"

namespace ropegen {

std::vector<MatrixCase> verification_matrix() {
  std::vector<MatrixCase> m;
  for (const Family* f : families()) f->matrix(m);
  return m;
}

}  // namespace ropegen
