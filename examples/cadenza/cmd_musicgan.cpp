// cadenza train|sample|eval musicgan: the multi-track piano-roll GAN.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli_checks.h"
#include "engine/npy.h"
#include "commands.h"
#include "models/musicgan_trainer.h"
#include "models/trainer_io.h"
#include "sample_output.h"
#include "train_flags.h"

namespace cadenza::cli {
namespace {

const char* kTrainAbout =
    "Train MusicGAN, a multi-track piano-roll GAN after MuseGAN (hybrid generator, WGAN-GP critic), on\n"
    "segments of --bars bars x --steps-per-bar steps x 84 pitches (C1..B7) per track. --data is a folder\n"
    "of MIDI files (or one file): General MIDI files get MuseGAN's five tracks by program (drums, piano,\n"
    "guitar, bass, strings); files that all have the same few tracks keep them in order. Only segments\n"
    "wholly in --meter are kept. Without --data: the Bach chorales of music21 as soprano, alto, tenor and\n"
    "bass (scripts/prepare_bach_chorales.sh makes them once). Each step is --critic-steps critic updates\n"
    "and one generator update; evaluations score generated rolls against the data with MuseGAN's metrics.";

const char* kEvalAbout =
    "MuseGAN's metrics (EB empty bars %, UPC used pitch classes per bar, QN qualified notes %, DP drum\n"
    "pattern %, TD tonal distance between tracks), and NL (mean note length in steps), of the training\n"
    "data and of --samples generated rolls, side by side: a table on stderr, JSON on stdout.";

struct TrainMusicGan : TrainCommand<models::MusicGanConfig, models::MusicGanTrainOptions> {
  std::string meter = "4/4", tracks = "auto";
  int64_t hop_bars = 1;
  double valid_fraction = 0.1;
};

// "3/4" -> (3, 4); UsageError naming the flag otherwise.
std::pair<int, int> parse_meter(const std::string& s) {
  int n = 0, d = 0;
  char slash = 0, extra = 0;
  if (std::sscanf(s.c_str(), "%d %c %d %c", &n, &slash, &d, &extra) != 3 || slash != '/' || n < 1 || n > 64 ||
      d < 1 || d > 64 || (d & (d - 1)) != 0)
    throw UsageError("--meter '" + s + "' is not a meter like 4/4 or 3/4 (numerator 1..64, denominator a power of two)");
  return {n, d};
}

// --data, or the default chorales: made on first use by
// scripts/prepare_bach_chorales.sh (music21 from PyPI) when this program
// runs from a build tree that has it; otherwise the error says what to run.
std::string data_root(const std::string& data) {
  if (!data.empty()) return data;
  const std::string dir = models::default_chorale_dir();
  if (std::filesystem::exists(dir + "/.complete")) return dir;
  const std::string script = std::string(CADENZA_SOURCE_DIR) + "/scripts/prepare_bach_chorales.sh";
  if (std::filesystem::exists(script) && (script + dir).find('\'') == std::string::npos) {
    std::fprintf(stderr, "cadenza: making the default data, the Bach chorales of music21, into %s (once)\n",
                 dir.c_str());
    const std::string cmd = "bash '" + script + "' '" + dir + "'";
    if (std::system(cmd.c_str()) == 0 && std::filesystem::exists(dir + "/.complete")) return dir;
  }
  throw UsageError("no chorales at '" + dir +
                   "': run scripts/prepare_bach_chorales.sh once (it installs music21 from PyPI and converts "
                   "them), or give --data");
}

}  // namespace

void musicgan_train(CLI::App& cmd) {
  auto f = new_command<TrainMusicGan>(cmd, kTrainAbout);
  models::MusicGanConfig& c = f->cfg;
  cmd.add_option("--data", f->data, "folder of MIDI files, or one file [default: the Bach chorales, cached]");
  cmd.add_option("--meter", f->meter, "keep only segments in this meter")->capture_default_str();
  cmd.add_option("--tracks", f->tracks, "auto, program (MuseGAN's five families) or order (the files' own tracks)")
      ->capture_default_str()
      ->check(one_of({"auto", "program", "order"}));
  cmd.add_option("--bars", c.bars, "bars per segment (even)")->capture_default_str()->check(integer(2, 64));
  cmd.add_option("--steps-per-bar", c.steps_per_bar, "time steps per bar (a multiple of 16; MuseGAN's paper: 96)")
      ->capture_default_str()
      ->check(integer(16, 384));
  cmd.add_option("--hop-bars", f->hop_bars, "a segment starts every this many bars")
      ->capture_default_str()
      ->check(integer(1, 64));
  cmd.add_option("--valid-fraction", f->valid_fraction, "files held out")->capture_default_str()->check(number(0, 0.9));
  cmd.add_option("--z-dim", c.z_dim, "size of each of the four latents")->capture_default_str()->check(integer(1, 4096));
  cmd.add_option("--temporal-channels", c.temporal_channels, "hidden width of the temporal generators")
      ->capture_default_str()
      ->check(integer(1, 65536));
  cmd.add_option("--gen-channels", c.gen_channels, "generator width (trunk 4x, 2x, 2x, 1x; private 1x, 1/2x)")
      ->capture_default_str()
      ->check(integer(2, 4096));
  cmd.add_option("--critic-channels", c.critic_channels, "critic width (private 1x, 2x; shared 8x, 16x; merged 32x)")
      ->capture_default_str()
      ->check(integer(1, 4096));
  cmd.add_option("--critic-norm", c.critic_norm, "what follows each critic conv: layer (a layer norm) or none")
      ->capture_default_str()
      ->check(one_of({"layer", "none"}));
  cmd.add_option("--output", c.output,
                 "the generator's output: sigmoid or tanh (MuseGAN), binary (BinaryMuseGAN's deterministic binary "
                 "neurons, straight-through), or voice (one note or a rest per track and step, straight-through "
                 "softmax; for one-voice parts such as the chorales'), or hold (voice with a third choice per step: the "
                 "previous step's note goes on, as DeepBach's hold symbol). With --resume, sigmoid and binary may "
                 "switch (BinaryMuseGAN's two-stage training)")
      ->capture_default_str()
      ->check(one_of({"sigmoid", "tanh", "binary", "voice", "hold"}));
  cmd.add_option("--time-upsample", c.time_upsample,
                 "how the generator's last layers reach --steps-per-bar from 16 steps: conv (MuseGAN's transposed "
                 "convs) or nearest (16 steps per bar, each held for steps-per-bar/16 steps, so no note ends inside "
                 "a 16th)")
      ->capture_default_str()
      ->check(one_of({"conv", "nearest"}));
  cmd.add_option("--batch", f->o.batch, "segments per update")->capture_default_str()->check(integer(1, 4096));
  cmd.add_option("--critic-steps", f->o.critic_steps, "critic updates per generator update")
      ->capture_default_str()
      ->check(integer(0, 100));
  cmd.add_option("--gp-lambda", f->o.gp_lambda, "weight of the gradient penalty")->capture_default_str()->check(number(0, 1e6));
  cmd.add_option("--beta1", f->o.beta1, "Adam's beta1")->capture_default_str()->check(number(0, 0.999999));
  cmd.add_option("--beta2", f->o.beta2, "Adam's beta2")->capture_default_str()->check(number(0, 0.999999));
  cmd.add_option("--eval-samples", f->o.eval_samples, "generated rolls scored per evaluation")
      ->capture_default_str()
      ->check(integer(1, 100000));
  models::MusicGanTrainOptions d;
  f->loop.add(cmd, TrainFlags::Length::kSteps, d);
  cmd.footer(
      "Writes RUN/metrics.csv (critic loss, Wasserstein estimate, gradient penalty, generator loss, and the\n"
      "metric distance of each evaluation: the mean relative distance of QN and UPC from the data's),\n"
      "TensorBoard events with every metric and a piano-roll picture of a sample, RUN/latest.safetensors\n"
      "and RUN/best.safetensors (both networks and both optimizers), RUN/loss.png. Ctrl-C saves a\n"
      "checkpoint; --resume continues it exactly.");
  cmd.callback([&cmd, f] {
    models::MusicGanConfig& cfg = f->cfg;
    models::MusicGanTrainOptions& o = f->o;
    f->loop.apply(cmd, o);
    models::MultitrackOptions mo;
    if (o.resume) {
      // The data is read as the run was trained: its shape, meter and tracks.
      const std::string typed_output = cfg.output;
      cfg = models::MusicGanConfig::from_json(
          models::need_metadata(load_safetensors(o.out_dir + "/latest.safetensors"), "config"));
      if (given(cmd, "output")) cfg.output = typed_output;  // the trainer checks the switch
      mo = models::data_options(cfg);
    } else {
      auto [num, den] = parse_meter(f->meter);
      cfg.meter_numerator = num;
      cfg.meter_denominator = den;
      mo = models::data_options(cfg);
      mo.tracks = f->tracks;
    }
    mo.hop_bars = f->hop_bars;
    mo.valid_fraction = f->valid_fraction;
    std::string root = data_root(f->data);
    models::MultitrackSummary summary;
    models::MultitrackCorpus data = models::load_multitrack_corpus(root, mo, &summary);
    std::printf("%s\n", summary.str().c_str());
    if (!o.resume) {
      cfg.tracks = static_cast<int64_t>(data.track_names.size());
      cfg.track_names = data.track_names;
      cfg.programs = data.programs;
      cfg.is_drum = data.is_drum;
      cfg.us_per_quarter = data.us_per_quarter;
      cfg.track_mode = summary.mode;
    }
    cfg.validate();
    std::string names;
    for (const auto& n : cfg.track_names) names += (names.empty() ? "" : ", ") + n;
    std::printf("model: %lld tracks (%s), %lld bars x %lld steps x %lld pitches; latents 4 x %lld, generator "
                "width %lld, critic width %lld, %s output, %s time upsampling\n",
                (long long)cfg.tracks, names.c_str(), (long long)cfg.bars, (long long)cfg.steps_per_bar,
                (long long)cfg.pitches, (long long)cfg.z_dim, (long long)cfg.gen_channels,
                (long long)cfg.critic_channels, cfg.output.c_str(), cfg.time_upsample.c_str());
    std::fflush(stdout);
    models::TrainResult r;
    run_with_stop_on_sigint([&] { r = models::train_musicgan(cfg, data, o); });
    nlohmann::json j = {{"steps", r.steps_done},
                        {"interrupted", r.interrupted},
                        {"stopped_early", r.stopped_early},
                        {"best_metric_distance", r.best_val_nll},
                        {"best_step", r.best_step},
                        {"final_metric_distance", r.final_val_nll},
                        {"seconds", r.seconds},
                        {"latest", o.out_dir + "/latest.safetensors"},
                        {"best", o.out_dir + "/best.safetensors"}};
    std::printf("%s\n", j.dump().c_str());
  });
}

namespace {

struct EvalMusicGan {
  std::string checkpoint, data;
  int64_t samples = 256, seed = 1;
  double threshold = -1;
  int threads = 0;
};

}  // namespace

void musicgan_eval(CLI::App& cmd) {
  auto f = new_command<EvalMusicGan>(cmd, kEvalAbout);
  cmd.add_option("--checkpoint", f->checkpoint, "a train musicgan checkpoint (.safetensors)")->required();
  cmd.add_option("--data", f->data, "MIDI folder or file to compare with [default: the Bach chorales, cached]");
  cmd.add_option("--samples", f->samples, "generated rolls (and at most this many data segments)")
      ->capture_default_str()
      ->check(integer(1, 100000));
  cmd.add_option("--seed", f->seed, "random seed of the latents")->capture_default_str();
  cmd.add_option("--threshold", f->threshold, "a step sounds above this [default: 0.5 for sigmoid, 0 for tanh]")
      ->check(number(-1, 1));
  add_threads_flag(cmd, f->threads);
  cmd.callback([f] {
    apply_threads(f->threads);
    models::MusicGanCheckpoint ck = models::load_musicgan(f->checkpoint);
    const models::MusicGanConfig& cfg = ck.config;
    std::string root = data_root(f->data);
    models::MultitrackOptions mo = models::data_options(cfg);
    mo.valid_fraction = 0;
    models::MultitrackCorpus data = models::load_multitrack_corpus(root, mo);
    if (data.track_names.size() != static_cast<size_t>(cfg.tracks))
      throw UsageError("--data '" + root + "' gives " + std::to_string(data.track_names.size()) +
                       " tracks; the checkpoint was trained on " + std::to_string(cfg.tracks));
    Generator g(static_cast<uint64_t>(f->seed));
    const int64_t n = std::min<int64_t>(f->samples, data.train_size());
    std::vector<int64_t> idx = randperm(data.train_size(), &g);
    idx.resize(static_cast<size_t>(n));
    models::MusicMetrics md = models::musegan_metrics(data.batch(false, idx), cfg.is_drum, cfg.lowest_pitch,
                                                      cfg.steps_per_bar);
    Tensor rolls = models::generate_rolls(*ck.generator, f->samples, g, f->threshold);
    models::MusicMetrics ms = models::musegan_metrics(rolls, cfg.is_drum, cfg.lowest_pitch, cfg.steps_per_bar);
    std::fprintf(stderr, "%s", models::metrics_table(md, ms, cfg.track_names).c_str());
    std::printf("%s\n", models::metrics_json(md, ms, cfg.track_names).c_str());
  });
}

namespace {

struct SampleMusicGan {
  SampleOutputs out;
  std::string latents, npy;
  int count = 1;
  int64_t seed = 1;
  double threshold = -1;
  bool bernoulli = false;
  std::string device = "cpu";
};

}  // namespace

void musicgan_sample(CLI::App& cmd) {
  auto f = std::make_shared<SampleMusicGan>();
  set_about(cmd,
            "Generate multi-track segments from a musicgan checkpoint: each track on its General MIDI program\n"
            "(drums on channel 10) at the data's tempo, as MIDI, with a WAV through FluidSynth and a piano-roll\n"
            "PNG (one colour per track) when asked. A step sounds where the generator's output is above\n"
            "--threshold, or, with --bernoulli, with the output's probability.");
  f->out.add(cmd, "musicgan", "MIDI file to write (numbered x-1.mid, ... with --count)");
  cmd.add_option("--count", f->count, "segments to generate")->capture_default_str()->check(integer(1, 10000));
  cmd.add_option("--seed", f->seed, "random seed")->capture_default_str();
  auto* th = cmd.add_option("--threshold", f->threshold, "a step sounds above this [default: 0.5 for sigmoid, 0 for tanh]")
                 ->check(number(-1, 1));
  cmd.add_flag("--bernoulli", f->bernoulli, "draw each step from the output's probability")->excludes(th);
  cmd.add_option("--latents", f->latents, "a .npy of latents [count, 2 + 2 x tracks, z_dim] (float32) to generate "
                                          "from, instead of drawing them")
      ->check(CLI::ExistingFile);
  cmd.add_option("--npy", f->npy, "also write the generator's raw outputs [count, tracks, bars, steps, pitches] (float32)");
  cmd.add_option("--device", f->device, "where the generator runs: cpu, cuda or cuda:N")->capture_default_str();
  cmd.callback([f] {
    apply_threads(f->out.threads);
    const Device device = Device::parse(f->device);
    models::MusicGanCheckpoint ck = models::load_musicgan(f->out.checkpoint);
    ck.generator->to(device);
    const models::MusicGanConfig& cfg = ck.config;
    // Sample i draws its latents and its steps from a generator of its own,
    // so it is the same whatever --count.
    std::vector<Generator> rngs;
    Tensor z;
    if (!f->latents.empty()) {
      npy::Array a = npy::load(f->latents);
      const std::vector<int64_t> want{cfg.latent_rows(), cfg.z_dim};
      if (a.descr != "<f4" || a.shape.size() != 3 || a.shape[0] < 1 || a.shape[1] != want[0] || a.shape[2] != want[1])
        throw UsageError("--latents '" + f->latents + "' holds " + a.descr + " " + shape_str(a.shape) +
                         "; the checkpoint needs float32 [count, " + std::to_string(want[0]) + ", " +
                         std::to_string(want[1]) + "]");
      z = Tensor::from_data(a.bytes.data(), a.shape, DType::f32);
      f->count = static_cast<int>(a.shape[0]);
    }
    std::vector<Tensor> rows;
    for (int i = 0; i < f->count; ++i) {
      rngs.emplace_back(static_cast<uint64_t>(f->seed) * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(i));
      if (!z.defined()) rows.push_back(ck.generator->sample_latents(1, &rngs.back()));
    }
    if (!z.defined()) z = concat(rows, 0);
    Tensor y = models::generator_output(*ck.generator, z.to(device)).to(Device{});
    if (!f->npy.empty()) {
      Tensor yc = contiguous(y);
      npy::save(f->npy, "<f4", yc.shape(), yc.raw_data());
    }
    nlohmann::json written = nlohmann::json::array();
    for (int i = 0; i < f->count; ++i) {
      Tensor roll = models::binarize_rolls(narrow(y, 0, i, 1), cfg, f->threshold, f->bernoulli, &rngs[i]);
      midi::Score score = models::roll_score(select(roll, 0, 0), cfg);
      std::string mid = numbered(f->out.out, i, f->count);
      midi::write(mid, score);
      nlohmann::json item = {{"mid", mid}, {"notes", score.note_count()}};
      f->out.write(score, i, f->count, item);
      written.push_back(item);
    }
    std::printf("%s\n", nlohmann::json{{"written", written}}.dump().c_str());
  });
}

}  // namespace cadenza::cli
