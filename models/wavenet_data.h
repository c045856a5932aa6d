#pragma once
// WaveNet's data: a folder of audio files that libsndfile reads, mono at the
// model's rate and mu-law encoded, split into training and held-out clips by
// a hash of each file's path (never by crop, so no held-out sample was heard
// in training); the class of a file is the first folder under the root it
// lies in; the vocoder's log-mel features are computed once per clip and
// cached. Broken, silent or too-short files are skipped and counted.
#include <cstdint>
#include <string>
#include <vector>

#include "audio/audio.h"
#include "engine/random.h"
#include "engine/tensor.h"
#include "models/wavenet.h"

namespace cadenza::models {

struct WaveClip {
  std::string path;
  std::vector<int32_t> ids;  // mu-law classes, one per sample
  int64_t label = 0;         // class id (the first folder under the root)
  audio::Matrix mel;         // [n_mels, frames] log-mel, when the model is a vocoder
  // The cache entries this clip was read from or written to (empty without
  // a cache): the decoded, trimmed audio as a float WAV, and its mel .npy.
  std::string audio_cache, mel_cache;
};

struct WaveCorpus {
  std::string root;
  std::vector<WaveClip> train, valid;
  std::vector<std::string> class_names;  // sorted; "." for files directly in the root
  std::string report;                    // what was kept and dropped, per reason
};

struct WaveCorpusOptions {
  double valid_fraction = 0.1;  // by file; at least one file is held out when there are two
  int64_t min_samples = 0;      // shorter clips are dropped as too short
  std::string cache_dir;        // decoded audio and mel features (empty: none)
};

// Reads `root` for a model of config `cfg` (its sample_rate, quantize and,
// with cin_channels > 0, its mel settings). Throws Error naming the folder
// when nothing is usable.
WaveCorpus load_wave_corpus(const std::string& root, const WaveNetConfig& cfg, const WaveCorpusOptions& o);

// The corpus as a run sees it, for other programs (PyTorch's twin in
// benchmarks/pytorch_wavenet_train.py reads it to train the same model on
// the same data): the root, the model's config (as in its checkpoints), and
// per clip of each split its source path, label, sample count and cache
// entries. Written by `cadenza train wavenet` as RUN/corpus.json.
std::string corpus_json(const WaveCorpus& corpus, const WaveNetConfig& cfg);

// Audio files (not folders) as held-out clips, for evaluation.
std::vector<WaveClip> load_wave_files(const std::vector<std::string>& paths, const WaveNetConfig& cfg);

// The vocoder's features of mono audio at cfg.sample_rate: log(max(mel, 1e-5))
// with cfg's n_fft, hop_length, n_mels, fmin and fmax (librosa's centred
// frames). -> [n_mels, frames]
audio::Matrix wavenet_mel(const std::vector<float>& audio, const WaveNetConfig& cfg);

// How far a resynthesis is from its original: the mean absolute difference
// of their wavenet_mel features (natural-log mel power) over the frames of
// the shorter of the two. Throws Error when either is shorter than a frame.
double log_mel_distance(const std::vector<float>& original, const std::vector<float>& resynthesis,
                        const WaveNetConfig& cfg);

// A mel saved as .npy (float32 [n_mels, frames]) for a model of config
// `cfg`; OptionError("mel") naming the file, its shape and the model's
// n_mels and hop when it does not fit.
audio::Matrix load_mel_npy(const std::string& path, const WaveNetConfig& cfg);

// A batch of crops of `length` + 1 samples (input and next-sample target),
// starting on a hop boundary so the mel frames line up.
struct WaveBatch {
  Tensor x;        // i64 [B, length]
  Tensor target;   // i64 [B, length]
  Tensor mel;      // f32 [B, n_mels, frames] (vocoder) or undefined
  Tensor classes;  // i64 [B] (class-conditioned) or undefined
};
// Crop starts drawn from `gen` over every position of every clip long
// enough (long clips are drawn more often). Throws Error when no clip is.
// All `batch` starts are drawn; rows [first, first + count) are made (count
// < 0: to the end), so data-parallel ranks drawing one global batch from
// generators in the same state each make their own slice of it.
WaveBatch random_wave_batch(const std::vector<WaveClip>& clips, const WaveNetConfig& cfg, int64_t batch,
                            int64_t length, Generator& gen, int64_t first = 0, int64_t count = -1);
// The crop of `clip` starting at `start` (a multiple of the hop), as a batch of one.
WaveBatch wave_crop(const WaveClip& clip, const WaveNetConfig& cfg, int64_t start, int64_t length);

// Bits per sample of the held-out clips under the training clips' mu-law
// class frequencies (add-one smoothed): the baseline a model must beat.
double unigram_bits(const WaveCorpus& data, int64_t quantize);

// The corpus WaveNet trains on when given none: Debian's openttd-openmsx
// MIDI files rendered through FluidSynth, mono at `sample_rate`, written
// once under `cache_dir` and reused. Returns the folder.
std::string default_wave_corpus(const std::string& cache_dir, int sample_rate);

}  // namespace cadenza::models
