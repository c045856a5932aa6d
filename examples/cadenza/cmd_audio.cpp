// cadenza audio info|convert|features|spectrogram: the audio floor from the
// command line. Results go to stdout as JSON so scripts can read them.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "args.h"
#include "audio/audio.h"
#include "commands.h"
#include "engine/npy.h"
#include "engine/png.h"

namespace cadenza::cli {
namespace {

using nlohmann::json;

const char* kAudioUsage =
    "usage: cadenza audio SUBCOMMAND ...\n"
    "\n"
    "  info FILE...                         JSON: rate, channels, frames, seconds, format\n"
    "  convert IN OUT [--rate R] [--mono] [--subtype PCM_16|PCM_24|PCM_32|FLOAT]\n"
    "                 [--quality best|medium|fastest|linear|zoh]\n"
    "                                       re-encode; the container follows OUT's extension\n"
    "                                       (.wav, .flac, .ogg)\n"
    "  features FILE --kind stft|mel|mfcc --out X.npy [--rate R] [--n-fft 2048]\n"
    "                [--hop N_FFT/4] [--win N_FFT] [--n-mels 128] [--n-mfcc 20]\n"
    "                [--fmin 0] [--fmax RATE/2] [--htk] [--db] [--reflect]\n"
    "                                       float32 [features, frames] .npy of the mono mix:\n"
    "                                       stft magnitude, mel power (--db: in dB), MFCC\n"
    "  spectrogram FILE --out SPEC.png [--rate R] [--n-fft 2048] [--hop 512]\n"
    "              [--n-mels 128] [--width 1200]\n"
    "                                       log-mel picture with a time axis\n";

json info_json(const std::string& path) {
  const audio::Info in = audio::info(path);
  return json{{"path", path},         {"sample_rate", in.sample_rate}, {"channels", in.channels},
              {"frames", in.frames},  {"seconds", in.seconds},         {"format", in.format},
              {"subtype", in.subtype}};
}

int positive(const Args& a, const std::string& flag, int64_t fallback) {
  const int64_t v = a.get_int(flag, fallback);
  if (v <= 0 || v > (1 << 24)) {
    throw UsageError("--" + flag + " must be a positive integer, got " + std::to_string(v));
  }
  return static_cast<int>(v);
}

// The mono mix of FILE at --rate (default: the file's own rate).
audio::Buffer load_mono(const std::string& path, const Args& a) {
  audio::Buffer b = audio::to_mono(audio::load(path));
  if (a.has("rate")) b = audio::resample(b, positive(a, "rate", 0));
  return b;
}

audio::StftOptions stft_options(const Args& a) {
  audio::StftOptions o;
  o.n_fft = positive(a, "n-fft", 2048);
  o.hop_length = positive(a, "hop", o.n_fft / 4);
  o.win_length = positive(a, "win", o.n_fft);
  o.pad_mode = a.has("reflect") ? audio::PadMode::kReflect : audio::PadMode::kConstant;
  return o;
}

audio::MelOptions mel_options(const Args& a, int rate) {
  audio::MelOptions o;
  o.n_mels = positive(a, "n-mels", 128);
  o.fmin = a.get_double("fmin", 0.0);
  o.fmax = a.get_double("fmax", rate / 2.0);
  o.htk = a.has("htk");
  return o;
}

int cmd_info(const Args& a) {
  a.allow_only({});
  if (a.positional().size() < 2) throw UsageError("info needs at least one FILE");
  json out = json::array();
  for (size_t i = 1; i < a.positional().size(); ++i) out.push_back(info_json(a.positional()[i]));
  std::printf("%s\n", (out.size() == 1 ? out[0] : out).dump(1).c_str());
  return 0;
}

int cmd_convert(const Args& a) {
  a.allow_only({"rate", "mono", "subtype", "quality"});
  const std::string in = a.positional_at(1, "IN");
  const std::string out = a.positional_at(2, "OUT");
  audio::Buffer b = audio::load(in);
  if (a.has("mono")) b = audio::to_mono(b);
  if (a.has("rate")) {
    b = audio::resample(b, positive(a, "rate", 0), audio::parse_quality(a.get("quality", "best")));
  }
  audio::SaveOptions so;
  so.subtype = audio::parse_subtype(a.get("subtype", "default"));
  audio::save(out, b, so);
  std::printf("%s\n", json{{"in", info_json(in)}, {"out", info_json(out)}}.dump(1).c_str());
  return 0;
}

int cmd_features(const Args& a) {
  a.allow_only({"kind", "out", "rate", "n-fft", "hop", "win", "n-mels", "n-mfcc", "fmin", "fmax",
                "htk", "db", "reflect"});
  const std::string path = a.positional_at(1, "FILE");
  const std::string kind = a.require("kind");
  const std::string out = a.require("out");
  const audio::Buffer b = load_mono(path, a);
  const audio::StftOptions so = stft_options(a);
  audio::Matrix m;
  if (kind == "stft") {
    m = audio::magnitude(audio::stft(b.data, so), a.has("db") ? 2.0 : 1.0);
    if (a.has("db")) m = audio::power_to_db(m);
  } else if (kind == "mel") {
    m = audio::melspectrogram(b.data, b.sample_rate, so, mel_options(a, b.sample_rate));
    if (a.has("db")) m = audio::power_to_db(m);
  } else if (kind == "mfcc") {
    audio::MfccOptions mo;
    mo.mel = mel_options(a, b.sample_rate);
    mo.n_mfcc = positive(a, "n-mfcc", 20);
    m = audio::mfcc(b.data, b.sample_rate, so, mo);
  } else {
    throw UsageError("--kind must be stft, mel or mfcc, got '" + kind + "'");
  }
  npy::save(out, m.data, {m.rows, m.cols});
  std::printf("%s\n", json{{"path", path},
                           {"kind", kind},
                           {"sample_rate", b.sample_rate},
                           {"n_fft", so.n_fft},
                           {"hop", so.hop()},
                           {"shape", {m.rows, m.cols}},
                           {"out", out}}
                          .dump(1)
                          .c_str());
  return 0;
}

// A tick spacing (seconds) that puts ticks at least `min_px` apart.
double tick_step(double seconds_per_px, int min_px) {
  for (double s :
       {0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0}) {
    if (s / seconds_per_px >= min_px) return s;
  }
  return 3600.0;
}

// Minutes when the ticks fall on whole minutes, else seconds, never mixed.
std::string tick_label(double t, double step) {
  char buf[32];
  if (std::fmod(step, 60.0) == 0.0) {
    std::snprintf(buf, sizeof(buf), "%dm", static_cast<int>(std::lround(t / 60)));
  } else if (step >= 1.0) {
    std::snprintf(buf, sizeof(buf), "%ds", static_cast<int>(std::lround(t)));
  } else {
    std::snprintf(buf, sizeof(buf), "%.2fs", t);
  }
  return buf;
}

int cmd_spectrogram(const Args& a) {
  a.allow_only({"out", "rate", "n-fft", "hop", "n-mels", "width", "fmin", "fmax", "htk"});
  const std::string path = a.positional_at(1, "FILE");
  const std::string out = a.require("out");
  const audio::Buffer b = load_mono(path, a);
  audio::StftOptions so;
  so.n_fft = positive(a, "n-fft", 2048);
  so.hop_length = positive(a, "hop", so.n_fft / 4);
  const audio::MelOptions mo = mel_options(a, b.sample_rate);
  audio::DbOptions db;
  db.ref = 0.0;  // relative to the loudest bin: 0 dB at the top of the colour ramp
  const audio::Matrix m =
      audio::power_to_db(audio::melspectrogram(b.data, b.sample_rate, so, mo), db);
  // Long recordings are squeezed by averaging frames into columns.
  const int max_width = positive(a, "width", 1200);
  const int cols = static_cast<int>(std::min<int64_t>(m.cols, max_width));
  const int row_px = std::max(1, 256 / mo.n_mels);
  const int plot_h = static_cast<int>(m.rows) * row_px;
  const int left = 30, right = 10, top = 14, bottom = 22;
  png::Image img(left + cols + right, top + plot_h + bottom);
  img.text(left, 3, "log-mel db");
  img.text(2, top + plot_h / 2, "mel");
  for (int x = 0; x < cols; ++x) {
    const int64_t f0 = x * m.cols / cols, f1 = std::max(f0 + 1, (x + 1) * m.cols / cols);
    for (int64_t r = 0; r < m.rows; ++r) {
      double v = 0.0;
      for (int64_t f = f0; f < f1; ++f) v += m.at(r, f);
      v = (v / static_cast<double>(f1 - f0) + 80.0) / 80.0;  // [-80, 0] dB -> [0, 1]
      uint8_t cr, cg, cb;
      png::colormap(std::clamp(v, 0.0, 1.0), cr, cg, cb);
      const int y0 = top + plot_h - static_cast<int>(r + 1) * row_px;  // low bands at the bottom
      img.fill_rect(left + x, y0, left + x + 1, y0 + row_px, cr, cg, cb);
    }
  }
  // Time axis: a frame is hop samples; a column spans m.cols / cols frames.
  const int axis_y = top + plot_h;
  img.line(left, axis_y, left + cols - 1, axis_y, 0, 0, 0);
  const double seconds = b.seconds();
  const double sec_per_px = seconds / std::max(1, cols);
  const double step = tick_step(std::max(sec_per_px, 1e-9), 60);
  for (int k = 0; k * step <= seconds + 1e-9; ++k) {
    const double t = k * step;  // by index, so float steps do not drift
    const int x = left + static_cast<int>(std::lround(t / sec_per_px));
    if (x >= left + cols) break;
    img.line(x, axis_y, x, axis_y + 4, 0, 0, 0);
    img.text(x - 2, axis_y + 7, tick_label(t, step));
  }
  png::save(out, img);
  std::printf("%s\n", json{{"path", path},
                           {"out", out},
                           {"sample_rate", b.sample_rate},
                           {"seconds", seconds},
                           {"n_mels", mo.n_mels},
                           {"frames", m.cols},
                           {"width", img.width},
                           {"height", img.height}}
                          .dump(1)
                          .c_str());
  return 0;
}

}  // namespace

int cmd_audio(int argc, char** argv) {
  const Args a(argc, argv, 2, {"mono", "htk", "db", "reflect", "help"});
  if (a.has("help") || a.positional().empty()) {
    std::fputs(kAudioUsage, a.has("help") ? stdout : stderr);
    return a.has("help") ? 0 : 2;
  }
  const std::string sub = a.positional()[0];
  if (sub == "info") return cmd_info(a);
  if (sub == "convert") return cmd_convert(a);
  if (sub == "features") return cmd_features(a);
  if (sub == "spectrogram") return cmd_spectrogram(a);
  throw UsageError("unknown audio subcommand '" + sub + "' (info, convert, features, spectrogram)");
}

}  // namespace cadenza::cli
