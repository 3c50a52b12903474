// The indexer family's verification runner: random inputs shaped by its argument list, one
// launch, and every byte of the cache records, q_out and head_weights compared with the
// family's reference (reference.cpp). Bytes the kernel must not write (padding slots, other
// slots, the stride slack of q_out) must keep their random initial contents.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>

#include "families/indexer/indexer.hpp"
#include "reference/reference.hpp"
#include "verify/buffers.hpp"
#include "verify/verify.hpp"

namespace ropegen {
namespace {

struct Checker {
  OutputReport o;
  void fail(const std::string& m) {
    if (o.failures == 0) o.first_failure = m;
    ++o.failures;
  }
};

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

float as_float(std::uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float read_f32(const std::vector<unsigned char>& b, long long at) {
  float f;
  std::memcpy(&f, &b[static_cast<size_t>(at)], 4);
  return f;
}

/// One run's host inputs, and the outputs' random initial contents.
struct Inputs {
  // Activations with strides that leave slack.
  long long q_stride = 0, k_stride = 0, w_stride = 0, qo_stride = 0;
  std::vector<unsigned char> q, k;
  std::vector<float> weights, ln_w, ln_b;
  std::vector<long long> slots, positions;
  bool table = false;
  std::vector<float> cs;  // cos_sin = table: [max_pos, rot] = [cos | sin]
  // Outputs start random: what the kernel must not write keeps these bytes.
  std::vector<unsigned char> cache, q_out, head_w;
};

/// The outputs as the kernel left them.
struct Results {
  std::vector<unsigned char> cache, q, w;
};

void check_case(const VerifyCase& c) {
  if (c.packed_qkv || c.slots_from_positions || c.past_max_seq || c.out_of_range || c.head_strides ||
      c.out_of_place || c.without_k)
    throw Error(ErrorKind::Spec, "verify: op = indexer_append runs plain cases only (no packed_qkv, out_of_range, "
                                 "head_strides, out_of_place, without_k or contiguous-cache options)");
  if (c.tokens < 0 || c.tokens > kMaxVerifyTokens)
    throw Error(ErrorKind::Spec, "verify: tokens = " + std::to_string(c.tokens) + " is outside 0.." +
                                     std::to_string(kMaxVerifyTokens));
}

/// q, k, the weights and the layernorm's weight and bias: every seventh token's k is tiny
/// (amax below the 1e-4 floor of K's scale), every eleventh q head too (Q's 1e-10 floor is
/// below them).
void random_activations(const KernelSpec& s, long long T, std::mt19937_64& rng, Inputs& in) {
  const long long H = s.q_heads, D = s.head_dim;
  const int bytes = dtype_bytes(s.dtype);
  std::uniform_real_distribution<double> u01(0, 1);
  in.q_stride = H * D + 8;
  in.k_stride = D + 8;
  in.w_stride = H + 1;
  in.qo_stride = H * D + 16;
  in.q.resize(static_cast<size_t>(std::max<long long>(T, 1) * in.q_stride * bytes));
  in.k.resize(static_cast<size_t>(std::max<long long>(T, 1) * in.k_stride * bytes));
  const int tiny_lo = s.dtype == DType::BF16 ? -30 : -14, tiny_hi = s.dtype == DType::BF16 ? -25 : -14;
  for (long long t = 0; t < std::max<long long>(T, 1); ++t) {
    for (long long i = 0; i < in.q_stride; ++i) {
      const bool tiny = (i / D) % 11 == 10;
      random_bits(s.dtype, rng, tiny ? tiny_lo : -6, tiny ? tiny_hi : 2,
                  &in.q[static_cast<size_t>((t * in.q_stride + i) * bytes)]);
    }
    for (long long i = 0; i < in.k_stride; ++i)
      random_bits(s.dtype, rng, t % 7 == 3 ? tiny_lo : -6, t % 7 == 3 ? tiny_hi : 2,
                  &in.k[static_cast<size_t>((t * in.k_stride + i) * bytes)]);
  }
  in.weights.resize(static_cast<size_t>(std::max<long long>(T, 1) * in.w_stride));
  for (float& w : in.weights) w = static_cast<float>(2 * u01(rng) - 1);
  in.ln_w.resize(static_cast<size_t>(D));
  in.ln_b.resize(static_cast<size_t>(D));
  for (long long i = 0; i < D; ++i) {
    in.ln_w[static_cast<size_t>(i)] = static_cast<float>((u01(rng) < 0.1 ? -1 : 1) * (0.5 + u01(rng)));
    in.ln_b[static_cast<size_t>(i)] = static_cast<float>(u01(rng) - 0.5);
  }
}

/// Slots: distinct, some padding; positions; the cos/sin table ([max_pos, rot] = [cos |
/// sin]); the outputs' random bytes. Returns the slots the cache holds.
long long place_tokens(const KernelSpec& s, const VerifyCase& c, std::mt19937_64& rng, Inputs& in) {
  const long long T = c.tokens, B = s.cache.block, half = s.rotary_dim / 2;
  std::uniform_real_distribution<double> u01(0, 1);
  const long long cache_slots = (std::max<long long>(2 * T + 3, 8) + B - 1) / B * B;
  std::vector<long long> pool(static_cast<size_t>(cache_slots));
  std::iota(pool.begin(), pool.end(), 0);
  std::shuffle(pool.begin(), pool.end(), rng);
  in.slots.assign(pool.begin(), pool.begin() + T);
  for (auto& slot : in.slots)
    if (u01(rng) < c.padding) slot = -1;
  if (T > 1) in.slots[1] = -1;
  const long long max_pos = std::max<long long>(c.max_position, 1);
  std::uniform_int_distribution<long long> pos_dist(0, max_pos - 1);
  for (long long t = 0; t < T; ++t) in.positions.push_back(pos_dist(rng));
  in.table = s.cos_sin.source == CosSinSource::Table;
  if (in.table) {
    in.cs.resize(static_cast<size_t>(max_pos * 2 * half));
    for (long long p = 0; p < max_pos; ++p)
      for (long long j = 0; j < half; ++j) {
        const double angle = static_cast<double>(p) * std::pow(10000.0, -2.0 * j / s.rotary_dim);
        in.cs[static_cast<size_t>(p * 2 * half + j)] = static_cast<float>(std::cos(angle));
        in.cs[static_cast<size_t>(p * 2 * half + half + j)] = static_cast<float>(std::sin(angle));
      }
  }
  return cache_slots;
}

/// The outputs' random initial bytes: what the kernel must not write keeps these.
void random_outputs(const KernelSpec& s, long long T, long long cache_slots, std::mt19937_64& rng, Inputs& in) {
  in.cache.resize(static_cast<size_t>(cache_slots / s.cache.block * indexer::block_bytes(s)));
  in.q_out.resize(static_cast<size_t>(std::max<long long>(T, 1) * in.qo_stride));
  in.head_w.resize(static_cast<size_t>(std::max<long long>(T, 1) * s.q_heads * 4));
  for (auto* b : {&in.cache, &in.q_out, &in.head_w})
    for (auto& x : *b) x = static_cast<unsigned char>(rng());
}

/// Uploads everything and fills the argument block.
ropegen_kernel_args fill_args(const KernelSpec& s, long long T, const Inputs& in, DeviceBuffers& dev) {
  const long long half = s.rotary_dim / 2;
  ropegen_kernel_args a = ROPEGEN_KERNEL_ARGS_INIT;
  a.num_tokens = T;
  a.q = dev.upload(in.q.data(), in.q.size());
  a.q_stride = in.q_stride;
  a.k = dev.upload(in.k.data(), in.k.size());
  a.k_stride = in.k_stride;
  a.v = dev.upload(in.weights.data(), in.weights.size() * 4);
  a.v_stride = in.w_stride;
  a.positions = dev.upload_index(in.positions, s.index);
  a.slot_mapping = dev.upload_index(in.slots, s.index);
  if (in.table) {
    auto* t = static_cast<float*>(dev.upload(in.cs.data(), in.cs.size() * 4));
    a.cos = t;
    a.sin = t + half;
    a.cos_sin_stride = 2 * half;
  }
  if (s.indexer.layernorm) {
    a.k_norm_weight = dev.upload(in.ln_w.data(), in.ln_w.size() * 4);
    a.q_norm_weight = dev.upload(in.ln_b.data(), in.ln_b.size() * 4);
  }
  a.k_cache = dev.upload(in.cache.data(), in.cache.size());
  a.q_out = dev.upload(in.q_out.data(), in.q_out.size());
  a.q_out_stride = in.qo_stride;
  a.q_out_scales = static_cast<float*>(dev.upload(in.head_w.data(), in.head_w.size()));
  return a;
}

/// Token t's inputs for the reference: its k and q decoded, its cos/sin from the table or
/// computed the way the spec says.
indexer::TokenInput token_input(const KernelSpec& s, const Inputs& in, long long t) {
  const long long H = s.q_heads, D = s.head_dim, half = s.rotary_dim / 2;
  const int bytes = dtype_bytes(s.dtype);
  indexer::TokenInput ti;
  for (long long i = 0; i < D; ++i)
    ti.k.push_back(reference::decode(s.dtype, &in.k[static_cast<size_t>((t * in.k_stride + i) * bytes)]));
  for (long long i = 0; i < H * D; ++i)
    ti.q.push_back(reference::decode(s.dtype, &in.q[static_cast<size_t>((t * in.q_stride + i) * bytes)]));
  const long long pos = in.positions[static_cast<size_t>(t)];
  ti.cos_sin_computed = !in.table;
  for (long long j = 0; j < half; ++j) {
    if (in.table) {
      ti.cos.push_back(in.cs[static_cast<size_t>(pos * 2 * half + j)]);
      ti.sin.push_back(in.cs[static_cast<size_t>(pos * 2 * half + half + j)]);
      continue;
    }
    const double inv = reference::inv_freq(s.cos_sin, static_cast<int>(j), s.rotary_dim);
    const double angle =
        s.angle == Angle::Exact ? static_cast<double>(pos) * inv : static_cast<float>(pos) * static_cast<float>(inv);
    const double m = static_cast<float>(reference::attention(s.cos_sin));
    ti.cos.push_back(std::cos(angle) * m);
    ti.sin.push_back(std::sin(angle) * m);
  }
  return ti;
}

/// The comparison with the reference, token by token; `wrote_*` mark the bytes the kernel
/// may change (everything else must keep its bytes).
class Comparison {
 public:
  Comparison(const KernelSpec& s, indexer::Encoding enc, const Inputs& in, const Results& got);
  void token(long long t);
  VerifyReport report();

 private:
  void k_record(long long t, const indexer::TokenInput& ti);
  void q_head(long long t, const indexer::TokenInput& ti, int h);
  static void untouched(Checker& ck, const std::vector<unsigned char>& before, const std::vector<unsigned char>& after,
                        const std::vector<unsigned char>& wrote);

  const KernelSpec& s_;
  const indexer::Encoding enc_;
  const Inputs& in_;
  const Results& got_;
  Checker ck_cache_, ck_q_, ck_w_;
  std::vector<unsigned char> wrote_cache_, wrote_q_, wrote_w_;
  indexer::NormWeights nw_;
};

Comparison::Comparison(const KernelSpec& s, indexer::Encoding enc, const Inputs& in, const Results& got)
    : s_(s),
      enc_(enc),
      in_(in),
      got_(got),
      wrote_cache_(in.cache.size(), 0),
      wrote_q_(in.q_out.size(), 0),
      wrote_w_(in.head_w.size(), 0) {
  ck_cache_.o.name = "k_cache";
  ck_q_.o.name = "q_out";
  ck_w_.o.name = "head_weights";
  for (long long i = 0; i < s.head_dim; ++i) {
    nw_.weight.push_back(in.ln_w[static_cast<size_t>(i)]);
    nw_.bias.push_back(in.ln_b[static_cast<size_t>(i)]);
  }
}

void Comparison::token(long long t) {
  const indexer::TokenInput ti = token_input(s_, in_, t);
  if (in_.slots[static_cast<size_t>(t)] >= 0) k_record(t, ti);  // padding writes nothing
  for (int h = 0; h < s_.q_heads; ++h) q_head(t, ti, h);
}

/// K: the slot's record, its scale one the candidates allow and codes that match it.
void Comparison::k_record(long long t, const indexer::TokenInput& ti) {
  const long long D = s_.head_dim, slot = in_.slots[static_cast<size_t>(t)];
  const std::string at = "token " + std::to_string(t);
  const indexer::Candidates cand = indexer::k_row(s_, ti, nw_);
  std::vector<std::uint8_t> codes;
  for (int ch = 0; ch < D; ++ch) {
    const long long off = indexer::value_offset(s_, slot, ch);
    codes.push_back(got_.cache[static_cast<size_t>(off)]);
    wrote_cache_[static_cast<size_t>(off)] = 1;
  }
  const long long so = indexer::scale_offset(s_, slot);
  std::uint32_t sb;
  std::memcpy(&sb, &got_.cache[static_cast<size_t>(so)], 4);
  for (int b = 0; b < 4; ++b) wrote_cache_[static_cast<size_t>(so + b)] = 1;
  const std::vector<std::uint32_t> scales = indexer::possible_scales(s_, true, cand);
  std::string why;
  ck_cache_.o.exact += 1;   // the scale
  ck_cache_.o.rounded += D;  // codes of rounded values: checked against their candidates
  if (std::find(scales.begin(), scales.end(), sb) == scales.end())
    ck_cache_.fail(at + ", slot " + std::to_string(slot) + ": scale " + num(read_f32(got_.cache, so)) +
                   " is not the row's (want " + num(as_float(scales[0])) + ")");
  else if (indexer::code_mismatch(s_, enc_, true, cand, codes.data(), sb, why) >= 0)
    ck_cache_.fail(at + ", slot " + std::to_string(slot) + ": " + why);
}

/// A q head and its weight: some scale the candidates allow must give both the codes and
/// the head weight (the kernel writes no q scale of its own).
void Comparison::q_head(long long t, const indexer::TokenInput& ti, int h) {
  const long long H = s_.q_heads, D = s_.head_dim;
  const std::string at = "token " + std::to_string(t);
  const indexer::Candidates cand = indexer::q_row(s_, ti, h);
  const long long qo = t * in_.qo_stride + h * D, wo = (t * H + h) * 4;
  std::fill(wrote_q_.begin() + qo, wrote_q_.begin() + qo + D, 1);
  std::fill(wrote_w_.begin() + wo, wrote_w_.begin() + wo + 4, 1);
  std::uint32_t wb;
  std::memcpy(&wb, &got_.w[static_cast<size_t>(wo)], 4);
  ck_q_.o.rounded += D;
  ++ck_w_.o.exact;
  std::string why, first;
  bool codes_ok = false, weight_ok = false;
  for (std::uint32_t sb : indexer::possible_scales(s_, false, cand)) {
    const bool ok = indexer::code_mismatch(s_, enc_, false, cand, &got_.q[static_cast<size_t>(qo)], sb, why) < 0;
    if (!ok && first.empty()) first = why;
    const float want = indexer::head_weight(s_, in_.weights[static_cast<size_t>(t * in_.w_stride + h)], sb);
    std::uint32_t want_bits;
    std::memcpy(&want_bits, &want, 4);
    codes_ok = codes_ok || ok;
    weight_ok = weight_ok || (ok && want_bits == wb);
    if (ok && want_bits != wb && first.empty()) first = "head weight " + num(read_f32(got_.w, wo)) + ", want " + num(want);
  }
  if (!codes_ok) ck_q_.fail(at + ", head " + std::to_string(h) + ": " + first);
  else if (!weight_ok) ck_w_.fail(at + ", head " + std::to_string(h) + ": " + first);
}

void Comparison::untouched(Checker& ck, const std::vector<unsigned char>& before,
                           const std::vector<unsigned char>& after, const std::vector<unsigned char>& wrote) {
  for (size_t i = 0; i < before.size(); ++i) {
    if (wrote[i]) continue;
    ++ck.o.exact;
    if (before[i] != after[i])
      ck.fail("byte " + std::to_string(i) + " should be untouched: was " + std::to_string(before[i]) + ", now " +
              std::to_string(after[i]));
  }
}

/// Everything the kernel did not write keeps its bytes; then one line per output.
VerifyReport Comparison::report() {
  untouched(ck_cache_, in_.cache, got_.cache, wrote_cache_);
  untouched(ck_q_, in_.q_out, got_.q, wrote_q_);
  untouched(ck_w_, in_.head_w, got_.w, wrote_w_);
  VerifyReport report;
  for (Checker* ck : {&ck_cache_, &ck_q_, &ck_w_}) {
    report.passed = report.passed && ck->o.failures == 0;
    report.outputs.push_back(ck->o);
  }
  return report;
}

/// The inputs of case `c` (random from c.seed) in `in`, uploaded to `dev`; their argument block.
ropegen_kernel_args make_inputs(const KernelSpec& s, const VerifyCase& c, Inputs& in, DeviceBuffers& dev) {
  check_case(c);
  std::mt19937_64 rng(c.seed);
  random_activations(s, c.tokens, rng, in);
  const long long cache_slots = place_tokens(s, c, rng, in);
  random_outputs(s, c.tokens, cache_slots, rng, in);
  return fill_args(s, c.tokens, in, dev);
}

}  // namespace

ropegen_kernel_args indexer_prepare(const Kernel& kernel, const VerifyCase& c, DeviceBuffers& dev) {
  Inputs in;
  return make_inputs(kernel.spec(), c, in, dev);
}

VerifyReport indexer_verify(Runtime& rt, const Kernel& kernel, const VerifyCase& c) {
  const KernelSpec& s = kernel.spec();
  const long long T = c.tokens;
  // The fp8 encoding the kernel's target stores (its q_out dtype names it).
  indexer::Encoding enc = indexer::Encoding::E4m3;
  for (const ArgRequirement& r : kernel.arguments())
    if (std::strcmp(r.field, "q_out") == 0 && r.dtype == "fp8_e4m3fnuz") enc = indexer::Encoding::E4m3Fnuz;
  Inputs in;
  DeviceBuffers dev(rt);
  const ropegen_kernel_args a = make_inputs(s, c, in, dev);
  kernel.launch(a, c.stream, c.parallelism);
  rt.synchronize_stream(c.stream);
  const Results got{dev.download(a.k_cache, in.cache.size()), dev.download(a.q_out, in.q_out.size()),
                    dev.download(a.q_out_scales, in.head_w.size())};

  Comparison cmp(s, enc, in, got);
  for (long long t = 0; t < T; ++t) cmp.token(t);
  return cmp.report();
}

}  // namespace ropegen
