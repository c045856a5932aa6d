// STFT, inverse STFT, mel filterbank, power_to_db and MFCC, written to give
// librosa 0.11's numbers for its defaults. The FFT is FFTW's (double
// precision, so the float32 results are exact to float rounding and quiet
// bins keep their relative accuracy through the log of log-mel and MFCC).
#include <fftw3.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>

#include "audio/audio.h"

namespace cadenza::audio {
namespace {

// FFTW's planner is not thread-safe; plan execution with new arrays is.
std::mutex& planner_mutex() {
  static std::mutex m;
  return m;
}

struct PlanDeleter {
  void operator()(fftw_plan_s* p) const {
    if (p) {
      std::lock_guard<std::mutex> lock(planner_mutex());
      fftw_destroy_plan(p);
    }
  }
};
using Plan = std::unique_ptr<fftw_plan_s, PlanDeleter>;

struct FftwFree {
  void operator()(void* p) const { fftw_free(p); }
};
template <class T>
std::unique_ptr<T[], FftwFree> fftw_array(size_t n) {
  auto* p = static_cast<T*>(fftw_malloc(sizeof(T) * std::max<size_t>(n, 1)));
  if (!p) throw Error("audio: out of memory allocating an FFT buffer of " + std::to_string(n));
  return std::unique_ptr<T[], FftwFree>(p);
}

void check_options(const StftOptions& o) {
  if (o.n_fft < 2) throw Error("audio: stft: n_fft must be >= 2, got " + std::to_string(o.n_fft));
  if (o.hop() < 1) throw Error("audio: stft: hop_length must be >= 1");
  if (o.win() > o.n_fft || o.win() < 1) {
    throw Error("audio: stft: win_length " + std::to_string(o.win()) +
                " must be in [1, n_fft=" + std::to_string(o.n_fft) + "]");
  }
}

// Periodic Hann of win_length (scipy get_window('hann', N, fftbins=True)),
// zero-padded on both sides to n_fft as librosa's pad_center does.
std::vector<double> hann_window(const StftOptions& o) {
  const int n = o.n_fft, w = o.win();
  std::vector<double> win(static_cast<size_t>(n), 0.0);
  const int left = (n - w) / 2;
  for (int i = 0; i < w; ++i) {
    win[static_cast<size_t>(left + i)] = 0.5 - 0.5 * std::cos(2.0 * M_PI * i / w);
  }
  return win;
}

// x padded by n_fft/2 each side (centre mode) as librosa's np.pad does.
std::vector<double> padded_signal(const std::vector<float>& x, const StftOptions& o) {
  const int64_t n = static_cast<int64_t>(x.size());
  if (!o.center) return std::vector<double>(x.begin(), x.end());
  const int64_t p = o.n_fft / 2;
  std::vector<double> y(static_cast<size_t>(n + 2 * p), 0.0);
  for (int64_t i = 0; i < n; ++i) y[static_cast<size_t>(p + i)] = x[static_cast<size_t>(i)];
  if (o.pad_mode == PadMode::kReflect) {
    if (n <= p) {
      throw Error("audio: stft: reflect padding needs more than n_fft/2 = " + std::to_string(p) +
                  " samples, got " + std::to_string(n) + " (use constant padding)");
    }
    for (int64_t i = 1; i <= p; ++i) {
      y[static_cast<size_t>(p - i)] = x[static_cast<size_t>(i)];
      y[static_cast<size_t>(p + n - 1 + i)] = x[static_cast<size_t>(n - 1 - i)];
    }
  }
  return y;
}

}  // namespace

int64_t stft_frames(int64_t n, const StftOptions& o) {
  check_options(o);
  const int64_t len = o.center ? n + 2 * (o.n_fft / 2) : n;
  if (len < o.n_fft) return 0;
  return 1 + (len - o.n_fft) / o.hop();
}

Spectrum stft(const std::vector<float>& x, const StftOptions& o) {
  check_options(o);
  const std::vector<double> y = padded_signal(x, o);
  const int n_fft = o.n_fft, hop = o.hop();
  const int64_t frames = stft_frames(static_cast<int64_t>(x.size()), o);
  if (frames <= 0) {
    throw Error("audio: stft: " + std::to_string(x.size()) + " samples are fewer than n_fft=" +
                std::to_string(n_fft) + " (pass center=true or a smaller n_fft)");
  }
  const std::vector<double> win = hann_window(o);
  Spectrum s;
  s.bins = n_fft / 2 + 1;
  s.frames = frames;
  s.re.assign(static_cast<size_t>(s.bins * frames), 0.0f);
  s.im.assign(s.re.size(), 0.0f);
  auto in = fftw_array<double>(static_cast<size_t>(n_fft));
  auto out = fftw_array<fftw_complex>(static_cast<size_t>(s.bins));
  Plan plan;
  {
    std::lock_guard<std::mutex> lock(planner_mutex());
    plan.reset(fftw_plan_dft_r2c_1d(n_fft, in.get(), out.get(), FFTW_ESTIMATE));
  }
  for (int64_t t = 0; t < frames; ++t) {
    const double* src = y.data() + t * hop;
    for (int i = 0; i < n_fft; ++i) in[i] = src[i] * win[static_cast<size_t>(i)];
    fftw_execute_dft_r2c(plan.get(), in.get(), out.get());
    for (int64_t f = 0; f < s.bins; ++f) {
      s.re[static_cast<size_t>(f * frames + t)] = static_cast<float>(out[f][0]);
      s.im[static_cast<size_t>(f * frames + t)] = static_cast<float>(out[f][1]);
    }
  }
  return s;
}

std::vector<float> istft(const Spectrum& s, const StftOptions& o, int64_t length) {
  check_options(o);
  const int n_fft = o.n_fft, hop = o.hop();
  if (s.bins != n_fft / 2 + 1) {
    throw Error("audio: istft: spectrum has " + std::to_string(s.bins) + " bins but n_fft=" +
                std::to_string(n_fft) + " needs " + std::to_string(n_fft / 2 + 1));
  }
  const int64_t frames = s.frames;
  const int64_t total = n_fft + hop * (frames - 1);
  std::vector<double> y(static_cast<size_t>(std::max<int64_t>(total, 0)), 0.0);
  std::vector<double> wss(y.size(), 0.0);
  const std::vector<double> win = hann_window(o);
  auto in = fftw_array<fftw_complex>(static_cast<size_t>(s.bins));
  auto out = fftw_array<double>(static_cast<size_t>(n_fft));
  Plan plan;
  {
    std::lock_guard<std::mutex> lock(planner_mutex());
    plan.reset(fftw_plan_dft_c2r_1d(n_fft, in.get(), out.get(), FFTW_ESTIMATE));
  }
  for (int64_t t = 0; t < frames; ++t) {
    for (int64_t f = 0; f < s.bins; ++f) {
      in[f][0] = s.re[static_cast<size_t>(f * frames + t)];
      in[f][1] = s.im[static_cast<size_t>(f * frames + t)];
    }
    // numpy's irfft ignores the imaginary parts of DC and (even n) Nyquist.
    in[0][1] = 0.0;
    if (n_fft % 2 == 0) in[s.bins - 1][1] = 0.0;
    fftw_execute_dft_c2r(plan.get(), in.get(), out.get());
    double* dst = y.data() + t * hop;
    double* w = wss.data() + t * hop;
    for (int i = 0; i < n_fft; ++i) {
      const double wi = win[static_cast<size_t>(i)];
      dst[i] += out[i] / n_fft * wi;
      w[i] += wi * wi;
    }
  }
  // librosa divides where the window sum-square exceeds float32's tiny.
  const double tiny = 1.1754943508222875e-38;
  for (size_t i = 0; i < y.size(); ++i) {
    if (wss[i] > tiny) y[i] /= wss[i];
  }
  const int64_t start = o.center ? n_fft / 2 : 0;
  int64_t n = length >= 0 ? length : (o.center ? total - 2 * (n_fft / 2) : total);
  std::vector<float> r(static_cast<size_t>(std::max<int64_t>(n, 0)), 0.0f);
  for (int64_t i = 0; i < n && start + i < total; ++i) {
    r[static_cast<size_t>(i)] = static_cast<float>(y[static_cast<size_t>(start + i)]);
  }
  return r;
}

Matrix magnitude(const Spectrum& s, double power) {
  if (power <= 0) throw Error("audio: magnitude: power must be positive");
  Matrix m;
  m.rows = s.bins;
  m.cols = s.frames;
  m.data.resize(s.re.size());
  for (size_t i = 0; i < s.re.size(); ++i) {
    const double a = std::hypot(static_cast<double>(s.re[i]), static_cast<double>(s.im[i]));
    m.data[i] = static_cast<float>(power == 1.0 ? a : power == 2.0 ? a * a : std::pow(a, power));
  }
  return m;
}

// ---------------------------------------------------------------- mel ----
namespace {

double hz_to_mel(double f, bool htk) {
  if (htk) return 2595.0 * std::log10(1.0 + f / 700.0);
  // Slaney: linear below 1 kHz, logarithmic above.
  const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
  const double logstep = std::log(6.4) / 27.0;
  if (f >= min_log_hz) return min_log_mel + std::log(f / min_log_hz) / logstep;
  return f / f_sp;
}

double mel_to_hz(double m, bool htk) {
  if (htk) return 700.0 * (std::pow(10.0, m / 2595.0) - 1.0);
  const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
  const double logstep = std::log(6.4) / 27.0;
  if (m >= min_log_mel) return min_log_hz * std::exp(logstep * (m - min_log_mel));
  return f_sp * m;
}

// Rows [n_mels, bins] x cols [bins, frames] in double.
Matrix matmul(const std::vector<double>& a, int64_t rows, int64_t inner, const Matrix& b) {
  Matrix c;
  c.rows = rows;
  c.cols = b.cols;
  c.data.assign(static_cast<size_t>(rows * b.cols), 0.0f);
  std::vector<double> acc(static_cast<size_t>(b.cols));
  for (int64_t r = 0; r < rows; ++r) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t k = 0; k < inner; ++k) {
      const double w = a[static_cast<size_t>(r * inner + k)];
      if (w == 0.0) continue;
      const float* brow = b.data.data() + k * b.cols;
      for (int64_t t = 0; t < b.cols; ++t) acc[static_cast<size_t>(t)] += w * brow[t];
    }
    for (int64_t t = 0; t < b.cols; ++t) {
      c.data[static_cast<size_t>(r * b.cols + t)] = static_cast<float>(acc[static_cast<size_t>(t)]);
    }
  }
  return c;
}

std::vector<double> mel_weights(int sample_rate, int n_fft, const MelOptions& o) {
  if (sample_rate <= 0 || n_fft < 2 || o.n_mels < 1) {
    throw Error("audio: mel filterbank needs sample_rate > 0, n_fft >= 2 and n_mels >= 1");
  }
  const double fmax = o.fmax < 0 ? sample_rate / 2.0 : o.fmax;
  if (o.fmin < 0 || fmax <= o.fmin) {
    throw Error("audio: mel filterbank: need 0 <= fmin < fmax, got fmin=" + std::to_string(o.fmin) +
                " fmax=" + std::to_string(fmax));
  }
  const int bins = n_fft / 2 + 1;
  const int n = o.n_mels;
  std::vector<double> fft_freqs(static_cast<size_t>(bins));
  for (int i = 0; i < bins; ++i) {
    fft_freqs[static_cast<size_t>(i)] = static_cast<double>(i) * sample_rate / n_fft;
  }
  // n_mels + 2 edges equally spaced on the mel scale (np.linspace).
  const double lo = hz_to_mel(o.fmin, o.htk), hi = hz_to_mel(fmax, o.htk);
  std::vector<double> mel_f(static_cast<size_t>(n + 2));
  for (int i = 0; i < n + 2; ++i) {
    const double m = i == n + 1 ? hi : lo + i * ((hi - lo) / (n + 1));
    mel_f[static_cast<size_t>(i)] = mel_to_hz(m, o.htk);
  }
  std::vector<double> w(static_cast<size_t>(n) * bins, 0.0);
  for (int m = 0; m < n; ++m) {
    const double d0 = mel_f[m + 1] - mel_f[m], d1 = mel_f[m + 2] - mel_f[m + 1];
    const double enorm = o.slaney_norm ? 2.0 / (mel_f[m + 2] - mel_f[m]) : 1.0;
    for (int k = 0; k < bins; ++k) {
      const double lower = -(mel_f[m] - fft_freqs[k]) / d0;
      const double upper = (mel_f[m + 2] - fft_freqs[k]) / d1;
      // librosa stores the filterbank as float32 before normalising.
      const double v = static_cast<float>(std::max(0.0, std::min(lower, upper)));
      w[static_cast<size_t>(m) * bins + k] = static_cast<float>(v * enorm);
    }
  }
  return w;
}

}  // namespace

Matrix mel_filterbank(int sample_rate, int n_fft, const MelOptions& o) {
  std::vector<double> w = mel_weights(sample_rate, n_fft, o);
  Matrix m;
  m.rows = o.n_mels;
  m.cols = n_fft / 2 + 1;
  m.data.assign(w.begin(), w.end());
  return m;
}

Matrix melspectrogram(const std::vector<float>& x, int sample_rate, const StftOptions& so,
                      const MelOptions& mo, double power) {
  const Matrix spec = magnitude(stft(x, so), power);
  return matmul(mel_weights(sample_rate, so.n_fft, mo), mo.n_mels, spec.rows, spec);
}

Matrix power_to_db(const Matrix& s, const DbOptions& o) {
  if (o.amin <= 0) throw Error("audio: power_to_db: amin must be positive");
  double ref = o.ref;
  if (ref <= 0) {
    ref = 0.0;
    for (float v : s.data) ref = std::max(ref, static_cast<double>(v));
  }
  const double offset = 10.0 * std::log10(std::max(o.amin, ref));
  Matrix d = s;
  double peak = -INFINITY;
  std::vector<double> db(s.data.size());
  for (size_t i = 0; i < s.data.size(); ++i) {
    db[i] = 10.0 * std::log10(std::max(o.amin, static_cast<double>(s.data[i]))) - offset;
    peak = std::max(peak, db[i]);
  }
  for (size_t i = 0; i < db.size(); ++i) {
    d.data[i] = static_cast<float>(o.top_db >= 0 ? std::max(db[i], peak - o.top_db) : db[i]);
  }
  return d;
}

Matrix dct_ortho(const Matrix& log_mel, int n_mfcc) {
  const int64_t n = log_mel.rows;
  if (n_mfcc < 1 || n_mfcc > n) {
    throw Error("audio: mfcc: n_mfcc must be in [1, n_mels=" + std::to_string(n) + "], got " +
                std::to_string(n_mfcc));
  }
  // scipy.fft.dct(type=2, norm='ortho') as a [n_mfcc, n_mels] matrix.
  std::vector<double> basis(static_cast<size_t>(n_mfcc * n));
  for (int k = 0; k < n_mfcc; ++k) {
    const double scale = k == 0 ? std::sqrt(1.0 / n) : std::sqrt(2.0 / n);
    for (int64_t i = 0; i < n; ++i) {
      basis[static_cast<size_t>(k * n + i)] =
          scale * std::cos(M_PI * k * (2.0 * i + 1) / (2.0 * n));
    }
  }
  return matmul(basis, n_mfcc, n, log_mel);
}

Matrix mfcc(const std::vector<float>& x, int sample_rate, const StftOptions& so,
            const MfccOptions& o) {
  return dct_ortho(power_to_db(melspectrogram(x, sample_rate, so, o.mel, 2.0), o.db), o.n_mfcc);
}

}  // namespace cadenza::audio
