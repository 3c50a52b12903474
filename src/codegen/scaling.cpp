#include "scaling.hpp"

#include <algorithm>
#include <cmath>

namespace ropegen {
namespace {

constexpr double kPi = 3.14159265358979323846;

/// Plain RoPE frequencies for base b: b^(-2j/d).
std::vector<double> plain(double base, int d) {
  std::vector<double> f(d / 2);
  for (int j = 0; j < d / 2; ++j) f[j] = std::pow(base, -2.0 * j / d);
  return f;
}

/// YaRN's mscale: 1 for s <= 1, else 0.1 k ln(s) + 1.
double yarn_g(double s, double k) { return s <= 1 ? 1.0 : 0.1 * k * std::log(s) + 1.0; }

/// YaRN blend of interpolated (f / factor) and extrapolated (f) frequencies; the mask is
/// scaled by `extrapolation` (deepseek_yarn's extrapolation_factor; 1 for yarn).
void yarn_blend(std::vector<double>& f, const CosSin& cs, int d, bool truncate, double extrapolation) {
  const ScalingParams& p = cs.params;
  const double factor = p.factor, L = p.original_max_position_embeddings;
  const double b = cs.theta;
  auto corr = [&](double r) { return d * std::log(L / (2 * kPi * r)) / (2 * std::log(b)); };
  double low = corr(p.beta_fast), high = corr(p.beta_slow);
  if (truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(d - 1));
  if (low == high) high += 0.001;
  for (int j = 0; j < d / 2; ++j) {
    const double ramp = std::clamp((j - low) / (high - low), 0.0, 1.0);
    const double mask = (1 - ramp) * extrapolation;
    f[j] = (f[j] / factor) * (1 - mask) + f[j] * mask;
  }
}

}  // namespace

ScaledFrequencies scaled_frequencies(const CosSin& cs, int d) {
  ScaledFrequencies out;
  const ScalingParams& p = cs.params;
  const double exponent = static_cast<double>(d) / (d - 2);
  switch (cs.scaling) {
    case Scaling::None: out.inv_freq = plain(cs.theta, d); break;
    case Scaling::Linear:
      out.inv_freq = plain(cs.theta, d);
      for (double& f : out.inv_freq) f /= p.factor;
      break;
    case Scaling::Ntk: out.inv_freq = plain(cs.theta * std::pow(p.factor, exponent), d); break;
    case Scaling::NtkAlpha: out.inv_freq = plain(cs.theta * std::pow(p.alpha, exponent), d); break;
    case Scaling::Yarn: {
      out.inv_freq = plain(cs.theta, d);
      yarn_blend(out.inv_freq, cs, d, p.truncate, 1.0);
      const double factor = p.factor;
      if (p.attention_factor) out.attention = *p.attention_factor;
      else if (p.mscale && p.mscale_all_dim)
        out.attention = yarn_g(factor, *p.mscale) / yarn_g(factor, *p.mscale_all_dim);
      else out.attention = yarn_g(factor, 1.0);
      break;
    }
    case Scaling::DeepseekYarn: {
      out.inv_freq = plain(cs.theta, d);
      yarn_blend(out.inv_freq, cs, d, true, p.extrapolation_factor);
      const double factor = p.factor;
      out.attention = yarn_g(factor, p.mscale.value()) / yarn_g(factor, p.mscale_all_dim.value()) * p.attn_factor;
      break;
    }
    case Scaling::Llama3: {
      out.inv_freq = plain(cs.theta, d);
      const double factor = p.factor, lf = p.low_freq_factor, hf = p.high_freq_factor;
      const double L = p.original_max_position_embeddings;
      for (double& f : out.inv_freq) {
        const double wavelen = 2 * kPi / f;
        if (wavelen < L / hf) continue;
        if (wavelen > L / lf) {
          f /= factor;
          continue;
        }
        const double sigma = (L / wavelen - lf) / (hf - lf);
        f = (1 - sigma) * f / factor + sigma * f;
      }
      break;
    }
    case Scaling::Dynamic: {
      // choose = static: the base for max_model_len (vLLM's choice); choose = runtime: the
      // kernel scales the base per token from seq_lens, and this is the set for lengths
      // up to original_max_position_embeddings.
      double base = cs.theta;
      if (p.choose == Choose::Static) {
        const double f = p.factor, L = p.original_max_position_embeddings;
        const double len = p.max_model_len.value();
        if (len > L) base *= std::pow(f * len / L - (f - 1), exponent);
      }
      out.inv_freq = plain(base, d);
      break;
    }
    case Scaling::Proportional: {
      out.inv_freq = plain(cs.theta, d);
      const int kept = static_cast<int>(p.partial_rotary_factor * d / 2);
      for (int j = 0; j < d / 2; ++j) out.inv_freq[j] = j < kept ? out.inv_freq[j] / p.factor : 0.0;
      break;
    }
    case Scaling::Longrope: {
      const double L = p.original_max_position_embeddings;
      const double Lmax = p.max_position_embeddings;
      double m = Lmax > L ? std::sqrt(1 + std::log(Lmax / L) / std::log(L)) : 1.0;
      if (p.attention_factor) m = *p.attention_factor;
      auto with = [&](const std::vector<double>& e, const std::optional<double>& mscale, std::vector<double>& f,
                      double& att) {
        f = plain(cs.theta, d);
        for (int j = 0; j < d / 2; ++j) f[j] /= e[j];
        att = mscale.value_or(m);
      };
      const bool runtime = p.choose == Choose::Runtime;
      const bool fixed_long = !runtime && p.max_model_len.value() > L;
      with(fixed_long ? p.long_factor : p.short_factor, fixed_long ? p.long_mscale : p.short_mscale, out.inv_freq,
           out.attention);
      if (runtime) with(p.long_factor, p.long_mscale, out.inv_freq_long, out.attention_long);
      break;
    }
  }
  return out;
}

}  // namespace ropegen
