#include "reference.hpp"

#include "fp8.hpp"
#include "families/family.hpp"

#include <algorithm>
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

double fp8_step(Fp8Format f, double x) {
  x = std::fabs(x);
  const double mx = fp8_max(f);
  if (x >= mx) return mx - fp8_decode(f, static_cast<std::uint8_t>(fp8_max_code(f) - 1));
  // The finite values around x (positive codes increase with the value).
  int c = fp8_encode(f, x) & 0x7f;
  double step = 0;
  if (c > 0) step = std::max(step, fp8_decode(f, static_cast<std::uint8_t>(c)) - fp8_decode(f, static_cast<std::uint8_t>(c - 1)));
  if (c < fp8_max_code(f)) step = std::max(step, fp8_decode(f, static_cast<std::uint8_t>(c + 1)) - fp8_decode(f, static_cast<std::uint8_t>(c)));
  return step;
}

// Scaling families, written from rope-math.md one frequency at a time (independently of
// codegen's scaling.cpp, which transforms whole vectors).
static double mscale_of(double scale, double k) { return scale > 1 ? 1.0 + 0.1 * k * std::log(scale) : 1.0; }

double inv_freq(const CosSin& cs, int j, int d, double seq_len) {
  const double pi = std::acos(-1.0);
  const double base = cs.theta;
  const double plain = 1.0 / std::pow(base, 2.0 * j / d);
  const ScalingParams& p = cs.params;
  switch (cs.scaling) {
    case Scaling::None: return plain;
    case Scaling::Linear: return plain / p.factor;
    case Scaling::Ntk: return 1.0 / std::pow(base * std::pow(p.factor, d / (d - 2.0)), 2.0 * j / d);
    case Scaling::NtkAlpha: return 1.0 / std::pow(base * std::pow(p.alpha, d / (d - 2.0)), 2.0 * j / d);
    case Scaling::Yarn:
    case Scaling::DeepseekYarn: {
      const double L = p.original_max_position_embeddings;
      const bool trunc = cs.scaling == Scaling::DeepseekYarn || p.truncate;
      // The dimension index at which a frequency makes r turns over L positions.
      auto dim_for = [&](double turns) { return d * std::log(L / (turns * 2 * pi)) / (2 * std::log(base)); };
      double lo = dim_for(p.beta_fast), hi = dim_for(p.beta_slow);
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
      if (cs.scaling == Scaling::DeepseekYarn) keep *= p.extrapolation_factor;
      return keep * plain + (1 - keep) * plain / p.factor;
    }
    case Scaling::Dynamic: {
      // The base grows once the sequence passes the trained length.
      const double L = p.original_max_position_embeddings, f = p.factor;
      const double len = p.choose == Choose::Static ? p.max_model_len.value() : seq_len;
      double b = base;
      if (len > L) b = base * std::pow(f * len / L - (f - 1), d / (d - 2.0));
      return std::pow(b, -2.0 * j / d);
    }
    case Scaling::Longrope: {
      const double L = p.original_max_position_embeddings;
      const double len = p.choose == Choose::Static ? p.max_model_len.value() : seq_len;
      return plain / (len > L ? p.long_factor : p.short_factor)[static_cast<size_t>(j)];
    }
    case Scaling::Proportional:
      // rope-math.md: n = int(p * D / 2) frequencies b^(-2j/D) (D the whole rotated head), the
      // others 0, all over factor.
      return j < std::floor(p.partial_rotary_factor * d / 2) ? plain / p.factor : 0.0;
    case Scaling::Llama3: {
      const double L = p.original_max_position_embeddings;
      const double lf = p.low_freq_factor, hf = p.high_freq_factor;
      const double wl = 2 * pi / plain;
      if (wl < L / hf) return plain;
      if (wl > L / lf) return plain / p.factor;
      const double smooth = (L / wl - lf) / (hf - lf);
      return smooth * plain + (1 - smooth) * plain / p.factor;
    }
  }
  return plain;
}

double q_factor(const QTemperature& q, long long p) {
  if (q.kind == QTemperature::Llama4) {
    // Llama 4: floor((p + 1) / floor_scale) of fp32 values, as the model's code divides.
    const double steps = std::floor(static_cast<double>((static_cast<float>(p) + 1.0f) / static_cast<float>(q.floor_scale)));
    return std::log(steps + 1) * q.attn_scale + 1;
  }
  if (q.kind == QTemperature::Logn) return p + 1 > q.base ? std::log(static_cast<double>(p + 1)) / std::log(q.base) : 1.0;
  return 1;
}

int position_row(const Positions& p, int j) {
  if (p.kind == PositionsKind::Single) return 0;
  if (p.kind == PositionsKind::Vision) return j < p.sections[0] ? 0 : 1;  // row, then column
  if (p.kind == PositionsKind::Mrope || p.kind == PositionsKind::Grid) {  // contiguous sections
    int end = 0;
    for (int r = 0; r < 3; ++r)
      if (j < (end += p.sections[r])) return r;
    return 2;
  }
  // imrope: index j asks for row j % 3; h and w serve while they have indices left,
  // everything else is t.
  int left[3] = {p.sections[0], p.sections[1], p.sections[2]};
  int row = 0;
  for (int i = 0; i <= j; ++i) {
    row = i % 3 != 0 && left[i % 3] > 0 ? i % 3 : 0;
    --left[row];
  }
  return row;
}

double attention(const CosSin& cs, double seq_len) {
  const ScalingParams& p = cs.params;
  if (cs.scaling == Scaling::Longrope) {
    const double L = p.original_max_position_embeddings;
    const double len = p.choose == Choose::Static ? p.max_model_len.value() : seq_len;
    const std::optional<double>& own = len > L ? p.long_mscale : p.short_mscale;
    if (own) return *own;
    if (p.attention_factor) return *p.attention_factor;
    const double ratio = p.max_position_embeddings / L;
    return ratio > 1 ? std::sqrt(1 + std::log(ratio) / std::log(L)) : 1.0;
  }
  const double f = p.factor;
  if (cs.scaling == Scaling::Yarn) {
    if (p.attention_factor) return *p.attention_factor;
    if (p.mscale && p.mscale_all_dim) return mscale_of(f, *p.mscale) / mscale_of(f, *p.mscale_all_dim);
    return mscale_of(f, 1);
  }
  if (cs.scaling == Scaling::DeepseekYarn)
    return p.attn_factor * mscale_of(f, p.mscale.value()) / mscale_of(f, p.mscale_all_dim.value());
  return 1;
}

namespace {

const double kU = std::ldexp(1.0, -24);

}  // namespace

RowWriter::Elem RowWriter::elem(int buf) const {
  const int f = buf < static_cast<int>(p.buffer_fp8.size()) ? p.buffer_fp8[static_cast<size_t>(buf)] : -1;
  return {p.spec.dtype, f};
}

/// An element of an fp8 buffer that must hold exactly encode(float(x) / scale): the
/// kernel divides in fp32, then rounds once.
void RowWriter::exact_fp8(int dst_buf, long long di, double x, float scale) {
  Expected& o = out[dst_buf];
  o.exact[di] = 1;
  o.bits[di] = fp8_encode(static_cast<Fp8Format>(elem(dst_buf).fp8), static_cast<float>(x) / scale);
}

/// A rounded element: `v` within `b` as the activation dtype would hold it; in an fp8
/// buffer v / scale (saturated) within b / scale plus one step of the format there.
void RowWriter::rounded(int dst_buf, long long di, double v, double b, float scale) {
  Expected& o = out[dst_buf];
  o.exact[di] = 0;
  const Elem el = elem(dst_buf);
  if (el.fp8 < 0) {
    o.value[di] = v;
    o.bound[di] = b;
    return;
  }
  const Fp8Format f = static_cast<Fp8Format>(el.fp8);
  const double mx = fp8_max(f);
  const double q = v / scale;
  const double want = q > mx ? mx : q < -mx ? -mx : q;
  o.value[di] = want;
  o.bound[di] = b / scale + fp8_step(f, std::fabs(want) + b / scale) + 2 * kU * std::fabs(q);
}

/// A quantized row: exact rows get their codes and scales bit for bit; the others are
/// checked after the launch against their values and bounds (QuantRow).
void RowWriter::quant_row(int dst_buf, long long dst_off, long long scale_row, const std::vector<double>& value,
                          const std::vector<double>& bound, bool exact, float gs, long long scale_at, int scale_step) {
  const QuantFormat& f = dst_buf == p.q_out.buffer ? p.q_quant : p.quant;
  const int sb = p.buffer_scales[static_cast<size_t>(dst_buf)];
  const long long n = static_cast<long long>(value.size());
  // A row's scales: n / group of them, at its scale row (a cache's: the row's slot and head).
  const long long data_off = dst_off * f.bits / 8;
  const long long scale_off =
      scale_at >= 0 ? scale_at : (scale_row >= 0 ? scale_row : dst_off / n) * (n / f.group) * f.scale_bytes;
  const long long step = static_cast<long long>(scale_step) * f.scale_bytes;  // bytes between a row's scales
  Expected& d = out[dst_buf];
  Expected& sc = out[sb];
  if (!exact) {
    for (long long i = 0; i < n * f.bits / 8; ++i) d.exact[data_off + i] = 0;
    for (long long g = 0; g < n / f.group; ++g)
      for (int b = 0; b < f.scale_bytes; ++b) sc.exact[scale_off + g * step + b] = 0;
    d.quant_rows.push_back({&f, data_off, sb, scale_off, scale_step, value, bound, gs});
    return;
  }
  for (long long g = 0; g < n / f.group; ++g) {
    std::vector<float> x(static_cast<size_t>(f.group));
    for (int i = 0; i < f.group; ++i) x[i] = static_cast<float>(value[static_cast<size_t>(g * f.group + i)]);
    const QuantGroup q = quantize_group(f, x.data(), f.group, gs);
    for (int b = 0; b < f.scale_bytes; ++b)
      sc.bits[static_cast<size_t>(scale_off + g * step + b)] = static_cast<unsigned char>(q.scale_bits >> (8 * b));
    for (int i = 0; i < f.group; ++i) {
      const long long bit = (g * f.group + i) * f.bits;  // element 2i in the low nibble
      unsigned char& byte = d.bits[static_cast<size_t>(data_off + bit / 8)];
      if (f.bits == 8) byte = q.codes[i];
      else byte = static_cast<unsigned char>((byte & ~(0xf << (bit % 8))) | (q.codes[i] << (bit % 8)));
    }
  }
}

double RowWriter::input(int buf, long long off, int e) const {
  const double x = decode(p.spec.dtype, &p.buffers[static_cast<size_t>(buf)][static_cast<size_t>((off + e) * bytes)]);
  if (!bias) return x;
  // fp32 sum of two fp32 values (exact in double, then rounded once to fp32), then to the
  // dtype, round to nearest even: a power-of-two ulp makes the quotient exact.
  const double f = static_cast<float>(x + bias[e]);
  if (p.spec.dtype == DType::F32 || f == 0) return f;
  const double q = ulp(p.spec.dtype, std::fabs(f));
  return std::nearbyint(f / q) * q;
}

void RowWriter::copy_row(int src_buf, long long src_off, int dst_buf, long long dst_off, float scale, int len,
                         long long scale_at, int scale_step) {
  const Elem el = elem(dst_buf);
  if (quant(dst_buf)) {
    std::vector<double> v(static_cast<size_t>(len ? len : p.spec.head_dim)), b(v.size(), 0.0);
    for (size_t e = 0; e < v.size(); ++e) v[e] = input(src_buf, src_off, static_cast<int>(e));
    quant_row(dst_buf, dst_off, -1, v, b, true, scale, scale_at, scale_step);
    return;
  }
  for (int e = 0; e < (len ? len : p.spec.head_dim); ++e) {
    const long long di = dst_off + e;
    if (el.fp8 >= 0) {
      exact_fp8(dst_buf, di, input(src_buf, src_off, e), scale);
      continue;
    }
    if (bias) {  // the biased value, rounded to the dtype: exactly what the kernel must store
      rounded(dst_buf, di, input(src_buf, src_off, e), 0, scale);
      continue;
    }
    Expected& x = out[dst_buf];
    x.exact[di] = 1;
    std::memcpy(&x.bits[di * bytes], &p.buffers[src_buf][(src_off + e) * bytes], bytes);
  }
}

void RowWriter::exact_bytes(int dst_buf, long long at, const std::vector<unsigned char>& b) {
  const int eb = elem(dst_buf).bytes();
  if (at % eb != 0 || b.size() % static_cast<size_t>(eb) != 0)
    throw Error(ErrorKind::Internal, "reference: exact bytes at " + std::to_string(at) + " are not whole elements");
  Expected& x = out[static_cast<size_t>(dst_buf)];
  for (size_t i = 0; i < b.size(); i += static_cast<size_t>(eb)) {
    const long long di = (at + static_cast<long long>(i)) / eb;
    x.exact[static_cast<size_t>(di)] = 1;
    std::memcpy(&x.bits[static_cast<size_t>(di) * eb], &b[i], static_cast<size_t>(eb));
  }
}

void RowWriter::rotate_codes(int src_buf, long long src_off, int dst_buf, long long at, long long token, int len,
                             Fp8Format f, float scale) {
  const int eb = elem(dst_buf).bytes();
  if (at % eb != 0 || len % eb != 0)
    throw Error(ErrorKind::Internal, "reference: fp8 codes at " + std::to_string(at) + " are not whole elements");
  std::vector<double> xs(static_cast<size_t>(len)), err(xs.size(), 0.0), v, b;
  for (int e = 0; e < len; ++e) xs[static_cast<size_t>(e)] = input(src_buf, src_off, e);
  turn(xs, err, token, 0, v, b);
  // The kernel's value x lies in [v - b, v + b] and is a float: it is at least the float
  // nearest v - b and at most the one nearest v + b; x / scale (fp32) and the encoding keep
  // that order, so its code lies between the codes of the ends.
  CodeRange r;
  r.at = at;
  r.format = f;
  for (size_t e = 0; e < v.size(); ++e) {
    r.lo.push_back(fp8_encode(f, static_cast<float>(v[e] - b[e]) / scale));
    r.hi.push_back(fp8_encode(f, static_cast<float>(v[e] + b[e]) / scale));
  }
  out[static_cast<size_t>(dst_buf)].code_ranges.push_back(std::move(r));
}

/// The norm of a row (reference.hpp's RowNorm) applied to `x` in place, with bounds `err`
/// grown by the kernel's fp32 error: the sum over `count` squares ((count + 8) u relative),
/// and the share of the inputs' own error in the mean square. With a given mean square
/// (span = all_heads) its error is the caller's (count: the token's elements).
void apply_norm(const RowNorm& n, std::vector<double>& x, std::vector<double>& err, DType dtype) {
  const size_t D = x.size();
  double sq = 0, dsq = 0;
  for (size_t e = 0; e < D; ++e) {
    sq += x[e] * x[e];
    dsq += 2 * std::fabs(x[e]) * err[e];
  }
  const double ms = n.mean_square >= 0 ? n.mean_square : sq / static_cast<double>(D);
  const double rel = n.mean_square >= 0 ? n.mean_square_rel : (sq > 0 ? dsq / sq : 0);
  const double r = 1 / std::sqrt(ms + n.eps);
  const double count = n.mean_square >= 0 ? n.count : static_cast<double>(D);
  for (size_t e = 0; e < D; ++e) {
    const double w = !n.weight ? 1 : n.one_plus ? 1 + n.weight[e] : n.weight[e];
    const double v = x[e] * r * w;
    // r's relative error is half the mean square's; the input's error scales with r * w.
    err[e] = err[e] * r * std::fabs(w) + std::fabs(v) * (rel / 2 + (count + 8) * kU) +
             (dtype != DType::F32 ? ulp(dtype, std::fabs(v)) : 0);
    x[e] = v;
  }
}

void RowWriter::zero_row(int dst_buf, long long dst_off) {
  const int eb = elem(dst_buf).bytes();
  Expected& x = out[static_cast<size_t>(dst_buf)];
  for (long long e = 0; e < p.spec.head_dim; ++e) {
    x.exact[static_cast<size_t>(dst_off + e)] = 1;
    std::memset(&x.bits[static_cast<size_t>((dst_off + e) * eb)], 0, static_cast<size_t>(eb));
  }
}

void RowWriter::zero_bytes(int buf, long long at, long long n, int step) {
  Expected& x = out[static_cast<size_t>(buf)];
  for (long long i = 0; i < n; ++i) {
    const size_t b = static_cast<size_t>(at + i * step);
    x.exact[b] = 1;
    x.bits[b] = 0;
  }
}

/// pos(j): the position frequency index j uses; seq_len: the token's sequence length;
/// `norm`: this row's norm (null: none); `scale`: fp8 stores.
/// `row_len` and `offset` replace head_dim and rotary_offset (MLA's k_pe row: 0 and -1 keep them).
void RowWriter::rotate_row(int src_buf, long long src_off, int dst_buf, long long dst_off, long long token,
                           const RowNorm* norm, float scale, int row_len, int offset, long long scale_row,
                           double factor, long long scale_at) {
  const KernelSpec& s = p.spec;
  const int D = row_len ? row_len : s.head_dim;
  const int r0 = offset >= 0 ? offset : s.rotary_offset;  // the rotated stretch is [r0, r0 + d)
  // The row the rotation reads: x, or with a norm before it y = x / sqrt(mean(x^2) + eps) * w,
  // which the kernel computes in fp32 and rounds to the dtype; err holds each input's bound.
  std::vector<double> xs(static_cast<size_t>(D)), err(static_cast<size_t>(D), 0.0);
  for (int e = 0; e < D; ++e) xs[e] = input(src_buf, src_off, e);
  if (norm && !norm->post) apply_norm(*norm, xs, err, s.dtype);
  std::vector<double> v, b;
  turn(xs, err, token, r0, v, b);
  // A norm after the rotation (order = post) normalizes the turned row, which the kernel
  // holds in the dtype (rounded once after the rotation, once after the norm, as the models'
  // code does).
  if (norm && norm->post) apply_norm(*norm, v, b, s.dtype);
  // A factor (q_temperature) comes last: the held row times it in fp32, rounded again.
  if (factor != 1)
    for (int e = 0; e < D; ++e) {
      v[e] *= factor;
      b[e] = b[e] * factor + 8 * kU * std::fabs(v[e]) + (s.dtype != DType::F32 ? ulp(s.dtype, std::fabs(v[e])) : 0);
    }
  // A quantized destination takes the whole row at once (its scales depend on all of it).
  const bool q = quant(dst_buf);
  for (int row_e = 0; row_e < D; ++row_e) {
    const long long di = dst_off + row_e;
    const bool turned = row_e >= r0 && row_e < r0 + s.rotary_dim;
    if (q || turned || norm || factor != 1) {
      if (!q) rounded(dst_buf, di, v[row_e], b[row_e], scale);
    } else if (bias && elem(dst_buf).fp8 < 0) {  // the biased input, stored as it is
      rounded(dst_buf, di, xs[row_e], 0, scale);
    } else if (elem(dst_buf).fp8 >= 0) {  // outside the rotated stretch, no norm, no factor: unchanged
      exact_fp8(dst_buf, di, xs[row_e], scale);
    } else {
      Expected& o = out[dst_buf];
      o.exact[di] = 1;
      std::memcpy(&o.bits[di * bytes], &p.buffers[src_buf][(src_off + row_e) * bytes], bytes);
    }
  }
  if (q) quant_row(dst_buf, dst_off, scale_row, v, b, false, scale, scale_at);
}

void RowWriter::turn(const std::vector<double>& xs, const std::vector<double>& err, long long token, int r0,
                     std::vector<double>& v, std::vector<double>& b) const {
  const double seq_len = this->seq_len(token);
  const KernelSpec& s = p.spec;
  const int D = static_cast<int>(xs.size());
  const int d = s.rotary_dim;
  v = xs;
  b = err;
  for (int row_e = r0; row_e < r0 + d && row_e < D; ++row_e) {
    const int e = row_e - r0;  // index within the rotated stretch
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
    const long long pos = position(token, j);
    double c, sn, attention = 1, angle = 0;
    bool computed = s.cos_sin.source == CosSinSource::Compute;
    if (!computed) {
      const long long col = j + (s.cos_sin.per_head ? static_cast<long long>(table_head) * (d / 2) : 0);
      c = p.table[p.cos_offset + pos * p.table_stride + col];
      sn = p.table[p.sin_offset + pos * p.table_stride + col];
    } else {
      // Vision 2-D RoPE (rope-math.md): j < s0 turns by row * b^(-4j/d), the rest by
      // column * b^(-4(j - s0)/d): the frequencies of a d / 2 rotary, restarted per section.
      const bool vision = s.positions.kind == PositionsKind::Vision;
      const int jf = vision && j >= s.positions.sections[0] ? j - s.positions.sections[0] : j;
      double inv = vision ? std::pow(s.cos_sin.theta, -4.0 * jf / d) : inv_freq(s.cos_sin, j, d, seq_len);
      if (s.positions.kind == PositionsKind::Grid) {
        // 3-D grid RoPE (rope-math.md): section r of n_r indices is a rotary of 2 n_r
        // dimensions of its own: b^(-2 i / (2 n_r)), i the index within the section.
        const std::vector<int>& sec = s.positions.sections;
        const int r = position_row(s.positions, j);
        int start = 0;
        for (int k = 0; k < r; ++k) start += sec[static_cast<size_t>(k)];
        inv = std::pow(s.cos_sin.theta, -2.0 * (j - start) / (2.0 * sec[static_cast<size_t>(r)]));
      }
      // angle = fp32: one fp32 multiply of fp32 values, as specified; exact: in double.
      angle = s.angle == Angle::Exact ? static_cast<double>(pos) * inv
                                      : static_cast<float>(pos) * static_cast<float>(inv);
      attention = static_cast<float>(reference::attention(s.cos_sin, seq_len));
      c = std::cos(angle) * attention;
      sn = std::sin(angle) * attention;
    }
    const double x0 = xs[r0 + i0], x1 = xs[r0 + i1];
    // First of the pair: x0 c - x1 s; second: x1 c + x0 s. The bound uses this element's
    // own two products.
    const double p_cos = e == i0 ? x0 * c : x1 * c;
    const double p_sin = e == i0 ? -x1 * sn : x0 * sn;
    const double val = p_cos + p_sin;
    double bnd = 4 * kU * (std::fabs(p_cos) + std::fabs(p_sin));
    bnd += (e == i0 ? err[r0 + i0] : err[r0 + i1]) * std::fabs(c) + (e == i0 ? err[r0 + i1] : err[r0 + i0]) * std::fabs(sn);
    if (computed) bnd += 4 * kU * attention * (std::fabs(x0) + std::fabs(x1));
    // dynamic with choose = runtime: the kernel computes inv_freq in double from the
    // token's length, which may round to the neighbouring float: one fp32 ulp of the angle.
    if (computed && s.angle == Angle::Fp32 && s.cos_sin.scaling == Scaling::Dynamic && s.cos_sin.runtime_length())
      bnd += 2 * kU * std::fabs(angle) * attention * (std::fabs(x0) + std::fabs(x1));
    if (attention != 1) bnd += 2 * kU * (std::fabs(p_cos) + std::fabs(p_sin));  // c * m, s * m in fp32
    if (s.dtype != DType::F32) bnd += ulp(s.dtype, std::fabs(val) + bnd);  // held in the dtype
    v[row_e] = val;
    b[row_e] = bnd;
  }
}

double RowWriter::square_sum(int src_buf, long long src_off, long long token, bool turned, double* error) const {
  const KernelSpec& s = p.spec;
  const int D = s.head_dim;
  std::vector<double> xs(static_cast<size_t>(D)), err(static_cast<size_t>(D), 0.0), v, b;
  for (int e = 0; e < D; ++e) xs[e] = input(src_buf, src_off, e);
  if (turned) turn(xs, err, token, s.rotary_offset, v, b);
  else v = xs, b = err;
  double sq = 0;
  for (int e = 0; e < D; ++e) {
    sq += v[e] * v[e];
    if (error) *error += 2 * std::fabs(v[e]) * b[e];
  }
  return sq;
}

namespace {

/// Position row r (0 = t, 1 = h, 2 = w) of token t: the stored row, or with positions = grid
/// the frame, row or column of the token's index in the grid (frames outermost, then rows;
/// C's truncating division for a negative index).
long long row_position(const Problem& p, long long t, int r) {
  if (p.spec.positions.kind == PositionsKind::Grid) {
    const long long i = p.positions[static_cast<size_t>(t)];
    const long long frame = p.grid_h * p.grid_w;
    return r == 0 ? i / frame : r == 1 ? (i % frame) / p.grid_w : i % p.grid_w;
  }
  const long long rows_apart = p.positions_stride ? p.positions_stride : p.tokens;
  return p.positions[static_cast<size_t>(r * rows_apart + t)];
}

}  // namespace

long long RowWriter::position(long long token, int j) const {
  return row_position(p, token, position_row(p.spec.positions, j));
}

double RowWriter::seq_len(long long token) const {
  return p.seq_lens.empty() ? 0 : static_cast<double>(p.seq_lens[static_cast<size_t>(token)]);
}

long long token_slot(const Problem& p, long long t) {
  const KernelSpec& s = p.spec;
  const long long pos = p.positions.empty() ? 0 : p.positions[static_cast<size_t>(t)];
  if (!s.window.on) return p.slots.empty() ? pos : p.slots[static_cast<size_t>(t)];
  // The ring: sinks first, then W - S slots from the first page boundary after them.
  const long long S = s.window.sinks, W = s.window.size, B = s.cache.block;
  const long long base = p.ring_base[static_cast<size_t>(t)];
  const long long ring_start = (S + B - 1) / B * B;
  if (base < 0 || pos < 0) return -1;
  return pos < S ? base + pos : base + ring_start + (pos - S) % (W - S);
}

bool outside_limits(const Problem& p, long long t) {
  const KernelSpec& s = p.spec;
  const bool table = s.cos_sin.source == CosSinSource::Table;
  if (s.uses_rope() && (s.checks == Checks::Bounds || (table && p.table_rows > 0))) {
    // positions = grid: a negative index (which gives some row a negative value) is outside.
    if (s.positions.kind == PositionsKind::Grid && p.positions[static_cast<size_t>(t)] < 0) return true;
    for (int r = 0; r < s.positions.rows(); ++r) {
      const long long pos = row_position(p, t, r);
      if (pos < 0 || (table && pos >= p.table_rows)) return true;
    }
  }
  if (s.uses_cache() && p.cache_slots > 0) {
    if (token_slot(p, t) >= p.cache_slots) return true;
  }
  return false;
}

std::vector<Expected> expect(const Problem& p) {
  const KernelSpec& s = p.spec;
  const int bytes = dtype_bytes(s.dtype);
  std::vector<Expected> out(p.buffers.size());
  for (size_t i = 0; i < p.buffers.size(); ++i) {
    const bool fp8 = (i < p.buffer_fp8.size() && p.buffer_fp8[i] >= 0) || (i < p.buffer_raw.size() && p.buffer_raw[i]);
    const size_t n = p.buffers[i].size() / (fp8 ? 1 : bytes);
    out[i].value.assign(n, 0);
    out[i].bound.assign(n, 0);
    out[i].exact.assign(n, 1);
    out[i].bits = p.buffers[i];  // untouched elements keep their bytes
  }
  RowWriter w{p, out, bytes};
  const Family& family = family_of(s.op);
  if (!family.expect_token)
    throw Error(ErrorKind::Internal, std::string("family ") + family.name + " has its own verification runner");
  for (long long t = 0; t < p.tokens; ++t) family.expect_token(p, w, t);
  return out;
}

}  // namespace ropegen::reference
