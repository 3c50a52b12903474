// Code generation: KernelSpec x Target -> GeneratedSource (HIP text, entry, launch plan).
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "families/family.hpp"
#include "ropegen/plan.hpp"
#include "ropegen/spec.hpp"
#include "ropegen/target.hpp"

namespace ropegen {

/// Output of the generator: complete, self-contained source for one target.
struct GeneratedSource {
  KernelSpec spec;
  Target target;
  LaunchPlan plan;
  ArgAlignment align;
  std::string source;       ///< the whole translation unit
  std::string entry;        ///< kernel symbol, extern "C"
  std::string host_entry;   ///< host target only: symbol of the launcher that loops blocks
  std::string source_hash;  ///< FNV-1a 64 of source, hex
};

/// Parses "TOKENSxGROUPS" (e.g. "4x8"); throws Error(Spec) naming the text.
PlanChoice parse_plan_choice(const std::string& text);

/// A vendor's dialect, as data: what generated source pastes for its targets. Each vendor's
/// row in the vendor table (src/vendors/vendors.cpp) holds one; codegen reads it through
/// dialect_for(), defined there, so codegen never includes the vendors.
struct Dialect {
  /// Embedded headers pasted before the common ones, in order (prelude first).
  std::vector<std::string> preludes;
  /// The fp8 converters (the vendor's hardware paths, then the portable code), pasted for
  /// specs that store fp8.
  std::vector<std::string> fp8_headers;
  bool host_launcher = false;  ///< emit a launcher that runs the grid on the CPU
  /// Code-object formats its compilers produce ("hsaco", "cubin", ...): a cache entry of
  /// any other format is refused for its targets.
  std::vector<std::string> code_formats;
  /// The e2m1 pair converter (defines rg_e2m1_hw_encode2), pasted after `#define RG_E2M1_HW
  /// 1` and before templates/quant.h for nvfp4 and mxfp4 stores on targets whose caps have
  /// hw_e2m1; empty where the vendor has no such instruction.
  std::string e2m1_header;
  /// The approximate reciprocal (defines rg_rcp_approx_ftz), pasted after `#define
  /// RG_RCP_APPROX 1` before templates/quant.h for nvfp4 recipe = trtllm; empty where the
  /// vendor has none (the recipe is refused there).
  std::string rcp_approx_header;
};
/// The dialect of a vendor's targets (src/vendors/vendors.cpp).
const Dialect& dialect_for(Vendor vendor);

/// A kernel of the vendor's approximate reciprocal alone (Dialect::rcp_approx_header, the
/// instruction of nvfp4 recipe = trtllm): thread i of blocks of 64 writes rg_rcp_approx_ftz(v[i])
/// to q[i] for i < max_seq; launched like an op = rope kernel (q, k, positions set, num_tokens
/// blocks). src/verify runs it for the values the trtllm reference needs. Error(Spec) where
/// the vendor has no such instruction.
GeneratedSource rcp_approx_kernel(const Target& target);

/// The fp8 format index of rg_codec (templates/quant.h) a store type has on a target, and
/// that format's largest value.
int codec_fp8(const Target& target, StoreType t);
double fp8_largest(int format);
/// One rg_codec constant (templates/quant.h): kind 0 none, 1 int8, 2 int4, 3 fp8 with
/// computed scales, 4 nvfp4, 5 mxfp4; `divide`: fp8 codes of x / s.
void emit_codec(const char* name, int kind, int bits, int group, const CacheCodec& c, double qmax, int fp8, int scale_bytes,
                std::ostream& os, bool divide = false);

/// Binds an fp8 store type: `flag` (whether it is fp8: `used` and an fp8 type) and
/// `encoder(lo, hi)`, two codes of the target's encoding with lo in bits 0-7 (a stub otherwise).
void bind_fp8(const char* flag, const char* encoder, const Target& target, StoreType t, bool used, std::ostream& os);

/// Hex float literal: exact, and accepted by every compiler ropegen drives.
std::string float_literal(float f);

/// The launch plan for a spec on a target (pure: no text). Throws Error(Spec) if the spec's
/// wave size is not supported by the target, or a plan choice makes a block over 1024 threads.
LaunchPlan plan(const KernelSpec& spec, const Target& target, const PlanChoice& choice = {});
/// The source of a spec for a target under a given plan (from plan()).
GeneratedSource emit(const KernelSpec& spec, const Target& target, const LaunchPlan& plan);
/// emit(spec, target, plan(spec, target, choice)).
GeneratedSource generate(const KernelSpec& spec, const Target& target, const PlanChoice& choice = {});

/// Wraps a hand-written kernel body (using the prelude's portable names and taking one
/// ropegen_kernel_args) into a complete source for a target: preludes, the argument
/// header, the body, and on the host a launcher `entry + "_host"`. Used for benchmark
/// baselines and tests; `plan` and `spec` are recorded as given.
GeneratedSource wrap_kernel_body(const std::string& body, const std::string& entry, const Target& target,
                                 const LaunchPlan& plan, const KernelSpec& spec);

/// Text of an embedded template or header, by file name ("rope_kv.hip", "kernel_args.h").
const std::string& template_text(const std::string& name);
/// The file an embedded template came from, relative to the source tree
/// ("src/families/rope_kv/rope_kv.hip"): what the #line directives of generated source name.
const std::string& template_path(const std::string& name);
/// Names of all embedded templates.
std::vector<std::string> template_names();

/// Test hook: replaces an embedded template's text for this process ("" restores it).
void override_template_for_testing(const std::string& name, const std::string& text);

}  // namespace ropegen
