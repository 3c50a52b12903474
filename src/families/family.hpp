// The one interface through which the core (spec, codegen, runtime, reference, verify, CLI,
// C API) reaches a kernel family. A family is one folder, src/families/<name>/, holding its
// template, its rows of this interface and nothing the core must know by name; the
// registry (registry.cpp) lists the families, one line each.
//
// This header sees only the public headers: the stages include it, and the families'
// sources include the stages' helper headers (codegen/, runtime/args.hpp, reference/,
// verify/), so no folder arrow runs back up.
#pragma once

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "ropegen/plan.hpp"
#include "ropegen/runtime.hpp"
#include "ropegen/spec.hpp"
#include "ropegen/target.hpp"

namespace ropegen {

struct MatrixCase;     // verify/verify.hpp
struct VerifyCase;
struct VerifyReport;
namespace reference {
struct Problem;        // reference/reference.hpp
class RowWriter;
}  // namespace reference
struct ArgContext;     // runtime/args.hpp
class DeviceBuffers;   // verify/buffers.hpp
struct SpecField;      // schema/fields.hpp

/// One op a family serves and what it touches. The core asks these traits, never the op.
struct OpRow {
  Op op;
  const char* name;  ///< the DSL name ("rope_kv_append")
  bool rotates;      ///< rotates: reads positions and cos/sin (or computes them)
  bool caches;       ///< writes a KV cache
  bool reads_q;      ///< reads (and rotates) q
};

/// A stretch of a head row: [offset, offset + length) rotated (pairs by the spec's style)
/// or copied. A family's rows are lists of segments, so a new layout (a rotated part at
/// the end of the head, a latent part beside a rotated one) is data, not a branch.
struct RowSegment {
  int offset = 0;
  int length = 0;
  bool rotate = false;
};

/// What the planner needs from a family: the row a lane group walks, other stretches the
/// vector width must tile too, and the tasks (rows) per token.
struct PlanShape {
  std::vector<RowSegment> walked;  ///< lanes per task: the sum over these segments
  std::vector<RowSegment> tiled;   ///< also tiled by the vector (copied beside the walk)
  int tasks_per_token = 1;
  bool whole_token = false;  ///< a token's tasks reduce together: all of them in one block
  /// The kernel takes 8-byte vectors on CDNA (codegen's plan): with 16-byte ones it needs more
  /// than the 64 VGPRs of full occupancy (rows held in registers across a reduction: norms,
  /// scales computed in the kernel; fp8 codes stored a byte at a time in AMD's V layouts).
  /// tests/compile requires full occupancy of such kernels on gfx942.
  bool narrow_on_cdna = false;
  /// Codegen's default schedule: about this many head tasks per group and threads per block.
  int tasks_per_group = 4;
  int block_threads = 256;
};

/// Reports a cross-field rule a spec breaks: the key to point at, and the message.
using RuleFailure = std::function<void(const char* key, const std::string& message)>;

/// A kernel family: its ops, template, spec rules, plan shape, template constants,
/// argument requirements, reference model and verification cases.
struct Family {
  const char* name;           ///< its folder under src/families/
  const char* template_file;  ///< its template, embedded by file name
  std::vector<OpRow> ops;
  /// Fields of the argument block this family reads under its own name (MLA: k is k_pe).
  std::vector<std::pair<const char*, const char*>> arg_names;
  /// Spec rows only this family reads, appended to the schema's table in registry order.
  std::vector<SpecField> (*spec_fields)();
  /// Cross-field rules of the family's ops (after the shared ones); `fail` throws.
  void (*validate)(const KernelSpec& spec, const RuleFailure& fail);
  PlanShape (*shape)(const KernelSpec& spec);
  /// Writes the family's constants (inside namespace rg_spec) for a spec and plan.
  void (*bind)(const KernelSpec& spec, const Target& target, const LaunchPlan& plan, const ArgAlignment& align,
               std::ostream& os);
  /// The pointer arguments a kernel of the spec reads and writes, in launch-check order.
  void (*requirements)(const ArgContext& ctx, std::vector<ArgRequirement>& out);
  /// The reference's expected buffers for one token (the family's own model); null for a
  /// family with its own verification runner.
  void (*expect_token)(const reference::Problem& p, reference::RowWriter& w, long long token);
  /// The family's cases in the verification matrix.
  void (*matrix)(std::vector<MatrixCase>& out);
  /// Optional: the family's own verification runner (inputs, launch, comparison with its
  /// reference), for outputs the shared runner (verify/verify.cpp) does not model, such as
  /// the indexer's byte records. Null: the shared runner with expect_token.
  VerifyReport (*verify)(Runtime& runtime, const Kernel& kernel, const VerifyCase& c);
  /// With its own runner: the inputs of a timing run (Context::tune), uploaded to `dev`, as
  /// that runner builds them for `c`, and their argument block. Null: tuning is refused.
  ropegen_kernel_args (*prepare)(const Kernel& kernel, const VerifyCase& c, DeviceBuffers& dev);
};

/// Every family, in registry order.
const std::vector<const Family*>& families();
/// Every op row, in registry order (the DSL's op names, in this order).
const std::vector<OpRow>& op_rows();
/// The row of an op, and the family that serves it (Error(Internal) if none does).
const OpRow& op_row(Op op);
const Family& family_of(Op op);
/// The name a spec's family gives a field of the argument block ("k_pe"), or the field's.
const char* arg_name(const KernelSpec& spec, const char* field);

}  // namespace ropegen
