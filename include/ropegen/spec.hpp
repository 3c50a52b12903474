// KernelSpec: the validated, canonical description of one kernel.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ropegen/error.hpp"
#include "ropegen/target.hpp"

namespace ropegen {

/// What a kernel does: rotate q and k (rope), append k and v to a cache (kv_append), both
/// (rope_kv_append), or DeepSeek's MLA step (mla_rope_append: rotate q's rope part in place,
/// write kv_c || rotated k_pe as one cache row), or DeepSeek-V3.2's sparse-attention indexer
/// cache write (src/families/indexer/).
enum class Op { Rope, KvAppend, RopeKvAppend, MlaRopeAppend, IndexerAppend };
enum class Style { Neox, Gptj };
enum class DType { F32, F16, BF16 };
enum class IndexType { I32, I64 };
enum class CosSinSource { Table, Compute };
/// RoPE scaling families (rope-math.md), with the parameter names of the models' configs.
enum class Scaling { None, Linear, Ntk, NtkAlpha, Yarn, DeepseekYarn, Llama3, Dynamic, Longrope, Proportional };
/// Where the angle's product and range reduction happen: fp32 (p * inv_freq rounded to fp32,
/// as Hugging Face, vLLM and the models' training code) or exact (double, then sin/cos of
/// the reduced angle in fp32: a few fp32 ulps from the fp64 result at any position < 2^24).
enum class Angle { Fp32, Exact };
/// Where the heads of q, k and v sit in a token's row: packed (head_dim apart) or strided
/// (q/k/v_head_stride apart: vLLM's padded heads). A spec key so the packed kernel keeps
/// its constant addressing (and its registers on AMD).
enum class Heads { Packed, Strided };
/// Rope ops: rotate q and k in place, or write them to q_out and k_out (rope_kv_append:
/// the rotated k goes to the cache and to k_out).
enum class Outputs { InPlace, Separate };
/// Storage type of the KV cache (and of an fp8 q output): auto is the activation dtype.
/// fp8_e4m3 / fp8_e5m2 use the target's encoding (OCP where the target has it, else AMD's
/// FNUZ); the _fnuz names ask for FNUZ explicitly (gfx942, host). The quantized caches
/// (quant-formats.md): int8 (symmetric) and int4 (asymmetric, a zero point) with a scale per
/// (token, head) computed in the kernel; nvfp4 (e2m1 codes, an e4m3 scale per 16 elements,
/// an fp32 global scale); mxfp4 (e2m1 codes, an e8m0 scale per 32 elements).
enum class StoreType { Auto, F32, F16, BF16, Fp8E4m3, Fp8E5m2, Fp8E4m3Fnuz, Fp8E5m2Fnuz, Int8, Int4, Nvfp4, Mxfp4 };
/// Where cache scales come from: one float (per_tensor) or one per KV head (per_head), read
/// from device memory (k_scale, v_scale) so a captured graph stays valid when they change;
/// or one per (token, head) computed in the kernel from the row and written beside the
/// cache (per_token_head: k_cache_scales, v_cache_scales).
enum class Scales { PerTensor, PerHead, PerTokenHead };
/// How a quantized cache rounds a scaled value to an integer code (int8, int4): to nearest,
/// ties to even (rne); toward zero (trunc: vLLM's Triton int8 store); to nearest, ties away
/// from zero (rha: vLLM's int4, (t +- 0.5) truncated).
enum class QuantRound { Rne, Trunc, Rha };
/// The NVFP4 recipe: exact (IEEE operations in FlashInfer's order, every vendor); trtllm
/// (TensorRT-LLM's order with NVIDIA's approximate reciprocal rcp.approx.ftz.f32: NVIDIA
/// targets only); round_up (an MLA record's kv_c only, vLLM's nvfp4_ds_mla: the block scale
/// e4m3 of max(amax / 6, 2^-9) rounded up to the next e4m3 value, no global scale).
enum class Nvfp4Recipe { Exact, Trtllm, RoundUp };
/// How MXFP4 rounds a group's scale to a power of two (quant-formats.md): rceil (the
/// smallest power of two >= amax * (1/6)), floor (OCP: floor_pow2(amax) / 4), even (Quark).
enum class MxRound { Rceil, Floor, Even };
/// Where a quantized cache's scales live (docs/dsl.md, quantized caches): in the tensors
/// k_cache_scales / v_cache_scales (tensor); inside each page of the cache after the page's
/// codes, `[codes B*H*D*bits/8 | scales B*H*(D/group)*scale_bytes]` (page, vLLM's nvfp4 cache);
/// after each (token, head) row's codes, `D*bits/8` code bytes then the fp32 scale (row,
/// vLLM's per-token-head caches).
enum class ScalesAt { Tensor, Page, Row };
/// The parameters of a quantized cache_dtype, written in parentheses after it
/// (`int8(round = trunc)`, `mxfp4(scale_round = floor)`); each format reads its own.
struct CacheCodec {
  QuantRound round = QuantRound::Rne;     ///< int8 (default rne), int4 (default rha)
  Nvfp4Recipe recipe = Nvfp4Recipe::Exact;  ///< nvfp4
  MxRound scale_round = MxRound::Rceil;   ///< mxfp4
  double floor = 1e-6;                    ///< per_token_head: smallest scale
  double qmax = 0;                        ///< fp8 with per_token_head: the divisor; 0: the format's largest value
  /// nvfp4: the v cache's scales linear, or swizzled in groups of 4 tokens inside each (page,
  /// head) tile (the layout trtllm-gen's attention reads; paged hnd, block % 4 == 0).
  bool v_swizzled = false;
  ScalesAt scales_at = ScalesAt::Tensor;  ///< every quantized format: where its scales are written
};
/// What a normalized value is multiplied by: w (Qwen3, Gemma 4), 1 + w (Gemma 3, written
/// gemma = true) or nothing (Llama 4's L2 norm; its weights are not read).
enum class NormWeight { W, OnePlusW, None };
/// What one RMS spans: each head, or all of a token's q heads (and all its k heads) at once,
/// with head_dim * heads weights (MiniMax-M2).
enum class NormSpan { Head, AllHeads };
/// Whether q and k are normalized before the rotation (Qwen3, Gemma) or after it (Llama 4).
enum class NormOrder { Pre, Post };
/// span = all_heads under tensor parallelism: the token's sums of squares computed here and
/// normalized with (none), only written to norm_sums (write: the first launch of the
/// protocol), or read from norm_sums after the ranks added them (read: the second launch).
enum class NormSums { None, Write, Read };
/// RMSNorm of q and k (Qwen3, Gemma 3, Llama 4, MiniMax-M2): none or rms(eps, weight, span,
/// order) with weights q_norm_weight and k_norm_weight; statistics in fp32.
struct QkNorm {
  bool on = false;
  double eps = 1e-6;
  NormWeight weight = NormWeight::W;
  NormSpan span = NormSpan::Head;
  NormOrder order = NormOrder::Pre;
  NormSums sums = NormSums::None;  ///< span = all_heads: the sums across launches (kernel_args.h norm_sums)
  int ranks = 1;                   ///< sums = read: the ranks whose sums were added (divisor ranks * heads * head_dim)
};
/// Weightless RMSNorm of each v head before the cache write (Gemma 4): v / sqrt(mean(v^2) + eps).
struct VNorm {
  bool on = false;
  double eps = 1e-6;
};
/// A factor q is multiplied by that depends on the token's position p (evaluated in fp32, q
/// rounded once, after the rotation and norms): Llama 4's NoPE-layer temperature
/// log(floor((p + 1) / floor_scale) + 1) * attn_scale + 1, or log-n scaling log(p + 1) /
/// log(base) once p + 1 > base (1 before).
struct QTemperature {
  enum Kind { None, Llama4, Logn } kind = None;
  double attn_scale = 0.1;    ///< llama4
  double floor_scale = 8192;  ///< llama4
  double base = 0;            ///< logn: the trained length
};
/// Where the cache's v rows come from: v, or k as it was given, before any norm and rotation
/// (Gemma 4's K = V layers; v is then not read).
enum class VSource { V, K };
/// A bias added to q, k and v as they are read (a QKV projection without its bias epilogue).
enum class Bias { None, Qkv };
/// Gated attention (Qwen3-Next, Qwen3.5): q's rows hold per head [q_h | gate_h].
enum class Gate { None, Interleaved };
/// window = ring(size = W, sinks = S): a sliding-window ring cache (rope_kv cache ops). The
/// slot comes from the position: pos < S keeps slot pos, later ones cycle through W - S slots
/// after the sinks padded to a page, within the sequence's pages from ring_base (kernel_args.h).
struct RingWindow {
  bool on = false;
  int size = 0;   ///< W: tokens the window keeps, sinks included
  int sinks = 0;  ///< S: first tokens kept forever
};
/// cache_tail = zero: the token that ends a run of written slots zeroes the rest of its page.
enum class CacheTail { Keep, Zero };
/// layers = many: one launch writes many layers (grid z), each with its own caches, scales,
/// weights and outputs (kernel_args.h: num_layers, layers, the layer strides of q, k, v).
enum class Layers { One, Many };
/// The position rows a token has: one, or three (t, h, w) for multimodal RoPE.
/// The sparse-attention indexer's cache write (DeepSeek-V3.2, src/families/indexer/): K's
/// optional LayerNorm, the fp8 scale rules of K and Q, and the head-weights factor.
struct IndexerParams {
  bool layernorm = false;     ///< LayerNorm of k (fp32 weight and bias) before RoPE
  double eps = 1e-6;          ///< its eps
  bool ue8m0 = false;         ///< scales rounded up to a power of two, exp2f(ceilf(log2f(s)))
  double fp8_max = 0;         ///< the divisor of amax; 0: 448 (OCP e4m3); FNUZ must name it
  bool k_multiply = false;    ///< K codes from x * (1 / s) (AITER); false: x / s (vLLM)
  double weights_scale = 1;   ///< head_weights = weights * q_s * weights_scale
  bool tiled = false;         ///< cache values in 16 x 16-byte tiles (AITER's pre-shuffled readers)
};

/// grid: video DiTs' 3-D positions, computed in the kernel from one position per token (its
/// index in the frame x height x width grid) and the grid's height and width (kernel_args.h).
enum class PositionsKind { Single, Mrope, Imrope, Vision, Grid };
enum class CacheKind { Contiguous, Paged };
/// Paged caches: nhd [blocks, block, kv_heads, head_dim], hnd [blocks, kv_heads, block, head_dim],
/// strided: any layout with a contiguous head row, from the run-time cache strides (ABI 6);
/// amd: AMD paged attention's K split in 16-byte pieces [blocks, kv_heads, head_dim / x, block,
/// x] (x = 16 bytes / element) and V [blocks, kv_heads, head_dim, block]; amd_shuffle: that K
/// and the shuffled V [blocks, kv_heads, block / x, head_dim, x].
enum class CacheOrder { Hnd, Nhd, Strided, Amd, AmdShuffle };
/// Programmatic dependent launch (NVIDIA sm_90+): overlap the kernel's start with the
/// previous kernel in the stream; reads of q, k, v wait for it, indices and tables do not.
enum class Pdl { Off, On };
/// Checked mode for out-of-range buffer contents. In every mode a token whose position is
/// outside the cos/sin table or whose slot is past the cache is skipped whole when the caller
/// passes the limits (kernel_args.h: table_rows, cache_slots; 0: none). With bounds the limits
/// are required, a negative position with computed cos/sin is skipped too, and the first
/// skipped token is recorded in the bounds_error buffer (ropegen_kernel_check).
enum class Checks { None, Bounds };

/// Name of an enum value as written in the DSL ("rope_kv_append", "bf16", ...). The names
/// come from one table per enum (src/schema/schema.cpp), also used for parsing.
const char* to_string(Op v);
const char* to_string(Style v);
const char* to_string(DType v);
const char* to_string(IndexType v);
const char* to_string(CacheOrder v);
const char* to_string(Pdl v);
const char* to_string(Checks v);
const char* to_string(Angle v);
const char* to_string(StoreType v);
const char* to_string(Scales v);
const char* to_string(QuantRound v);
const char* to_string(MxRound v);
const char* to_string(ScalesAt v);
const char* to_string(Heads v);
const char* to_string(Outputs v);
const char* to_string(NormWeight v);
const char* to_string(NormSpan v);
const char* to_string(NormOrder v);
const char* to_string(NormSums v);
const char* to_string(VSource v);
const char* to_string(Bias v);
const char* to_string(Gate v);
/// Bytes of one element of a storage dtype.
int dtype_bytes(DType t);

/// dynamic and longrope: the sequence length is read per token at run time (seq_lens), or
/// chosen once at generation time from max_model_len (static, as vLLM does).
enum class Choose { Runtime, Static };

/// The scaling families' parameters, by the names of the models' configs. Which of them a
/// family has, and whether each is required, defaulted or optional, is its row in
/// scaling_families() (the one declaration the DSL, canonical text, range checks and
/// comparison walk); family code reads the members. Required and defaulted parameters are
/// plain values, optional ones are empty when not given. Members the family does not have
/// keep these defaults (validate() refuses one that does not: "unknown argument").
struct ScalingParams {
  double factor = 1;                             ///< linear, ntk, yarn, deepseek_yarn, llama3, dynamic
  double alpha = 0;                              ///< ntk_alpha
  double original_max_position_embeddings = 0;   ///< yarn, deepseek_yarn, llama3, dynamic, longrope
  double beta_fast = 32;                         ///< yarn (default 32), deepseek_yarn
  double beta_slow = 1;                          ///< yarn (default 1), deepseek_yarn
  std::optional<double> attention_factor;        ///< yarn, longrope (optional)
  std::optional<double> mscale;                  ///< yarn (optional), deepseek_yarn (required)
  std::optional<double> mscale_all_dim;          ///< yarn (optional), deepseek_yarn (required)
  bool truncate = true;                          ///< yarn
  double attn_factor = 1;                        ///< deepseek_yarn
  double extrapolation_factor = 1;               ///< deepseek_yarn
  double low_freq_factor = 0;                    ///< llama3
  double high_freq_factor = 0;                   ///< llama3
  Choose choose = Choose::Runtime;               ///< dynamic, longrope
  std::optional<double> max_model_len;           ///< dynamic, longrope (with choose = static)
  std::vector<double> short_factor;              ///< longrope: rotary_dim / 2 values
  std::vector<double> long_factor;               ///< longrope: rotary_dim / 2 values
  double max_position_embeddings = 0;            ///< longrope
  std::optional<double> short_mscale;            ///< longrope
  std::optional<double> long_mscale;             ///< longrope
  double partial_rotary_factor = 1;              ///< proportional: the share of frequencies kept
};

/// How cos/sin are obtained.
struct CosSin {
  CosSinSource source = CosSinSource::Table;
  /// Table: one table per KV head ([rows, kv_heads, rotary_dim / 2] per position row); query
  /// head h reads its KV head's (h / (q_heads / kv_heads)). cos_sin = table(per_head = true).
  bool per_head = false;
  double theta = 10000.0;       ///< base b, for Compute
  Scaling scaling = Scaling::None;
  /// The family's parameters (scaling_families() says which ones it has).
  ScalingParams params;

  /// Whether the family reads the sequence length at run time (argument seq_lens):
  /// dynamic and longrope with choose = runtime.
  bool runtime_length() const;
};

/// The position rows of a token: positions = single | mrope(sections) | imrope(sections) |
/// vision(sections).
struct Positions {
  PositionsKind kind = PositionsKind::Single;
  /// mrope/imrope/grid: frequency indices per row (t, h, w); vision: per row (row, column); sum d/2
  std::vector<int> sections;
  /// The row (mrope/imrope: 0 = t, 1 = h, 2 = w; vision: 0 = row, 1 = column) that frequency
  /// index j of d/2 reads.
  int row_of(int j) const;
  /// Position rows per token the frequencies read: 1 (single), 2 (vision), 3 (mrope, imrope,
  /// grid).
  int rows() const { return kind == PositionsKind::Single ? 1 : kind == PositionsKind::Vision ? 2 : 3; }
  /// Position rows per token the caller passes: rows(), except grid's one (the rest computed).
  int input_rows() const { return kind == PositionsKind::Grid ? 1 : rows(); }
  /// vision: the index of j within its section, which gives its frequency (the exponent
  /// restarts in the column section); j otherwise.
  int frequency_index(int j) const {
    if (kind == PositionsKind::Grid) {
      const int r = row_of(j);
      return j - (r > 0 ? sections[0] : 0) - (r > 1 ? sections[1] : 0);
    }
    return kind == PositionsKind::Vision && j >= sections[0] ? j - sections[0] : j;
  }
};

/// Where a scaling parameter lives in ScalingParams, and how the table walkers (DSL
/// lowering, canonical text, range checks, comparison) read and write it without knowing
/// its member. Made by scaling_member<&ScalingParams::m>() (src/schema/schema.cpp).
struct ScalingMember {
  enum Type { Real, Flag, Word, List } type;
  /// Whether the value is there (an optional member that was not given is not).
  bool (*present)(const ScalingParams&);
  /// The value of a scalar: a number, 0/1 for a flag, the word's index for a word.
  double (*get)(const ScalingParams&);
  void (*set)(ScalingParams&, double);
  /// The values of a list (null for a scalar).
  const std::vector<double>* (*items)(const ScalingParams&);
  void (*set_items)(ScalingParams&, std::vector<double>);
};

/// One parameter of a scaling family: the one declaration DSL lowering, canonical text,
/// range checks, comparison and docs walk; family code reads the typed member directly.
struct ScalingParam {
  const char* name;
  enum Kind { Required, Default, Optional } kind;
  double def;          ///< for Default
  double lo, hi;       ///< range; lo is exclusive when lo_open
  bool lo_open;
  ScalingMember member;                 ///< the member of ScalingParams that holds it
  std::vector<const char*> words = {};  ///< a word parameter: its words (value = index)

  bool boolean() const { return member.type == ScalingMember::Flag; }  ///< written true/false
  bool list() const { return member.type == ScalingMember::List; }     ///< rotary_dim / 2 numbers
};
/// A scaling family: its DSL name and parameters.
struct ScalingFamily {
  Scaling id;
  const char* name;
  std::vector<ScalingParam> params;
};
/// Every scaling family (none first).
const std::vector<ScalingFamily>& scaling_families();
const ScalingFamily& scaling_family(Scaling id);

/// Where K and V go.
struct CacheLayout {
  CacheKind kind = CacheKind::Paged;
  int block = 16;               ///< tokens per block, for Paged
  CacheOrder order = CacheOrder::Nhd;
};

/// One part of a cache row declared as a byte record (cache_record), in byte order.
struct RecordPart {
  enum class Kind { Values, Scales, Pad };
  Kind kind = Kind::Values;
  /// values: the source field ("kv_c", "k_pe"); scales: the field whose scales these are.
  std::string field;
  /// values: auto (the activation dtype, copied or rotated as the op computes it), an fp8
  /// format (one fp32 scale per group, computed), nvfp4 (e2m1 codes, an e4m3 scale per 16
  /// elements, the global scale from k_scale[0]) or mxfp4 (e2m1, an e8m0 scale per 32);
  /// k_pe: auto or an fp8 format, one scale for the row (k_scale).
  StoreType format = StoreType::Auto;
  int group = 0;     ///< values, quantized: elements per scale
  CacheCodec codec;  ///< values, quantized: qmax and floor (fp8), scale_round (mxfp4)
  bool divide = false;  ///< values, fp8: codes of x / s (vLLM's stores) instead of x * (1 / s)
  int bytes = 0;        ///< pad: bytes left as they are
  bool k_scale = false;  ///< values, k_pe in fp8: codes of x / k_scale[0] (false: of x, unscaled)
  /// scales: 1 in group order; R: the n scales as an [n / R, R] matrix stored transposed
  /// (group s at slot (s % R) * (n / R) + s / R).
  int transpose = 1;
  bool operator==(const RecordPart& o) const;
};
/// A cache row as a byte record (op = mla_rope_append): its parts in order and its size.
struct CacheRecord {
  std::vector<RecordPart> parts;  ///< empty: the row is the family's plain row
  int size = 0;                   ///< bytes per row
  bool used() const { return !parts.empty(); }
};

/// A kernel description. parse_* return validated specs; one built field by field is
/// checked with validate().
struct KernelSpec {
  std::string name = "kernel";  ///< label only: not part of the canonical form or hash
  Op op = Op::RopeKvAppend;
  int head_dim = 128;
  int rotary_dim = 128;
  int rotary_offset = 0;        ///< first rotated element: [rotary_offset, + rotary_dim) turns
  Style style = Style::Neox;
  int q_heads = 32;
  int kv_heads = 8;
  DType dtype = DType::BF16;
  IndexType index = IndexType::I32;
  CosSin cos_sin;
  CacheLayout cache;
  int wave = 0;                 ///< 0: the target's default
  Pdl pdl = Pdl::Off;
  Checks checks = Checks::None;
  Angle angle = Angle::Fp32;
  Heads heads = Heads::Packed;
  Outputs outputs = Outputs::InPlace;
  StoreType cache_dtype = StoreType::Auto;
  CacheCodec codec;  ///< cache_dtype's parameters (quantized caches)
  StoreType q_dtype = StoreType::Auto;  ///< fp8: the rotated q goes to q_out in fp8 (q_scale)
  /// fp8 q_out: one scale from q_scale (per_tensor), or one per (token, head) computed in the
  /// kernel and written to q_out_scales (per_token_head).
  Scales q_scales = Scales::PerTensor;
  Scales scales = Scales::PerTensor;
  QkNorm qk_norm;
  VNorm v_norm;              ///< cache ops: v's norm (Gemma 4)
  VSource v_source = VSource::V;
  Bias bias = Bias::None;      ///< q_bias, k_bias, v_bias added as the rows are read
  Gate gate = Gate::None;      ///< rotating ops with q: the gate halves of q's rows go to gate_out
  QTemperature q_temperature;  ///< rotating ops with q
  int kv_lora_rank = 512;  ///< mla_rope_append: latent width (kv_c)
  CacheRecord cache_record;  ///< mla_rope_append: the cache row as a declared byte record
  IndexerParams indexer;   ///< indexer_append
  RingWindow window;       ///< rope_kv cache ops: a sliding-window ring cache
  CacheTail cache_tail = CacheTail::Keep;  ///< rope_kv cache ops: zero the rest of a page
  Layers layers = Layers::One;             ///< rope_kv cache ops: many layers in one launch
  Positions positions;

  /// What the op touches (its row in the family registry, src/families/registry.cpp).
  bool uses_rope() const;   ///< rotates: positions and cos/sin
  bool uses_cache() const;  ///< writes a KV cache
  bool uses_q() const;      ///< reads q
  /// Whether the cache or the q output is stored in fp8 (scales apply).
  bool uses_fp8() const;

  /// Canonical text: every field that changes the generated code, in a fixed order,
  /// defaults filled in; fields the op does not use are left out.
  std::string canonical() const;
  /// FNV-1a 64 of canonical(), as 16 lowercase hex digits. Stable across runs and machines.
  std::string hash() const;
  /// The wave size for a target: the spec's, or the target's default.
  int wave_for(const Target& t) const { return wave ? wave : t.default_wave; }
};

/// Whether a store type is one of the fp8 formats.
bool is_fp8(StoreType t);
/// Whether a cache stores codes with scales it computes itself (int8, int4, nvfp4, mxfp4, or
/// an fp8 cache_dtype with scales = per_token_head): the kernel writes k_cache_scales and
/// v_cache_scales beside the cache.
bool quantized_cache(const KernelSpec& s);
/// Bits of one cache element (4, 8, 16, 32) and the elements each written scale covers
/// (head_dim for per_token_head, 16 for nvfp4, 32 for mxfp4); 0 when the cache has none.
int cache_bits(const KernelSpec& s);
int cache_group(const KernelSpec& s);
/// cache = paged(order = amd | amd_shuffle): the elements x of one 16-byte piece of the cache
/// (8 for f16/bf16, 4 for f32, 16 for an fp8 cache).
int amd_piece_elems(const KernelSpec& s);
/// A quantized cache with inline scales (scales_at = page | row): the bytes of one record,
/// codes and scales together (row: a (token, head) row; page: a page of one side, K or V);
/// 0 with scales_at = tensor or no quantized cache.
long long cache_record_bytes(const KernelSpec& s);
/// The alignment (bytes, a power of two, at most 16) every record of an inline-scale cache
/// starts at, given an aligned base: the largest power of two dividing cache_record_bytes;
/// 16 without inline scales. Code stores wider than it are split (rope_kv.hip).
int cache_record_align(const KernelSpec& s);

/// FNV-1a 64-bit hash of a byte string.
uint64_t fnv1a64(const std::string& bytes);
/// 16 lowercase hex digits.
std::string hex64(uint64_t v);

/// Where a spec's fields came from, so later checks (cross-field rules, the target's wave
/// sizes) can point at the right line and column.
struct SpecOrigin {
  SourceLoc kernel;                       ///< the kernel name (or start of a one-line form)
  std::map<std::string, SourceLoc> keys;  ///< explicitly set keys -> location of the value
};

/// A spec with the places its fields came from.
struct ParsedSpec {
  KernelSpec spec;
  SpecOrigin origin;
};

/// Checks cross-field rules (rotary_dim <= head_dim, GQA ratio, fields the op ignores...),
/// pointing at the explicitly set key that breaks them.
void validate(const ParsedSpec& spec);

/// Checks the spec against a target (wave size, pdl); throws Error(Spec) pointing at the key.
void check_target(const ParsedSpec& spec, const Target& target);
/// Whether a target can store a type (fp8 needs the target's fp8 encodings), and whether
/// an fp8 type is stored in AMD's FNUZ encoding there (else OCP).
bool target_stores(const TargetCaps& t, StoreType s);
bool fp8_fnuz_on(const TargetCaps& t, StoreType s);
/// Whether check_target() passes (for test matrices that skip what a target cannot run).
bool target_can_run(const KernelSpec& spec, const Target& target);

/// Parses a file of kernel blocks (name is used in diagnostics).
std::vector<ParsedSpec> parse_spec_file(const std::string& name, const std::string& text);
/// Reads and parses a spec file from disk (at most 16 MiB).
std::vector<ParsedSpec> load_spec_file(const std::string& path);
/// Parses the one-line form "head_dim=128 dtype=bf16" on top of defaults.
ParsedSpec parse_spec_line(const std::string& text, const std::string& source_name = "<spec>");
/// Parses one-line text on top of an existing spec (used for CLI flag overrides).
ParsedSpec parse_spec_line(const std::string& text, const ParsedSpec& base,
                           const std::string& source_name);

/// The keys the DSL accepts, in canonical order.
const std::vector<std::string>& spec_keys();
/// Three-way comparison of two specs over the fields their op uses (the op first); 0 exactly
/// when their canonical texts are equal. No strings are built.
int compare_specs(const KernelSpec& a, const KernelSpec& b);
/// Validates a spec built in code (no source locations): field ranges, then cross-field
/// rules. Same messages as the DSL; throws Error(Spec). `set_keys` names the keys the
/// caller set explicitly (for "has no effect for op" checks); `where` names the caller.
void validate(const KernelSpec& spec, const std::string& where,
              const std::vector<std::string>& set_keys = {});

}  // namespace ropegen
