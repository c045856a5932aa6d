#include "models/wavenet_data.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "audio/dataset.h"
#include "engine/file_io.h"
#include "engine/npy.h"
#include "midi/dataset.h"
#include "midi/midi.h"
#include "midi/render.h"

namespace fs = std::filesystem;

namespace cadenza::models {

namespace {

// The first folder of `path` under `root` ("." for a file in the root itself).
std::string class_of(const std::string& root, const std::string& path) {
  std::error_code ec;
  fs::path rel = fs::relative(path, root, ec);
  auto it = rel.begin();
  if (ec || it == rel.end() || std::next(it) == rel.end()) return ".";
  return it->string();
}

// The clip's mel, from the cache beside the run when it holds one.
audio::Matrix cached_mel(const std::vector<float>& x, const std::string& path, const WaveNetConfig& cfg,
                         const std::string& cache_dir, std::string& file) {
  if (!cache_dir.empty()) {
    std::ostringstream key;
    key << "mel-v1|" << fs::absolute(path).string() << '|' << x.size() << '|' << cfg.sample_rate << '|' << cfg.n_fft
        << '|' << cfg.hop_length << '|' << cfg.n_mels << '|' << cfg.fmin << '|' << cfg.fmax;
    char name[40];
    std::snprintf(name, sizeof name, "mel-%016llx.npy", static_cast<unsigned long long>(fnv1a64(key.str())));
    file = (fs::path(cache_dir) / name).string();
    std::error_code ec;
    if (fs::exists(file, ec)) {
      try {
        return load_mel_npy(file, cfg);
      } catch (const std::exception&) {
        // A damaged or foreign entry is computed again below.
      }
    }
  }
  audio::Matrix m = wavenet_mel(x, cfg);
  if (!file.empty()) npy::save(file, "<f4", {m.rows, m.cols}, m.data.data());
  return m;
}

WaveClip make_clip(const std::string& path, std::vector<float> x, const WaveNetConfig& cfg,
                   const std::string& cache_dir) {
  WaveClip c;
  c.path = path;
  c.ids = audio::mu_law_encode(x, static_cast<int>(cfg.quantize));
  if (cfg.cin_channels > 0) c.mel = cached_mel(x, path, cfg, cache_dir, c.mel_cache);
  return c;
}

// A uniform integer in [0, n) from the generator.
int64_t below(Generator& g, int64_t n) {
  return std::min<int64_t>(n - 1, static_cast<int64_t>(uniform_double(&g) * static_cast<double>(n)));
}

}  // namespace

audio::Matrix load_mel_npy(const std::string& path, const WaveNetConfig& cfg) {
  npy::Array a = npy::load(path);
  if (a.descr != "<f4" || a.shape.size() != 2 || a.shape[0] != cfg.n_mels) {
    std::string shape;
    for (int64_t d : a.shape) shape += (shape.empty() ? "" : ", ") + std::to_string(d);
    throw OptionError("mel", "'" + path + "' holds " + a.descr + " data of shape [" + shape +
                                 "]; the model needs float32 [" + std::to_string(cfg.n_mels) + ", frames] at hop " +
                                 std::to_string(cfg.hop_length));
  }
  audio::Matrix m;
  m.rows = a.shape[0];
  m.cols = a.shape[1];
  m.data.resize(static_cast<size_t>(m.rows * m.cols));
  std::memcpy(m.data.data(), a.bytes.data(), m.data.size() * sizeof(float));
  return m;
}

audio::Matrix wavenet_mel(const std::vector<float>& x, const WaveNetConfig& cfg) {
  audio::StftOptions so;
  so.n_fft = static_cast<int>(cfg.n_fft);
  so.hop_length = static_cast<int>(cfg.hop_length);
  audio::MelOptions mo;
  mo.n_mels = static_cast<int>(cfg.n_mels);
  mo.fmin = cfg.fmin;
  mo.fmax = cfg.fmax;
  audio::Matrix m = audio::melspectrogram(x, cfg.sample_rate, so, mo, 1.0);
  for (float& v : m.data) v = std::log(std::max(v, 1e-5f));
  return m;
}

double log_mel_distance(const std::vector<float>& original, const std::vector<float>& resynthesis,
                        const WaveNetConfig& cfg) {
  const size_t n = std::min(original.size(), resynthesis.size());
  if (n < static_cast<size_t>(cfg.n_fft))
    throw Error("log-mel distance: " + std::to_string(n) + " samples in common, fewer than n_fft " +
                std::to_string(cfg.n_fft));
  const audio::Matrix a = wavenet_mel({original.begin(), original.begin() + n}, cfg);
  const audio::Matrix b = wavenet_mel({resynthesis.begin(), resynthesis.begin() + n}, cfg);
  double sum = 0;
  for (size_t i = 0; i < a.data.size(); ++i) sum += std::fabs(static_cast<double>(a.data[i]) - b.data[i]);
  return sum / static_cast<double>(a.data.size());
}

WaveCorpus load_wave_corpus(const std::string& root, const WaveNetConfig& cfg, const WaveCorpusOptions& o) {
  audio::DatasetOptions ao;
  ao.sample_rate = cfg.sample_rate;
  ao.trim_db = 60;  // leading and trailing silence trimmed; silent files dropped
  ao.min_frames = std::max<int64_t>(2, o.min_samples);
  ao.cache_dir = o.cache_dir;
  audio::AudioDataset ds(root, ao);  // names the folder when nothing is usable
  WaveCorpus c;
  c.root = root;
  std::map<std::string, int64_t> classes;
  for (size_t i = 0; i < ds.size(); ++i) classes.emplace(class_of(root, ds.path(i)), 0);
  for (auto& kv : classes) {
    kv.second = static_cast<int64_t>(c.class_names.size());
    c.class_names.push_back(kv.first);
  }
  for (size_t i = 0; i < ds.size(); ++i) {
    WaveClip clip = make_clip(ds.path(i), ds.clip(i), cfg, o.cache_dir);
    if (!o.cache_dir.empty()) clip.audio_cache = audio::cache_file(ds.path(i), ao);
    clip.label = classes.at(class_of(root, ds.path(i)));
    std::error_code ec;
    std::string rel = fs::relative(ds.path(i), root, ec).string();
    bool held_out = midi::split_for(ec ? ds.path(i) : rel, o.valid_fraction, 0) == midi::Split::kValid;
    (held_out ? c.valid : c.train).push_back(std::move(clip));
  }
  std::ostringstream rep;
  rep << root << ": " << ds.summary().to_string() << "\n";
  for (const auto& [file, why] : ds.summary().dropped_files) rep << "  skipped " << file << " (" << why << ")\n";
  if (c.valid.empty() && c.train.size() > 1) {
    c.valid.push_back(std::move(c.train.back()));
    c.train.pop_back();
    rep << "note: no file hashed into the held-out split; holding out " << c.valid.back().path << "\n";
  }
  if (c.train.empty())
    throw Error("'" + root + "' has no training audio left after holding out " + std::to_string(c.valid.size()) +
                " file(s)");
  auto seconds = [&](const std::vector<WaveClip>& v) {
    double s = 0;
    for (auto& clip : v) s += static_cast<double>(clip.ids.size()) / cfg.sample_rate;
    return s;
  };
  char line[160];
  std::snprintf(line, sizeof line, "clips: %zu train (%.1f s), %zu held out (%.1f s), %zu classes", c.train.size(),
                seconds(c.train), c.valid.size(), seconds(c.valid), c.class_names.size());
  rep << line;
  c.report = rep.str();
  return c;
}

std::string corpus_json(const WaveCorpus& corpus, const WaveNetConfig& cfg) {
  auto clips = [](const std::vector<WaveClip>& v) {
    nlohmann::json a = nlohmann::json::array();
    auto absolute = [](const std::string& p) { return p.empty() ? p : fs::absolute(p).string(); };
    for (const auto& c : v)
      a.push_back({{"path", absolute(c.path)},
                   {"label", c.label},
                   {"samples", c.ids.size()},
                   {"audio", absolute(c.audio_cache)},
                   {"mel", absolute(c.mel_cache)}});
    return a;
  };
  nlohmann::json j = {{"root", corpus.root},
                      {"config", nlohmann::json::parse(cfg.to_json())},
                      {"train", clips(corpus.train)},
                      {"held_out", clips(corpus.valid)}};
  return j.dump(1) + "\n";
}

std::vector<WaveClip> load_wave_files(const std::vector<std::string>& paths, const WaveNetConfig& cfg) {
  std::vector<WaveClip> out;
  for (const auto& p : paths) {
    audio::Buffer b = audio::resample(audio::to_mono(audio::load(p)), cfg.sample_rate);
    if (b.data.size() < 2) throw Error("'" + p + "' holds fewer than 2 samples at " + std::to_string(cfg.sample_rate) + " Hz");
    out.push_back(make_clip(p, std::move(b.data), cfg, ""));
  }
  if (out.empty()) throw Error("no audio files given");
  return out;
}

WaveBatch wave_crop(const WaveClip& clip, const WaveNetConfig& cfg, int64_t start, int64_t length) {
  WaveBatch b;
  b.x = Tensor::empty({1, length}, DType::i64);
  b.target = Tensor::empty({1, length}, DType::i64);
  int64_t* px = b.x.data<int64_t>();
  int64_t* pt = b.target.data<int64_t>();
  for (int64_t t = 0; t < length; ++t) {
    px[t] = clip.ids[start + t];
    pt[t] = clip.ids[start + t + 1];
  }
  if (cfg.cin_channels > 0) {
    const int64_t hop = cfg.hop_length, f0 = start / hop, frames = (length + hop - 1) / hop;
    b.mel = Tensor::zeros({1, cfg.n_mels, frames});
    float* pm = b.mel.data<float>();
    for (int64_t m = 0; m < cfg.n_mels; ++m)
      for (int64_t f = 0; f < frames; ++f)
        pm[m * frames + f] = clip.mel.at(m, std::min(clip.mel.cols - 1, f0 + f));
  }
  if (cfg.n_classes > 0) b.classes = Tensor::full({1}, static_cast<double>(clip.label), DType::i64);
  return b;
}

WaveBatch random_wave_batch(const std::vector<WaveClip>& clips, const WaveNetConfig& cfg, int64_t batch,
                            int64_t length, Generator& gen, int64_t first, int64_t count) {
  const int64_t last = count < 0 ? batch : first + count;
  if (first < 0 || last > batch || first >= last)
    throw Error("random_wave_batch: rows [" + std::to_string(first) + ", " + std::to_string(last) +
                ") are not a slice of a batch of " + std::to_string(batch));
  // Crop starts are multiples of the hop (1 without mel), counted over every clip.
  const int64_t hop = cfg.cin_channels > 0 ? cfg.hop_length : 1;
  std::vector<int64_t> cum;
  int64_t total = 0;
  for (const auto& c : clips) {
    int64_t span = static_cast<int64_t>(c.ids.size()) - (length + 1);
    total += span >= 0 ? span / hop + 1 : 0;
    cum.push_back(total);
  }
  if (total == 0)
    throw OptionError("crop", "no clip holds a crop of " + std::to_string(length + 1) +
                                  " samples; use shorter crops or longer files");
  std::vector<WaveBatch> rows;
  for (int64_t b = 0; b < batch; ++b) {
    int64_t k = below(gen, total);
    size_t i = static_cast<size_t>(std::upper_bound(cum.begin(), cum.end(), k) - cum.begin());
    int64_t start = (k - (i == 0 ? 0 : cum[i - 1])) * hop;
    if (b >= first && b < last) rows.push_back(wave_crop(clips[i], cfg, start, length));
  }
  WaveBatch out;
  std::vector<Tensor> xs, ts, ms, cs;
  for (auto& r : rows) {
    xs.push_back(r.x);
    ts.push_back(r.target);
    if (r.mel.defined()) ms.push_back(r.mel);
    if (r.classes.defined()) cs.push_back(r.classes);
  }
  out.x = concat(xs, 0);
  out.target = concat(ts, 0);
  if (!ms.empty()) out.mel = concat(ms, 0);
  if (!cs.empty()) out.classes = concat(cs, 0);
  return out;
}

double unigram_bits(const WaveCorpus& data, int64_t quantize) {
  std::vector<double> count(static_cast<size_t>(quantize), 1.0);
  double total = static_cast<double>(quantize);
  for (const auto& c : data.train)
    for (int32_t q : c.ids) {
      count[q] += 1;
      total += 1;
    }
  double bits = 0;
  int64_t n = 0;
  for (const auto& c : data.valid)
    for (size_t i = 1; i < c.ids.size(); ++i) {
      bits -= std::log2(count[c.ids[i]] / total);
      ++n;
    }
  return n ? bits / static_cast<double>(n) : std::nan("");
}

std::string default_wave_corpus(const std::string& cache_dir, int sample_rate) {
  const std::string src = "/usr/share/games/openttd/baseset/openmsx";
  const std::string dir = cache_dir + "/openmsx-" + std::to_string(sample_rate);
  const std::string done = dir + "/.complete";
  std::error_code ec;
  if (fs::exists(done, ec)) return dir;
  if (!fs::is_directory(src, ec))
    throw Error("the default corpus needs Debian's openttd-openmsx MIDI files in " + src +
                " (apt-get install openttd-openmsx), or give a folder of audio");
  if (!midi::can_render()) throw Error("the default corpus renders MIDI, and this build has no FluidSynth");
  make_dirs(dir);
  midi::RenderOptions ro;
  ro.sample_rate = sample_rate;
  ro.tail_seconds = 0.5;
  for (const std::string& rel : midi::find_midi_files(src)) {
    std::string out = dir + "/" + fs::path(rel).stem().string() + ".wav";
    if (fs::exists(out, ec)) continue;
    try {
      audio::Buffer b = audio::to_mono(midi::render(midi::read(src + "/" + rel), ro));
      audio::save(out, b);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "default corpus: skipped %s (%s)\n", rel.c_str(), e.what());
    }
  }
  write_file_atomic(done, std::string("rendered from ") + src + "\n");
  return dir;
}

}  // namespace cadenza::models
