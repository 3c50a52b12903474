#include "verify/verify.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>
#include <sstream>

#include "../reference/reference.hpp"
#include "families/family.hpp"
#include "ropegen/error.hpp"

namespace ropegen {
namespace {

/// A random finite value of magnitude 2^-6 .. 4, written straight as dtype bits.
void random_element(DType t, std::mt19937_64& rng, unsigned char* out) {
  const uint64_t r = rng();
  const unsigned sign = r & 1;
  const int e = static_cast<int>((r >> 1) % 8) - 6;  // exponent -6 .. 1
  if (t == DType::F32) {
    uint32_t bits = (sign << 31) | (static_cast<uint32_t>(e + 127) << 23) | static_cast<uint32_t>((r >> 8) & 0x7fffff);
    std::memcpy(out, &bits, 4);
  } else if (t == DType::BF16) {
    uint16_t bits = static_cast<uint16_t>((sign << 15) | ((e + 127) << 7) | ((r >> 8) & 0x7f));
    std::memcpy(out, &bits, 2);
  } else {
    uint16_t bits = static_cast<uint16_t>((sign << 15) | ((e + 15) << 10) | ((r >> 8) & 0x3ff));
    std::memcpy(out, &bits, 2);
  }
}

struct DeviceBuffers {
  Runtime& rt;
  std::vector<void*> ptrs;
  ~DeviceBuffers() {
    for (void* p : ptrs) rt.free(p);
  }
  void* upload(const void* data, size_t bytes) {
    void* p = rt.alloc(bytes ? bytes : 1);
    ptrs.push_back(p);
    if (bytes) rt.copy_to_device(p, data, bytes);
    return p;
  }
};

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

/// Checks the bounded rows of a quantized cache (rotated or normalized values): per group,
/// the kernel's scale lies between the scales of the smallest and largest amax the bounds
/// allow (every format's scale grows with amax), and each code decodes, with that scale,
/// to within the value's bound plus one step of the format there (plus any saturation).
static void check_quant_rows(const std::vector<reference::QuantRow>& rows,
                      const std::vector<unsigned char>& got, const std::vector<std::vector<unsigned char>>& results,
                      OutputReport& o) {
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
      // The extreme groups the bounds allow. Symmetric formats: each magnitude shrunk (lo) or
      // grown (hi) by its bound; int4: the range (max - min) shrunk or spread around the middle.
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
      const double s_lo = reference::scale_value(f, reference::quantize_group(f, lo.data(), static_cast<int>(lo.size()), r.gs).scale_bits, r.gs);
      const double s_hi = reference::scale_value(f, reference::quantize_group(f, hi.data(), static_cast<int>(hi.size()), r.gs).scale_bits, r.gs);
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
        double allowed = b * (1 + 1e-6) + 1e-30;
        if (s > 0) {
          const double zp = f.kind == reference::QuantKind::Int4 ? static_cast<double>(bits & 0xf) : 0.0;
          const double t = (std::fabs(v) + b) / s;
          double over = std::max(0.0, t - reference::code_max(f));
          if (f.kind == reference::QuantKind::Int4)
            over = std::max(0.0, (v + b) / s + zp - 15) + std::max(0.0, -((v - b) / s + zp));
          allowed += s * (reference::code_step(f, std::min(t, reference::code_max(f))) + over);
        }
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

VerifyReport verify(Runtime& rt, const Kernel& kernel, const VerifyCase& c) {
  // The reference keeps every element in doubles; this bound also keeps every size below
  // (tokens * heads * head_dim * bytes) far from overflowing.
  if (c.tokens < 0 || c.tokens > kMaxVerifyTokens)
    throw Error(ErrorKind::Spec,
                "verify: tokens = " + std::to_string(c.tokens) + " is outside 0.." + std::to_string(kMaxVerifyTokens));
  const KernelSpec& s = kernel.spec();
  if (const auto own = family_of(s.op).verify) return own(rt, kernel, c);  // its outputs, its runner
  const ArgAlignment& al = kernel.align();
  const int bytes = dtype_bytes(s.dtype);
  const long long D = s.head_dim, T = c.tokens;
  // The buffers come from the kernel's own argument requirements (its family's list): a
  // [tokens, heads, head_dim] tensor, or [tokens, width] rows (MLA's k_pe and kv_c).
  auto req = [&](const char* field) -> const ArgRequirement* {
    for (const ArgRequirement& r : kernel.arguments())
      if (std::strcmp(r.field, field) == 0) return &r;
    return nullptr;
  };
  struct Rows {
    const char* name = nullptr;  // the family's name for it
    long long heads = 0, width = 0;
    bool per_head = false;  // [tokens, heads, head_dim]: head strides apply
  };
  auto rows_of = [&](const char* field) {
    Rows r;
    const ArgRequirement* a = req(field);
    if (!a) return r;
    r.name = a->name;
    r.per_head = a->shape.size() == 3;
    r.heads = r.per_head ? a->shape[1] : 1;
    r.width = a->shape.back();
    return r;
  };
  const Rows RQ = rows_of("q"), RK = rows_of("k"), RV = rows_of("v");
  std::mt19937_64 rng(c.seed);
  reference::Problem p;
  p.spec = s;
  p.tokens = T;

  auto fill = [&](std::vector<unsigned char>& buf, long long elems) {
    buf.resize(static_cast<size_t>(elems) * bytes);
    for (long long i = 0; i < elems; ++i) random_element(s.dtype, rng, &buf[i * bytes]);
  };
  // fp8 buffers (the cache, an fp8 q_out): the format the kernel's target encodes, filled
  // with random finite codes.
  auto fp8_of = [&](const char* name) -> int {
    const ArgRequirement* r = req(name);
    if (!r) return -1;
    for (auto f : {reference::Fp8Format::E4M3, reference::Fp8Format::E5M2, reference::Fp8Format::E4M3Fnuz,
                   reference::Fp8Format::E5M2Fnuz})
      if (r->dtype == std::string("fp8_") + reference::to_string(f)) return static_cast<int>(f);
    return -1;
  };
  auto fill_fp8 = [&](std::vector<unsigned char>& buf, long long elems, int format) {
    buf.resize(static_cast<size_t>(elems));
    for (auto& b : buf) {
      b = static_cast<unsigned char>(rng());
      if (std::isnan(reference::fp8_decode(static_cast<reference::Fp8Format>(format), b))) b = 0;
    }
  };
  p.buffer_fp8.clear();
  // Row strides get a little slack (one vector) so stride handling is exercised; with
  // head_strides every head does too.
  const long long slack = al.row_elems;
  if (c.packed_qkv) {
    long long stride = slack;
    for (const Rows* r : {&RQ, &RK, &RV}) stride += r->heads * r->width;
    p.buffers.emplace_back();
    fill(p.buffers[0], T * stride);
    p.buffer_names.push_back("qkv");
    p.q = {0, 0, stride};
    p.k = {0, RQ.heads * RQ.width, stride};
    p.v = {0, RQ.heads * RQ.width + RK.heads * RK.width, stride};
  } else {
    auto add = [&](const Rows& r) {
      const bool strided = c.head_strides && r.per_head;
      const long long hs = strided ? r.width + slack : r.width;
      reference::TensorView tv{static_cast<int>(p.buffers.size()), 0, r.heads * hs + slack, strided ? hs : 0};
      p.buffers.emplace_back();
      fill(p.buffers.back(), std::max<long long>(1, T * tv.stride));
      p.buffer_names.push_back(r.name);
      return tv;
    };
    if (RQ.name) p.q = add(RQ);
    if (RK.name && !(c.without_k && !req("k")->required)) p.k = add(RK);
    if (RV.name) p.v = add(RV);
  }
  const ArgRequirement* q_out = req("q_out");
  const bool fp8_q = req("q_scale") != nullptr;
  if (q_out && (c.out_of_place || q_out->required)) {  // packed heads, a token stride with slack
    auto add_out = [&](const char* name, long long heads) {
      reference::TensorView tv{static_cast<int>(p.buffers.size()), 0, heads * D + slack, 0};
      p.buffers.emplace_back();
      const int f = std::strcmp(name, "q_out") == 0 ? fp8_of("q_out") : -1;
      p.buffer_fp8.resize(p.buffers.size(), -1);
      p.buffer_fp8.back() = f;
      if (f >= 0) fill_fp8(p.buffers.back(), std::max<long long>(1, T * tv.stride), f);
      else fill(p.buffers.back(), std::max<long long>(1, T * tv.stride));
      p.buffer_names.push_back(name);
      return tv;
    };
    p.q_out = add_out("q_out", RQ.heads);
    if (p.k.buffer >= 0) p.k_out = add_out("k_out", RK.heads);
    if (const ArgRequirement* qs = req("q_out_scales")) {
      // q_scales = per_token_head: q_out holds fp8 codes with a computed scale per (token, head).
      const int f = fp8_of("q_out");
      p.q_quant = reference::q_quant_format(s, static_cast<reference::Fp8Format>(f));
      const size_t qb = static_cast<size_t>(p.q_out.buffer);
      p.buffer_fp8[qb] = -1;
      p.buffer_raw.resize(p.buffers.size(), 0);
      p.buffer_raw[qb] = 1;
      p.buffer_scales.resize(p.buffers.size() + 1, -1);
      p.buffer_scales[qb] = static_cast<int>(p.buffers.size());
      p.buffers.emplace_back(static_cast<size_t>(std::max<long long>(1, T) * RQ.heads * 4));
      for (auto& b : p.buffers.back()) b = static_cast<unsigned char>(rng());
      p.buffer_raw.resize(p.buffers.size(), 0);
      p.buffer_raw.back() = 1;
      p.buffer_names.push_back(qs->name);
    }
  }

  // Positions, slots and cache.
  const bool rope = s.uses_rope();
  long long max_pos = std::max<long long>(c.max_position, 1);
  long long cache_slots = 0;
  std::vector<long long> planted;  // tokens out_of_range put outside the limits
  if (s.uses_cache()) {
    cache_slots = std::max<long long>(2 * T + 3, 8);
    if (s.cache.kind == CacheKind::Paged)
      cache_slots = (cache_slots + s.cache.block - 1) / s.cache.block * s.cache.block;
    p.max_seq = cache_slots;
    std::vector<long long> pool(static_cast<size_t>(cache_slots));
    std::iota(pool.begin(), pool.end(), 0);
    std::shuffle(pool.begin(), pool.end(), rng);
    std::uniform_real_distribution<double> u01(0, 1);
    if (c.sequences) {
      // Sequences of 1 .. 2 block + 3 tokens (window = ring: at most W - S, the ring's length,
      // positions from 0 to 3 W so that they wrap), each in pages of its own.
      if (s.cache.kind != CacheKind::Paged) throw Error(ErrorKind::Spec, "verify: sequences needs a paged cache");
      const long long B = s.cache.block;
      const long long W = s.window.size, S = s.window.sinks;
      const long long ring_pages = s.window.on ? ((S + B - 1) / B * B + (W - S) + B - 1) / B : 0;
      struct Seq {
        long long first = 0, n = 0, start = 0;  // first token, tokens, position or page offset of the first
      };
      std::vector<Seq> seqs;
      std::vector<long long> pad;  // padding tokens between sequences
      long long pages = 0;
      for (long long t = 0; t < T;) {
        if (t > 0 && u01(rng) < 0.3) {
          pad.push_back(t++);
          continue;
        }
        Seq q;
        q.first = t;
        const long long most = s.window.on ? std::min<long long>(W - S, 2 * B + 3) : 2 * B + 3;
        q.n = std::min<long long>(std::uniform_int_distribution<long long>(1, most)(rng), T - t);
        q.start = s.window.on ? std::uniform_int_distribution<long long>(0, 3 * W)(rng)
                              : std::uniform_int_distribution<long long>(0, B - 1)(rng);
        pages += s.window.on ? ring_pages : (q.start + q.n + B - 1) / B;
        seqs.push_back(q);
        t += q.n;
      }
      cache_slots = (pages + 1) * B;  // one page nobody writes
      std::vector<long long> order(static_cast<size_t>(s.window.on ? seqs.size() + 1 : pages + 1));
      std::iota(order.begin(), order.end(), 0);
      std::shuffle(order.begin(), order.end(), rng);
      size_t next = 0;
      if (s.window.on) {
        p.ring_base.assign(static_cast<size_t>(T), -1);
        p.positions.assign(static_cast<size_t>(T), 0);
      } else {
        p.slots.assign(static_cast<size_t>(T), -1);
      }
      for (const Seq& q : seqs) {
        if (s.window.on) {  // a region of ring_pages consecutive pages
          const long long base = order[next++] * ring_pages * B;
          for (long long i = 0; i < q.n; ++i) {
            p.ring_base[static_cast<size_t>(q.first + i)] = base;
            p.positions[static_cast<size_t>(q.first + i)] = q.start + i;
          }
          max_pos = std::max(max_pos, q.start + q.n);
        } else {  // pages anywhere in the cache, the first token at page offset start
          std::vector<long long> own;
          for (long long k = 0; k < (q.start + q.n + B - 1) / B; ++k) own.push_back(order[next++]);
          for (long long i = 0; i < q.n; ++i)
            p.slots[static_cast<size_t>(q.first + i)] = own[static_cast<size_t>((q.start + i) / B)] * B + (q.start + i) % B;
        }
      }
      if (s.window.on) cache_slots = static_cast<long long>(seqs.size() + 1) * ring_pages * B;
      p.max_seq = cache_slots;
      if (s.window.on && !pad.empty()) p.positions[static_cast<size_t>(pad.front())] = 5;  // a padding base, any position
    } else if (c.slots_from_positions && s.cache.kind == CacheKind::Contiguous) {
      p.positions.assign(pool.begin(), pool.begin() + T);  // distinct positions = slots
      max_pos = std::max(max_pos, cache_slots);
    } else {
      p.slots.assign(pool.begin(), pool.begin() + T);
      for (auto& slot : p.slots)
        if (u01(rng) < c.padding) slot = -1;
      if (T > 1) p.slots[1] = -1;  // at least one padding token whenever there are two
    }
    if (c.past_max_seq) {
      auto& idx = p.slots.empty() ? p.positions : p.slots;
      for (long long t = 2; t < T; t += 3) idx[static_cast<size_t>(t)] = cache_slots + t % 8;
      max_pos = std::max(max_pos, cache_slots + 8);
    }
    if (c.out_of_range) {  // slots at or past cache_slots (positions, when they are the slots)
      auto& idx = p.slots.empty() ? p.positions : p.slots;
      for (long long t = 2; t < T; t += 5) {
        idx[static_cast<size_t>(t)] = cache_slots + t % 8;
        planted.push_back(t);
      }
    }
    // Slack rows after the last head catch writes past the cache (compared like the rest).
    // A slot's elements: the cache's fixed dimensions, less the block of a paged one.
    long long row = 1;
    for (long long d : req("k_cache")->shape)
      if (d > 0) row *= d;
    if (s.cache.kind == CacheKind::Paged) row /= s.cache.block;
    // Planted slots reach 8 past the cache: whole blocks of a paged cache.
    const long long slack_slots = s.cache.kind == CacheKind::Paged ? (8 + s.cache.block - 1) / s.cache.block * s.cache.block : 8;
    const long long cache_elems = cache_slots * row + (c.past_max_seq || c.out_of_range ? slack_slots * row : 0);
    // A quantized cache holds bytes (codes), with its scales beside it; both start random.
    const bool quant = quantized_cache(s);
    const int f = quant ? -1 : fp8_of("k_cache");
    if (quant) {
      const int element = fp8_of("k_cache");  // fp8 with per_token_head: the target's encoding
      p.quant = reference::quant_format(s, element >= 0 ? static_cast<reference::Fp8Format>(element)
                                                         : reference::Fp8Format::E4M3);
    }
    auto raw_buffer = [&](const char* name, long long bytes_) {
      p.buffers.emplace_back(static_cast<size_t>(bytes_));
      for (auto& b : p.buffers.back()) b = static_cast<unsigned char>(rng());
      p.buffer_raw.resize(p.buffers.size(), 0);
      p.buffer_raw.back() = 1;
      p.buffer_names.push_back(name);
    };
    const bool strided = s.cache.kind == CacheKind::Paged && s.cache.order == CacheOrder::Strided;
    bool one_buffer = false;  // order = strided with a 2 in the layout: K and V in one buffer
    long long strided_elems = 0;
    if (strided) {
      // Strides from the layout's letters, innermost (D) first; pages get cache_pad of slack.
      const long long B = s.cache.block, H = s.kv_heads;
      const long long pages = cache_elems / (B * H * D);
      long long stride_of[4] = {0, 0, 0, 0};  // N, B, H, 2
      long long acc = D;
      for (size_t i = c.cache_layout.size(); i-- > 0;) {
        const char l = c.cache_layout[i];
        const int k = l == 'N' ? 0 : l == 'B' ? 1 : l == 'H' ? 2 : l == '2' ? 3 : -1;
        if (k < 0 || stride_of[k] != 0) throw Error(ErrorKind::Spec, "verify: bad cache_layout " + c.cache_layout);
        if (k == 0) acc += c.cache_pad;  // a page's slack: the dimensions outside N move with it
        stride_of[k] = acc;
        acc *= k == 0 ? pages : k == 1 ? B : k == 2 ? H : 2;
      }
      if (stride_of[0] == 0 || stride_of[1] == 0 || stride_of[2] == 0)
        throw Error(ErrorKind::Spec, "verify: cache_layout " + c.cache_layout + " needs N, B and H");
      p.cache_strides[0] = stride_of[2];
      p.cache_strides[1] = stride_of[1];
      p.cache_strides[2] = stride_of[0];
      one_buffer = stride_of[3] != 0;
      p.v_cache_offset = stride_of[3];
      strided_elems = acc;
    }
    for (const char* name : {"k_cache", "v_cache"}) {
      if (!req(name)) continue;  // MLA: one cache of kv_c || k_pe rows
      if (one_buffer && std::strcmp(name, "v_cache") == 0) {
        p.v_cache = p.k_cache;  // v_cache = k_cache + the K-to-V distance
        continue;
      }
      const int index = static_cast<int>(p.buffers.size());
      (std::strcmp(name, "k_cache") == 0 ? p.k_cache : p.v_cache) = index;
      if (quant) {
        raw_buffer(name, cache_elems);  // the shape counts bytes
        const std::string scales = std::string(name) + "_scales";
        p.buffer_scales.resize(p.buffers.size() + 1, -1);
        p.buffer_scales[static_cast<size_t>(index)] = static_cast<int>(p.buffers.size());
        raw_buffer(req(scales.c_str())->name, cache_elems / (s.head_dim * p.quant.bits / 8) *
                                                          (s.head_dim / p.quant.group) * p.quant.scale_bytes);
        continue;
      }
      p.buffers.emplace_back();
      p.buffer_fp8.resize(p.buffers.size(), -1);
      p.buffer_fp8.back() = f;
      if (f >= 0) fill_fp8(p.buffers.back(), strided ? strided_elems : cache_elems, f);
      else fill(p.buffers.back(), strided ? strided_elems : cache_elems);
      p.buffer_names.push_back(one_buffer ? "kv_cache" : name);
    }
    if (s.cache_dtype == StoreType::Nvfp4) {
      // Global scales that put the block scales in e4m3's normal range (k) and past its
      // largest value for large rows (v: sf saturates at 448).
      p.k_scale = {0.02f};
      p.v_scale = {0.0004f};
    }
    if (f >= 0) {
      // Scales that saturate some values (0.005), reach the subnormals (2), and lie between:
      // one, or one per KV head, as the kernel's scale arguments say.
      const float pattern[] = {0.01f, 2.0f, 0.005f, 0.25f};
      auto scales = [&](const char* name, std::vector<float>& out, int first) {
        if (const ArgRequirement* r = req(name))
          for (long long h = 0; h < r->shape[0]; ++h) out.push_back(pattern[(h + first) % 4]);
      };
      scales("k_scale", p.k_scale, 0);
      scales("v_scale", p.v_scale, 1);
    }
  }
  if (p.positions.empty() && (rope || s.uses_cache())) {
    std::uniform_int_distribution<long long> pos_dist(0, max_pos - 1);
    for (long long t = 0; t < T; ++t) p.positions.push_back(pos_dist(rng));
  }
  if (rope && s.positions.kind != PositionsKind::Single) {
    // Three rows (t, h, w) with slack between them; every third token is text (the same
    // position in each row), the others get their own h and w.
    p.positions_stride = T + 3;
    std::vector<long long> rows(static_cast<size_t>(3 * p.positions_stride), 0);
    std::uniform_int_distribution<long long> pos_dist(0, max_pos - 1);
    for (long long t = 0; t < T; ++t)
      for (int r = 0; r < 3; ++r)
        rows[static_cast<size_t>(r * p.positions_stride + t)] = r == 0 || t % 3 == 0 ? p.positions[t] : pos_dist(rng);
    p.positions = rows;
  }
  if (c.out_of_range && rope && s.cos_sin.source == CosSinSource::Table) {
    // Positions outside the table: negative, or at or past its max_pos rows (one of the three
    // rows of mrope/imrope positions); the table keeps its max_pos rows.
    const long long rows = s.positions.kind == PositionsKind::Single ? 1 : 3;
    const long long apart = p.positions_stride ? p.positions_stride : T;
    for (long long t = 4; t < T; t += 5) {
      const long long r = (t / 5) % rows;
      p.positions[static_cast<size_t>(r * apart + t)] = t % 2 ? -1 - t % 3 : max_pos + t % 8;
      planted.push_back(t);
    }
  }
  if (rope && s.cos_sin.runtime_length()) {
    // Sequence lengths on both sides of original_max_position_embeddings.
    const long long L = static_cast<long long>(s.cos_sin.params.original_max_position_embeddings);
    std::uniform_int_distribution<long long> len_dist(1, 3 * L);
    for (long long t = 0; t < T; ++t) p.seq_lens.push_back(t % 4 == 0 ? L : t % 4 == 1 ? L + 1 : len_dist(rng));
  }
  if (rope && s.cos_sin.source == CosSinSource::Table) {
    const long long half = s.rotary_dim / 2;
    // Real cos/sin values of plain RoPE, rounded to fp32.
    auto angle = [&](long long pos, long long j) {
      return static_cast<double>(pos) * std::pow(10000.0, -2.0 * j / s.rotary_dim);
    };
    if (c.combined_table) {
      p.table_stride = 2 * half;  // [max_pos, rot] = [cos | sin]
      p.cos_offset = 0;
      p.sin_offset = half;
    } else {
      p.table_stride = (half + al.table_elems - 1) / al.table_elems * al.table_elems + al.table_elems;
      p.cos_offset = 0;
      p.sin_offset = max_pos * p.table_stride;
    }
    p.table.assign(static_cast<size_t>(c.combined_table ? max_pos * p.table_stride
                                                         : 2 * max_pos * p.table_stride), 0.0f);
    for (long long pos = 0; pos < max_pos; ++pos)
      for (long long j = 0; j < half; ++j) {
        p.table[p.cos_offset + pos * p.table_stride + j] = static_cast<float>(std::cos(angle(pos, j)));
        p.table[p.sin_offset + pos * p.table_stride + j] = static_cast<float>(std::sin(angle(pos, j)));
      }
  }

  if (fp8_q) p.q_scale = 0.02f;
  std::vector<unsigned char> q_weight_bits, k_weight_bits;
  if (rope && s.qk_norm.on) {
    // Weights around 1 (Gemma's around 0: it multiplies by 1 + w), random signs; span =
    // all_heads: one per element of the token's heads.
    const bool all = s.qk_norm.span == NormSpan::AllHeads;
    const long long nq = all ? s.q_heads * D : D, nk = all ? s.kv_heads * D : D;
    fill(q_weight_bits, nq);
    fill(k_weight_bits, nk);
    for (long long e = 0; e < nq; ++e)
      p.q_norm_weight.push_back(reference::decode(s.dtype, &q_weight_bits[static_cast<size_t>(e * bytes)]));
    for (long long e = 0; e < nk; ++e)
      p.k_norm_weight.push_back(reference::decode(s.dtype, &k_weight_bits[static_cast<size_t>(e * bytes)]));
  }
  p.buffer_fp8.resize(p.buffers.size(), -1);
  p.buffer_raw.resize(p.buffers.size(), 0);
  p.buffer_scales.resize(p.buffers.size(), -1);

  // order = amd, amd_shuffle: the problem's caches hold the logical [N, B, H, D] order (what
  // the reference writes); the kernel's memory holds each element where AMD's layouts put it
  // (x = 16 bytes of elements): K [N, H, D / x, B, x], V [N, H, D, B] or [N, H, B / x, D, x].
  const bool amd = s.uses_cache() && (s.cache.order == CacheOrder::Amd || s.cache.order == CacheOrder::AmdShuffle);
  auto amd_place = [&](bool is_v, long long e) {  // logical element -> its place in memory
    const long long B = s.cache.block, H = s.kv_heads, x = 16 / bytes;
    const long long i = e % D, h = (e / D) % H, slot = e / (D * H), page = slot / B, t = slot % B;
    const long long head = (page * H + h) * D * B;
    if (!is_v) return head + (i / x) * B * x + t * x + i % x;
    if (s.cache.order == CacheOrder::Amd) return head + i * B + t;
    return head + (t / x) * D * x + i * x + t % x;
  };
  auto amd_buffer = [&](size_t b) { return amd && (static_cast<int>(b) == p.k_cache || static_cast<int>(b) == p.v_cache); };
  auto amd_move = [&](size_t b, const std::vector<unsigned char>& from, bool to_memory) {
    std::vector<unsigned char> out(from.size());
    const bool is_v = static_cast<int>(b) == p.v_cache;
    for (long long e = 0; e < static_cast<long long>(from.size()) / bytes; ++e) {
      const long long m = amd_place(is_v, e);
      std::memcpy(&out[static_cast<size_t>((to_memory ? m : e) * bytes)],
                  &from[static_cast<size_t>((to_memory ? e : m) * bytes)], static_cast<size_t>(bytes));
    }
    return out;
  };

  // Upload, launch, download.
  DeviceBuffers dev{rt, {}};
  std::vector<void*> bufs;
  for (size_t b = 0; b < p.buffers.size(); ++b) {
    const std::vector<unsigned char> data = amd_buffer(b) ? amd_move(b, p.buffers[b], true) : p.buffers[b];
    bufs.push_back(dev.upload(data.data(), data.size()));
  }
  auto encode_index = [&](const std::vector<long long>& v) -> void* {
    if (v.empty()) return nullptr;
    if (s.index == IndexType::I64) return dev.upload(v.data(), v.size() * 8);
    std::vector<int32_t> w(v.begin(), v.end());
    return dev.upload(w.data(), w.size() * 4);
  };
  ropegen_kernel_args a = ROPEGEN_KERNEL_ARGS_INIT;
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
  a.positions_stride = p.positions_stride;
  a.k_cache = p.k_cache >= 0 ? bufs[p.k_cache] : nullptr;
  a.v_cache = p.v_cache >= 0 ? bufs[p.v_cache] : nullptr;
  if (p.v_cache_offset)  // K and V in one buffer
    a.v_cache = static_cast<unsigned char*>(a.v_cache) +
                p.v_cache_offset * (p.buffer_fp8[static_cast<size_t>(p.v_cache)] >= 0 ? 1 : bytes);
  a.cache_head_stride = p.cache_strides[0];
  a.cache_token_stride = p.cache_strides[1];
  a.cache_block_stride = p.cache_strides[2];
  a.ring_base = encode_index(p.ring_base);
  if (p.k_cache >= 0 && p.buffer_scales[p.k_cache] >= 0) a.k_cache_scales = bufs[p.buffer_scales[p.k_cache]];
  if (p.v_cache >= 0 && p.buffer_scales[p.v_cache] >= 0) a.v_cache_scales = bufs[p.buffer_scales[p.v_cache]];
  if (p.q_out.buffer >= 0 && p.buffer_scales[p.q_out.buffer] >= 0)
    a.q_out_scales = static_cast<float*>(bufs[p.buffer_scales[p.q_out.buffer]]);
  a.positions = encode_index(p.positions);
  a.slot_mapping = encode_index(p.slots);
  a.seq_lens = encode_index(p.seq_lens);
  if (!p.k_scale.empty()) a.k_scale = static_cast<const float*>(dev.upload(p.k_scale.data(), p.k_scale.size() * 4));
  if (!p.v_scale.empty()) a.v_scale = static_cast<const float*>(dev.upload(p.v_scale.data(), p.v_scale.size() * 4));
  if (fp8_q) a.q_scale = static_cast<const float*>(dev.upload(&p.q_scale, 4));  // per_tensor q_scales only
  if (!q_weight_bits.empty()) {
    a.q_norm_weight = dev.upload(q_weight_bits.data(), q_weight_bits.size());
    a.k_norm_weight = dev.upload(k_weight_bits.data(), k_weight_bits.size());
  }
  if (!p.table.empty()) {
    auto* table = static_cast<float*>(dev.upload(p.table.data(), p.table.size() * 4));
    a.cos = table + p.cos_offset;
    a.sin = table + p.sin_offset;
    a.cos_sin_stride = p.table_stride;
  }
  a.num_tokens = T;
  a.max_seq = p.max_seq;
  const bool checked = s.checks == Checks::Bounds;
  if (checked || c.out_of_range) {
    // The limits: the slots the caches hold and the rows of the table.
    a.cache_slots = p.cache_slots = s.uses_cache() ? cache_slots : 0;
    a.table_rows = p.table_rows = p.table.empty() ? 0 : max_pos;
  }
  if (checked) {
    // Unless out_of_range planted tokens, every index is in range: nothing may be recorded.
    const unsigned long long zero[4] = {0, 0, 0, 0};
    a.bounds_error = static_cast<unsigned long long*>(dev.upload(zero, sizeof zero));
  }
  kernel.launch(a, c.stream, c.parallelism);
  rt.synchronize_stream(c.stream);

  std::vector<reference::Expected> want = reference::expect(p);
  VerifyReport report;
  std::vector<std::vector<unsigned char>> results(p.buffers.size());
  for (size_t b = 0; b < p.buffers.size(); ++b) {
    results[b].resize(p.buffers[b].size());
    rt.copy_to_host(results[b].data(), bufs[b], results[b].size());
    if (amd_buffer(b)) results[b] = amd_move(b, results[b], false);
  }
  for (size_t b = 0; b < p.buffers.size(); ++b) {
    const std::vector<unsigned char>& got = results[b];
    OutputReport o;
    o.name = p.buffer_names[b];
    const reference::Expected& w = want[b];
    const int f8 = p.buffer_fp8[b];
    const bool raw = p.buffer_raw[b];
    const int eb = f8 >= 0 || raw ? 1 : bytes;
    auto value = [&](const unsigned char* e) {
      if (raw) return static_cast<double>(*e);  // a byte of codes or scales
      return f8 >= 0 ? reference::fp8_decode(static_cast<reference::Fp8Format>(f8), *e) : reference::decode(s.dtype, e);
    };
    for (size_t i = 0; i < w.exact.size(); ++i) {
      const unsigned char* g = &got[i * eb];
      std::string fail;
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
          fail = "element " + std::to_string(i) + ": got " + format_g(v) + ", want " +
                 format_g(w.value[i]) + " within " + format_g(w.bound[i]);
        o.max_abs_error = std::max(o.max_abs_error, err);
        o.max_error_ratio = std::max(o.max_error_ratio, ratio);
      }
      if (!fail.empty()) {
        if (o.failures == 0) o.first_failure = fail;
        ++o.failures;
      }
    }
    check_quant_rows(w.quant_rows, got, results, o);
    if (o.failures) report.passed = false;
    report.outputs.push_back(o);
  }
  if (checked) {
    const BoundsError e = read_bounds_error(rt, a.bounds_error);
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
    if (o.failures) report.passed = false;
    report.outputs.push_back(o);
  }
  return report;
}

}  // namespace ropegen
