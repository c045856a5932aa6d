// Per-sample transforms: sample-rate conversion (libsamplerate) and mu-law
// companding (torchaudio's formulas, evaluated in float32 as torch does).
#include <samplerate.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "audio/audio.h"

namespace cadenza::audio {

Quality parse_quality(const std::string& name) {
  std::string n = name;
  for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (n == "best" || n == "sinc_best" || n == "sinc_best_quality") return Quality::kSincBest;
  if (n == "medium" || n == "sinc_medium" || n == "sinc_medium_quality") {
    return Quality::kSincMedium;
  }
  if (n == "fastest" || n == "sinc_fastest" || n == "fast") return Quality::kSincFastest;
  if (n == "zoh" || n == "zero_order_hold") return Quality::kZeroOrderHold;
  if (n == "linear") return Quality::kLinear;
  throw Error("audio: unknown resampling quality '" + name +
              "' (use best, medium, fastest, zoh or linear)");
}

namespace {

int converter_of(Quality q) {
  switch (q) {
    case Quality::kSincBest:
      return SRC_SINC_BEST_QUALITY;
    case Quality::kSincMedium:
      return SRC_SINC_MEDIUM_QUALITY;
    case Quality::kSincFastest:
      return SRC_SINC_FASTEST;
    case Quality::kZeroOrderHold:
      return SRC_ZERO_ORDER_HOLD;
    case Quality::kLinear:
      return SRC_LINEAR;
  }
  return SRC_SINC_BEST_QUALITY;
}

void check_rate(int rate, const char* what) {
  // libsamplerate accepts ratios in [1/256, 256].
  if (rate <= 0) {
    throw Error(std::string("audio: resample: ") + what + " rate must be positive, got " +
                std::to_string(rate));
  }
}

}  // namespace

std::vector<float> resample(const std::vector<float>& x, int from_rate, int to_rate,
                            Quality quality) {
  check_rate(from_rate, "source");
  check_rate(to_rate, "target");
  if (from_rate == to_rate || x.empty()) return x;
  const double ratio = static_cast<double>(to_rate) / from_rate;
  if (ratio > 256.0 || ratio < 1.0 / 256.0) {
    throw Error("audio: resample: " + std::to_string(from_rate) + " Hz -> " +
                std::to_string(to_rate) +
                " Hz is beyond libsamplerate's 256x limit; "
                "resample in two steps");
  }
  const auto n_in = static_cast<int64_t>(x.size());
  const auto n_out = static_cast<int64_t>(std::llround(static_cast<double>(n_in) * ratio));
  // Extra room: the converter may emit a few frames past n_out while flushing.
  std::vector<float> y(static_cast<size_t>(n_out + 64), 0.0f);
  SRC_DATA d{};
  d.data_in = x.data();
  d.input_frames = static_cast<long>(n_in);
  d.data_out = y.data();
  d.output_frames = static_cast<long>(y.size());
  d.src_ratio = ratio;
  d.end_of_input = 1;
  const int err = src_simple(&d, converter_of(quality), 1);
  if (err != 0) {
    throw Error(std::string("audio: resample failed: libsamplerate: ") + src_strerror(err));
  }
  // Exactly round(n * ratio) frames, so lengths are predictable for callers
  // that align features with samples; a short tail is zero-padded.
  y.resize(static_cast<size_t>(d.output_frames_gen));
  y.resize(static_cast<size_t>(n_out), 0.0f);
  return y;
}

Buffer resample(const Buffer& b, int rate, Quality quality) {
  check_rate(rate, "target");
  if (b.sample_rate == rate) return b;
  Buffer out;
  out.sample_rate = rate;
  out.channels = b.channels;
  const int64_t n = b.frames();
  for (int c = 0; c < b.channels; ++c) {
    std::vector<float> ch(b.channel(c), b.channel(c) + n);
    std::vector<float> r = resample(ch, b.sample_rate, rate, quality);
    out.data.insert(out.data.end(), r.begin(), r.end());
  }
  return out;
}

std::vector<int32_t> mu_law_encode(const std::vector<float>& x, int quantization_channels) {
  if (quantization_channels < 2) {
    throw Error("audio: mu_law_encode: need at least 2 quantization channels, got " +
                std::to_string(quantization_channels));
  }
  const float mu = static_cast<float>(quantization_channels - 1);
  const float log1p_mu = std::log1p(mu);
  std::vector<int32_t> q(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    // torchaudio does not clamp; out-of-range input would give a class past
    // the softmax, so it is clamped (identical to torchaudio on [-1, 1]).
    float v = std::isfinite(x[i]) ? std::clamp(x[i], -1.0f, 1.0f) : 0.0f;
    const float sign = v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : 0.0f);
    const float x_mu = sign * std::log1p(mu * std::fabs(v)) / log1p_mu;
    // torch's .to(int64) truncates toward zero; the value is >= 0.5 here.
    q[i] = static_cast<int32_t>((x_mu + 1.0f) / 2.0f * mu + 0.5f);
  }
  return q;
}

std::vector<float> mu_law_decode(const std::vector<int32_t>& q, int quantization_channels) {
  if (quantization_channels < 2) {
    throw Error("audio: mu_law_decode: need at least 2 quantization channels, got " +
                std::to_string(quantization_channels));
  }
  const float mu = static_cast<float>(quantization_channels - 1);
  const float log1p_mu = std::log1p(mu);
  std::vector<float> x(q.size());
  for (size_t i = 0; i < q.size(); ++i) {
    const float v = static_cast<float>(q[i]) / mu * 2.0f - 1.0f;
    const float sign = v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : 0.0f);
    x[i] = sign * (std::exp(std::fabs(v) * log1p_mu) - 1.0f) / mu;
  }
  return x;
}

}  // namespace cadenza::audio
