// Audio datasets and silence trimming. The cache holds each decoded,
// resampled, trimmed clip as a mono float WAV named by a hash of everything
// that shaped it (path, size, mtime, rate, quality, trim), so changing an
// option or touching a file never serves stale audio.
#include "audio/dataset.h"

#include "engine/file_io.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

namespace cadenza::audio {
namespace fs = std::filesystem;

std::pair<int64_t, int64_t> trim_silence(const std::vector<float>& x, double top_db,
                                         int frame_length, int hop_length) {
  if (frame_length < 1 || hop_length < 1) {
    throw Error("audio: trim_silence: frame_length and hop_length must be >= 1");
  }
  const auto n = static_cast<int64_t>(x.size());
  if (n == 0) return {0, 0};
  // librosa.feature.rms(center=True): zero padding of frame_length/2 each side.
  const int64_t pad = frame_length / 2;
  const int64_t padded = n + 2 * pad;
  if (padded < frame_length) return {0, 0};
  const int64_t frames = 1 + (padded - frame_length) / hop_length;
  std::vector<double> ms(static_cast<size_t>(frames), 0.0);
  for (int64_t t = 0; t < frames; ++t) {
    double s = 0.0;
    for (int64_t i = 0; i < frame_length; ++i) {
      const int64_t j = t * hop_length + i - pad;
      if (j >= 0 && j < n) s += static_cast<double>(x[j]) * x[j];
    }
    ms[static_cast<size_t>(t)] = s / frame_length;
  }
  // amplitude_to_db(rms, ref=max, amin=1e-5) == power_to_db(ms, ref=max ms, amin=1e-10).
  const double peak = *std::max_element(ms.begin(), ms.end());
  const double ref_db = 10.0 * std::log10(std::max(1e-10, peak));
  int64_t first = -1, last = -1;
  for (int64_t t = 0; t < frames; ++t) {
    const double db = 10.0 * std::log10(std::max(1e-10, ms[static_cast<size_t>(t)])) - ref_db;
    if (db > -top_db) {
      if (first < 0) first = t;
      last = t;
    }
  }
  if (first < 0) return {0, 0};
  return {first * hop_length, std::min(n, (last + 1) * hop_length)};
}

std::string cache_file(const std::string& path, const DatasetOptions& o) {
  std::error_code ec;
  const fs::path abs = fs::absolute(path, ec);
  const auto size = fs::file_size(path, ec);
  const auto mtime = fs::last_write_time(path, ec).time_since_epoch().count();
  std::ostringstream key;
  key << "v1|" << abs.string() << '|' << size << '|' << mtime << '|' << o.sample_rate << '|'
      << static_cast<int>(o.quality) << '|' << o.trim_db;
  char name[32];
  std::snprintf(name, sizeof(name), "%016llx.wav",
                static_cast<unsigned long long>(fnv1a64(key.str())));
  return (fs::path(o.cache_dir) / name).string();
}

namespace {

// Uniform in [0, n) from the raw 64-bit stream; std::uniform_int_distribution
// differs between standard libraries, and crops must not.
uint64_t below(std::mt19937_64& rng, uint64_t n) {
  const uint64_t threshold = (0 - n) % n;
  for (;;) {
    const uint64_t r = rng();
    if (r >= threshold) return r % n;
  }
}

}  // namespace

std::vector<float> load_mono(const std::string& path, const DatasetOptions& o, bool* hit) {
  if (hit) *hit = false;
  std::string cached;
  if (!o.cache_dir.empty()) {
    cached = cache_file(path, o);
    std::error_code ec;
    if (fs::exists(cached, ec)) {
      try {
        Buffer b = load(cached);
        if (b.channels == 1 && b.sample_rate == o.sample_rate) {
          if (hit) *hit = true;
          return std::move(b.data);
        }
      } catch (const Error&) {
        // A damaged cache entry is rebuilt from the source below.
      }
    }
  }
  Buffer b = resample(to_mono(load(path)), o.sample_rate, o.quality);
  std::vector<float> x = std::move(b.data);
  if (o.trim_db >= 0) {
    const auto [start, end] = trim_silence(x, o.trim_db);
    x = std::vector<float>(x.begin() + start, x.begin() + end);
  }
  if (!cached.empty() && !x.empty()) {
    std::error_code ec;
    fs::create_directories(o.cache_dir, ec);
    Buffer out;
    out.sample_rate = o.sample_rate;
    out.channels = 1;
    out.data = x;
    save(cached, out, SaveOptions{Subtype::kFloat});
  }
  return x;
}

AudioDataset::AudioDataset(const std::string& root, const DatasetOptions& options)
    : options_(options) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    throw Error("audio: dataset root '" + root + "' is not a directory");
  }
  // A cache inside the root holds WAVs too; they must not become data.
  const fs::path cache =
      options_.cache_dir.empty() ? fs::path() : fs::weakly_canonical(options_.cache_dir, ec);
  std::vector<std::string> files;
  for (auto it = fs::recursive_directory_iterator(
           root, fs::directory_options::follow_directory_symlink, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec)) {
      if (!cache.empty() && fs::weakly_canonical(it->path(), ec) == cache) {
        it.disable_recursion_pending();
      }
      continue;
    }
    if (!it->is_regular_file(ec)) continue;
    std::string ext = it->path().extension().string();
    for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (std::find(options_.extensions.begin(), options_.extensions.end(), ext) !=
        options_.extensions.end()) {
      files.push_back(it->path().string());
    }
  }
  std::sort(files.begin(), files.end());
  summary_.found = static_cast<int64_t>(files.size());
  auto drop = [&](const std::string& f, const std::string& reason, const std::string& why) {
    summary_.dropped[reason] += 1;
    summary_.dropped_files.emplace_back(f, reason + ": " + why);
  };
  for (const std::string& f : files) {
    std::vector<float> x;
    bool hit = false;
    try {
      x = load_mono(f, options_, &hit);
    } catch (const Error& e) {
      drop(f, "unreadable", e.what());
      continue;
    }
    // Trimming is relative to the loudest frame, so digital silence would
    // survive it; with trimming on, a file under -100 dBFS is dropped too.
    float peak = 0.0f;
    for (float v : x) peak = std::max(peak, std::fabs(v));
    if (x.empty() || (options_.trim_db >= 0 && peak < 1e-5f)) {
      drop(f, "silent", "peak " + std::to_string(peak) + " is under -100 dBFS");
      continue;
    }
    if (static_cast<int64_t>(x.size()) < options_.min_frames) {
      drop(f, "too_short",
           std::to_string(x.size()) + " frames < " + std::to_string(options_.min_frames));
      continue;
    }
    summary_.cache_hits += hit ? 1 : 0;
    summary_.kept += 1;
    summary_.frames_kept += static_cast<int64_t>(x.size());
    paths_.push_back(f);
    clips_.push_back(std::move(x));
  }
  summary_.seconds_kept = static_cast<double>(summary_.frames_kept) / options_.sample_rate;
  if (clips_.empty()) {
    throw Error("audio: dataset '" + root + "' has no usable audio: " + summary_.to_string());
  }
}

std::string DatasetSummary::to_string() const {
  std::ostringstream s;
  s << "found " << found << ", kept " << kept << " (" << seconds_kept << " s, " << cache_hits
    << " from cache)";
  for (const auto& [reason, n] : dropped) s << ", dropped " << n << " " << reason;
  return s.str();
}

std::vector<float> AudioDataset::random_crops(int64_t batch, int64_t length,
                                              int64_t receptive_field, std::mt19937_64& rng) const {
  if (batch < 1 || length < 1 || receptive_field < 0) {
    throw Error("audio: random_crops needs batch >= 1, length >= 1, receptive_field >= 0");
  }
  const int64_t window = length + receptive_field;
  // Cumulative count of window positions per clip.
  std::vector<uint64_t> cum;
  uint64_t total = 0;
  for (const auto& c : clips_) {
    const int64_t n = static_cast<int64_t>(c.size());
    total += n >= window ? static_cast<uint64_t>(n - window + 1) : 0;
    cum.push_back(total);
  }
  if (total == 0) {
    throw Error("audio: no clip holds a crop of " + std::to_string(window) + " samples (" +
                std::to_string(length) + " + receptive field " + std::to_string(receptive_field) +
                "); use shorter crops or longer files");
  }
  std::vector<float> out(static_cast<size_t>(batch * window));
  for (int64_t b = 0; b < batch; ++b) {
    const uint64_t k = below(rng, total);
    const size_t clip =
        static_cast<size_t>(std::upper_bound(cum.begin(), cum.end(), k) - cum.begin());
    const uint64_t offset = k - (clip == 0 ? 0 : cum[clip - 1]);
    const float* src = clips_[clip].data() + offset;
    std::copy(src, src + window, out.begin() + b * window);
  }
  return out;
}

std::vector<float> AudioDataset::random_crops(int64_t batch, int64_t length,
                                              int64_t receptive_field, uint64_t seed) const {
  std::mt19937_64 rng(seed);
  return random_crops(batch, length, receptive_field, rng);
}

}  // namespace cadenza::audio
