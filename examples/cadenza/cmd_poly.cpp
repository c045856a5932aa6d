// cadenza train|sample|eval poly: the piano-roll LSTM/GRU of the polyphonic
// music benchmark (JSB Chorales, Nottingham, MuseData, Piano-midi.de).
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_checks.h"
#include "commands.h"
#include "engine/random.h"
#include "midi/midi.h"
#include "midi/pianoroll.h"
#include "models/poly_trainer.h"
#include "sample_output.h"
#include "train_flags.h"

namespace cadenza::cli {
namespace {

const char* kTrainAbout =
    "Train the piano-roll LSTM/GRU of the polyphonic benchmark: each piece one sequence from a zero\n"
      "state, the loss the per-frame sum over 88 keys of binary cross-entropy. --data is the benchmark's\n"
      "JSON ({\"train\", \"valid\", \"test\"}: pieces of frames of MIDI notes 21..108).";

const char* kSampleAbout =
    "Draw piano-roll frames from a checkpoint: frame 0 is the primer chord, each next frame draws every\n"
      "key from its sigmoid. A frame lasts the model's frame_beats quarter notes at --tempo bpm.";

const char* kEvalAbout =
    "NLL in nats per predicted frame of a checkpoint on a split (the benchmark's figure: the sum over 88\n"
      "keys of binary cross-entropy, averaged over every predicted frame of every piece); prints JSON.";

std::string file_stem(const std::string& path) {
  auto slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  auto dot = name.find_last_of('.');
  return dot == std::string::npos ? name : name.substr(0, dot);
}

// The recipes of models::poly_recipe() as --help shows them.
std::string recipes_help() {
  std::ostringstream s;
  s << "Defaults depend on the dataset (by the file name of --data; the best recipes measured, benchmarks/POLYPHONIC.md):\n"
    << "  dataset        layers x hidden  dropout  batch  lr     epochs  patience  transpose\n";
  for (const char* name : {"jsb_chorales", "nottingham", "musedata", "piano_midi", "other"}) {
    models::PolyRecipe r = models::poly_recipe(name);
    char line[160];
    std::string shift = r.transpose ? "+-" + std::to_string(r.transpose) : "none";
    std::snprintf(line, sizeof line, "  %-14s %6lld x %-6lld  %-7g  %-5lld  %-5g  %-6lld  %-8lld  %s\n", name,
                  (long long)r.layers, (long long)r.hidden, r.dropout, (long long)r.batch, r.lr, (long long)r.epochs,
                  (long long)r.patience, shift.c_str());
    s << line;
  }
  s << "Transposition shifts each training piece by a random -N..N semitones per epoch (kept on the\n"
       "keyboard); patience stops after N epochs without a better validation NLL, and the best epoch is\n"
       "RUN/best.safetensors. Writes RUN/metrics.csv, TensorBoard events, RUN/latest.safetensors and\n"
       "RUN/loss.png. Ctrl-C saves a checkpoint; --resume continues it exactly.";
  return s.str();
}

struct TrainPoly : TrainCommand<models::PolyModelConfig, models::PolyTrainOptions> {
  std::string bias_init = "marginal";
};

}  // namespace

void poly_train(CLI::App& cmd) {
  auto f = new_command<TrainPoly>(cmd, kTrainAbout);
  const std::string per = "per dataset, below";
  cmd.add_option("--data", f->data, "the dataset's JSON file")->required();
  cmd.add_option("--cell", f->cfg.cell, "recurrent cell: lstm or gru [default: lstm]");
  cmd.add_option("--layers", f->cfg.layers, "recurrent layers [default: " + per + "]");
  cmd.add_option("--hidden", f->cfg.hidden, "units per layer [default: " + per + "]");
  cmd.add_option("--dropout", f->cfg.dropout, "dropout between layers and before the output [default: 0.2]");
  cmd.add_option("--batch", f->o.batch, "pieces per step [default: " + per + "]")->check(positive_number());
  cmd.add_option("--transpose", f->o.transpose, "random shift of -N..N semitones per piece and epoch [default: " + per + "]")
      ->check(CLI::Range(0, 12));
  cmd.add_option("--bias-init", f->bias_init,
                 "marginal: the output bias starts at each key's log-odds in the training data; default: "
                 "PyTorch's initialisation [default: marginal]")
      ->check(CLI::IsMember({"marginal", "default"}));
  cmd.add_option("--frame-beats", f->cfg.frame_beats,
                 "a frame's length in quarter notes, for MIDI output [default: 1 for JSB Chorales, else 0.5]");
  models::PolyTrainOptions d;
  f->loop.add(cmd, TrainFlags::Length::kEpochs, d,
              {{"epochs", per}, {"lr", per}, {"patience", per}, {"warmup", "0"}});
  cmd.footer(recipes_help());
  cmd.callback([&cmd, f] {
    models::PolyModelConfig& cfg = f->cfg;
    models::PolyTrainOptions& o = f->o;
    cfg.dataset = file_stem(f->data);
    models::PolyRecipe r = models::poly_recipe(cfg.dataset);
    if (!given(cmd, "layers")) cfg.layers = r.layers;
    if (!given(cmd, "hidden")) cfg.hidden = r.hidden;
    if (!given(cmd, "dropout")) cfg.dropout = r.dropout;
    if (!given(cmd, "frame-beats")) cfg.frame_beats = r.frame_beats;
    if (!given(cmd, "batch")) o.batch = r.batch;
    if (!given(cmd, "transpose")) o.transpose = r.transpose;
    o.epochs = r.epochs;
    o.lr = r.lr;
    o.patience = r.patience;
    o.marginal_bias = f->bias_init == "marginal";
    f->loop.apply(cmd, o);
    cfg.validate();
    models::PolyDataset data = models::load_poly_json(f->data);
    std::printf("%s\n", data.summary().c_str());
    std::printf("model: %s, %lld layers x %lld, dropout %g, 88 keys in and out; recipe: %s\n", cfg.cell.c_str(),
                (long long)cfg.layers, (long long)cfg.hidden, cfg.dropout, r.dataset.c_str());
    std::fflush(stdout);
    models::TrainResult res;
    run_with_stop_on_sigint([&] { res = models::train_poly(cfg, data, o); });
    nlohmann::json j = {{"steps", res.steps_done},          {"epochs", res.epochs_done},
                        {"interrupted", res.interrupted},   {"stopped_early", res.stopped_early},
                        {"best_epoch", res.best_epoch},     {"best_val_nll", res.best_val_nll},
                        {"final_val_nll", res.final_val_nll}, {"seconds", res.seconds},
                        {"latest", o.out_dir + "/latest.safetensors"},
                        {"best", o.out_dir + "/best.safetensors"}};
    std::printf("%s\n", j.dump().c_str());
  });
}

namespace {

CLI::Validator one_of_splits() {
  return CLI::Validator(
      [](std::string& s) {
        return s == "train" || s == "valid" || s == "test" ? std::string()
                                                            : "split must be train, valid or test, got '" + s + "'";
      },
      "train|valid|test");
}

struct EvalPoly {
  std::string checkpoint, data, split = "test";
  int threads = 0;
};

}  // namespace

void poly_eval(CLI::App& cmd) {
  auto f = new_command<EvalPoly>(cmd, kEvalAbout);
  cmd.add_option("--checkpoint", f->checkpoint, "a train poly checkpoint (.safetensors)")->required();
  cmd.add_option("--data", f->data, "the dataset's JSON file")->required();
  cmd.add_option("--split", f->split, "train, valid or test [default: test]")->check(one_of_splits());
  add_threads_flag(cmd, f->threads);
  cmd.callback([f] {
    apply_threads(f->threads);
    auto model = models::load_poly_model(f->checkpoint);
    models::PolyDataset data = models::load_poly_json(f->data, false);
    const auto& pieces = data.split(f->split);
    if (pieces.empty()) throw Error("'" + data.path + "' has no pieces in split '" + f->split + "'");
    int64_t frames = 0;
    double nll = models::evaluate_poly(*model, pieces, &frames);
    nlohmann::json j = {{"nll", nll},          {"frames", frames},         {"pieces", pieces.size()},
                        {"split", f->split},   {"data", data.path},        {"cell", model->config.cell},
                        {"layers", model->config.layers}, {"hidden", model->config.hidden}};
    std::printf("%s\n", j.dump().c_str());
  });
}

namespace {

std::vector<int> parse_notes(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    try {
      size_t used = 0;
      int v = std::stoi(item, &used);
      if (used != item.size()) throw std::invalid_argument(item);
      if (v < models::kPolyLowPitch || v >= models::kPolyLowPitch + models::kPolyKeys)
        throw UsageError("--primer note " + item + " is outside the piano's 21..108");
      out.push_back(v);
    } catch (const std::logic_error&) {
      throw UsageError("--primer takes comma-separated MIDI note numbers, got '" + s + "'");
    }
  }
  return out;
}

struct SamplePoly {
  SampleOutputs outputs;
  std::string primer = "48,60,64,67", device = "cpu";
  int64_t frames = 64, seed = 1;
  double temperature = 1.0, tempo = 100, frame_beats = 0;
  int program = 0;
};

}  // namespace

void poly_sample(CLI::App& cmd) {
  auto f = new_command<SamplePoly>(cmd, kSampleAbout);
  f->outputs.add(cmd, "poly", "MIDI file to write");
  cmd.add_option("--frames", f->frames, "frames to draw [default: 64]")->check(CLI::Range(1, 1000000));
  cmd.add_option("--temperature", f->temperature, "logit temperature [default: 1.0]")->check(positive_number());
  cmd.add_option("--seed", f->seed, "random seed [default: 1]");
  cmd.add_option("--primer", f->primer, "the first frame's MIDI notes, comma-separated [default: 48,60,64,67]");
  cmd.add_option("--tempo", f->tempo, "beats per minute [default: 100]")->check(CLI::Range(1e-9, 1000.0));
  cmd.add_option("--frame-beats", f->frame_beats, "a frame's length in quarter notes [default: the model's]")
      ->check(CLI::Range(1e-9, 16.0));
  cmd.add_option("--program", f->program, "General MIDI program [default: 0, piano]")->check(CLI::Range(0, 127));
  cmd.add_option("--device", f->device, "where the model runs: cpu, cuda or cuda:N [default: cpu]");
  cmd.callback([f] {
    apply_threads(f->outputs.threads);
    std::vector<int> primer = parse_notes(f->primer);
    const Device device = Device::parse(f->device);
    auto model = models::load_poly_model(f->outputs.checkpoint);
    model->to(device);
    double frame_beats = f->frame_beats > 0 ? f->frame_beats : model->config.frame_beats;
    Generator gen(static_cast<uint64_t>(f->seed));
    auto keys = models::sample_poly(*model, f->frames, primer, f->temperature, [&] { return uniform_double(&gen); });
    const int64_t frames = f->frames;
    midi::PianoRoll roll;
    roll.tracks = 1;
    roll.steps = frames;
    roll.steps_per_beat = 1.0 / frame_beats;
    roll.data.assign(static_cast<size_t>(frames) * 128, 0.f);
    for (int64_t t = 0; t < frames; ++t)
      for (int64_t k = 0; k < models::kPolyKeys; ++k)
        roll.at(0, t, models::kPolyLowPitch + static_cast<int>(k)) = keys[t * models::kPolyKeys + k];
    roll.names = {"cadenza poly " + model->config.cell};
    roll.programs = {f->program};
    roll.channels = {0};
    roll.us_per_quarter = static_cast<int>(std::lround(60e6 / f->tempo));
    midi::Score score = midi::from_pianoroll(roll);
    midi::write(f->outputs.out, score);
    int64_t sounding = 0;
    for (uint8_t k : keys) sounding += k;
    nlohmann::json j = {{"midi", f->outputs.out}, {"frames", frames}, {"notes", score.note_count()},
                        {"mean_keys_per_frame", static_cast<double>(sounding) / frames},
                        {"seconds", score.duration()}};
    f->outputs.write(score, 0, 1, j);
    std::printf("%s\n", j.dump().c_str());
  });
}


}  // namespace cadenza::cli
