// The indexer family (DeepSeek-V3.2's sparse-attention indexer): its entry for the registry
// (src/families/registry.cpp) and the parts its files define.
#pragma once

#include <cstdint>
#include <vector>

#include "families/family.hpp"

namespace ropegen {

const Family& indexer_family();

// The folder's parts (indexer.cpp gathers them into the family).
void indexer_requirements(const ArgContext& ctx, std::vector<ArgRequirement>& out);  // args.cpp
void indexer_matrix(std::vector<MatrixCase>& out);                                    // cases.cpp
VerifyReport indexer_verify(Runtime& runtime, const Kernel& kernel, const VerifyCase& c);  // verify.cpp
ropegen_kernel_args indexer_prepare(const Kernel& kernel, const VerifyCase& c, DeviceBuffers& dev);  // verify.cpp

namespace indexer {

/// The cache's store type: cache_dtype, with auto meaning fp8_e4m3 (the indexer's cache is
/// always fp8; both use the target's encoding, OCP else FNUZ).
StoreType stored(const KernelSpec& s);
/// The fp8 divisor a spec uses: fp8_max, or 448 (OCP e4m3) when it is auto.
double divisor(const KernelSpec& s);

/// One token's inputs for the reference (reference.cpp), decoded to doubles; the cos/sin of
/// each frequency index of the rotated stretch (from the caller's table, or computed the
/// way the spec says), and how far the kernel's may lie from them.
struct TokenInput {
  std::vector<double> k;        ///< head_dim values
  std::vector<double> q;        ///< q_heads * head_dim values
  std::vector<double> weights;  ///< q_heads values (f32)
  std::vector<double> cos, sin; ///< rotary_dim / 2 values
  bool cos_sin_computed = false;  ///< the kernel computes them: their error enters the bounds
};
/// The layernorm's weight and bias (f32, head_dim each; empty without k_norm).
struct NormWeights {
  std::vector<double> weight, bias;
};

/// A row the kernel may have written: each element's possible values after the last rounding
/// to the activation dtype (one, or two where the real value lies within the kernel's error
/// of a rounding boundary).
using Candidates = std::vector<std::vector<double>>;

/// The reference's row of K (normalized, rotated, rounded) and of each q head.
Candidates k_row(const KernelSpec& s, const TokenInput& in, const NormWeights& nw);
Candidates q_row(const KernelSpec& s, const TokenInput& in, int head);

/// The fp8 encoding a spec stores on its target (OCP e4m3 or e4m3fnuz).
enum class Encoding { E4m3, E4m3Fnuz };

/// A quantized row: codes and the fp32 scale bits.
struct QuantizedRow {
  std::vector<std::uint8_t> codes;
  std::uint32_t scale_bits = 0;
};
/// The reference's K and Q quantization of a row whose values are known exactly.
QuantizedRow quantize_k(const KernelSpec& s, Encoding e, const std::vector<double>& row);
QuantizedRow quantize_q(const KernelSpec& s, Encoding e, const std::vector<double>& row);
/// head_weights = weights * q_s * weights_scale in fp32, left to right.
float head_weight(const KernelSpec& s, double weight, std::uint32_t q_scale_bits);
/// The scales (fp32 bits) of the amaxes a row of candidates allows.
std::vector<std::uint32_t> possible_scales(const KernelSpec& s, bool is_k, const Candidates& cand);
/// The first element whose code is not the code of one of its candidates under the scale
/// (-1: none), and in `why` what was expected.
int code_mismatch(const KernelSpec& s, Encoding e, bool is_k, const Candidates& cand, const std::uint8_t* codes,
                  std::uint32_t scale_bits, std::string& why);
/// ue8m0: exp2f(ceilf(log2f(s))) with a correctly rounded log2f (double precision here).
float ue8m0(float s);

/// Byte offsets in the cache (written from cache-layouts.md's description, independently of
/// indexer.hip): value byte c of the token at `slot`, and its fp32 scale.
long long value_offset(const KernelSpec& s, long long slot, int c);
long long scale_offset(const KernelSpec& s, long long slot);
/// Bytes of one cache block: block * (head_dim + 4).
long long block_bytes(const KernelSpec& s);

}  // namespace indexer
}  // namespace ropegen
