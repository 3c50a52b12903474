#include "verify/verify.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <sstream>

#include "../reference/reference.hpp"
#include "codegen/codegen.hpp"
#include "compile/compile.hpp"
#include "families/family.hpp"
#include "ropegen/error.hpp"
#include "verify/buffers.hpp"

// The shared runner, in the order of a run: build the problem and its host inputs
// (ProblemBuilder), upload the buffers, fill the argument block, launch, read back, then
// compare every buffer with the reference (what the kernel must leave untouched included:
// the reference expects those elements bit for bit) and the bounds record.

namespace ropegen {
namespace {

/// A random finite value of magnitude 2^-6 .. 4, written straight as dtype bits.
void random_element(DType t, std::mt19937_64& rng, unsigned char* out) { random_bits(t, rng, -6, 1, out); }

std::string format_g(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

}  // namespace

const char* tolerance_text() {
  return "rotated values: |out - ref| <= 4u(|x0 c| + |x1 s|) [+ 4u(|x0| + |x1|) for computed "
         "cos/sin] [+ 1 ulp of f16/bf16], u = 2^-24; qk_norm inputs: + (head_dim + 8)u|y| [+ 1 ulp of "
         "f16/bf16]; fp8 stores: the bound / scale + one step of the format at the result; everything "
         "else (copies, fp8 copies of v) bit-exact";
}

std::string VerifyReport::describe() const {
  std::ostringstream os;
  char line[256];
  std::snprintf(line, sizeof line, "%-8s %10s %10s %12s %12s %9s\n", "output", "rotated", "exact",
                "max |err|", "err/bound", "failures");
  os << line;
  for (const auto& o : outputs) {
    std::snprintf(line, sizeof line, "%-8s %10lld %10lld %12.3g %12.3f %9lld\n", o.name.c_str(),
                  o.rounded, o.exact, o.max_abs_error, o.max_error_ratio, o.failures);
    os << line;
    if (!o.first_failure.empty()) os << "  first failure: " << o.first_failure << "\n";
  }
  return os.str();
}

namespace {

// ---------------------------------------------------------------------------------------
// The problem and its host inputs.

/// One activation buffer's rows, from the kernel's argument requirements: a [tokens, heads,
/// head_dim] tensor, or [tokens, width] rows (MLA's k_pe and kv_c).
struct Rows {
  const char* name = nullptr;  // the family's name for it
  long long heads = 0, width = 0;
  bool per_head = false;  // [tokens, heads, head_dim]: head strides apply
};

/// What a run prepares before the launch: the reference's problem (its buffers hold every
/// device buffer's initial contents) and the rest the argument block and the checks take.
struct Inputs {
  reference::Problem p;
  long long max_pos = 1;           // positions are drawn below this; the table's rows
  long long cache_slots = 0;       // the slots the caches hold (0: no cache)
  std::vector<long long> planted;  // tokens out_of_range put outside the limits
  bool fp8_q = false;              // q_out holds fp8 codes with a per-tensor q_scale
  std::vector<unsigned char> q_weight_bits, k_weight_bits;  // qk_norm weights, dtype bits
  std::vector<unsigned char> bias_bits[3];                  // bias = qkv: q, k, v biases, dtype bits
};

/// nvfp4's global scale for k (a cache_dtype, or a record's kv_c): one that puts the block
/// scales in e4m3's normal range.
constexpr float kNvfp4Global = 0.02f;

/// Builds one case's problem: buffers shaped by the kernel's own argument requirements (its
/// family's list), filled with random contents. The seed fixes every value: the steps draw
/// from one generator in a fixed order.
class ProblemBuilder {
 public:
  /// `layer`: 0 for a single-layer run; layer l + 1 of a layers = many run draws its contents
  /// from a seed of its own and places its tokens as every other layer does (its own
  /// generator, seeded by the case), so the layers' buffers have the same sizes.
  ProblemBuilder(const Kernel& kernel, const VerifyCase& c, int layer = 0);
  Inputs build();

 private:
  const ArgRequirement* req(const char* field) const;
  Rows rows_of(const char* field) const;
  int fp8_of(const char* name) const;
  void fill(std::vector<unsigned char>& buf, long long elems);
  void plant_specials(std::vector<unsigned char>& buf, long long stride, const Rows& r);
  void fill_fp8(std::vector<unsigned char>& buf, long long elems, int format);
  void raw_buffer(const char* name, long long bytes);

  void add_activations();
  void add_outputs();
  void add_q_out_scales(const ArgRequirement& qs);
  void add_cache();
  void add_record_cache(long long bytes);
  void place_tokens();
  void place_sequences(std::uniform_real_distribution<double>& u01);
  void plant_past_cache();
  long long cache_elems() const;
  long long strided_layout(long long cache_elems, bool& one_buffer);
  void add_cache_scales(int fp8);
  void add_positions();
  void add_table();
  void add_norm_weights();
  void add_biases();

  const Kernel& kernel_;
  const KernelSpec& s_;
  const VerifyCase& c_;
  const int bytes_;
  const long long D_, T_;
  const long long slack_;  // row strides get one vector of slack (head strides too)
  Rows rq_, rk_, rv_;
  std::mt19937_64 rng_;
  std::mt19937_64 place_rng_;  // layers = many: the token placement's generator
  std::mt19937_64* place_;     // what places the tokens: rng_, or place_rng_ for a layer
  Inputs in_;
};

ProblemBuilder::ProblemBuilder(const Kernel& kernel, const VerifyCase& c, int layer)
    : kernel_(kernel),
      s_(kernel.spec()),
      c_(c),
      bytes_(dtype_bytes(s_.dtype)),
      D_(s_.head_dim),
      T_(c.tokens),
      slack_(kernel.align().row_elems),
      rq_(rows_of("q")),
      rk_(rows_of("k")),
      rv_(rows_of("v")),
      rng_(c.seed + 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(layer)),
      place_rng_(c.seed),
      place_(layer ? &place_rng_ : &rng_) {}

Inputs ProblemBuilder::build() {
  reference::Problem& p = in_.p;
  p.spec = s_;
  p.tokens = T_;
  in_.max_pos = std::max<long long>(c_.max_position, 1);
  add_activations();
  in_.fp8_q = req("q_scale") != nullptr;
  add_outputs();
  if (s_.uses_cache()) add_cache();
  add_positions();
  add_table();
  if (in_.fp8_q) p.q_scale = 0.02f;
  add_norm_weights();
  add_biases();
  p.buffer_fp8.resize(p.buffers.size(), -1);
  p.buffer_raw.resize(p.buffers.size(), 0);
  p.buffer_scales.resize(p.buffers.size(), -1);
  return std::move(in_);
}

const ArgRequirement* ProblemBuilder::req(const char* field) const {
  for (const ArgRequirement& r : kernel_.arguments())
    if (std::strcmp(r.field, field) == 0) return &r;
  return nullptr;
}

Rows ProblemBuilder::rows_of(const char* field) const {
  Rows r;
  const ArgRequirement* a = req(field);
  if (!a) return r;
  r.name = a->name;
  r.per_head = a->shape.size() == 3;
  r.heads = r.per_head ? a->shape[1] : 1;
  r.width = a->shape.back();
  return r;
}

/// fp8 buffers (the cache, an fp8 q_out): the format the kernel's target encodes (-1: none).
int ProblemBuilder::fp8_of(const char* name) const {
  const ArgRequirement* r = req(name);
  if (!r) return -1;
  for (auto f : {reference::Fp8Format::E4M3, reference::Fp8Format::E5M2, reference::Fp8Format::E4M3Fnuz,
                 reference::Fp8Format::E5M2Fnuz})
    if (r->dtype == std::string("fp8_") + reference::to_string(f)) return static_cast<int>(f);
  return -1;
}

void ProblemBuilder::fill(std::vector<unsigned char>& buf, long long elems) {
  buf.resize(static_cast<size_t>(elems) * bytes_);
  for (long long i = 0; i < elems; ++i) random_element(s_.dtype, rng_, &buf[i * bytes_]);
}

/// Random finite fp8 codes of the format.
void ProblemBuilder::fill_fp8(std::vector<unsigned char>& buf, long long elems, int format) {
  buf.resize(static_cast<size_t>(elems));
  for (auto& b : buf) {
    b = static_cast<unsigned char>(rng_());
    if (std::isnan(reference::fp8_decode(static_cast<reference::Fp8Format>(format), b))) b = 0;
  }
}

/// A new buffer of random bytes (a quantized cache's codes, scales).
void ProblemBuilder::raw_buffer(const char* name, long long bytes) {
  reference::Problem& p = in_.p;
  p.buffers.emplace_back(static_cast<size_t>(bytes));
  for (auto& b : p.buffers.back()) b = static_cast<unsigned char>(rng_());
  p.buffer_raw.resize(p.buffers.size(), 0);
  p.buffer_raw.back() = 1;
  p.buffer_names.push_back(name);
}

/// q, k and v: one packed qkv buffer, or a buffer each (k unless without_k leaves it out),
/// with a token stride that has slack; head_strides pads every head too.
void ProblemBuilder::add_activations() {
  reference::Problem& p = in_.p;
  if (c_.packed_qkv) {
    long long stride = slack_;
    for (const Rows* r : {&rq_, &rk_, &rv_}) stride += r->heads * r->width;
    p.buffers.emplace_back();
    fill(p.buffers[0], T_ * stride);
    p.buffer_names.push_back("qkv");
    p.q = {0, 0, stride};
    p.k = {0, rq_.heads * rq_.width, stride};
    p.v = {0, rq_.heads * rq_.width + rk_.heads * rk_.width, stride};
    return;
  }
  auto add = [&](const Rows& r) {
    const bool strided = c_.head_strides && r.per_head;
    const long long hs = strided ? r.width + slack_ : r.width;
    reference::TensorView tv{static_cast<int>(p.buffers.size()), 0, r.heads * hs + slack_, strided ? hs : 0};
    p.buffers.emplace_back();
    fill(p.buffers.back(), std::max<long long>(1, T_ * tv.stride));
    p.buffer_names.push_back(r.name);
    return tv;
  };
  if (rq_.name) p.q = add(rq_);
  if (rk_.name && !(c_.without_k && !req("k")->required)) p.k = add(rk_);
  if (rv_.name) p.v = add(rv_);
  if (c_.specials) {
    if (rv_.name) plant_specials(p.buffers[static_cast<size_t>(p.v.buffer)], p.v.stride, rv_);
    if (rk_.name && !s_.uses_rope() && p.k.buffer >= 0) plant_specials(p.buffers[static_cast<size_t>(p.k.buffer)], p.k.stride, rk_);
  }
}

/// VerifyCase::specials: special values among a tensor's elements (every token's rows; the
/// slack between rows keeps its random values), and token 1's first row all NaN.
void ProblemBuilder::plant_specials(std::vector<unsigned char>& buf, long long stride, const Rows& r) {
  const bool f32 = s_.dtype == DType::F32, bf16 = s_.dtype == DType::BF16;
  // quiet NaN, signaling NaN, +inf, -inf, -0.0, the largest finite value, its negation
  const std::uint32_t f32v[] = {0x7fc00000u, 0x7f800001u, 0x7f800000u, 0xff800000u, 0x80000000u, 0x7f7fffffu, 0xff7fffffu};
  const std::uint16_t bf16v[] = {0x7fc0, 0x7f81, 0x7f80, 0xff80, 0x8000, 0x7f7f, 0xff7f};
  const std::uint16_t f16v[] = {0x7e00, 0x7c01, 0x7c00, 0xfc00, 0x8000, 0x7bff, 0xfbff};
  auto put = [&](long long elem, int kind) {
    unsigned char* out = &buf[static_cast<size_t>(elem) * bytes_];
    if (f32) std::memcpy(out, &f32v[kind], 4);
    else std::memcpy(out, bf16 ? &bf16v[kind] : &f16v[kind], 2);
  };
  const long long row = r.heads * r.width;
  for (long long t = 0; t < T_; ++t)
    for (long long i = (t * 5) % 11; i < row; i += 11) put(t * stride + i, static_cast<int>((t + i) % 7));
  if (T_ > 1)
    for (long long i = 0; i < r.width; ++i) put(stride + i, static_cast<int>(i % 2));  // NaN of both kinds
}

/// q_out and k_out (out of place, or a q_out the op always writes): packed heads, a token
/// stride with slack; an fp8 q_out holds random codes of its format.
void ProblemBuilder::add_outputs() {
  reference::Problem& p = in_.p;
  if (req("gate_out")) {  // gate = interleaved: q's heads are 2 * head_dim apart; the gates go here
    if (p.q.head_stride == 0) p.q.head_stride = 2 * D_;
    p.gate_out = {static_cast<int>(p.buffers.size()), 0, rq_.heads * D_ + slack_, 0};
    p.buffers.emplace_back();
    fill(p.buffers.back(), std::max<long long>(1, T_ * p.gate_out.stride));
    p.buffer_names.push_back("gate_out");
    p.buffer_fp8.resize(p.buffers.size(), -1);
  }
  const ArgRequirement* q_out = req("q_out");
  if (!q_out || !(c_.out_of_place || q_out->required)) return;
  auto add_out = [&](const char* name, long long heads) {
    reference::TensorView tv{static_cast<int>(p.buffers.size()), 0, heads * D_ + slack_, 0};
    p.buffers.emplace_back();
    const int f = std::strcmp(name, "q_out") == 0 ? fp8_of("q_out") : -1;
    p.buffer_fp8.resize(p.buffers.size(), -1);
    p.buffer_fp8.back() = f;
    if (f >= 0) fill_fp8(p.buffers.back(), std::max<long long>(1, T_ * tv.stride), f);
    else fill(p.buffers.back(), std::max<long long>(1, T_ * tv.stride));
    p.buffer_names.push_back(name);
    return tv;
  };
  p.q_out = add_out("q_out", rq_.heads);
  if (p.k.buffer >= 0) p.k_out = add_out("k_out", rk_.heads);
  if (const ArgRequirement* qs = req("q_out_scales")) add_q_out_scales(*qs);
}

/// q_scales = per_token_head: q_out holds fp8 codes (bytes) with a computed scale per
/// (token, head) in a buffer of its own; both start random.
void ProblemBuilder::add_q_out_scales(const ArgRequirement& qs) {
  reference::Problem& p = in_.p;
  const int f = fp8_of("q_out");
  p.q_quant = reference::q_quant_format(s_, static_cast<reference::Fp8Format>(f));
  const size_t qb = static_cast<size_t>(p.q_out.buffer);
  p.buffer_fp8[qb] = -1;
  p.buffer_raw.resize(p.buffers.size(), 0);
  p.buffer_raw[qb] = 1;
  p.buffer_scales.resize(p.buffers.size() + 1, -1);
  p.buffer_scales[qb] = static_cast<int>(p.buffers.size());
  raw_buffer(qs.name, std::max<long long>(1, T_) * rq_.heads * 4);
}

/// The KV caches: the tokens' slots (or positions), then the cache buffers with slack
/// rows after the last head to catch writes past the cache (compared like the rest), then
/// their scales.
void ProblemBuilder::add_cache() {
  reference::Problem& p = in_.p;
  place_tokens();
  plant_past_cache();
  const long long elems = cache_elems();
  if (s_.cache_record.used()) {
    add_record_cache(elems);
    return;
  }
  // A quantized cache holds bytes (codes), with its scales beside it; both start random.
  const bool quant = quantized_cache(s_);
  const int f = quant ? -1 : fp8_of("k_cache");
  if (quant) {
    const int element = fp8_of("k_cache");  // fp8 with per_token_head: the target's encoding
    p.quant = reference::quant_format(s_, element >= 0 ? static_cast<reference::Fp8Format>(element)
                                                       : reference::Fp8Format::E4M3);
  }
  const bool strided = s_.cache.kind == CacheKind::Paged && s_.cache.order == CacheOrder::Strided;
  bool one_buffer = false;  // order = strided with a 2 in the layout: K and V in one buffer
  const long long strided_elems = strided ? strided_layout(elems, one_buffer) : 0;
  for (const char* name : {"k_cache", "v_cache"}) {
    if (!req(name)) continue;  // MLA: one cache of kv_c || k_pe rows
    if (one_buffer && std::strcmp(name, "v_cache") == 0) {
      p.v_cache = p.k_cache;  // v_cache = k_cache + the K-to-V distance
      continue;
    }
    const int index = static_cast<int>(p.buffers.size());
    (std::strcmp(name, "k_cache") == 0 ? p.k_cache : p.v_cache) = index;
    if (quant && s_.codec.scales_at == ScalesAt::Page && c_.cache_layout == "N2") {
      // K and V pages in one buffer, [N, 2, page] with cache_pad bytes after each pair:
      // cache_block_stride = 2 pages + pad, v_cache one page after k_cache.
      const long long page = cache_record_bytes(s_), pages = elems / page;
      p.cache_strides[2] = 2 * page + c_.cache_pad;
      p.v_cache_offset = page;
      p.v_cache = index;
      raw_buffer("kv_cache", pages * p.cache_strides[2]);
      p.buffer_scales.resize(p.buffers.size(), -1);
      p.buffer_scales[static_cast<size_t>(index)] = index;
      break;
    }
    if (quant && s_.codec.scales_at != ScalesAt::Tensor) {  // codes and scales in one buffer (its own scales)
      raw_buffer(name, elems);  // the shape counts bytes, the scales' included
      p.buffer_scales.resize(p.buffers.size(), -1);
      p.buffer_scales[static_cast<size_t>(index)] = index;
      continue;
    }
    if (quant) {
      raw_buffer(name, elems);  // the shape counts bytes
      const std::string scales = std::string(name) + "_scales";
      p.buffer_scales.resize(p.buffers.size() + 1, -1);
      p.buffer_scales[static_cast<size_t>(index)] = static_cast<int>(p.buffers.size());
      raw_buffer(req(scales.c_str())->name,
                 elems / (s_.head_dim * p.quant.bits / 8) * (s_.head_dim / p.quant.group) * p.quant.scale_bytes);
      continue;
    }
    p.buffers.emplace_back();
    p.buffer_fp8.resize(p.buffers.size(), -1);
    p.buffer_fp8.back() = f;
    if (f >= 0) fill_fp8(p.buffers.back(), strided ? strided_elems : elems, f);
    else fill(p.buffers.back(), strided ? strided_elems : elems);
    p.buffer_names.push_back(one_buffer ? "kv_cache" : name);
  }
  add_cache_scales(f);
}

/// cache_record: one buffer of `bytes` (the shape counts bytes), typed as the dtype so the
/// rotated values in it compare within bounds and the codes and scales as whole elements;
/// nvfp4's global scale, an fp8 k_pe's k_scale (the same k_scale[0] when both read it). The
/// encodings of its fp8 formats: record_encoding (below).
void ProblemBuilder::add_record_cache(long long bytes) {
  reference::Problem& p = in_.p;
  p.k_cache = static_cast<int>(p.buffers.size());
  p.buffers.emplace_back();
  p.buffer_fp8.resize(p.buffers.size(), -1);
  fill(p.buffers.back(), bytes / bytes_);
  p.buffer_names.push_back("k_cache");
  for (const RecordPart& part : s_.cache_record.parts)
    if (part.kind == RecordPart::Kind::Values && part.format == StoreType::Nvfp4 &&
        part.codec.recipe == Nvfp4Recipe::Exact)
      p.k_scale = {kNvfp4Global};
  // k_pe's k_scale: one that saturates the larger rotated values (|x| > 448 * 0.01 in e4m3).
  for (const RecordPart& part : s_.cache_record.parts)
    if (part.kind == RecordPart::Kind::Values && part.k_scale && p.k_scale.empty()) p.k_scale = {0.01f};
}

/// Approximate reciprocals (rcp.approx.ftz.f32) of `in`, computed by the device of `rt` with
/// codegen's rcp_approx_kernel (the vendor's instruction alone), one value per thread.
std::vector<float> device_reciprocals(Runtime& rt, const std::vector<float>& in) {
  const Target t = rt.target();
  const GeneratedSource g = rcp_approx_kernel(t);
  const std::unique_ptr<Kernel> k = rt.load(select_compiler(t).compile(g, {}));
  const long long n = static_cast<long long>(in.size()), blocks = (n + 63) / 64;
  std::vector<float> out(in.size(), 0.0f);
  DeviceBuffers dev(rt);
  void* d_in = dev.upload(in.data(), in.size() * 4);
  void* d_out = dev.upload(out.data(), out.size() * 4);
  ropegen_kernel_args a = ROPEGEN_KERNEL_ARGS_INIT;
  a.q = a.k = d_out;  // op=rope's checks see a q and a k; the kernel writes q
  a.v = d_in;
  a.positions = d_in;
  a.q_stride = a.k_stride = 64;
  a.num_tokens = blocks;
  a.max_seq = n;  // unused by op=rope: the count
  k->launch(a, nullptr, 1);
  rt.synchronize();
  rt.copy_to_host(out.data(), d_out, out.size() * 4);
  return out;
}

/// nvfp4 recipe = trtllm: the reference's approximate reciprocal, from the device that runs
/// the kernel. The inputs the recipe takes are few: 6, enc = 1 / gs for each global scale,
/// then sfq * rcp(enc) for every e4m3 value sfq; computed there in two launches (the second's
/// inputs need the first's results) and looked up by the reference, which fails (Internal)
/// on any other input rather than guess.
void device_recipe_reciprocals(reference::Problem& p, Runtime& rt) {
  if (p.quant.kind != reference::QuantKind::Nvfp4 || p.quant.recipe != Nvfp4Recipe::Trtllm) return;
  auto bits = [](float f) {
    std::uint32_t b;
    std::memcpy(&b, &f, 4);
    return b;
  };
  std::vector<float> first = {6.0f};
  for (const std::vector<float>* s : {&p.k_scale, &p.v_scale})
    if (!s->empty() && (*s)[0] > 0) first.push_back(1.0f / (*s)[0]);
  const std::vector<float> r1 = device_reciprocals(rt, first);
  std::vector<float> second;
  for (size_t i = 1; i < first.size(); ++i)
    for (unsigned c = 0; c < 0x7f; ++c)  // every finite non-negative e4m3 value, 0 included
      second.push_back(static_cast<float>(reference::fp8_decode(reference::Fp8Format::E4M3, static_cast<std::uint8_t>(c))) * r1[i]);
  const std::vector<float> r2 = device_reciprocals(rt, second);
  auto table = std::make_shared<std::map<std::uint32_t, float>>();
  for (size_t i = 0; i < first.size(); ++i) (*table)[bits(first[i])] = r1[i];
  for (size_t i = 0; i < second.size(); ++i) (*table)[bits(second[i])] = r2[i];
  p.quant.rcp = [table, bits](float x) {
    const auto it = table->find(bits(x));
    if (it == table->end())
      throw Error(ErrorKind::Internal, "verify: the reference needs rcp.approx.ftz.f32(" + format_g(x) +
                                           "), which was not computed on the device");
    return it->second;
  };
}

/// The encodings `target` gives the fp8 formats the reference writes as bytes: cache_record's
/// kv_c and k_pe, and an fp8 cache with inline scales (its description says u8, not the encoding).
void record_encoding(reference::Problem& p, const Target& target) {
  const KernelSpec& s = p.spec;
  if (quantized_cache(s) && is_fp8(s.cache_dtype) && s.codec.scales_at != ScalesAt::Tensor) {
    const bool e4m3 = s.cache_dtype == StoreType::Fp8E4m3 || s.cache_dtype == StoreType::Fp8E4m3Fnuz;
    const bool fnuz = fp8_fnuz_on(target.caps, s.cache_dtype);
    p.quant = reference::quant_format(s, e4m3 ? (fnuz ? reference::Fp8Format::E4M3Fnuz : reference::Fp8Format::E4M3)
                                              : (fnuz ? reference::Fp8Format::E5M2Fnuz : reference::Fp8Format::E5M2));
  }
  for (const RecordPart& part : p.spec.cache_record.parts) {
    if (part.kind != RecordPart::Kind::Values || !is_fp8(part.format)) continue;
    const bool e4m3 = part.format == StoreType::Fp8E4m3 || part.format == StoreType::Fp8E4m3Fnuz;
    const bool fnuz = fp8_fnuz_on(target.caps, part.format);
    (part.field == "k_pe" ? p.record_pe_fp8 : p.record_fp8) =
        e4m3 ? (fnuz ? reference::Fp8Format::E4M3Fnuz : reference::Fp8Format::E4M3)
             : (fnuz ? reference::Fp8Format::E5M2Fnuz : reference::Fp8Format::E5M2);
  }
}

/// Where the tokens go: a cache of 2 tokens + 3 slots (at least 8; whole pages), filled by
/// sequences, by distinct positions (contiguous caches without slot_mapping), or by
/// distinct slots with some padding.
void ProblemBuilder::place_tokens() {
  reference::Problem& p = in_.p;
  long long& cache_slots = in_.cache_slots;
  cache_slots = std::max<long long>(2 * T_ + 3, 8);
  if (s_.cache.kind == CacheKind::Paged) cache_slots = (cache_slots + s_.cache.block - 1) / s_.cache.block * s_.cache.block;
  p.max_seq = cache_slots;
  std::vector<long long> pool(static_cast<size_t>(cache_slots));
  std::iota(pool.begin(), pool.end(), 0);
  std::shuffle(pool.begin(), pool.end(), *place_);
  std::uniform_real_distribution<double> u01(0, 1);
  if (c_.sequences) {
    place_sequences(u01);
  } else if (c_.slots_from_positions && s_.cache.kind == CacheKind::Contiguous) {
    p.positions.assign(pool.begin(), pool.begin() + T_);  // distinct positions = slots
    in_.max_pos = std::max(in_.max_pos, cache_slots);
  } else {
    p.slots.assign(pool.begin(), pool.begin() + T_);
    for (auto& slot : p.slots)
      if (u01(*place_) < c_.padding) slot = -1;
    if (T_ > 1) p.slots[1] = -1;  // at least one padding token whenever there are two
  }
}

/// Tokens as sequences of 1 .. 2 block + 3 tokens, each in pages of its own, with padding
/// tokens between some (window = ring: at most W - S tokens, the ring's length, positions
/// from 0 to 3 W so that they wrap, each sequence in a ring of its own).
void ProblemBuilder::place_sequences(std::uniform_real_distribution<double>& u01) {
  reference::Problem& p = in_.p;
  if (s_.cache.kind != CacheKind::Paged) throw Error(ErrorKind::Spec, "verify: sequences needs a paged cache");
  const long long B = s_.cache.block;
  const long long W = s_.window.size, S = s_.window.sinks;
  const long long ring_pages = s_.window.on ? ((S + B - 1) / B * B + (W - S) + B - 1) / B : 0;
  struct Seq {
    long long first = 0, n = 0, start = 0;  // first token, tokens, position or page offset of the first
  };
  std::vector<Seq> seqs;
  std::vector<long long> pad;  // padding tokens between sequences
  long long pages = 0;
  for (long long t = 0; t < T_;) {
    if (t > 0 && u01(*place_) < 0.3) {
      pad.push_back(t++);
      continue;
    }
    Seq q;
    q.first = t;
    const long long most = s_.window.on ? std::min<long long>(W - S, 2 * B + 3) : 2 * B + 3;
    q.n = std::min<long long>(std::uniform_int_distribution<long long>(1, most)(*place_), T_ - t);
    q.start = s_.window.on ? std::uniform_int_distribution<long long>(0, 3 * W)(*place_)
                           : std::uniform_int_distribution<long long>(0, B - 1)(*place_);
    pages += s_.window.on ? ring_pages : (q.start + q.n + B - 1) / B;
    seqs.push_back(q);
    t += q.n;
  }
  long long& cache_slots = in_.cache_slots;
  cache_slots = (pages + 1) * B;  // one page nobody writes
  std::vector<long long> order(static_cast<size_t>(s_.window.on ? seqs.size() + 1 : pages + 1));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), *place_);
  size_t next = 0;
  if (s_.window.on) {
    p.ring_base.assign(static_cast<size_t>(T_), -1);
    p.positions.assign(static_cast<size_t>(T_), 0);
  } else {
    p.slots.assign(static_cast<size_t>(T_), -1);
  }
  for (const Seq& q : seqs) {
    if (s_.window.on) {  // a region of ring_pages consecutive pages
      const long long base = order[next++] * ring_pages * B;
      for (long long i = 0; i < q.n; ++i) {
        p.ring_base[static_cast<size_t>(q.first + i)] = base;
        p.positions[static_cast<size_t>(q.first + i)] = q.start + i;
      }
      in_.max_pos = std::max(in_.max_pos, q.start + q.n);
    } else {  // pages anywhere in the cache, the first token at page offset start
      std::vector<long long> own;
      for (long long k = 0; k < (q.start + q.n + B - 1) / B; ++k) own.push_back(order[next++]);
      for (long long i = 0; i < q.n; ++i)
        p.slots[static_cast<size_t>(q.first + i)] = own[static_cast<size_t>((q.start + i) / B)] * B + (q.start + i) % B;
    }
  }
  if (s_.window.on) cache_slots = static_cast<long long>(seqs.size() + 1) * ring_pages * B;
  p.max_seq = cache_slots;
  if (s_.window.on && !pad.empty()) p.positions[static_cast<size_t>(pad.front())] = 5;  // a padding base, any position
}

/// past_max_seq: every third slot at or past the cache (contiguous hnd skips them);
/// out_of_range: every fifth (positions, when they are the slots), a planted token.
void ProblemBuilder::plant_past_cache() {
  reference::Problem& p = in_.p;
  const long long cache_slots = in_.cache_slots;
  if (c_.past_max_seq) {
    auto& idx = p.slots.empty() ? p.positions : p.slots;
    for (long long t = 2; t < T_; t += 3) idx[static_cast<size_t>(t)] = cache_slots + t % 8;
    in_.max_pos = std::max(in_.max_pos, cache_slots + 8);
  }
  if (c_.out_of_range) {  // slots at or past cache_slots (positions, when they are the slots)
    auto& idx = p.slots.empty() ? p.positions : p.slots;
    for (long long t = 2; t < T_; t += 5) {
      idx[static_cast<size_t>(t)] = cache_slots + t % 8;
      in_.planted.push_back(t);
    }
  }
}

/// Elements of a cache buffer: its slots, plus slack slots when tokens are planted past it.
long long ProblemBuilder::cache_elems() const {
  // Slack rows after the last head catch writes past the cache (compared like the rest).
  // A slot's elements: the cache's fixed dimensions, less the block of a paged one.
  long long row = 1;
  for (long long d : req("k_cache")->shape)
    if (d > 0) row *= d;
  if (s_.cache.kind == CacheKind::Paged) row /= s_.cache.block;
  // Planted slots reach 8 past the cache: whole blocks of a paged cache.
  const long long slack_slots =
      s_.cache.kind == CacheKind::Paged ? (8 + s_.cache.block - 1) / s_.cache.block * s_.cache.block : 8;
  return in_.cache_slots * row + (c_.past_max_seq || c_.out_of_range ? slack_slots * row : 0);
}

/// order = strided: the strides of the case's cache_layout, innermost (D) first, pages
/// with cache_pad of slack. Sets the problem's strides and K-to-V distance; `one_buffer`:
/// K and V share a buffer (a 2 in the layout). Returns the elements of a cache buffer.
long long ProblemBuilder::strided_layout(long long cache_elems, bool& one_buffer) {
  reference::Problem& p = in_.p;
  const long long B = s_.cache.block, H = s_.kv_heads;
  const long long pages = cache_elems / (B * H * D_);
  long long stride_of[4] = {0, 0, 0, 0};  // N, B, H, 2
  long long acc = D_;
  for (size_t i = c_.cache_layout.size(); i-- > 0;) {
    const char l = c_.cache_layout[i];
    const int k = l == 'N' ? 0 : l == 'B' ? 1 : l == 'H' ? 2 : l == '2' ? 3 : -1;
    if (k < 0 || stride_of[k] != 0) throw Error(ErrorKind::Spec, "verify: bad cache_layout " + c_.cache_layout);
    if (k == 0) acc += c_.cache_pad;  // a page's slack: the dimensions outside N move with it
    stride_of[k] = acc;
    acc *= k == 0 ? pages : k == 1 ? B : k == 2 ? H : 2;
  }
  if (stride_of[0] == 0 || stride_of[1] == 0 || stride_of[2] == 0)
    throw Error(ErrorKind::Spec, "verify: cache_layout " + c_.cache_layout + " needs N, B and H");
  p.cache_strides[0] = stride_of[2];
  p.cache_strides[1] = stride_of[1];
  p.cache_strides[2] = stride_of[0];
  one_buffer = stride_of[3] != 0;
  p.v_cache_offset = stride_of[3];
  return acc;
}

/// The cache's scale arguments: nvfp4's global scales; an fp8 cache's, one or one per KV
/// head, as the kernel's scale arguments say.
void ProblemBuilder::add_cache_scales(int fp8) {
  reference::Problem& p = in_.p;
  if (s_.cache_dtype == StoreType::Nvfp4) {
    // Global scales that put the block scales in e4m3's normal range (k) and past its
    // largest value for large rows (v: sf saturates at 448).
    p.k_scale = {kNvfp4Global};
    p.v_scale = {0.0004f};
  }
  if (fp8 < 0) return;
  // Scales that saturate some values (0.005), reach the subnormals (2), and lie between.
  const float pattern[] = {0.01f, 2.0f, 0.005f, 0.25f};
  auto scales = [&](const char* name, std::vector<float>& out, int first) {
    if (const ArgRequirement* r = req(name))
      for (long long h = 0; h < r->shape[0]; ++h) out.push_back(pattern[(h + first) % 4]);
  };
  scales("k_scale", p.k_scale, 0);
  scales("v_scale", p.v_scale, 1);
}

/// Positions (unless the cache placed them), mrope/imrope's three rows, positions planted
/// outside the table, and run-time sequence lengths.
void ProblemBuilder::add_positions() {
  reference::Problem& p = in_.p;
  const bool rope = s_.uses_rope();
  const long long max_pos = in_.max_pos;
  if (p.positions.empty() && (rope || s_.uses_cache())) {
    std::uniform_int_distribution<long long> pos_dist(0, max_pos - 1);
    for (long long t = 0; t < T_; ++t) p.positions.push_back(pos_dist(rng_));
  }
  if (rope && s_.positions.kind == PositionsKind::Grid) {
    // One index per token into a grid of 3 x 5 per frame (the case may name others); the
    // frames follow from max_pos.
    p.grid_h = c_.grid_h;
    p.grid_w = c_.grid_w;
  } else if (rope && s_.positions.kind != PositionsKind::Single) {
    // Three rows (t, h, w; vision: two, row and column) with slack between them; every third
    // token is text (the same position in each row), the others get their own h and w.
    const int nrows = s_.positions.rows();
    p.positions_stride = T_ + 3;
    std::vector<long long> rows(static_cast<size_t>(nrows * p.positions_stride), 0);
    std::uniform_int_distribution<long long> pos_dist(0, max_pos - 1);
    for (long long t = 0; t < T_; ++t)
      for (int r = 0; r < nrows; ++r)
        rows[static_cast<size_t>(r * p.positions_stride + t)] = r == 0 || t % 3 == 0 ? p.positions[t] : pos_dist(rng_);
    p.positions = rows;
  }
  if (c_.out_of_range && rope && s_.cos_sin.source == CosSinSource::Table) {
    // Positions outside the table: negative, or at or past its max_pos rows (one of the three
    // rows of mrope/imrope positions); the table keeps its max_pos rows.
    const long long rows = s_.positions.input_rows();
    const long long apart = p.positions_stride ? p.positions_stride : T_;
    for (long long t = 4; t < T_; t += 5) {
      const long long r = (t / 5) % rows;
      p.positions[static_cast<size_t>(r * apart + t)] = t % 2 ? -1 - t % 3 : max_pos + t % 8;
      in_.planted.push_back(t);
    }
  }
  if (rope && s_.cos_sin.runtime_length()) {
    // Sequence lengths on both sides of original_max_position_embeddings.
    const long long L = static_cast<long long>(s_.cos_sin.params.original_max_position_embeddings);
    std::uniform_int_distribution<long long> len_dist(1, 3 * L);
    for (long long t = 0; t < T_; ++t) p.seq_lens.push_back(t % 4 == 0 ? L : t % 4 == 1 ? L + 1 : len_dist(rng_));
  }
}

/// cos_sin = table: real cos/sin values of plain RoPE, rounded to fp32, for max_pos rows;
/// one [max_pos, rot] = [cos | sin] table (vLLM) or two arrays with padded rows.
/// table(per_head = true): a row holds kv_heads tables, head h's frequencies scaled by
/// 1 + h / 4, so a row turned by another head's table shows.
void ProblemBuilder::add_table() {
  reference::Problem& p = in_.p;
  if (!s_.uses_rope() || s_.cos_sin.source != CosSinSource::Table) return;
  const ArgAlignment& al = kernel_.align();
  const long long max_pos = in_.max_pos, rot2 = s_.rotary_dim / 2;
  const long long half = rot2 * (s_.cos_sin.per_head ? s_.kv_heads : 1);  // a position's values of cos (or sin)
  auto angle = [&](long long pos, long long hj) {
    const long long head = hj / rot2, j = hj % rot2;
    return static_cast<double>(pos) * std::pow(10000.0, -2.0 * static_cast<double>(j) / s_.rotary_dim) *
           (1.0 + 0.25 * static_cast<double>(head));
  };
  if (c_.combined_table) {
    p.table_stride = 2 * half;  // [max_pos, rot] = [cos | sin]
    p.cos_offset = 0;
    p.sin_offset = half;
  } else {
    p.table_stride = (half + al.table_elems - 1) / al.table_elems * al.table_elems + al.table_elems;
    p.cos_offset = 0;
    p.sin_offset = max_pos * p.table_stride;
  }
  p.table.assign(static_cast<size_t>(c_.combined_table ? max_pos * p.table_stride : 2 * max_pos * p.table_stride),
                 0.0f);
  for (long long pos = 0; pos < max_pos; ++pos)
    for (long long j = 0; j < half; ++j) {
      p.table[p.cos_offset + pos * p.table_stride + j] = static_cast<float>(std::cos(angle(pos, j)));
      p.table[p.sin_offset + pos * p.table_stride + j] = static_cast<float>(std::sin(angle(pos, j)));
    }
}

/// qk_norm: weights around 1 (Gemma's around 0: it multiplies by 1 + w), random signs;
/// span = all_heads: one per element of the token's heads. Kept as dtype bits and decoded.
/// bias = qkv: random q, k and v biases of the lengths the kernel describes.
void ProblemBuilder::add_biases() {
  reference::Problem& p = in_.p;
  std::vector<double>* dst[3] = {&p.q_bias, &p.k_bias, &p.v_bias};
  const char* names[3] = {"q_bias", "k_bias", "v_bias"};
  for (int i = 0; i < 3; ++i) {
    const ArgRequirement* r = req(names[i]);
    if (!r) continue;
    fill(in_.bias_bits[i], r->shape[0]);
    for (long long e = 0; e < r->shape[0]; ++e)
      dst[i]->push_back(reference::decode(s_.dtype, &in_.bias_bits[i][static_cast<size_t>(e * bytes_)]));
  }
}

void ProblemBuilder::add_norm_weights() {
  reference::Problem& p = in_.p;
  if (!s_.uses_rope() || !s_.qk_norm.on) return;
  const QkNorm& qn = s_.qk_norm;
  if (qn.sums != NormSums::None) {
    // sums = read: as if added over the ranks, ranks * heads * head_dim times a mean square
    // drawn from [0.05, 2]; sums = write: the kernel's output, starting at -1 (the sums are
    // checked apart, tests/api).
    std::uniform_real_distribution<double> ms(0.05, 2.0);
    for (long long t = 0; t < T_; ++t)
      for (long long heads : {s_.q_heads, s_.kv_heads})
        p.norm_sums.push_back(qn.sums == NormSums::Read ? static_cast<float>(qn.ranks * heads * D_ * ms(rng_)) : -1.0f);
    if (qn.sums == NormSums::Write) return;  // reads no weights
  }
  const bool all = s_.qk_norm.span == NormSpan::AllHeads;
  const long long nq = all ? s_.q_heads * D_ : D_, nk = all ? s_.kv_heads * D_ : D_;
  fill(in_.q_weight_bits, nq);
  fill(in_.k_weight_bits, nk);
  for (long long e = 0; e < nq; ++e)
    p.q_norm_weight.push_back(reference::decode(s_.dtype, &in_.q_weight_bits[static_cast<size_t>(e * bytes_)]));
  for (long long e = 0; e < nk; ++e)
    p.k_norm_weight.push_back(reference::decode(s_.dtype, &in_.k_weight_bits[static_cast<size_t>(e * bytes_)]));
}

// ---------------------------------------------------------------------------------------
// Device buffers and the argument block.

// order = amd, amd_shuffle: the problem's caches hold the logical [N, B, H, D] order (what
// the reference writes); the kernel's memory holds each element where AMD's layouts put it
// (x = 16 bytes of elements): K [N, H, D / x, B, x], V [N, H, D, B] or [N, H, B / x, D, x].

/// Whether buffer b is a cache the kernel lays out in AMD's order.
bool amd_buffer(const reference::Problem& p, size_t b) {
  const KernelSpec& s = p.spec;
  const bool amd = s.uses_cache() && (s.cache.order == CacheOrder::Amd || s.cache.order == CacheOrder::AmdShuffle);
  return amd && (static_cast<int>(b) == p.k_cache || static_cast<int>(b) == p.v_cache);
}

/// A logical element of a cache -> its place in memory.
long long amd_place(const KernelSpec& s, bool is_v, long long e) {
  const long long B = s.cache.block, H = s.kv_heads, D = s.head_dim, x = amd_piece_elems(s);
  const long long i = e % D, h = (e / D) % H, slot = e / (D * H), page = slot / B, t = slot % B;
  const long long head = (page * H + h) * D * B;
  if (!is_v) return head + (i / x) * B * x + t * x + i % x;
  if (s.cache.order == CacheOrder::Amd) return head + i * B + t;
  return head + (t / x) * D * x + i * x + t % x;
}

/// Cache buffer b's bytes moved from the logical order to memory's (to_memory) or back.
std::vector<unsigned char> amd_move(const reference::Problem& p, size_t b, const std::vector<unsigned char>& from,
                                    bool to_memory) {
  const int bytes = cache_bits(p.spec) / 8;  // an element of the cache: the dtype's, or an fp8 code
  std::vector<unsigned char> out(from.size());
  const bool is_v = static_cast<int>(b) == p.v_cache;
  for (long long e = 0; e < static_cast<long long>(from.size()) / bytes; ++e) {
    const long long m = amd_place(p.spec, is_v, e);
    std::memcpy(&out[static_cast<size_t>((to_memory ? m : e) * bytes)],
                &from[static_cast<size_t>((to_memory ? e : m) * bytes)], static_cast<size_t>(bytes));
  }
  return out;
}

/// Every buffer of the problem on the device, with its initial contents.
std::vector<void*> upload_buffers(DeviceBuffers& dev, const reference::Problem& p) {
  std::vector<void*> bufs;
  for (size_t b = 0; b < p.buffers.size(); ++b) {
    const std::vector<unsigned char> data = amd_buffer(p, b) ? amd_move(p, b, p.buffers[b], true) : p.buffers[b];
    bufs.push_back(dev.upload(data.data(), data.size()));
  }
  return bufs;
}

/// The argument block's tensors and caches: pointers into the uploaded buffers, strides.
void point_at_buffers(ropegen_kernel_args& a, const reference::Problem& p, const std::vector<void*>& bufs) {
  const int bytes = dtype_bytes(p.spec.dtype);
  auto elem_ptr = [&](const reference::TensorView& tv) -> void* {
    if (tv.buffer < 0) return nullptr;
    return static_cast<unsigned char*>(bufs[tv.buffer]) + tv.offset * bytes;
  };
  a.q = elem_ptr(p.q);
  a.k = elem_ptr(p.k);
  a.v = elem_ptr(p.v);
  a.q_stride = p.q.stride;
  a.k_stride = p.k.stride;
  a.v_stride = p.v.stride;
  a.q_head_stride = p.q.head_stride;
  a.k_head_stride = p.k.head_stride;
  a.v_head_stride = p.v.head_stride;
  a.q_out = elem_ptr(p.q_out);
  a.q_out_stride = p.q_out.stride;
  a.k_out = elem_ptr(p.k_out);
  a.k_out_stride = p.k_out.stride;
  a.gate_out = elem_ptr(p.gate_out);
  a.gate_out_stride = p.gate_out.stride;
  a.positions_stride = p.positions_stride;
  a.k_cache = p.k_cache >= 0 ? bufs[p.k_cache] : nullptr;
  a.v_cache = p.v_cache >= 0 ? bufs[p.v_cache] : nullptr;
  if (p.v_cache_offset)  // K and V in one buffer
    a.v_cache = static_cast<unsigned char*>(a.v_cache) +
                p.v_cache_offset * (p.buffer_fp8[static_cast<size_t>(p.v_cache)] >= 0 ||
                                            p.buffer_raw[static_cast<size_t>(p.v_cache)]
                                        ? 1
                                        : bytes);
  a.cache_head_stride = p.cache_strides[0];
  a.cache_token_stride = p.cache_strides[1];
  a.cache_block_stride = p.cache_strides[2];
  // Inline scales (a cache whose scales are its own buffer): the scale tensors stay null.
  if (p.k_cache >= 0 && p.buffer_scales[p.k_cache] >= 0 && p.buffer_scales[p.k_cache] != p.k_cache)
    a.k_cache_scales = bufs[p.buffer_scales[p.k_cache]];
  if (p.v_cache >= 0 && p.buffer_scales[p.v_cache] >= 0 && p.buffer_scales[p.v_cache] != p.v_cache)
    a.v_cache_scales = bufs[p.buffer_scales[p.v_cache]];
  if (p.q_out.buffer >= 0 && p.buffer_scales[p.q_out.buffer] >= 0)
    a.q_out_scales = static_cast<float*>(bufs[p.buffer_scales[p.q_out.buffer]]);
  a.num_tokens = p.tokens;
  a.max_seq = p.max_seq;
}

/// The inputs outside the problem's buffers, uploaded: indices, scales, norm weights and
/// the cos/sin table.
void upload_side_inputs(ropegen_kernel_args& a, DeviceBuffers& dev, const Inputs& in) {
  const reference::Problem& p = in.p;
  auto index = [&](const std::vector<long long>& v) -> void* {
    return v.empty() ? nullptr : dev.upload_index(v, p.spec.index);
  };
  a.ring_base = index(p.ring_base);
  a.grid_h = p.grid_h;
  a.grid_w = p.grid_w;
  if (!p.norm_sums.empty())
    a.norm_sums = static_cast<float*>(dev.upload(p.norm_sums.data(), p.norm_sums.size() * 4));
  a.positions = index(p.positions);
  a.slot_mapping = index(p.slots);
  a.seq_lens = index(p.seq_lens);
  if (!p.k_scale.empty()) a.k_scale = static_cast<const float*>(dev.upload(p.k_scale.data(), p.k_scale.size() * 4));
  if (!p.v_scale.empty()) a.v_scale = static_cast<const float*>(dev.upload(p.v_scale.data(), p.v_scale.size() * 4));
  if (in.fp8_q) a.q_scale = static_cast<const float*>(dev.upload(&p.q_scale, 4));  // per_tensor q_scales only
  const void** biases[3] = {&a.q_bias, &a.k_bias, &a.v_bias};
  for (int i = 0; i < 3; ++i)
    if (!in.bias_bits[i].empty()) *biases[i] = dev.upload(in.bias_bits[i].data(), in.bias_bits[i].size());
  if (!in.q_weight_bits.empty()) {
    a.q_norm_weight = dev.upload(in.q_weight_bits.data(), in.q_weight_bits.size());
    a.k_norm_weight = dev.upload(in.k_weight_bits.data(), in.k_weight_bits.size());
  }
  if (!p.table.empty()) {
    auto* table = static_cast<float*>(dev.upload(p.table.data(), p.table.size() * 4));
    a.cos = table + p.cos_offset;
    a.sin = table + p.sin_offset;
    a.cos_sin_stride = p.table_stride;
  }
}

/// checks = bounds or out_of_range: the limits (the slots the caches hold, the rows of the
/// table), in the argument block and the problem; checks = bounds: a zeroed record.
void set_limits(ropegen_kernel_args& a, DeviceBuffers& dev, Inputs& in, const VerifyCase& c) {
  reference::Problem& p = in.p;
  const bool checked = p.spec.checks == Checks::Bounds;
  if (checked || c.out_of_range) {
    a.cache_slots = p.cache_slots = p.spec.uses_cache() ? in.cache_slots : 0;
    a.table_rows = p.table_rows = p.table.empty() ? 0 : in.max_pos;
  }
  if (checked) {
    // Unless out_of_range planted tokens, every index is in range: nothing may be recorded.
    const unsigned long long zero[4] = {0, 0, 0, 0};
    a.bounds_error = static_cast<unsigned long long*>(dev.upload(zero, sizeof zero));
  }
}

/// The whole argument block of a run.
ropegen_kernel_args fill_args(DeviceBuffers& dev, const std::vector<void*>& bufs, Inputs& in, const VerifyCase& c) {
  ropegen_kernel_args a = ROPEGEN_KERNEL_ARGS_INIT;
  point_at_buffers(a, in.p, bufs);
  upload_side_inputs(a, dev, in);
  set_limits(a, dev, in, c);
  return a;
}

// ---------------------------------------------------------------------------------------
// Reading back and comparing.

/// The range of scales a quantized group may have: the scales of the smallest and the
/// largest amax its bounds allow (every format's scale grows with amax). Symmetric formats:
/// each magnitude shrunk (lo) or grown (hi) by its bound; int4: the range (max - min)
/// shrunk or spread around the middle.
std::pair<double, double> scale_range(const reference::QuantRow& r, int g) {
  const reference::QuantFormat& f = *r.format;
  std::vector<float> lo, hi;
  if (f.kind == reference::QuantKind::Int4) {
    double mx = -INFINITY, mn = INFINITY, bmax = 0;
    for (int i = 0; i < f.group; ++i) {
      mx = std::max(mx, r.value[static_cast<size_t>(g * f.group + i)]);
      mn = std::min(mn, r.value[static_cast<size_t>(g * f.group + i)]);
      bmax = std::max(bmax, r.bound[static_cast<size_t>(g * f.group + i)]);
    }
    lo = {static_cast<float>(mn + bmax), static_cast<float>(std::max(mn + bmax, mx - bmax))};
    hi = {static_cast<float>(mn - bmax), static_cast<float>(mx + bmax)};
  } else {
    for (int i = 0; i < f.group; ++i) {
      const double v = r.value[static_cast<size_t>(g * f.group + i)], b = r.bound[static_cast<size_t>(g * f.group + i)];
      lo.push_back(static_cast<float>(std::max(0.0, std::fabs(v) - b)));
      hi.push_back(static_cast<float>(std::fabs(v) + b));
    }
  }
  return {reference::scale_value(f, reference::quantize_group(f, lo.data(), static_cast<int>(lo.size()), r.gs).scale_bits, r.gs),
          reference::scale_value(f, reference::quantize_group(f, hi.data(), static_cast<int>(hi.size()), r.gs).scale_bits, r.gs)};
}

/// How far a code may decode from value v with bound b at scale s (scale bits `bits`): the
/// bound plus one step of the format there, plus any saturation.
double code_allowance(const reference::QuantFormat& f, double v, double b, double s, std::uint32_t bits) {
  double allowed = b * (1 + 1e-6) + 1e-30;
  if (s > 0) {
    const double zp = f.kind == reference::QuantKind::Int4 ? static_cast<double>(bits & 0xf) : 0.0;
    const double t = (std::fabs(v) + b) / s;
    double over = std::max(0.0, t - reference::code_max(f));
    if (f.kind == reference::QuantKind::Int4)
      over = std::max(0.0, (v + b) / s + zp - 15) + std::max(0.0, -((v - b) / s + zp));
    allowed += s * (reference::code_step(f, std::min(t, reference::code_max(f))) + over);
  }
  return allowed;
}

/// Checks the bounded rows of a quantized cache (rotated or normalized values): per group,
/// the kernel's scale lies within scale_range, and each code decodes, with that scale, to
/// within its code_allowance.
void check_quant_rows(const std::vector<reference::QuantRow>& rows, const std::vector<unsigned char>& got,
                      const std::vector<std::vector<unsigned char>>& results, OutputReport& o) {
  auto fail = [&](const std::string& m) {
    if (o.failures == 0) o.first_failure = m;
    ++o.failures;
  };
  for (const reference::QuantRow& r : rows) {
    const reference::QuantFormat& f = *r.format;
    const std::vector<unsigned char>& sc = results[static_cast<size_t>(r.scale_buf)];
    const int n = static_cast<int>(r.value.size());
    for (int g = 0; g < n / f.group; ++g) {
      std::uint32_t bits = 0;
      for (int b = 0; b < f.scale_bytes; ++b)
        bits |= static_cast<std::uint32_t>(sc[static_cast<size_t>(r.scale_off + g * r.scale_step * f.scale_bytes + b)])
                << (8 * b);
      const auto [s_lo, s_hi] = scale_range(r, g);
      const double s = reference::scale_value(f, bits, r.gs);
      ++o.exact;
      if (!(s >= s_lo * (1 - 1e-6) && s <= s_hi * (1 + 1e-6)))
        fail("quantized row at byte " + std::to_string(r.data_off) + ", group " + std::to_string(g) + ": scale " +
             format_g(s) + " outside [" + format_g(s_lo) + ", " + format_g(s_hi) + "]");
      for (int i = 0; i < f.group; ++i) {
        const long long e = g * f.group + i, bit = e * f.bits;
        const std::uint8_t byte = got[static_cast<size_t>(r.data_off + bit / 8)];
        const std::uint8_t code = f.bits == 8 ? byte : static_cast<std::uint8_t>((byte >> (bit % 8)) & 0xf);
        const double d = reference::dequantize(f, code, bits, r.gs);
        const double v = r.value[static_cast<size_t>(e)], b = r.bound[static_cast<size_t>(e)];
        const double allowed = code_allowance(f, v, b, s, bits);
        const double err = std::fabs(d - v);
        ++o.rounded;
        o.max_abs_error = std::max(o.max_abs_error, err);
        o.max_error_ratio = std::max(o.max_error_ratio, err / allowed);
        if (!(err <= allowed))
          fail("quantized row at byte " + std::to_string(r.data_off) + ", element " + std::to_string(e) + ": code " +
               std::to_string(code) + " decodes to " + format_g(d) + ", want " + format_g(v) + " within " +
               format_g(allowed));
      }
    }
  }
}

/// Checks fp8 codes of bounded values (a record's fp8 k_pe): each byte is the one code its
/// range admits, or decodes between the codes of the range's ends.
void check_code_ranges(const std::vector<reference::CodeRange>& ranges, const std::vector<unsigned char>& got,
                       OutputReport& o) {
  for (const reference::CodeRange& r : ranges)
    for (size_t i = 0; i < r.lo.size(); ++i) {
      const std::uint8_t c = got[static_cast<size_t>(r.at) + i];
      const double d = reference::fp8_decode(r.format, c), lo = reference::fp8_decode(r.format, r.lo[i]),
                   hi = reference::fp8_decode(r.format, r.hi[i]);
      const bool one = r.lo[i] == r.hi[i];
      ++(one ? o.exact : o.rounded);
      if (one ? c == r.lo[i] : d >= lo && d <= hi) continue;
      if (o.failures == 0)
        o.first_failure = "fp8 code at byte " + std::to_string(r.at + static_cast<long long>(i)) + ": got " +
                          std::to_string(c) + " (" + format_g(d) + "), want " +
                          (one ? "code " + std::to_string(r.lo[i]) : "a code in [" + format_g(lo) + ", " + format_g(hi) + "]");
      ++o.failures;
    }
}

/// Every buffer back on the host, the caches in the logical order the reference writes.
std::vector<std::vector<unsigned char>> read_back(DeviceBuffers& dev, const reference::Problem& p,
                                                  const std::vector<void*>& bufs) {
  std::vector<std::vector<unsigned char>> results(p.buffers.size());
  for (size_t b = 0; b < p.buffers.size(); ++b) {
    results[b] = dev.download(bufs[b], p.buffers[b].size());
    if (amd_buffer(p, b)) results[b] = amd_move(p, b, results[b], false);
  }
  return results;
}

/// Buffer b against the reference: exact elements (copies, and everything the kernel must
/// leave untouched) bit for bit, rounded ones within their bounds, then a quantized
/// cache's bounded rows.
OutputReport compare_output(const reference::Problem& p, size_t b, const reference::Expected& w,
                            const std::vector<std::vector<unsigned char>>& results) {
  const std::vector<unsigned char>& got = results[b];
  OutputReport o;
  o.name = p.buffer_names[b];
  const int f8 = p.buffer_fp8[b];
  const bool raw = p.buffer_raw[b];
  const int eb = f8 >= 0 || raw ? 1 : dtype_bytes(p.spec.dtype);
  auto value = [&](const unsigned char* e) {
    if (raw) return static_cast<double>(*e);  // a byte of codes or scales
    return f8 >= 0 ? reference::fp8_decode(static_cast<reference::Fp8Format>(f8), *e) : reference::decode(p.spec.dtype, e);
  };
  // Elements holding fp8 codes of bounded values: checked by their code ranges below.
  std::vector<unsigned char> ranged(w.exact.size(), 0);
  for (const reference::CodeRange& r : w.code_ranges)
    for (size_t i = 0; i < r.lo.size(); i += static_cast<size_t>(eb)) ranged[static_cast<size_t>(r.at) / eb + i / eb] = 1;
  for (size_t i = 0; i < w.exact.size(); ++i) {
    const unsigned char* g = &got[i * eb];
    std::string fail;
    if (ranged[i]) continue;
    if (raw && !w.exact[i]) continue;  // a bounded quantized row: checked below
    if (w.exact[i]) {
      ++o.exact;
      if (std::memcmp(g, &w.bits[i * eb], eb) != 0)
        fail = "element " + std::to_string(i) + " should be unchanged/copied bit for bit: got " + format_g(value(g)) +
               ", want " + format_g(value(&w.bits[i * eb]));
    } else {
      ++o.rounded;
      const double v = value(g);
      const double err = std::fabs(v - w.value[i]);
      const double ratio = w.bound[i] > 0 ? err / w.bound[i] : (err == 0 ? 0 : INFINITY);
      if (!(err <= w.bound[i]) || std::isnan(v))
        fail = "element " + std::to_string(i) + ": got " + format_g(v) + ", want " + format_g(w.value[i]) +
               " within " + format_g(w.bound[i]);
      o.max_abs_error = std::max(o.max_abs_error, err);
      o.max_error_ratio = std::max(o.max_error_ratio, ratio);
    }
    if (!fail.empty()) {
      if (o.failures == 0) o.first_failure = fail;
      ++o.failures;
    }
  }
  check_quant_rows(w.quant_rows, got, results, o);
  check_code_ranges(w.code_ranges, got, o);
  return o;
}

/// checks = bounds: the kernel's record names a violation exactly when tokens were planted
/// out of range, and then one of them.
OutputReport check_bounds(Runtime& rt, const unsigned long long* record, const std::vector<long long>& planted) {
  const BoundsError e = read_bounds_error(rt, record);
  OutputReport o;
  o.name = "bounds";
  o.exact = 1;
  const std::string what = "token " + std::to_string(e.token) + ", " + (e.kind == 1 ? "position " : "slot ") +
                           std::to_string(e.value) + ", limit " + std::to_string(e.limit);
  if (e.violated && planted.empty()) {
    o.failures = 1;
    o.first_failure = "the kernel recorded a bounds violation: " + what;
  } else if (!e.violated && !planted.empty()) {
    o.failures = 1;
    o.first_failure = "the kernel recorded no bounds violation, but " + std::to_string(planted.size()) +
                      " tokens are out of range (the first: " + std::to_string(planted.front()) + ")";
  } else if (e.violated && std::find(planted.begin(), planted.end(), e.token) == planted.end()) {
    o.failures = 1;
    o.first_failure = "the kernel recorded a bounds violation of a token in range: " + what;
  }
  return o;
}

// ---------------------------------------------------------------------------------------
// layers = many: one launch over several layers.

/// The token side of a problem (positions, slots, table, limits) made `from`'s: the layers of
/// one launch share them. Every buffer must have the same size in both.
void share_tokens(const Inputs& from, Inputs& to) {
  const reference::Problem& f = from.p;
  reference::Problem& t = to.p;
  bool same = f.buffers.size() == t.buffers.size();
  for (size_t b = 0; same && b < f.buffers.size(); ++b) same = f.buffers[b].size() == t.buffers[b].size();
  if (!same) throw Error(ErrorKind::Internal, "verify: the layers' problems have buffers of different sizes");
  t.positions = f.positions;
  t.positions_stride = f.positions_stride;
  t.seq_lens = f.seq_lens;
  t.slots = f.slots;
  t.ring_base = f.ring_base;
  t.table = f.table;
  t.cos_offset = f.cos_offset;
  t.sin_offset = f.sin_offset;
  t.table_stride = f.table_stride;
  t.grid_h = f.grid_h;
  t.grid_w = f.grid_w;
  t.max_seq = f.max_seq;
  t.norm_sums = f.norm_sums;
  to.max_pos = from.max_pos;
  to.cache_slots = from.cache_slots;
  to.planted = from.planted;
}

/// A layered run's problems, the device buffers each layer's argument block points at, and
/// the one argument block of the launch.
struct LayeredRun {
  std::vector<Inputs> layers;
  std::vector<std::vector<void*>> bufs;
  ropegen_kernel_args args = ROPEGEN_KERNEL_ARGS_INIT;
};

/// Builds `count` layers' problems (their own activations, caches, scales, weights, outputs;
/// shared tokens) and uploads them: each buffer q, k or v lies in is one device buffer holding
/// every layer's copy (a whole number of 256 bytes apart: the layer strides), the rest are
/// separate buffers per layer, pointed at by the layers' records.
LayeredRun prepare_layers(const Kernel& kernel, const VerifyCase& c, DeviceBuffers& dev, int count) {
  LayeredRun run;
  for (int l = 0; l < count; ++l) {
    run.layers.push_back(ProblemBuilder(kernel, c, l + 1).build());
    record_encoding(run.layers.back().p, dev.runtime().target());
    if (l) share_tokens(run.layers[0], run.layers.back());
  }
  const reference::Problem& p0 = run.layers[0].p;
  const int bytes = dtype_bytes(p0.spec.dtype);
  // The activation buffers: every layer's copy in one device buffer, `apart` bytes between them.
  std::vector<void*> joined(p0.buffers.size(), nullptr);
  std::vector<long long> apart(p0.buffers.size(), 0);
  for (const reference::TensorView* tv : {&p0.q, &p0.k, &p0.v}) {
    const int b = tv->buffer;
    if (b < 0 || joined[static_cast<size_t>(b)]) continue;
    const size_t size = p0.buffers[static_cast<size_t>(b)].size();
    const size_t step = (size + 255) / 256 * 256;
    std::vector<unsigned char> all(step * static_cast<size_t>(count), 0);
    for (int l = 0; l < count; ++l)
      std::memcpy(&all[step * static_cast<size_t>(l)], run.layers[static_cast<size_t>(l)].p.buffers[static_cast<size_t>(b)].data(), size);
    joined[static_cast<size_t>(b)] = dev.upload(all.data(), all.size());
    apart[static_cast<size_t>(b)] = static_cast<long long>(step);
  }
  std::vector<ropegen_layer_args> records(static_cast<size_t>(count));
  for (int l = 0; l < count; ++l) {
    Inputs& in = run.layers[static_cast<size_t>(l)];
    std::vector<void*> bufs;
    for (size_t b = 0; b < in.p.buffers.size(); ++b) {
      if (joined[b]) {
        bufs.push_back(static_cast<unsigned char*>(joined[b]) + apart[b] * l);
        continue;
      }
      const std::vector<unsigned char> data = amd_buffer(in.p, b) ? amd_move(in.p, b, in.p.buffers[b], true) : in.p.buffers[b];
      bufs.push_back(dev.upload(data.data(), data.size()));
    }
    const ropegen_kernel_args a = fill_args(dev, bufs, in, c);
    ropegen_layer_args& r = records[static_cast<size_t>(l)];
    r.k_cache = a.k_cache;
    r.v_cache = a.v_cache;
    r.k_cache_scales = a.k_cache_scales;
    r.v_cache_scales = a.v_cache_scales;
    r.k_scale = a.k_scale;
    r.v_scale = a.v_scale;
    r.q_scale = a.q_scale;
    r.q_out = a.q_out;
    r.k_out = a.k_out;
    r.q_out_scales = a.q_out_scales;
    r.gate_out = a.gate_out;
    r.q_norm_weight = a.q_norm_weight;
    r.k_norm_weight = a.k_norm_weight;
    r.q_bias = a.q_bias;
    r.k_bias = a.k_bias;
    r.v_bias = a.v_bias;
    if (l == 0) run.args = a;  // the shared fields (indices, table, limits, bounds record)
    run.bufs.push_back(std::move(bufs));
  }
  ropegen_kernel_args& a = run.args;
  a.k_cache = a.v_cache = a.k_cache_scales = a.v_cache_scales = a.q_out = a.k_out = a.gate_out = nullptr;
  a.k_scale = a.v_scale = a.q_scale = nullptr;
  a.q_out_scales = nullptr;
  a.q_norm_weight = a.k_norm_weight = a.q_bias = a.k_bias = a.v_bias = nullptr;
  a.num_layers = count;
  a.layers = static_cast<const ropegen_layer_args*>(dev.upload(records.data(), records.size() * sizeof(ropegen_layer_args)));
  auto layer_stride = [&](const reference::TensorView& tv) {
    return tv.buffer < 0 ? 0 : apart[static_cast<size_t>(tv.buffer)] / bytes;
  };
  a.q_layer_stride = layer_stride(p0.q);
  a.k_layer_stride = layer_stride(p0.k);
  a.v_layer_stride = layer_stride(p0.v);
  return run;
}

/// layers = many: one launch over the layers; each layer's buffers against the reference of
/// its own problem (the single-layer kernel's), bit for bit where that one is.
VerifyReport verify_layers(Runtime& rt, const Kernel& kernel, const VerifyCase& c) {
  DeviceBuffers dev(rt);
  LayeredRun run = prepare_layers(kernel, c, dev, c.layers > 0 ? c.layers : 3);
  for (Inputs& in : run.layers) device_recipe_reciprocals(in.p, rt);
  kernel.launch(run.args, c.stream, c.parallelism);
  rt.synchronize_stream(c.stream);
  VerifyReport report;
  for (size_t l = 0; l < run.layers.size(); ++l) {
    const reference::Problem& p = run.layers[l].p;
    const std::vector<reference::Expected> want = reference::expect(p);
    const std::vector<std::vector<unsigned char>> results = read_back(dev, p, run.bufs[l]);
    for (size_t b = 0; b < p.buffers.size(); ++b) {
      report.outputs.push_back(compare_output(p, b, want[b], results));
      report.outputs.back().name = "layer " + std::to_string(l) + " " + report.outputs.back().name;
    }
  }
  if (kernel.spec().checks == Checks::Bounds)
    report.outputs.push_back(check_bounds(rt, run.args.bounds_error, run.layers[0].planted));
  for (const OutputReport& o : report.outputs)
    if (o.failures) report.passed = false;
  return report;
}

}  // namespace

ropegen_kernel_args prepare_inputs(const Kernel& kernel, const VerifyCase& c, DeviceBuffers& dev) {
  if (c.tokens < 1 || c.tokens > kMaxVerifyTokens)
    throw Error(ErrorKind::Spec,
                "tokens = " + std::to_string(c.tokens) + " is outside 1.." + std::to_string(kMaxVerifyTokens));
  const Family& family = family_of(kernel.spec().op);
  if (family.prepare) return family.prepare(kernel, c, dev);  // its own runner's inputs
  if (family.verify)
    throw Error(ErrorKind::Spec, std::string("op = ") + to_string(kernel.spec().op) +
                                     " builds its inputs in its family's own runner, which makes none for timing");
  if (kernel.spec().layers == Layers::Many) return prepare_layers(kernel, c, dev, c.layers > 0 ? c.layers : 1).args;
  Inputs in = ProblemBuilder(kernel, c).build();
  const std::vector<void*> bufs = upload_buffers(dev, in.p);
  return fill_args(dev, bufs, in, c);
}

VerifyReport verify(Runtime& rt, const Kernel& kernel, const VerifyCase& c) {
  // The reference keeps every element in doubles; this bound also keeps every size below
  // (tokens * heads * head_dim * bytes) far from overflowing.
  if (c.tokens < 0 || c.tokens > kMaxVerifyTokens)
    throw Error(ErrorKind::Spec,
                "verify: tokens = " + std::to_string(c.tokens) + " is outside 0.." + std::to_string(kMaxVerifyTokens));
  if (const auto own = family_of(kernel.spec().op).verify) return own(rt, kernel, c);  // its outputs, its runner
  if (kernel.spec().layers == Layers::Many) return verify_layers(rt, kernel, c);
  Inputs in = ProblemBuilder(kernel, c).build();
  record_encoding(in.p, rt.target());
  device_recipe_reciprocals(in.p, rt);
  DeviceBuffers dev(rt);
  const std::vector<void*> bufs = upload_buffers(dev, in.p);
  const ropegen_kernel_args a = fill_args(dev, bufs, in, c);
  kernel.launch(a, c.stream, c.parallelism);
  rt.synchronize_stream(c.stream);

  const std::vector<reference::Expected> want = reference::expect(in.p);
  const std::vector<std::vector<unsigned char>> results = read_back(dev, in.p, bufs);
  VerifyReport report;
  for (size_t b = 0; b < in.p.buffers.size(); ++b) report.outputs.push_back(compare_output(in.p, b, want[b], results));
  if (kernel.spec().checks == Checks::Bounds) report.outputs.push_back(check_bounds(rt, a.bounds_error, in.planted));
  for (const OutputReport& o : report.outputs)
    if (o.failures) report.passed = false;
  return report;
}

}  // namespace ropegen
