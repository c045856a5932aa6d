#pragma once
// cadenza's audio floor: file I/O through libsndfile, resampling through
// libsamplerate, mu-law companding (torchaudio's formulas), and the spectral
// front end (STFT, mel, MFCC) that matches librosa's defaults.
//
// Everything here works on plain std::vector<float> so that it can be tested
// and fuzzed without the engine; audio/audio_tensor.h converts to Tensor.
// Multi-channel audio is planar: channel c, frame i is data[c * frames() + i],
// which is the row-major layout of a [channels, frames] tensor.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace cadenza::audio {

// Every failure of the audio floor: unreadable files, bad parameters. The
// message names the file (when there is one) and what to do about it.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Audio in memory: float samples in [-1, 1], planar [channels, frames].
struct Buffer {
  int sample_rate = 0;
  int channels = 0;
  std::vector<float> data;

  int64_t frames() const { return channels > 0 ? static_cast<int64_t>(data.size()) / channels : 0; }
  double seconds() const {
    return sample_rate > 0 ? static_cast<double>(frames()) / sample_rate : 0.0;
  }
  float* channel(int c) { return data.data() + static_cast<size_t>(c) * frames(); }
  const float* channel(int c) const { return data.data() + static_cast<size_t>(c) * frames(); }
};

// ---------------------------------------------------------------- I/O ----

// What a file holds, read from its header only.
struct Info {
  int sample_rate = 0;
  int channels = 0;
  int64_t frames = 0;    // -1 when the file does not say (a truncated Ogg stream)
  double seconds = 0.0;  // -1 likewise
  std::string format;    // "WAV", "FLAC", "OGG", ... (libsndfile's major format)
  std::string subtype;   // "PCM_16", "PCM_24", "FLOAT", "VORBIS", ...
};

// Sample encodings for save(). Default: PCM_16 for .wav and .flac, VORBIS for .ogg.
enum class Subtype { kDefault, kPcm16, kPcm24, kPcm32, kFloat, kVorbis };

struct SaveOptions {
  Subtype subtype = Subtype::kDefault;
  double vorbis_quality = 0.7;  // 0 (smallest) .. 1 (best), .ogg only
};

// Parses "PCM_16", "PCM_24", "PCM_32", "FLOAT", "VORBIS" (case-insensitive).
Subtype parse_subtype(const std::string& name);

// Reads the header of an audio file. Throws Error for anything libsndfile
// cannot open, naming the file and quoting libsndfile's message.
Info info(const std::string& path);

// Loads a whole file as float32 [channels, frames] in [-1, 1]. Throws Error
// for a missing, empty, truncated or non-audio file and for zero frames.
Buffer load(const std::string& path);

// Same, from bytes in memory (`name` is used in error messages). Used by the
// fuzz target and by callers that already hold the file.
Buffer load_memory(const void* bytes, size_t size, const std::string& name = "<memory>");

// Writes `b`; the container comes from the extension (.wav, .flac, .ogg).
// Samples outside [-1, 1] are clipped rather than wrapped around.
void save(const std::string& path, const Buffer& b, const SaveOptions& options = {});

// [C, T] -> [1, T]: the mean of the channels.
Buffer to_mono(const Buffer& b);

// --------------------------------------------------------- resampling ----

// libsamplerate's converters, best (slowest) first.
enum class Quality { kSincBest, kSincMedium, kSincFastest, kZeroOrderHold, kLinear };

// Parses "best", "medium", "fastest", "zoh", "linear" (also the sinc_* names).
Quality parse_quality(const std::string& name);

// x: [T] at from_rate -> [round(T * to_rate / from_rate)] at to_rate.
std::vector<float> resample(const std::vector<float>& x, int from_rate, int to_rate,
                            Quality quality = Quality::kSincBest);

// b: [C, T] -> [C, T'] at `rate`, each channel separately. Same rate: a copy.
Buffer resample(const Buffer& b, int rate, Quality quality = Quality::kSincBest);

// ------------------------------------------------------------- mu-law ----

// x: [T] floats in [-1, 1] -> [T] classes in [0, quantization_channels).
// Identical to torchaudio.transforms.MuLawEncoding (mu = channels - 1).
std::vector<int32_t> mu_law_encode(const std::vector<float>& x, int quantization_channels = 256);

// q: [T] classes -> [T] floats in [-1, 1]; torchaudio.transforms.MuLawDecoding.
std::vector<float> mu_law_decode(const std::vector<int32_t>& q, int quantization_channels = 256);

// ----------------------------------------------------- spectral front end ----
// Defaults are librosa's (0.10): n_fft 2048, hop n_fft/4, win n_fft, Hann
// (periodic), centre padding with zeros ("constant"; librosa < 0.10 used
// "reflect", selectable below).

enum class PadMode { kConstant, kReflect };

struct StftOptions {
  int n_fft = 2048;
  int hop_length = 0;  // 0: n_fft / 4
  int win_length = 0;  // 0: n_fft; a shorter Hann window is zero-padded to n_fft, centred
  bool center = true;
  PadMode pad_mode = PadMode::kConstant;

  int hop() const { return hop_length > 0 ? hop_length : n_fft / 4; }
  int win() const { return win_length > 0 ? win_length : n_fft; }
};

// A complex spectrogram, [bins, frames] row-major, bins = n_fft / 2 + 1.
struct Spectrum {
  int64_t bins = 0;
  int64_t frames = 0;
  std::vector<float> re, im;  // each bins * frames, element (f, t) at f * frames + t
};

// Row-major [rows, cols] float matrix: features, filterbanks.
struct Matrix {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<float> data;
  float at(int64_t r, int64_t c) const { return data[static_cast<size_t>(r * cols + c)]; }
};

// Number of STFT frames for `n` samples.
int64_t stft_frames(int64_t n, const StftOptions& o);

// x: [T] -> [n_fft/2+1, frames], librosa.stft.
Spectrum stft(const std::vector<float>& x, const StftOptions& o = {});

// S: [n_fft/2+1, frames] -> [T]; librosa.istft (window-sum-square normalised).
// length < 0: the natural length (frames - 1) * hop, else trimmed/zero-padded.
std::vector<float> istft(const Spectrum& s, const StftOptions& o = {}, int64_t length = -1);

// S -> |S|^power, [bins, frames]; power 1 magnitude, 2 power spectrogram.
Matrix magnitude(const Spectrum& s, double power = 1.0);

struct MelOptions {
  int n_mels = 128;
  double fmin = 0.0;
  double fmax = -1.0;       // < 0: sample_rate / 2
  bool htk = false;         // false: Slaney's scale (librosa's default)
  bool slaney_norm = true;  // divide each triangle by its width (area ~ 1)
};

// -> [n_mels, n_fft/2+1], librosa.filters.mel.
Matrix mel_filterbank(int sample_rate, int n_fft, const MelOptions& o = {});

// x: [T] -> [n_mels, frames], librosa.feature.melspectrogram (power 2).
Matrix melspectrogram(const std::vector<float>& x, int sample_rate, const StftOptions& so = {},
                      const MelOptions& mo = {}, double power = 2.0);

struct DbOptions {
  double ref = 1.0;  // <= 0: use the maximum of the input (librosa's ref=np.max)
  double amin = 1e-10;
  double top_db = 80.0;  // < 0: no floor
};

// S: any shape -> 10 log10(max(amin, S) / ref), floored top_db under the peak.
Matrix power_to_db(const Matrix& s, const DbOptions& o = {});

struct MfccOptions {
  int n_mfcc = 20;
  MelOptions mel;
  DbOptions db;
};

// x: [T] -> [n_mfcc, frames], librosa.feature.mfcc (DCT-II, orthonormal).
Matrix mfcc(const std::vector<float>& x, int sample_rate, const StftOptions& so = {},
            const MfccOptions& o = {});

// log-mel: [n_mels, frames] -> [n_mfcc, frames], DCT-II ortho along rows.
Matrix dct_ortho(const Matrix& log_mel, int n_mfcc);

// ------------------------------------------------------------ silence ----

// [start, end) of the non-silent part of x: frames whose RMS is within top_db
// of the loudest frame, as librosa.effects.trim (centred constant-padded
// frames). All silent: {0, 0}.
std::pair<int64_t, int64_t> trim_silence(const std::vector<float>& x, double top_db = 60.0,
                                         int frame_length = 2048, int hop_length = 512);

}  // namespace cadenza::audio
