// cadenza train|sample|eval wavenet: WaveNet over mu-law audio, optionally a
// class-conditioned model or a mel-conditioned vocoder.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstring>
#include <filesystem>

#include "audio/spectrogram_image.h"
#include "cli_checks.h"
#include "commands.h"
#include "engine/file_io.h"
#include "engine/npy.h"
#include "models/wavenet_generate.h"
#include "models/trainer_io.h"
#include "models/wavenet_trainer.h"
#include "sample_output.h"
#include "train_flags.h"

namespace cadenza::cli {
namespace {

const char* kTrainAbout =
    "Train WaveNet on a folder of audio (anything libsndfile reads: WAV, FLAC, OGG, ...), resampled to\n"
    "--rate and mixed to mono, 8-bit mu-law. Each step takes --batch random crops of --crop samples and\n"
    "learns every next sample. --condition class embeds the first folder under --data as a class id;\n"
    "--condition mel makes a vocoder conditioned on log-mel frames upsampled to the samples.";

const char* kEvalAbout =
    "NLL of a wavenet checkpoint on audio files, each from a zero history; prints JSON in bits and nats\n"
    "per sample.";

// ~/.cache/cadenza (or $XDG_CACHE_HOME/cadenza): where the default corpus is rendered once.
std::string cache_home() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/cadenza";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/cadenza";
  return ".cache/cadenza";
}

struct TrainWaveNet : TrainCommand<models::WaveNetConfig, models::WaveNetTrainOptions> {
  std::string condition = "none";
};

}  // namespace

void wavenet_train(CLI::App& cmd) {
  auto f = new_command<TrainWaveNet>(cmd, kTrainAbout);
  models::WaveNetConfig& c = f->cfg;
  c.n_mels = 80;
  c.hop_length = 256;
  c.upsample_scales = {4, 4, 4, 4};
  c.fmin = 125;
  c.fmax = 7600;
  cmd.add_option("--data", f->data,
                 "folder of audio files [default: Debian's openttd-openmsx MIDI rendered through FluidSynth, cached]");
  cmd.add_option("--rate", c.sample_rate, "sample rate the audio is resampled to")->capture_default_str()
      ->check(integer(1000, 384000));
  cmd.add_option("--condition", f->condition, "none, class (the first folder under --data) or mel (a vocoder)")
      ->capture_default_str()
      ->check(one_of({"none", "class", "mel"}));
  cmd.add_option("--layers", c.layers, "residual layers")->capture_default_str()->check(integer(1, 1024));
  cmd.add_option("--stacks", c.stacks, "dilation cycles (layers / stacks per cycle, dilations 1, 2, 4, ...)")
      ->capture_default_str()
      ->check(integer(1, 1024));
  cmd.add_option("--kernel-size", c.kernel_size, "dilated convolution taps")->capture_default_str()->check(integer(1, 64));
  cmd.add_option("--residual-channels", c.residual_channels, "")->capture_default_str()->check(integer(1, 65536));
  cmd.add_option("--gate-channels", c.gate_channels, "(split in two halves: tanh and sigmoid)")
      ->capture_default_str()
      ->check(integer(2, 65536));
  cmd.add_option("--skip-channels", c.skip_channels, "")->capture_default_str()->check(integer(1, 65536));
  cmd.add_option("--dropout", c.dropout, "on each layer's input in training")->capture_default_str()->check(number(0, 0.99));
  cmd.add_option("--gin-channels", c.gin_channels, "--condition class: the class embedding's size")
      ->capture_default_str()
      ->check(integer(1, 65536));
  cmd.add_option("--n-mels", c.n_mels, "--condition mel: mel bands")->capture_default_str()->check(integer(1, 4096));
  cmd.add_option("--n-fft", c.n_fft, "--condition mel: STFT size")->capture_default_str()->check(integer(16, 65536));
  cmd.add_option("--upsample-scales", c.upsample_scales,
                 "--condition mel: upsampling factors, comma-separated; their product is the hop")
      ->delimiter(',')
      ->capture_default_str();
  cmd.add_option("--batch", f->o.batch, "crops per step")->capture_default_str()->check(integer(1, 4096));
  cmd.add_option("--crop", f->o.crop, "samples per crop")->capture_default_str()->check(integer(2, 1 << 24));
  cmd.add_option("--valid-crops", f->o.valid_crops, "held-out crops per validation (fixed for the run)")
      ->capture_default_str()
      ->check(integer(1, 100000));
  models::WaveNetTrainOptions d;
  f->loop.add(cmd, TrainFlags::Length::kSteps, d,
              {{"warmup", std::to_string(models::kWaveNetDefaultWarmup) + ", at most a tenth of the run"}});
  cmd.footer(
      "Writes RUN/metrics.csv (validation NLL in nats and bits per sample), TensorBoard events,\n"
      "RUN/latest.safetensors, RUN/best.safetensors, RUN/loss.png; decoded audio and mel features are\n"
      "cached in RUN/cache, and RUN/corpus.json lists each clip's split and cache entries. Ctrl-C\n"
      "saves a checkpoint; --resume continues it exactly.");
  cmd.callback([&cmd, f] {
    models::WaveNetConfig& cfg = f->cfg;
    models::WaveNetTrainOptions& o = f->o;
    f->loop.apply(cmd, o);
    if (o.resume) {
      // The data is read as the run was trained: its rate and conditioning.
      models::WaveNetConfig saved = models::WaveNetConfig::from_json(
          models::need_metadata(load_safetensors(o.out_dir + "/latest.safetensors"), "config"));
      f->condition = saved.cin_channels > 0 ? "mel" : saved.n_classes > 0 ? "class" : "none";
      cfg = saved;
    }
    int64_t hop = 1;
    for (int64_t s : cfg.upsample_scales) hop *= s;
    cfg.hop_length = hop;
    cfg.cin_channels = f->condition == "mel" ? cfg.n_mels : 0;
    if (f->condition != "mel") cfg.n_mels = 0;
    cfg.fmax = std::min(cfg.fmax, cfg.sample_rate / 2.0);
    std::string root = f->data.empty() ? models::default_wave_corpus(cache_home(), cfg.sample_rate) : f->data;
    // Class count and names come from the folders; until they are read, one.
    if (f->condition == "class" && cfg.n_classes == 0) cfg.n_classes = 1;
    cfg.validate();
    models::WaveCorpusOptions co;
    co.cache_dir = o.out_dir + "/cache";
    models::WaveCorpus data = models::load_wave_corpus(root, cfg, co);
    if (f->condition == "class") {
      cfg.n_classes = static_cast<int64_t>(data.class_names.size());
      cfg.class_names = data.class_names;
    }
    std::printf("%s\n", data.report.c_str());
    if (o.rank() == 0) {
      std::filesystem::create_directories(o.out_dir);
      write_file_atomic(o.out_dir + "/corpus.json", models::corpus_json(data, cfg));
    }
    std::printf("model: %lld layers in %lld stacks, kernel %lld, residual %lld, gate %lld, skip %lld, receptive "
                "field %lld samples (%.1f ms), conditioning %s\n",
                (long long)cfg.layers, (long long)cfg.stacks, (long long)cfg.kernel_size,
                (long long)cfg.residual_channels, (long long)cfg.gate_channels, (long long)cfg.skip_channels,
                (long long)cfg.receptive_field(), 1000.0 * cfg.receptive_field() / cfg.sample_rate,
                f->condition.c_str());
    std::fflush(stdout);
    models::TrainResult r;
    run_with_stop_on_sigint([&] { r = models::train_wavenet(cfg, data, o); });
    nlohmann::json held_out = nlohmann::json::array();
    for (const auto& c : data.valid) held_out.push_back(c.path);
    nlohmann::json j = {{"steps", r.steps_done},
                        {"interrupted", r.interrupted},
                        {"stopped_early", r.stopped_early},
                        {"best_val_nll", r.best_val_nll},
                        {"best_val_bits", r.best_val_nll / std::log(2.0)},
                        {"unigram_val_bits", models::unigram_bits(data, cfg.quantize)},
                        {"held_out", held_out},
                        {"final_val_nll", r.final_val_nll},
                        {"seconds", r.seconds},
                        {"latest", o.out_dir + "/latest.safetensors"},
                        {"best", o.out_dir + "/best.safetensors"}};
    std::printf("%s\n", j.dump().c_str());
  });
}

namespace {

struct EvalWaveNet {
  std::string checkpoint, label;
  std::vector<std::string> audio;
  int threads = 0;
};

// A class given by name (as the checkpoint lists them) or by id.
int64_t class_id(const models::WaveNetConfig& cfg, const std::string& label) {
  for (size_t i = 0; i < cfg.class_names.size(); ++i)
    if (cfg.class_names[i] == label) return static_cast<int64_t>(i);
  char* end = nullptr;
  long long v = std::strtoll(label.c_str(), &end, 10);
  if (!label.empty() && *end == '\0' && v >= 0 && v < cfg.n_classes) return v;
  std::string names;
  for (const auto& n : cfg.class_names) names += (names.empty() ? "" : ", ") + n;
  throw UsageError("--class '" + label + "' is not one of the checkpoint's " + std::to_string(cfg.n_classes) +
                   " classes (" + names + ")");
}

}  // namespace

void wavenet_eval(CLI::App& cmd) {
  auto f = new_command<EvalWaveNet>(cmd, kEvalAbout);
  cmd.add_option("--checkpoint", f->checkpoint, "a train wavenet checkpoint (.safetensors)")->required();
  cmd.add_option("--audio", f->audio, "audio files (repeatable, comma-separated)")->required()->delimiter(',');
  cmd.add_option("--class", f->label, "class-conditioned checkpoints: the files' class, by name or id");
  add_threads_flag(cmd, f->threads);
  cmd.callback([f] {
    apply_threads(f->threads);
    auto model = models::load_wavenet(f->checkpoint);
    int64_t label = 0;
    if (model->config.n_classes > 0) {
      if (f->label.empty()) throw UsageError("--class is needed: the checkpoint is class-conditioned");
      label = class_id(model->config, f->label);
    }
    auto clips = models::load_wave_files(f->audio, model->config);  // a vocoder's mel comes from each file
    for (auto& c : clips) c.label = label;
    int64_t samples = 0;
    double nll = models::evaluate_wavenet(*model, clips, 16000, &samples);
    nlohmann::json j = {{"nll", nll},
                        {"bits_per_sample", nll / std::log(2.0)},
                        {"samples", samples},
                        {"files", clips.size()},
                        {"sample_rate", model->config.sample_rate}};
    std::printf("%s\n", j.dump().c_str());
  });
}

namespace {

struct SampleWaveNet {
  std::string checkpoint, out, png, label, mel, precision = "f32", device = "cpu";
  double seconds = 2.0, temperature = 1.0;
  int64_t seed = 1;
  int count = 1, rate = 0, threads = 0;
};

// The log-mel (dB) picture of audio at `rate`.
png::Image spectrogram_of(const std::vector<float>& x, int rate, const std::string& title) {
  audio::StftOptions so;
  so.n_fft = 1024;
  so.hop_length = 256;
  audio::MelOptions mo;
  mo.n_mels = 80;
  audio::DbOptions db;
  db.ref = 0.0;
  return audio::spectrogram_image(audio::power_to_db(audio::melspectrogram(x, rate, so, mo), db),
                                  static_cast<double>(x.size()) / rate, 1200, title);
}

// The conditioning mel of --mel: an audio file (its mel is computed as in
// training) or a .npy [n_mels, frames]; the audio too when there is one.
audio::Matrix mel_input(const std::string& path, const models::WaveNetConfig& cfg, std::vector<float>* original) {
  if (path.size() > 4 && path.substr(path.size() - 4) == ".npy") return models::load_mel_npy(path, cfg);
  audio::Buffer b = audio::resample(audio::to_mono(audio::load(path)), cfg.sample_rate);
  if (original) *original = b.data;
  return models::wavenet_mel(b.data, cfg);
}

}  // namespace

void wavenet_sample(CLI::App& cmd) {
  auto f = std::make_shared<SampleWaveNet>();
  set_about(cmd,
            "Generate audio from a wavenet checkpoint by fast generation (queues of past activations, O(layers)\n"
            "per sample), --count streams at once. A vocoder resynthesises the mel of --mel (an audio file or\n"
            "a .npy [n_mels, frames]); a class-conditioned model takes --class. Writes the WAV and a\n"
            "spectrogram PNG (the original's above the resynthesis's when --mel is audio). With --mel audio it\n"
            "prints log_mel_l1: the mean absolute difference of the original's and the resynthesis's log-mel\n"
            "features (natural log, the model's mel settings).");
  cmd.add_option("--checkpoint", f->checkpoint, "a train wavenet checkpoint (.safetensors)")->required();
  cmd.add_option("--out", f->out, "WAV file to write (numbered x-1.wav, ... with --count)")->required();
  cmd.add_option("--png", f->png, "spectrogram picture [default: --out with .png]");
  cmd.add_option("--seconds", f->seconds, "length of each sample (a vocoder: that of its mel)")
      ->capture_default_str()
      ->check(number(1e-3, 3600));
  cmd.add_option("--count", f->count, "samples, generated as parallel streams")->capture_default_str()->check(integer(1, 256));
  cmd.add_option("--temperature", f->temperature, "softmax temperature (0: the most likely sample)")
      ->capture_default_str()
      ->check(number(0, 100));
  cmd.add_option("--seed", f->seed, "random seed")->capture_default_str();
  cmd.add_option("--class", f->label, "class-conditioned checkpoints: the class, by name or id");
  cmd.add_option("--mel", f->mel, "vocoders: an audio file or a .npy [n_mels, frames] to resynthesise")
      ->check(CLI::ExistingFile);
  cmd.add_option("--rate", f->rate, "must equal the checkpoint's sample rate [default: the checkpoint's]")
      ->check(integer(1000, 384000));
  cmd.add_option("--precision", f->precision,
                 "the products' weights: f32 as trained, or bf16 (half the memory traffic per sample; the\n"
                 "logits differ by bf16 rounding)")
      ->capture_default_str()
      ->check(CLI::IsMember({"f32", "bf16"}));
  cmd.add_option("--device", f->device,
                 "where the generator runs: cpu, or cuda / cuda:N (nv-wavenet's persistent kernel: one launch\n"
                 "for every sample, the CPU's draws for the same --seed)")
      ->capture_default_str();
  add_threads_flag(cmd, f->threads);
  cmd.callback([f] {
    apply_threads(f->threads);
    const Device device = Device::parse(f->device);
    auto model = models::load_wavenet(f->checkpoint);
    const models::WaveNetConfig& cfg = model->config;
    if (f->rate && f->rate != cfg.sample_rate)
      throw UsageError("--rate " + std::to_string(f->rate) + " differs from the checkpoint's " +
                       std::to_string(cfg.sample_rate) + " Hz");
    std::vector<int64_t> classes;
    if (cfg.n_classes > 0) {
      if (f->label.empty()) throw UsageError("--class is needed: the checkpoint is class-conditioned");
      classes.assign(static_cast<size_t>(f->count), class_id(cfg, f->label));
    } else if (!f->label.empty()) {
      throw UsageError("--class: the checkpoint is not class-conditioned");
    }
    int64_t samples = std::max<int64_t>(1, std::llround(f->seconds * cfg.sample_rate));
    Tensor mel;
    std::vector<float> original;
    if (cfg.cin_channels > 0) {
      if (f->mel.empty()) throw UsageError("--mel is needed: the checkpoint is a vocoder");
      audio::Matrix m = mel_input(f->mel, cfg, &original);
      samples = m.cols * cfg.hop_length;
      if (!original.empty()) samples = std::min<int64_t>(samples, static_cast<int64_t>(original.size()));
      mel = Tensor::empty({f->count, m.rows, m.cols});
      for (int i = 0; i < f->count; ++i)
        std::copy(m.data.begin(), m.data.end(), mel.data<float>() + i * m.rows * m.cols);
    } else if (!f->mel.empty()) {
      throw UsageError("--mel: the checkpoint is not a vocoder");
    }
    Generator gen(static_cast<uint64_t>(f->seed));
    std::vector<double> u(static_cast<size_t>(f->count * samples));
    for (double& v : u) v = uniform_double(&gen);
    auto t0 = std::chrono::steady_clock::now();
    models::WaveNetGenOptions gen_options;
    if (f->precision == "bf16") gen_options.precision = models::WaveNetPrecision::bf16;
    gen_options.device = device;
    auto ids = models::generate_wavenet(*model, f->count, samples, u, f->temperature, mel, classes, nullptr,
                                        gen_options);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    nlohmann::json written = nlohmann::json::array();
    for (int i = 0; i < f->count; ++i) {
      audio::Buffer b;
      b.sample_rate = cfg.sample_rate;
      b.channels = 1;
      b.data = audio::mu_law_decode(ids[i], static_cast<int>(cfg.quantize));
      std::string wav = numbered(f->out, i, f->count);
      audio::save(wav, b);
      std::string pngp = numbered(f->png.empty() ? wav.substr(0, wav.find_last_of('.')) + ".png" : f->png, i,
                                  f->png.empty() ? 1 : f->count);
      std::vector<png::Image> pics;
      if (!original.empty()) pics.push_back(spectrogram_of(original, cfg.sample_rate, "original"));
      pics.push_back(spectrogram_of(b.data, cfg.sample_rate, original.empty() ? "generated" : "resynthesis"));
      png::save(pngp, audio::stack_images(pics));
      nlohmann::json item = {{"wav", wav}, {"png", pngp}, {"samples", samples}};
      if (!original.empty()) item["log_mel_l1"] = models::log_mel_distance(original, b.data, cfg);
      written.push_back(item);
    }
    nlohmann::json j = {{"written", written},
                        {"device", device.str()},
                        {"samples_per_second", static_cast<double>(samples * f->count) / secs},
                        {"real_time_factor", static_cast<double>(samples * f->count) / cfg.sample_rate / secs}};
    std::printf("%s\n", j.dump().c_str());
  });
}


}  // namespace cadenza::cli
