// An independent double-precision model of the ops (each family's per-token model is in
// src/families/<name>/, written with RowWriter). It shares no code with the
// templates: its own decoding of f16/bf16, its own pair indexing, its own cache addressing,
// written from design.md and rope-math.md.
#pragma once

#include <vector>

#include "fp8.hpp"
#include "quant.hpp"
#include "ropegen/spec.hpp"

namespace ropegen::reference {

/// A scaling family's inv_freq_j for rotary dimension d, and its attention factor: the
/// reference's own implementation of rope-math.md (codegen has another).
/// `seq_len` is the token's sequence length, read by the families whose frequencies depend
/// on it (dynamic, longrope with choose = runtime); the static choice uses max_model_len.
double inv_freq(const CosSin& cs, int j, int d, double seq_len = 0);
double attention(const CosSin& cs, double seq_len = 0);
/// q_temperature's factor at position p (rope-math.md's Llama 4 NoPE temperature, log-n).
double q_factor(const QTemperature& q, long long p);
/// The position row (0 = t, 1 = h, 2 = w) frequency index j of d/2 reads.
int position_row(const Positions& p, int j);

/// Where a [tokens, heads, head_dim] tensor lives inside one of the problem's buffers.
struct TensorView {
  int buffer = -1;        ///< index into Problem::buffers
  long long offset = 0;   ///< elements before token 0
  long long stride = 0;   ///< elements between tokens
  long long head_stride = 0;  ///< elements between heads; 0: head_dim
};

/// Everything one launch reads, as host data in the kernel's storage formats.
struct Problem {
  KernelSpec spec;
  long long tokens = 0;
  std::vector<std::vector<unsigned char>> buffers;  ///< dtype-typed storage buffers
  std::vector<const char*> buffer_names;
  TensorView q, k, v;
  TensorView q_out, k_out;                          ///< out-of-place outputs (buffer -1: none)
  int k_cache = -1, v_cache = -1;                   ///< buffer indices
  long long max_seq = 0;                            ///< contiguous hnd
  long long cache_slots = 0;                        ///< limit on slots (0: none), kernel_args.h
  long long table_rows = 0;                         ///< limit on positions (0: none), cos_sin = table
  std::vector<long long> positions;                 ///< positions = mrope/imrope: 3 rows
  long long positions_stride = 0;                   ///< elements between rows; 0: tokens
  std::vector<long long> seq_lens;                  ///< per token (run-time length families)
  std::vector<int> buffer_fp8;                      ///< per buffer: -1 (the dtype) or an Fp8Format
  std::vector<float> k_scale, v_scale;              ///< fp8 cache: one, or one per KV head; nvfp4: the global scale
  std::vector<unsigned char> buffer_raw;            ///< per buffer: 1 = bytes (a quantized cache's codes, its scales)
  std::vector<int> buffer_scales;                   ///< per buffer: a quantized cache's scale buffer (-1: none;
                                                    ///< the buffer itself: scales_at = page | row)
  QuantFormat quant;                                ///< the quantized cache's format (quantized_cache(spec))
  QuantFormat q_quant;                              ///< q_out's, with q_scales = per_token_head
  Fp8Format record_fp8 = Fp8Format::E4M3;           ///< cache_record: the target's encoding of kv_c's fp8 format
  Fp8Format record_pe_fp8 = Fp8Format::E4M3;        ///< cache_record: the target's encoding of k_pe's fp8 format
  float q_scale = 1;                                ///< fp8 q_out
  std::vector<double> q_norm_weight, k_norm_weight; ///< qk_norm weights (decoded)
  std::vector<long long> slots;                     ///< empty: slot = position (contiguous)
  std::vector<long long> ring_base;                 ///< window = ring: per token, its sequence's first slot
  long long cache_strides[3] = {0, 0, 0};           ///< order = strided: head, token, page (elements)
  long long v_cache_offset = 0;                     ///< elements before v_cache's origin in its buffer
                                                    ///< (k and v in one buffer: the K-to-V distance)
  std::vector<float> norm_sums;                     ///< qk_norm sums = read: [tokens, 2] (q, k), as the kernel reads them
  std::vector<double> q_bias, k_bias, v_bias;       ///< bias = qkv (decoded): q's over its whole row (gate included)
  TensorView gate_out;                              ///< gate = interleaved: the gate halves' destination
  long long grid_h = 0, grid_w = 0;                 ///< positions = grid: the token grid's height and width
  std::vector<float> table;                         ///< cos/sin storage
  long long cos_offset = 0, sin_offset = 0, table_stride = 0;
};

/// A quantized cache row whose values the reference knows only within bounds (rotated or
/// normalized): the kernel's codes and scales are checked against them after the launch.
struct QuantRow {
  const QuantFormat* format = nullptr;  ///< Problem::quant or Problem::q_quant
  long long data_off = 0;   ///< byte offset of the row's codes
  int scale_buf = -1;       ///< the buffer of its scales
  long long scale_off = 0;  ///< byte offset of its first scale
  int scale_step = 1;       ///< scales apart (4: nvfp4's swizzled v scales)
  std::vector<double> value, bound;  ///< per element: the real value and the allowed distance
  float gs = 1;             ///< nvfp4: the global scale
};

/// The norm of one row, as the reference applies it (qk_norm, v_norm): y = x * r * w with
/// r = 1 / sqrt(mean square + eps), before or after the rotation.
struct RowNorm {
  const double* weight = nullptr;  ///< the row's head_dim weights; null: none
  bool one_plus = false;           ///< multiply by 1 + w
  double eps = 1e-6;
  bool post = false;               ///< after the rotation (order = post)
  /// span = all_heads: the token's mean square over its heads (< 0: this row's own), the
  /// relative error the kernel's fp32 inputs may give it, and the number of squares summed.
  double mean_square = -1;
  double mean_square_rel = 0;
  double count = 0;
};

/// fp8 codes of rotated values (a record's fp8 k_pe), each known to lie between two codes:
/// the byte at `at + i` must be lo[i] where lo[i] == hi[i], else decode, in `format`, within
/// [decode(lo[i]), decode(hi[i])]. The elements of the buffer they cover are checked only here.
struct CodeRange {
  long long at = 0;  ///< byte offset in the buffer
  Fp8Format format = Fp8Format::E4M3;
  std::vector<unsigned char> lo, hi;
};

/// What one element of a buffer must hold after the launch.
struct Expected {
  std::vector<QuantRow> quant_rows;  ///< a quantized cache: its bounded rows
  std::vector<CodeRange> code_ranges;  ///< fp8 codes of bounded values (whole elements of the buffer)
  std::vector<double> value;         ///< rotated elements: exact real result
  std::vector<double> bound;         ///< allowed |stored - value|
  std::vector<unsigned char> exact;  ///< 1: must equal the initial/copied bits exactly
  std::vector<unsigned char> bits;   ///< expected bytes where exact
};

/// The value of one stored element, decoded exactly.
double decode(DType t, const unsigned char* p);
/// Distance to the next representable value above |x| in the dtype.
double ulp(DType t, double x);
/// The step between neighbouring values of an fp8 format at magnitude |x| (the larger of
/// the two steps around it).
double fp8_step(Fp8Format f, double x);

/// Writes the expected contents of rows: what a family's reference (expect_token in
/// src/families/<name>/) is built from.
class RowWriter {
 public:
  RowWriter(const Problem& problem, std::vector<Expected>& out, int bytes) : p(problem), out(out), bytes(bytes) {}
  /// Copies a row of `len` elements (0: head_dim); into an fp8 buffer as encode(x / scale).
  /// A quantized destination: its scales at byte `scale_at` (-1: the row's linear place),
  /// `scale_step` scales apart.
  void copy_row(int src_buf, long long src_off, int dst_buf, long long dst_off, float scale, int len = 0,
                long long scale_at = -1, int scale_step = 1);
  /// Rotates a head row of token `token` (its positions and sequence length from the
  /// problem). `norm`: the row's norm (null: none); `scale`: fp8 stores; `row_len` and
  /// `offset` replace head_dim and rotary_offset (MLA's k_pe row: 0 and -1 keep them; an
  /// offset of head_dim leaves nothing to rotate: a normalized copy).
  /// `scale_row`: a quantized destination's scale row (-1: dst_off / head_dim, a cache's).
  /// `factor`: the finished row is multiplied by it last (q_temperature). `scale_at`: a
  /// quantized destination's scales at this byte of its scale buffer (-1: by scale_row).
  void rotate_row(int src_buf, long long src_off, int dst_buf, long long dst_off, long long token,
                  const RowNorm* norm, float scale, int row_len = 0, int offset = -1, long long scale_row = -1,
                  double factor = 1, long long scale_at = -1);
  /// The sum of squares of a head row (rotated in double when `turned`), and into `error`
  /// the bound on what the kernel's fp32 row may add to it.
  double square_sum(int src_buf, long long src_off, long long token, bool turned, double* error) const;
  /// Rotates the `len`-element row of token `token` (all of it the rotated stretch, as MLA's
  /// k_pe) and expects its fp8 codes in format `f`, of the row as the dtype holds it divided
  /// by `scale` (saturating), at byte `at` of a dtype-typed buffer: one code where the
  /// rotation's bound admits one, else the codes between those of the bound's ends.
  void rotate_codes(int src_buf, long long src_off, int dst_buf, long long at, long long token, int len,
                    Fp8Format f, float scale);
  /// Bytes the kernel must store at byte `at` of a dtype-typed buffer, bit for bit (a
  /// record's codes and scales): whole elements of the dtype.
  void exact_bytes(int dst_buf, long long at, const std::vector<unsigned char>& b);
  /// Zeroes a row of head_dim elements (+0 in the buffer's element type).
  void zero_row(int dst_buf, long long dst_off);
  /// `n` zero bytes of buffer `buf` at bytes at, at + step, at + 2 step, ... (step 1: a run;
  /// 4: nvfp4's swizzled v scales, one byte each, 4 apart).
  void zero_bytes(int buf, long long at, long long n, int step);
  /// The position frequency index j of a token reads (its position row).
  long long position(long long token, int j) const;
  /// The token's sequence length (0 when the problem has none).
  double seq_len(long long token) const;
  /// bias = qkv: the bias of the rows read next (head_dim values, or the row's length), added
  /// to each element read and rounded to the dtype as the kernel does; null: none.
  const double* bias = nullptr;
  /// cos_sin = table(per_head = true): the KV head whose table turns the rows read next.
  int table_head = 0;

 private:
  /// A buffer's element: the spec's dtype, or an fp8 format (cache or q output).
  struct Elem {
    DType dtype;
    int fp8;  // -1, or an Fp8Format
    int bytes() const { return fp8 >= 0 ? 1 : dtype_bytes(dtype); }
  };
  Elem elem(int buf) const;
  /// Element e of the row at `off` of buffer `buf` as the kernel reads it: decoded, plus the
  /// bias when one is set (then rounded to the dtype).
  double input(int buf, long long off, int e) const;
  bool quant(int buf) const {
    return buf < static_cast<int>(p.buffer_scales.size()) && p.buffer_scales[static_cast<size_t>(buf)] >= 0;
  }
  /// A row for a quantized cache: `value` exact where `bound` is 0 and `exact` says so.
  void quant_row(int dst_buf, long long dst_off, long long scale_row, const std::vector<double>& value,
                 const std::vector<double>& bound, bool exact, float gs, long long scale_at = -1, int scale_step = 1);
  void exact_fp8(int dst_buf, long long di, double x, float scale);
  /// The row rotated in double over [r0, r0 + rotary_dim) (the rest as given), with each
  /// element's bound (rounded to the dtype, as the kernel holds it).
  void turn(const std::vector<double>& xs, const std::vector<double>& err, long long token, int r0,
            std::vector<double>& v, std::vector<double>& b) const;
  void rounded(int dst_buf, long long di, double v, double b, float scale);

  const Problem& p;
  std::vector<Expected>& out;
  int bytes;  // of the activations
};

/// The cache slot of token t: slot_mapping's, else its position; window = ring: its ring slot
/// in its sequence's pages from ring_base (-1: padding).
long long token_slot(const Problem& p, long long t);

/// Whether token t lies outside the limits of the problem (kernel_args.h): a position row
/// outside [0, table_rows) with cos_sin = table and table_rows > 0, a slot (the position
/// without slots) at or past cache_slots > 0, and with checks = bounds a negative position.
/// Such a token is skipped whole: every buffer keeps what it held.
bool outside_limits(const Problem& p, long long t);

/// Expected contents of every buffer after the op, with per-element error bounds:
/// f32: 4u(|x0 c| + |x1 s|), u = 2^-24; f16/bf16: that plus one ulp of the dtype at the
/// result; computed cos/sin add 4u(|x0| + |x1|) for the device's sin/cos.
std::vector<Expected> expect(const Problem& p);

}  // namespace ropegen::reference
