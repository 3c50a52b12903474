#include "reference.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>

namespace ropegen::reference {

double decode(DType t, const unsigned char* p) {
  if (t == DType::F32) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
  uint16_t b;
  std::memcpy(&b, p, 2);
  const bool neg = (b >> 15) != 0;
  double v;
  if (t == DType::BF16) {
    const int e = (b >> 7) & 0xff, m = b & 0x7f;
    if (e == 255) v = m ? NAN : INFINITY;
    else if (e == 0) v = std::ldexp(m, -133);
    else v = std::ldexp(128 + m, e - 134);
  } else {
    const int e = (b >> 10) & 0x1f, m = b & 0x3ff;
    if (e == 31) v = m ? NAN : INFINITY;
    else if (e == 0) v = std::ldexp(m, -24);
    else v = std::ldexp(1024 + m, e - 25);
  }
  return neg ? -v : v;
}

double ulp(DType t, double x) {
  x = std::fabs(x);
  int mant_bits = 23, min_exp = -126;
  if (t == DType::BF16) mant_bits = 7;
  if (t == DType::F16) { mant_bits = 10; min_exp = -14; }
  int e = x > 0 ? std::ilogb(x) : min_exp;
  if (e < min_exp) e = min_exp;
  return std::ldexp(1.0, e - mant_bits);
}

// Scaling families, written from rope-math.md one frequency at a time (independently of
// codegen's scaling.cpp, which transforms whole vectors).
static double mscale_of(double scale, double k) { return scale > 1 ? 1.0 + 0.1 * k * std::log(scale) : 1.0; }

double inv_freq(const CosSin& cs, int j, int d) {
  const double pi = std::acos(-1.0);
  const double base = cs.theta;
  const double plain = 1.0 / std::pow(base, 2.0 * j / d);
  switch (cs.scaling) {
    case Scaling::None: return plain;
    case Scaling::Linear: return plain / cs.param("factor");
    case Scaling::Ntk: return 1.0 / std::pow(base * std::pow(cs.param("factor"), d / (d - 2.0)), 2.0 * j / d);
    case Scaling::NtkAlpha: return 1.0 / std::pow(base * std::pow(cs.param("alpha"), d / (d - 2.0)), 2.0 * j / d);
    case Scaling::Yarn:
    case Scaling::DeepseekYarn: {
      const double L = cs.param("original_max_position_embeddings");
      const bool trunc = cs.scaling == Scaling::DeepseekYarn || cs.param("truncate", 1) != 0;
      // The dimension index at which a frequency makes r turns over L positions.
      auto dim_for = [&](double turns) { return d * std::log(L / (turns * 2 * pi)) / (2 * std::log(base)); };
      double lo = dim_for(cs.param("beta_fast")), hi = dim_for(cs.param("beta_slow"));
      if (trunc) {
        lo = std::floor(lo);
        hi = std::ceil(hi);
      }
      if (lo < 0) lo = 0;
      if (hi > d - 1) hi = d - 1;
      if (hi == lo) hi = lo + 0.001;
      double t = (j - lo) / (hi - lo);
      t = t < 0 ? 0 : t > 1 ? 1 : t;
      double keep = 1 - t;  // share of the original (extrapolated) frequency
      if (cs.scaling == Scaling::DeepseekYarn) keep *= cs.param("extrapolation_factor", 1);
      return keep * plain + (1 - keep) * plain / cs.param("factor");
    }
    case Scaling::Llama3: {
      const double L = cs.param("original_max_position_embeddings");
      const double lf = cs.param("low_freq_factor"), hf = cs.param("high_freq_factor");
      const double wl = 2 * pi / plain;
      if (wl < L / hf) return plain;
      if (wl > L / lf) return plain / cs.param("factor");
      const double smooth = (L / wl - lf) / (hf - lf);
      return smooth * plain + (1 - smooth) * plain / cs.param("factor");
    }
  }
  return plain;
}

double attention(const CosSin& cs) {
  const double f = cs.param("factor", 1);
  if (cs.scaling == Scaling::Yarn) {
    if (cs.has("attention_factor")) return cs.param("attention_factor");
    if (cs.has("mscale") && cs.has("mscale_all_dim"))
      return mscale_of(f, cs.param("mscale")) / mscale_of(f, cs.param("mscale_all_dim"));
    return mscale_of(f, 1);
  }
  if (cs.scaling == Scaling::DeepseekYarn)
    return cs.param("attn_factor", 1) * mscale_of(f, cs.param("mscale")) / mscale_of(f, cs.param("mscale_all_dim"));
  return 1;
}

namespace {

const double kU = std::ldexp(1.0, -24);


/// Element offset of (slot, kv_head, 0) in a cache, from the layouts in design.md.
long long cache_offset(const KernelSpec& s, long long slot, int h, long long max_seq) {
  const long long H = s.kv_heads, D = s.head_dim;
  if (s.cache.kind == CacheKind::Contiguous) {
    if (s.cache.order == CacheOrder::Hnd) return (h * max_seq + slot) * D;  // [H, S, D]
    return (slot * H + h) * D;                                            // [S, H, D]
  }
  const long long B = s.cache.block, blk = slot / B, off = slot % B;
  if (s.cache.order == CacheOrder::Nhd) return ((blk * B + off) * H + h) * D;  // [N, B, H, D]
  return ((blk * H + h) * B + off) * D;                                        // [N, H, B, D]
}

struct Writer {
  const Problem& p;
  std::vector<Expected>& out;
  int bytes;

  void copy_row(int src_buf, long long src_off, int dst_buf, long long dst_off) {
    for (int e = 0; e < p.spec.head_dim; ++e) {
      Expected& x = out[dst_buf];
      const long long di = dst_off + e;
      x.exact[di] = 1;
      std::memcpy(&x.bits[di * bytes], &p.buffers[src_buf][(src_off + e) * bytes], bytes);
    }
  }

  void rotate_row(int src_buf, long long src_off, int dst_buf, long long dst_off, long long pos) {
    const KernelSpec& s = p.spec;
    const int d = s.rotary_dim;
    const int r0 = s.rotary_offset;  // the rotated stretch is [r0, r0 + d)
    auto x = [&](int e) { return decode(s.dtype, &p.buffers[src_buf][(src_off + r0 + e) * bytes]); };
    for (int row_e = 0; row_e < s.head_dim; ++row_e) {
      const int e = row_e - r0;  // index within the rotated stretch
      if (e < 0 || e >= d) {  // outside the rotated stretch: unchanged
        Expected& o = out[dst_buf];
        o.exact[dst_off + row_e] = 1;
        std::memcpy(&o.bits[(dst_off + row_e) * bytes], &p.buffers[src_buf][(src_off + row_e) * bytes], bytes);
        continue;
      }
      // The pair (x0, x1) this element belongs to, and whether it is the first of the two.
      int j, i0, i1;
      if (s.style == Style::Neox) {
        j = e < d / 2 ? e : e - d / 2;
        i0 = j;
        i1 = j + d / 2;
      } else {
        j = e / 2;
        i0 = 2 * j;
        i1 = 2 * j + 1;
      }
      double c, sn, attention = 1;
      bool computed = s.cos_sin.source == CosSinSource::Compute;
      if (!computed) {
        c = p.table[p.cos_offset + pos * p.table_stride + j];
        sn = p.table[p.sin_offset + pos * p.table_stride + j];
      } else {
        const float inv = static_cast<float>(inv_freq(s.cos_sin, j, d));
        const float angle = static_cast<float>(pos) * inv;  // one fp32 multiply, as specified
        attention = static_cast<float>(reference::attention(s.cos_sin));
        c = std::cos(static_cast<double>(angle)) * attention;
        sn = std::sin(static_cast<double>(angle)) * attention;
      }
      const double x0 = x(i0), x1 = x(i1);
      // First of the pair: x0 c - x1 s; second: x1 c + x0 s. The bound uses this element's
      // own two products.
      const double p_cos = e == i0 ? x0 * c : x1 * c;
      const double p_sin = e == i0 ? -x1 * sn : x0 * sn;
      const double v = p_cos + p_sin;
      double b = 4 * kU * (std::fabs(p_cos) + std::fabs(p_sin));
      if (computed) b += 4 * kU * attention * (std::fabs(x0) + std::fabs(x1));
      if (attention != 1) b += 2 * kU * (std::fabs(p_cos) + std::fabs(p_sin));  // c * m, s * m in fp32
      if (s.dtype != DType::F32) b += ulp(s.dtype, std::fabs(v) + b);
      Expected& o = out[dst_buf];
      o.exact[dst_off + row_e] = 0;
      o.value[dst_off + row_e] = v;
      o.bound[dst_off + row_e] = b;
    }
  }
};

}  // namespace

std::vector<Expected> expect(const Problem& p) {
  const KernelSpec& s = p.spec;
  const int bytes = dtype_bytes(s.dtype);
  std::vector<Expected> out(p.buffers.size());
  for (size_t i = 0; i < p.buffers.size(); ++i) {
    const size_t n = p.buffers[i].size() / bytes;
    out[i].value.assign(n, 0);
    out[i].bound.assign(n, 0);
    out[i].exact.assign(n, 1);
    out[i].bits = p.buffers[i];  // untouched elements keep their bytes
  }
  Writer w{p, out, bytes};
  const long long D = s.head_dim;
  for (long long t = 0; t < p.tokens; ++t) {
    const long long pos = p.positions.empty() ? 0 : p.positions[t];
    if (s.op != Op::KvAppend) {
      for (int h = 0; h < s.q_heads; ++h) {
        const long long off = p.q.offset + t * p.q.stride + h * D;
        w.rotate_row(p.q.buffer, off, p.q.buffer, off, pos);
      }
    }
    if (s.op == Op::Rope) {
      for (int h = 0; h < s.kv_heads; ++h) {
        const long long off = p.k.offset + t * p.k.stride + h * D;
        w.rotate_row(p.k.buffer, off, p.k.buffer, off, pos);
      }
      continue;
    }
    const long long slot = p.slots.empty() ? pos : p.slots[t];
    if (slot < 0) continue;  // padding
    // contiguous(order = hnd): [kv_heads, max_seq, head_dim]; a slot past max_seq is skipped.
    if (s.cache.kind == CacheKind::Contiguous && s.cache.order == CacheOrder::Hnd && slot >= p.max_seq) continue;
    for (int h = 0; h < s.kv_heads; ++h) {
      const long long dst = cache_offset(s, slot, h, p.max_seq);
      const long long ksrc = p.k.offset + t * p.k.stride + h * D;
      const long long vsrc = p.v.offset + t * p.v.stride + h * D;
      if (s.op == Op::RopeKvAppend) w.rotate_row(p.k.buffer, ksrc, p.k_cache, dst, pos);
      else w.copy_row(p.k.buffer, ksrc, p.k_cache, dst);
      w.copy_row(p.v.buffer, vsrc, p.v_cache, dst);
    }
  }
  return out;
}

}  // namespace ropegen::reference
