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

}  // namespace

VerifyReport indexer_verify(Runtime& rt, const Kernel& kernel, const VerifyCase& c) {
  const KernelSpec& s = kernel.spec();
  if (c.packed_qkv || c.slots_from_positions || c.past_max_seq || c.out_of_range || c.head_strides ||
      c.out_of_place || c.without_k)
    throw Error(ErrorKind::Spec, "verify: op = indexer_append runs plain cases only (no packed_qkv, out_of_range, "
                                 "head_strides, out_of_place, without_k or contiguous-cache options)");
  if (c.tokens < 0 || c.tokens > kMaxVerifyTokens)
    throw Error(ErrorKind::Spec, "verify: tokens = " + std::to_string(c.tokens) + " is outside 0.." +
                                     std::to_string(kMaxVerifyTokens));
  const long long T = c.tokens, H = s.q_heads, D = s.head_dim, B = s.cache.block, half = s.rotary_dim / 2;
  const int bytes = dtype_bytes(s.dtype);
  std::mt19937_64 rng(c.seed);
  std::uniform_real_distribution<double> u01(0, 1);
  // The fp8 encoding the kernel's target stores (its q_out dtype names it).
  indexer::Encoding enc = indexer::Encoding::E4m3;
  for (const ArgRequirement& r : kernel.arguments())
    if (std::strcmp(r.field, "q_out") == 0 && r.dtype == "fp8_e4m3fnuz") enc = indexer::Encoding::E4m3Fnuz;

  // Activations with strides that leave slack; every seventh token's k is tiny (amax below
  // the 1e-4 floor of K's scale), every eleventh q head too (Q's 1e-10 floor is below them).
  const long long q_stride = H * D + 8, k_stride = D + 8, w_stride = H + 1, qo_stride = H * D + 16;
  std::vector<unsigned char> q(static_cast<size_t>(std::max<long long>(T, 1) * q_stride * bytes)),
      k(static_cast<size_t>(std::max<long long>(T, 1) * k_stride * bytes));
  const int tiny_lo = s.dtype == DType::BF16 ? -30 : -14, tiny_hi = s.dtype == DType::BF16 ? -25 : -14;
  for (long long t = 0; t < std::max<long long>(T, 1); ++t) {
    for (long long i = 0; i < q_stride; ++i) {
      const bool tiny = (i / D) % 11 == 10;
      random_bits(s.dtype, rng, tiny ? tiny_lo : -6, tiny ? tiny_hi : 2, &q[static_cast<size_t>((t * q_stride + i) * bytes)]);
    }
    for (long long i = 0; i < k_stride; ++i)
      random_bits(s.dtype, rng, t % 7 == 3 ? tiny_lo : -6, t % 7 == 3 ? tiny_hi : 2,
                  &k[static_cast<size_t>((t * k_stride + i) * bytes)]);
  }
  std::vector<float> weights(static_cast<size_t>(std::max<long long>(T, 1) * w_stride));
  for (float& w : weights) w = static_cast<float>(2 * u01(rng) - 1);
  std::vector<float> ln_w(static_cast<size_t>(D)), ln_b(static_cast<size_t>(D));
  for (long long i = 0; i < D; ++i) {
    ln_w[static_cast<size_t>(i)] = static_cast<float>((u01(rng) < 0.1 ? -1 : 1) * (0.5 + u01(rng)));
    ln_b[static_cast<size_t>(i)] = static_cast<float>(u01(rng) - 0.5);
  }

  // Slots: distinct, some padding; positions; the cos/sin table ([max_pos, rot] = [cos | sin]).
  const long long cache_slots = (std::max<long long>(2 * T + 3, 8) + B - 1) / B * B;
  std::vector<long long> pool(static_cast<size_t>(cache_slots));
  std::iota(pool.begin(), pool.end(), 0);
  std::shuffle(pool.begin(), pool.end(), rng);
  std::vector<long long> slots(pool.begin(), pool.begin() + T), positions;
  for (auto& slot : slots)
    if (u01(rng) < c.padding) slot = -1;
  if (T > 1) slots[1] = -1;
  const long long max_pos = std::max<long long>(c.max_position, 1);
  std::uniform_int_distribution<long long> pos_dist(0, max_pos - 1);
  for (long long t = 0; t < T; ++t) positions.push_back(pos_dist(rng));
  const bool table = s.cos_sin.source == CosSinSource::Table;
  std::vector<float> cs;
  if (table) {
    cs.resize(static_cast<size_t>(max_pos * 2 * half));
    for (long long p = 0; p < max_pos; ++p)
      for (long long j = 0; j < half; ++j) {
        const double angle = static_cast<double>(p) * std::pow(10000.0, -2.0 * j / s.rotary_dim);
        cs[static_cast<size_t>(p * 2 * half + j)] = static_cast<float>(std::cos(angle));
        cs[static_cast<size_t>(p * 2 * half + half + j)] = static_cast<float>(std::sin(angle));
      }
  }
  // Outputs start random: what the kernel must not write keeps these bytes.
  std::vector<unsigned char> cache(static_cast<size_t>(cache_slots / B * indexer::block_bytes(s))),
      q_out(static_cast<size_t>(std::max<long long>(T, 1) * qo_stride)),
      head_w(static_cast<size_t>(std::max<long long>(T, 1) * H * 4));
  for (auto* b : {&cache, &q_out, &head_w})
    for (auto& x : *b) x = static_cast<unsigned char>(rng());

  DeviceBuffers dev(rt);
  ropegen_kernel_args a = ROPEGEN_KERNEL_ARGS_INIT;
  a.num_tokens = T;
  a.q = dev.upload(q.data(), q.size());
  a.q_stride = q_stride;
  a.k = dev.upload(k.data(), k.size());
  a.k_stride = k_stride;
  a.v = dev.upload(weights.data(), weights.size() * 4);
  a.v_stride = w_stride;
  a.positions = dev.upload_index(positions, s.index);
  a.slot_mapping = dev.upload_index(slots, s.index);
  if (table) {
    auto* t = static_cast<float*>(dev.upload(cs.data(), cs.size() * 4));
    a.cos = t;
    a.sin = t + half;
    a.cos_sin_stride = 2 * half;
  }
  if (s.indexer.layernorm) {
    a.k_norm_weight = dev.upload(ln_w.data(), ln_w.size() * 4);
    a.q_norm_weight = dev.upload(ln_b.data(), ln_b.size() * 4);
  }
  a.k_cache = dev.upload(cache.data(), cache.size());
  a.q_out = dev.upload(q_out.data(), q_out.size());
  a.q_out_stride = qo_stride;
  a.q_out_scales = static_cast<float*>(dev.upload(head_w.data(), head_w.size()));
  kernel.launch(a, c.stream, c.parallelism);
  rt.synchronize_stream(c.stream);
  const std::vector<unsigned char> got_cache = dev.download(a.k_cache, cache.size()),
                                   got_q = dev.download(a.q_out, q_out.size()),
                                   got_w = dev.download(a.q_out_scales, head_w.size());

  // The reference, token by token; `written` marks the bytes the kernel may change.
  Checker ck_cache, ck_q, ck_w;
  ck_cache.o.name = "k_cache";
  ck_q.o.name = "q_out";
  ck_w.o.name = "head_weights";
  std::vector<unsigned char> wrote_cache(cache.size(), 0), wrote_q(q_out.size(), 0), wrote_w(head_w.size(), 0);
  indexer::NormWeights nw;
  for (long long i = 0; i < D; ++i) {
    nw.weight.push_back(ln_w[static_cast<size_t>(i)]);
    nw.bias.push_back(ln_b[static_cast<size_t>(i)]);
  }
  for (long long t = 0; t < T; ++t) {
    indexer::TokenInput in;
    for (long long i = 0; i < D; ++i) in.k.push_back(reference::decode(s.dtype, &k[static_cast<size_t>((t * k_stride + i) * bytes)]));
    for (long long i = 0; i < H * D; ++i) in.q.push_back(reference::decode(s.dtype, &q[static_cast<size_t>((t * q_stride + i) * bytes)]));
    const long long pos = positions[static_cast<size_t>(t)];
    in.cos_sin_computed = !table;
    for (long long j = 0; j < half; ++j) {
      if (table) {
        in.cos.push_back(cs[static_cast<size_t>(pos * 2 * half + j)]);
        in.sin.push_back(cs[static_cast<size_t>(pos * 2 * half + half + j)]);
        continue;
      }
      const double inv = reference::inv_freq(s.cos_sin, static_cast<int>(j), s.rotary_dim);
      const double angle = s.angle == Angle::Exact ? static_cast<double>(pos) * inv
                                                   : static_cast<float>(pos) * static_cast<float>(inv);
      const double m = static_cast<float>(reference::attention(s.cos_sin));
      in.cos.push_back(std::cos(angle) * m);
      in.sin.push_back(std::sin(angle) * m);
    }
    const std::string at = "token " + std::to_string(t);
    // K: the slot's record, unless padding.
    const long long slot = slots[static_cast<size_t>(t)];
    if (slot >= 0) {
      const indexer::Candidates cand = indexer::k_row(s, in, nw);
      std::vector<std::uint8_t> codes;
      for (int ch = 0; ch < D; ++ch) {
        const long long off = indexer::value_offset(s, slot, ch);
        codes.push_back(got_cache[static_cast<size_t>(off)]);
        wrote_cache[static_cast<size_t>(off)] = 1;
      }
      const long long so = indexer::scale_offset(s, slot);
      std::uint32_t sb;
      std::memcpy(&sb, &got_cache[static_cast<size_t>(so)], 4);
      for (int b = 0; b < 4; ++b) wrote_cache[static_cast<size_t>(so + b)] = 1;
      const std::vector<std::uint32_t> scales = indexer::possible_scales(s, true, cand);
      std::string why;
      ck_cache.o.exact += 1;  // the scale
      ck_cache.o.rounded += D;  // codes of rounded values: checked against their candidates
      if (std::find(scales.begin(), scales.end(), sb) == scales.end())
        ck_cache.fail(at + ", slot " + std::to_string(slot) + ": scale " + num(read_f32(got_cache, so)) +
                      " is not the row's (want " + num(as_float(scales[0])) + ")");
      else if (indexer::code_mismatch(s, enc, true, cand, codes.data(), sb, why) >= 0)
        ck_cache.fail(at + ", slot " + std::to_string(slot) + ": " + why);
    }
    // Q heads and their weights: some scale the candidates allow must give both the codes and
    // the head weight (the kernel writes no q scale of its own).
    for (int h = 0; h < H; ++h) {
      const indexer::Candidates cand = indexer::q_row(s, in, h);
      const long long qo = t * qo_stride + h * D, wo = (t * H + h) * 4;
      std::fill(wrote_q.begin() + qo, wrote_q.begin() + qo + D, 1);
      std::fill(wrote_w.begin() + wo, wrote_w.begin() + wo + 4, 1);
      std::uint32_t wb;
      std::memcpy(&wb, &got_w[static_cast<size_t>(wo)], 4);
      ck_q.o.rounded += D;
      ++ck_w.o.exact;
      std::string why, first;
      bool codes_ok = false, weight_ok = false;
      for (std::uint32_t sb : indexer::possible_scales(s, false, cand)) {
        const bool ok = indexer::code_mismatch(s, enc, false, cand, &got_q[static_cast<size_t>(qo)], sb, why) < 0;
        if (!ok && first.empty()) first = why;
        const float want = indexer::head_weight(s, weights[static_cast<size_t>(t * w_stride + h)], sb);
        std::uint32_t want_bits;
        std::memcpy(&want_bits, &want, 4);
        codes_ok = codes_ok || ok;
        weight_ok = weight_ok || (ok && want_bits == wb);
        if (ok && want_bits != wb && first.empty())
          first = "head weight " + num(read_f32(got_w, wo)) + ", want " + num(want);
      }
      if (!codes_ok) ck_q.fail(at + ", head " + std::to_string(h) + ": " + first);
      else if (!weight_ok) ck_w.fail(at + ", head " + std::to_string(h) + ": " + first);
    }
  }
  // Everything else keeps its bytes.
  auto untouched = [](Checker& ck, const std::vector<unsigned char>& before, const std::vector<unsigned char>& after,
                      const std::vector<unsigned char>& wrote) {
    for (size_t i = 0; i < before.size(); ++i) {
      if (wrote[i]) continue;
      ++ck.o.exact;
      if (before[i] != after[i])
        ck.fail("byte " + std::to_string(i) + " should be untouched: was " + std::to_string(before[i]) + ", now " +
                std::to_string(after[i]));
    }
  };
  untouched(ck_cache, cache, got_cache, wrote_cache);
  untouched(ck_q, q_out, got_q, wrote_q);
  untouched(ck_w, head_w, got_w, wrote_w);
  VerifyReport report;
  for (Checker* ck : {&ck_cache, &ck_q, &ck_w}) {
    report.passed = report.passed && ck->o.failures == 0;
    report.outputs.push_back(ck->o);
  }
  return report;
}

}  // namespace ropegen
