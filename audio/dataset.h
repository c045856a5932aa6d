#pragma once
// A directory of audio files as training data for raw-audio models (WaveNet):
// every file mono at one rate, optionally trimmed of leading/trailing
// silence, cached on disk after the first decode, and sampled as random crops
// of N samples plus the model's receptive field, reproducibly from a seed.
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "audio/audio.h"

namespace cadenza::audio {

struct DatasetOptions {
  int sample_rate = 16000;
  Quality quality = Quality::kSincMedium;
  double trim_db = -1.0;   // < 0: keep silence; else trim_silence(top_db = trim_db)
  int64_t min_frames = 1;  // shorter clips (after trimming) are dropped as "too_short"
  std::string cache_dir;   // empty: no cache
  // Lower-case extensions that are tried; other files are not counted.
  std::vector<std::string> extensions = {".wav", ".flac", ".ogg", ".oga", ".aiff",
                                         ".aif", ".au",   ".w64", ".caf", ".mp3"};
};

// What became of each file found.
struct DatasetSummary {
  int64_t found = 0;
  int64_t kept = 0;
  int64_t cache_hits = 0;
  int64_t frames_kept = 0;
  double seconds_kept = 0.0;
  std::map<std::string, int64_t> dropped;  // reason -> count: unreadable, too_short, silent
  std::vector<std::pair<std::string, std::string>> dropped_files;  // path, reason: message
  std::string to_string() const;                                   // one line per reason, for logs
};

class AudioDataset {
 public:
  // Scans `root` recursively (sorted, so the order never depends on the file
  // system). Throws Error if root is not a directory or nothing is kept.
  AudioDataset(const std::string& root, const DatasetOptions& options);

  size_t size() const { return clips_.size(); }
  int sample_rate() const { return options_.sample_rate; }
  const std::vector<float>& clip(size_t i) const { return clips_.at(i); }
  const std::string& path(size_t i) const { return paths_.at(i); }
  const DatasetSummary& summary() const { return summary_; }

  // -> [batch, length + receptive_field] row-major. Each crop is a uniformly
  // chosen window among all windows of every clip long enough (so long files
  // are drawn more often than short ones). Throws Error if no clip is long
  // enough.
  std::vector<float> random_crops(int64_t batch, int64_t length, int64_t receptive_field,
                                  std::mt19937_64& rng) const;
  std::vector<float> random_crops(int64_t batch, int64_t length, int64_t receptive_field,
                                  uint64_t seed) const;

 private:
  DatasetOptions options_;
  std::vector<std::string> paths_;
  std::vector<std::vector<float>> clips_;
  DatasetSummary summary_;
};

// Where the cache (options.cache_dir, which must be set) keeps `path`
// decoded, resampled and trimmed: a mono float WAV named by a hash of the
// path, its size and mtime, the rate, the resampler quality and trim_db.
std::string cache_file(const std::string& path, const DatasetOptions& options);

// Decodes `path` to mono at `sample_rate` (and trims when trim_db >= 0),
// through the cache when options.cache_dir is set. `hit` reports a cache hit.
std::vector<float> load_mono(const std::string& path, const DatasetOptions& options,
                             bool* hit = nullptr);

}  // namespace cadenza::audio
