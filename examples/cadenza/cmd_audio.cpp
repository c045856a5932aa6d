// cadenza audio info|convert|features|spectrogram: the audio floor from the
// command line. Results go to stdout as JSON so scripts can read them.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "audio/audio.h"
#include "cli_checks.h"
#include "commands.h"
#include "engine/npy.h"
#include "audio/spectrogram_image.h"
#include "engine/png.h"

namespace cadenza::cli {
namespace {

using nlohmann::json;

json info_json(const std::string& path) {
  const audio::Info in = audio::info(path);
  return json{{"path", path},         {"sample_rate", in.sample_rate}, {"channels", in.channels},
              {"frames", in.frames},  {"seconds", in.seconds},         {"format", in.format},
              {"subtype", in.subtype}};
}

// A count of samples, bands, pixels: 1..2^24, as before CLI11.
CLI::Validator positive() { return integer(1, 1 << 24, "positive"); }

// A name the library parses (audio::parse_subtype, parse_quality), with its message if not.
template <class Parse>
CLI::Validator parsed_by(Parse parse, std::string shown) {
  return CLI::Validator(
      [parse](std::string& v) -> std::string {
        try {
          parse(v);
        } catch (const std::exception& e) {
          return e.what();
        }
        return "";
      },
      std::move(shown));
}

struct InfoArgs {
  std::vector<std::string> files;
};

void define_info(CLI::App& sub, InfoArgs& o) {
  sub.footer("One JSON object for one FILE, an array of them for several.\n");
  sub.add_option("FILE", o.files, "the audio files")->required()->default_str("");
}

void run_info(const InfoArgs& o) {
  json out = json::array();
  for (const auto& f : o.files) out.push_back(info_json(f));
  std::printf("%s\n", (out.size() == 1 ? out[0] : out).dump(1).c_str());
}

struct ConvertArgs {
  std::string in, out, subtype = "default", quality = "best";
  bool mono = false;
  std::optional<int> rate;
};

void define_convert(CLI::App& sub, ConvertArgs& o) {
  sub.footer("The container follows OUT's extension (.wav, .flac, .ogg).\n");
  sub.add_option("IN", o.in, "the audio file to read")->required();
  sub.add_option("OUT", o.out, "the audio file to write")->required();
  sub.add_option("--rate", o.rate, "resample to this rate (Hz)")
      ->transform(positive())
      ->default_str("that of IN");
  sub.add_flag("--mono", o.mono, "mix the channels down to one");
  sub.add_option("--subtype", o.subtype, "sample format of OUT")
      ->check(parsed_by(audio::parse_subtype, "PCM_16|PCM_24|PCM_32|FLOAT|VORBIS"));
  sub.add_option("--quality", o.quality, "resampling quality (with --rate)")
      ->check(parsed_by(audio::parse_quality, "best|medium|fastest|linear|zoh"));
}

void run_convert(const ConvertArgs& o) {
  audio::Buffer b = audio::load(o.in);
  if (o.mono) b = audio::to_mono(b);
  if (o.rate) b = audio::resample(b, *o.rate, audio::parse_quality(o.quality));
  audio::SaveOptions so;
  so.subtype = audio::parse_subtype(o.subtype);
  audio::save(o.out, b, so);
  std::printf("%s\n", json{{"in", info_json(o.in)}, {"out", info_json(o.out)}}.dump(1).c_str());
}

// FILE, --out and the STFT and mel options that features and spectrogram share.
struct SpectralArgs {
  std::string file, out;
  std::optional<int> rate;
  audio::StftOptions stft;
  audio::MelOptions mel;
};

void define_spectral(CLI::App& sub, SpectralArgs& o, const std::string& out_help) {
  sub.add_option("FILE", o.file, "the audio file (its mono mix is used)")->required();
  sub.add_option("--out", o.out, out_help)->required();
  sub.add_option("--rate", o.rate, "resample to this rate (Hz) first")
      ->transform(positive())
      ->default_str("the file's rate");
  sub.add_option("--n-fft", o.stft.n_fft, "FFT size (samples)")->transform(positive());
  sub.add_option("--hop", o.stft.hop_length, "hop between frames (samples)")
      ->transform(positive())
      ->default_str("N_FFT/4");
  sub.add_option("--n-mels", o.mel.n_mels, "mel bands")->transform(positive());
  sub.add_option("--fmin", o.mel.fmin, "lowest frequency of the mel bands (Hz)")
      ->check(non_negative_number());
  sub.add_option("--fmax", o.mel.fmax, "highest frequency of the mel bands (Hz)")
      ->check(positive_number())
      ->default_str("RATE/2");
  sub.add_flag("--htk", o.mel.htk, "HTK's mel scale instead of Slaney's");
}

// The mono mix of FILE at --rate (default: the file's own rate).
audio::Buffer load_mono(const SpectralArgs& o) {
  if (o.stft.hop() <= 0) {
    throw UsageError("--hop defaults to N_FFT/4, which is 0 for --n-fft " +
                     std::to_string(o.stft.n_fft) + "; give --hop");
  }
  audio::Buffer b = audio::to_mono(audio::load(o.file));
  if (o.rate) b = audio::resample(b, *o.rate);
  return b;
}

struct FeaturesArgs : SpectralArgs {
  std::string kind;
  int n_mfcc = 20;
  bool db = false, reflect = false;
};

void define_features(CLI::App& sub, FeaturesArgs& o) {
  sub.footer(
      "Writes a float32 [features, frames] .npy of the mono mix: STFT magnitude,\n"
      "mel power (--db: in dB) or MFCC.\n");
  define_spectral(sub, o, "the .npy file to write");
  sub.add_option("--kind", o.kind, "which features")
      ->required()
      ->check(one_of({"stft", "mel", "mfcc"}));
  sub.add_option("--win", o.stft.win_length, "window length (samples)")
      ->transform(positive())
      ->default_str("N_FFT");
  sub.add_option("--n-mfcc", o.n_mfcc, "MFCC coefficients")->transform(positive());
  sub.add_flag("--db", o.db, "stft, mel: in dB");
  sub.add_flag("--reflect", o.reflect, "pad the signal by reflection, not zeros");
}

void run_features(const FeaturesArgs& o) {
  const audio::Buffer b = load_mono(o);
  audio::StftOptions so = o.stft;
  so.pad_mode = o.reflect ? audio::PadMode::kReflect : audio::PadMode::kConstant;
  audio::Matrix m;
  if (o.kind == "stft") {
    m = audio::magnitude(audio::stft(b.data, so), o.db ? 2.0 : 1.0);
    if (o.db) m = audio::power_to_db(m);
  } else if (o.kind == "mel") {
    m = audio::melspectrogram(b.data, b.sample_rate, so, o.mel);
    if (o.db) m = audio::power_to_db(m);
  } else {
    audio::MfccOptions mo;
    mo.mel = o.mel;
    mo.n_mfcc = o.n_mfcc;
    m = audio::mfcc(b.data, b.sample_rate, so, mo);
  }
  npy::save(o.out, m.data, {m.rows, m.cols});
  std::printf("%s\n", json{{"path", o.file},
                           {"kind", o.kind},
                           {"sample_rate", b.sample_rate},
                           {"n_fft", so.n_fft},
                           {"hop", so.hop()},
                           {"shape", {m.rows, m.cols}},
                           {"out", o.out}}
                          .dump(1)
                          .c_str());
}

struct SpectrogramArgs : SpectralArgs {
  int width = 1200;
};

void define_spectrogram(CLI::App& sub, SpectrogramArgs& o) {
  define_spectral(sub, o, "the .png file to write");
  sub.add_option("--width", o.width, "at most this many columns (frames are averaged)")
      ->transform(positive());
}

void run_spectrogram(const SpectrogramArgs& o) {
  const audio::Buffer b = load_mono(o);
  audio::DbOptions db;
  db.ref = 0.0;  // relative to the loudest bin: 0 dB at the top of the colour ramp
  const audio::Matrix m =
      audio::power_to_db(audio::melspectrogram(b.data, b.sample_rate, o.stft, o.mel), db);
  const png::Image img = audio::spectrogram_image(m, b.seconds(), o.width);
  png::save(o.out, img);
  std::printf("%s\n", json{{"path", o.file},
                           {"out", o.out},
                           {"sample_rate", b.sample_rate},
                           {"seconds", b.seconds()},
                           {"n_mels", o.mel.n_mels},
                           {"frames", m.cols},
                           {"width", img.width},
                           {"height", img.height}}
                          .dump(1)
                          .c_str());
}

}  // namespace

void add_audio_command(CLI::App& root) {
  CLI::App* audio = add_group(root, "audio", "audio files: info, convert, features, spectrogram");
  add_command(*audio, "info", "rate, channels, frames, seconds, format (JSON)", define_info,
              run_info);
  add_command(*audio, "convert", "re-encode an audio file", define_convert, run_convert);
  add_command(*audio, "features", "STFT, mel or MFCC features (.npy)", define_features,
              run_features);
  add_command(*audio, "spectrogram", "a log-mel picture with a time axis (.png)",
              define_spectrogram, run_spectrogram);
}

}  // namespace cadenza::cli
