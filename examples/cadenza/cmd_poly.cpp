// cadenza train|sample|eval poly: the piano-roll LSTM/GRU of the polyphonic
// music benchmark (JSB Chorales, Nottingham, MuseData, Piano-midi.de).
#include <cmath>
#include <csignal>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include <cadenza/cadenza.h>

#include "args.h"
#include "commands.h"
#include "midi/pianoroll.h"
#include "midi/render.h"
#include "midi/roll_image.h"
#include "models/poly_trainer.h"
#include "models/token_trainer.h"

namespace cadenza::cli {
namespace {

const char* kTrainUsage =
    "usage: cadenza train poly --data FILE.json --out RUN\n"
    "         [--cell lstm|gru] [--layers 2] [--hidden 200] [--dropout 0.2]\n"
    "         [--batch 8] [--epochs 100] [--lr 1e-3] [--clip 1.0] [--warmup 0]\n"
    "         [--patience 0] [--transpose 0] [--bias-init marginal|default] [--frame-beats B] [--seed 1] [--threads N] [--resume]\n"
    "FILE.json holds {\"train\", \"valid\", \"test\"}: lists of pieces, each a list of frames,\n"
    "each the MIDI notes (21..108) sounding in it (shared/data/polyphonic/*.json).\n"
    "Each piece is one sequence from a zero state; the loss is the per-frame sum over the 88\n"
    "keys of binary cross-entropy. Adam, global-norm clipping, warmup then cosine decay;\n"
    "validation NLL after every epoch picks RUN/best.safetensors. --patience N stops after N\n"
    "epochs without improvement. --transpose N shifts each training piece by a random\n"
    "-N..N semitones per epoch (kept on the keyboard). --bias-init marginal (the default)\n"
    "starts the output bias at each key's log-odds in the training data; default keeps\n"
    "PyTorch's initialisation. --frame-beats: a frame's length in quarter notes for MIDI\n"
    "output (default 1 for JSB Chorales, else 0.5). Writes RUN/metrics.csv, TensorBoard events,\n"
    "RUN/latest.safetensors and RUN/loss.png. Ctrl-C saves a checkpoint; --resume continues\n"
    "it with the run's saved settings (an explicit --epochs extends the run).\n";

const char* kEvalUsage =
    "usage: cadenza eval poly --checkpoint C --data FILE.json [--split test|valid|train]\n"
    "Prints JSON: the NLL in nats per predicted frame (the benchmark's figure: the sum over\n"
    "88 keys of binary cross-entropy, averaged over every predicted frame of every piece)\n"
    "and the number of predicted frames.\n";

const char* kSampleUsage =
    "usage: cadenza sample poly --checkpoint C --out x.mid [--wav x.wav] [--png x.png]\n"
    "         [--frames 64] [--temperature 1.0] [--seed 1] [--primer 48,60,64,67]\n"
    "         [--tempo 100] [--frame-beats B] [--program 0] [--rate 16000] [--soundfont SF2]\n"
    "Frame 0 is the primer chord (MIDI notes; default C major); each next frame draws every\n"
    "key from its sigmoid. A frame lasts the model's frame_beats quarter notes at --tempo bpm.\n";

void on_sigint(int) { models::stop_requested().store(true); }

std::string file_stem(const std::string& path) {
  auto slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  auto dot = name.find_last_of('.');
  return dot == std::string::npos ? name : name.substr(0, dot);
}

int train(const Args& a) {
  a.allow_only({"data", "out", "cell", "layers", "hidden", "dropout", "batch", "epochs", "lr", "clip", "warmup",
                "patience", "transpose", "bias-init", "frame-beats", "seed", "threads", "resume", "stop-at", "log-every", "help"});
  if (a.has("help")) {
    std::fputs(kTrainUsage, stdout);
    return 0;
  }
  // --data is read again (and checked against the run); --epochs extends it.
  warn_ignored_on_resume(a, {"data", "out", "epochs", "threads", "resume", "stop-at", "log-every", "help"});
  if (a.has("threads")) set_num_threads(static_cast<int>(a.get_int("threads", 1)));
  std::string path = a.require("data");
  models::PolyModelConfig cfg;
  cfg.cell = a.get("cell", "lstm");
  cfg.layers = a.get_int("layers", 2);
  cfg.hidden = a.get_int("hidden", 200);
  cfg.dropout = a.get_double("dropout", 0.2);
  cfg.dataset = file_stem(path);
  bool jsb = cfg.dataset.find("jsb") != std::string::npos;
  cfg.frame_beats = a.get_double("frame-beats", jsb ? 1.0 : 0.5);
  try {
    cfg.validate();
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  models::PolyTrainOptions o;
  o.out_dir = a.require("out");
  o.batch = a.get_int("batch", 8);
  o.epochs = a.get_int("epochs", 100);
  o.lr = a.get_double("lr", 1e-3);
  o.clip = a.get_double("clip", 1.0);
  o.warmup = a.get_int("warmup", 0);
  o.patience = a.get_int("patience", 0);
  o.transpose = static_cast<int>(a.get_int("transpose", 0));
  std::string bias_init = a.get("bias-init", "marginal");
  if (bias_init != "marginal" && bias_init != "default")
    throw UsageError("--bias-init must be marginal or default, got '" + bias_init + "'");
  o.marginal_bias = bias_init == "marginal";
  if (o.transpose < 0 || o.transpose > 12) throw UsageError("--transpose must be in 0..12");
  o.seed = static_cast<uint64_t>(a.get_int("seed", 1));
  o.log_every = a.get_int("log-every", 10);
  o.resume = a.has("resume");
  if (o.resume && a.has("epochs")) o.resume_epochs = o.epochs;
  o.stop_at = a.get_int("stop-at", -1);
  if (o.batch <= 0 || o.epochs <= 0 || o.log_every <= 0)
    throw UsageError("--batch, --epochs and --log-every must be positive");
  if (!(o.lr > 0) || !(o.clip > 0)) throw UsageError("--lr and --clip must be positive");
  if (o.warmup < 0 || o.patience < 0) throw UsageError("--warmup and --patience must be >= 0");

  models::PolyDataset data = models::load_poly_json(path);
  std::printf("%s\n", data.summary().c_str());
  std::printf("model: %s, %lld layers x %lld, dropout %g, 88 keys in and out\n", cfg.cell.c_str(),
              (long long)cfg.layers, (long long)cfg.hidden, cfg.dropout);
  std::fflush(stdout);
  std::signal(SIGINT, on_sigint);
  auto r = models::train_poly(cfg, data, o);
  std::signal(SIGINT, SIG_DFL);
  nlohmann::json j = {{"steps", r.steps_done},         {"epochs", r.epochs_done},
                      {"interrupted", r.interrupted},  {"stopped_early", r.stopped_early},
                      {"best_epoch", r.best_epoch},    {"best_val_nll", r.best_val_nll},
                      {"final_val_nll", r.final_val_nll}, {"seconds", r.seconds},
                      {"latest", o.out_dir + "/latest.safetensors"},
                      {"best", o.out_dir + "/best.safetensors"}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

int eval(const Args& a) {
  a.allow_only({"checkpoint", "data", "split", "threads", "help"});
  if (a.has("help")) {
    std::fputs(kEvalUsage, stdout);
    return 0;
  }
  if (a.has("threads")) set_num_threads(static_cast<int>(a.get_int("threads", 1)));
  auto model = models::load_poly_model(a.require("checkpoint"));
  std::string split = a.get("split", "test");
  if (split != "train" && split != "valid" && split != "test")
    throw UsageError("--split must be train, valid or test, got '" + split + "'");
  models::PolyDataset data = models::load_poly_json(a.require("data"), false);
  const auto& pieces = data.split(split);
  if (pieces.empty()) throw Error("'" + data.path + "' has no pieces in split '" + split + "'");
  int64_t frames = 0;
  double nll = models::evaluate_poly(*model, pieces, &frames);
  nlohmann::json j = {{"nll", nll},          {"frames", frames},         {"pieces", pieces.size()},
                      {"split", split},      {"data", data.path},        {"cell", model->config.cell},
                      {"layers", model->config.layers}, {"hidden", model->config.hidden}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

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

int sample(const Args& a) {
  a.allow_only({"checkpoint", "out", "wav", "png", "frames", "temperature", "seed", "primer", "tempo",
                "frame-beats", "program", "rate", "soundfont", "threads", "help"});
  if (a.has("help")) {
    std::fputs(kSampleUsage, stdout);
    return 0;
  }
  if (a.has("threads")) set_num_threads(static_cast<int>(a.get_int("threads", 1)));
  auto model = models::load_poly_model(a.require("checkpoint"));
  std::string out = a.require("out");
  int64_t frames = a.get_int("frames", 64);
  double temperature = a.get_double("temperature", 1.0);
  double tempo = a.get_double("tempo", 100);
  double frame_beats = a.get_double("frame-beats", model->config.frame_beats);
  int program = static_cast<int>(a.get_int("program", 0));
  if (frames <= 0 || frames > 1000000) throw UsageError("--frames must be in 1..1000000");
  if (!(temperature > 0)) throw UsageError("--temperature must be positive");
  if (!(tempo > 0 && tempo <= 1000)) throw UsageError("--tempo must be in (0, 1000] bpm");
  if (!(frame_beats > 0 && frame_beats <= 16)) throw UsageError("--frame-beats must be in (0, 16]");
  if (program < 0 || program > 127) throw UsageError("--program must be 0..127");
  std::vector<int> primer = parse_notes(a.get("primer", "48,60,64,67"));
  Generator gen(static_cast<uint64_t>(a.get_int("seed", 1)));
  auto keys = models::sample_poly(*model, frames, primer, temperature, [&] { return uniform_double(&gen); });

  midi::PianoRoll roll;
  roll.tracks = 1;
  roll.steps = frames;
  roll.steps_per_beat = 1.0 / frame_beats;
  roll.data.assign(static_cast<size_t>(frames) * 128, 0.f);
  for (int64_t t = 0; t < frames; ++t)
    for (int64_t k = 0; k < models::kPolyKeys; ++k)
      roll.at(0, t, models::kPolyLowPitch + static_cast<int>(k)) = keys[t * models::kPolyKeys + k];
  roll.names = {"cadenza poly " + model->config.cell};
  roll.programs = {program};
  roll.channels = {0};
  roll.us_per_quarter = static_cast<int>(std::lround(60e6 / tempo));
  midi::Score score = midi::from_pianoroll(roll);
  midi::write(out, score);
  int64_t sounding = 0;
  for (uint8_t k : keys) sounding += k;
  nlohmann::json j = {{"midi", out}, {"frames", frames}, {"notes", score.note_count()},
                      {"mean_keys_per_frame", static_cast<double>(sounding) / frames},
                      {"seconds", score.duration()}};
  if (a.has("png")) {
    midi::save_roll_png(score, a.get("png"));
    j["png"] = a.get("png");
  }
  if (a.has("wav")) {
    midi::RenderOptions ro;
    ro.sample_rate = static_cast<int>(a.get_int("rate", 16000));
    if (a.has("soundfont")) ro.soundfont = a.get("soundfont");
    audio::save(a.get("wav"), midi::render(score, ro));
    j["wav"] = a.get("wav");
  }
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

}  // namespace

int run_poly(const std::string& verb, const Args& a) {
  if (verb == "train") return train(a);
  if (verb == "eval") return eval(a);
  if (verb == "sample") return sample(a);
  throw UsageError("no poly command '" + verb + "'");
}

}  // namespace cadenza::cli
