// cadenza train|sample|eval lstm: the LSTM/GRU model over MIDI event tokens.
#include <cmath>
#include <csignal>
#include <cstdio>
#include <nlohmann/json.hpp>

#include <cadenza/cadenza.h>

#include "args.h"
#include "commands.h"
#include "lstm_data.h"
#include "midi/render.h"
#include "models/lstm_workloads.h"
#include "midi/roll_image.h"

namespace cadenza::cli {
namespace {

const char* kTrainUsage =
    "usage: cadenza train lstm --data DIRS_OR_FILES --vocab performance|melody --out RUN\n"
    "         [--cell lstm|gru] [--layers 2] [--hidden 512] [--embed 256] [--dropout 0.1]\n"
    "         [--batch 32] [--seq-len 128] [--steps 2000] [--lr 1e-3] [--clip 1.0]\n"
    "         [--warmup 100] [--eval-every 100] [--val-tokens 65536] [--transpose 3]\n"
    "         [--seed 1] [--threads N] [--resume]\n"
    "Trains with truncated BPTT, Adam, global-norm clipping, warmup then cosine decay.\n"
    "Writes RUN/metrics.csv, TensorBoard events, RUN/latest.safetensors, RUN/best.safetensors\n"
    "(by validation NLL) and RUN/loss.png. Ctrl-C saves a checkpoint; --resume continues it\n"
    "with the run's saved settings (an explicit --steps extends the run).\n";

const char* kSampleUsage =
    "usage: cadenza sample lstm --checkpoint C --out x.mid [--wav x.wav] [--png x.png]\n"
    "         [--length 1000] [--temperature 1.0] [--top-k 0] [--top-p 1.0]\n"
    "         [--primer primer.mid] [--seed 1] [--count 1] [--rate 16000]\n"
    "         [--max-note-seconds 0]\n"
    "--max-note-seconds S ends notes that the model left sounding longer than S (0: off).\n"
    "With --count N > 1, files are numbered: x-1.mid, x-2.mid, ...\n";

const char* kEvalUsage =
    "usage: cadenza eval lstm --checkpoint C --data FILES_OR_DIRS\n"
    "Prints JSON: the NLL per predicted token (nats and bits) and the token count.\n";

void on_sigint(int) { models::stop_requested().store(true); }

// A sampled NOTE_ON whose NOTE_OFF never comes sounds to the end of the piece;
// this ends such notes `seconds` after they start.
void cap_note_lengths(midi::Score& score, double seconds) {
  for (auto& track : score.tracks)
    for (auto& n : track.notes) {
      if (n.end - n.start <= seconds || n.end <= n.start) continue;
      double ticks_per_second = static_cast<double>(n.end_tick - n.start_tick) / (n.end - n.start);
      n.end = n.start + seconds;
      n.end_tick = n.start_tick + std::max<int64_t>(1, std::llround(seconds * ticks_per_second));
    }
}

std::string numbered(const std::string& path, int i, int count) {
  if (count <= 1) return path;
  auto dot = path.find_last_of('.');
  auto slash = path.find_last_of('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash))
    return path + "-" + std::to_string(i + 1);
  return path.substr(0, dot) + "-" + std::to_string(i + 1) + path.substr(dot);
}

int train_lstm(const Args& a) {
  a.allow_only({"data", "vocab", "out", "cell", "layers", "hidden", "embed", "dropout", "batch", "seq-len",
                "steps", "lr", "clip", "warmup", "eval-every", "val-tokens", "transpose", "seed",
                "threads", "resume", "stop-at", "log-every", "help"});
  if (a.has("help")) {
    std::fputs(kTrainUsage, stdout);
    return 0;
  }
  // --data and --vocab still read the corpus; --steps extends the schedule.
  warn_ignored_on_resume(a, {"data", "vocab", "out", "steps", "threads", "resume", "stop-at", "help"});
  if (a.has("threads")) set_num_threads(static_cast<int>(a.get_int("threads", 1)));
  std::string vocab = a.get("vocab", "performance");
  models::SequenceModelConfig cfg;
  cfg.vocab = vocab;
  cfg.vocab_size = vocab_size_of(vocab);
  cfg.cell = a.get("cell", "lstm");
  cfg.layers = a.get_int("layers", 2);
  cfg.hidden = a.get_int("hidden", 512);
  cfg.embed = a.get_int("embed", 256);
  cfg.dropout = a.get_double("dropout", 0.1);
  try {
    cfg.validate();
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  models::TokenTrainOptions o;
  o.out_dir = a.require("out");
  o.batch = a.get_int("batch", 32);
  o.seq_len = a.get_int("seq-len", 128);
  o.steps = a.get_int("steps", 2000);
  o.lr = a.get_double("lr", 1e-3);
  o.clip = a.get_double("clip", 1.0);
  o.warmup = a.get_int("warmup", 100);
  o.eval_every = a.get_int("eval-every", 100);
  o.log_every = a.get_int("log-every", 10);
  o.val_tokens = a.get_int("val-tokens", 65536);
  o.transpose = static_cast<int>(a.get_int("transpose", vocab == "performance" ? 3 : 0));
  o.seed = static_cast<uint64_t>(a.get_int("seed", 1));
  o.resume = a.has("resume");
  // On --resume the run's saved options apply; an explicit --steps extends it.
  if (o.resume && a.has("steps")) o.resume_steps = o.steps;
  o.stop_at = a.get_int("stop-at", -1);
  if (o.batch <= 0 || o.seq_len <= 0 || o.steps <= 0 || o.eval_every <= 0 || o.log_every <= 0)
    throw UsageError("--batch, --seq-len, --steps, --eval-every and --log-every must be positive");
  if (!(o.lr > 0) || !(o.clip > 0)) throw UsageError("--lr and --clip must be positive");
  if (o.warmup < 0 || o.warmup >= o.steps) throw UsageError("--warmup must be in [0, --steps)");
  if (o.transpose < 0 || o.transpose > 12) throw UsageError("--transpose must be in 0..12");
  if (o.transpose > 0 && vocab != "performance")
    throw UsageError("--transpose applies to the performance vocabulary only");

  TokenData data = load_token_data(split_paths(a.get_all("data")), vocab);
  std::printf("%s\n", data.report.c_str());
  std::printf("model: %s, %lld layers x %lld, embedding %lld, vocabulary %s (%lld)\n", cfg.cell.c_str(),
              (long long)cfg.layers, (long long)cfg.hidden, (long long)cfg.embed, vocab.c_str(),
              (long long)cfg.vocab_size);
  std::fflush(stdout);
  std::signal(SIGINT, on_sigint);
  models::TransposeFn tf = nullptr;
  if (vocab == "performance") tf = transpose_performance;
  auto r = models::train_tokens(cfg, data.train, data.valid, o, tf);
  std::signal(SIGINT, SIG_DFL);
  double uni = models::unigram_nll(data.train, data.valid, cfg.vocab_size);
  nlohmann::json j = {{"steps", r.steps_done},
                      {"interrupted", r.interrupted},
                      {"final_val_nll", r.final_val_nll},
                      {"best_val_nll", r.best_val_nll},
                      {"best_val_bits", r.best_val_nll / std::log(2.0)},
                      {"unigram_val_nll", uni},
                      {"latest", o.out_dir + "/latest.safetensors"},
                      {"best", o.out_dir + "/best.safetensors"}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

int sample_lstm(const Args& a) {
  a.allow_only({"checkpoint", "out", "wav", "png", "length", "temperature", "top-k", "top-p", "primer", "seed",
                "count", "rate", "soundfont", "threads", "max-note-seconds", "help"});
  if (a.has("help")) {
    std::fputs(kSampleUsage, stdout);
    return 0;
  }
  if (a.has("threads")) set_num_threads(static_cast<int>(a.get_int("threads", 1)));
  auto model = models::load_sequence_model(a.require("checkpoint"));
  std::string out = a.require("out");
  int64_t length = a.get_int("length", 1000);
  double temperature = a.get_double("temperature", 1.0), top_p = a.get_double("top-p", 1.0);
  int64_t top_k = a.get_int("top-k", 0);
  int count = static_cast<int>(a.get_int("count", 1));
  double max_note = a.get_double("max-note-seconds", 0);
  if (max_note < 0) throw UsageError("--max-note-seconds must be >= 0");
  if (length <= 0 || count <= 0) throw UsageError("--length and --count must be positive");
  if (temperature < 0 || !(top_p > 0 && top_p <= 1) || top_k < 0)
    throw UsageError("--temperature >= 0, --top-k >= 0 and --top-p in (0, 1] are required");
  const std::string& vocab = model->config.vocab;
  models::TokenSeq primer;
  if (a.has("primer")) primer = tokenize(midi::read(a.get("primer")), vocab);
  Generator gen(static_cast<uint64_t>(a.get_int("seed", 1)));
  nlohmann::json written = nlohmann::json::array();
  for (int i = 0; i < count; ++i) {
    auto toks = models::generate(*model, length, 0, [&] { return uniform_double(&gen); }, temperature, top_k,
                                 top_p, primer);
    midi::Score score = detokenize(toks, vocab);
    if (max_note > 0) cap_note_lengths(score, max_note);
    std::string mid = numbered(out, i, count);
    midi::write(mid, score);
    nlohmann::json item = {{"midi", mid}, {"tokens", toks.size()}};
    if (a.has("png")) {
      std::string png = numbered(a.get("png"), i, count);
      midi::save_roll_png(score, png);
      item["png"] = png;
    }
    if (a.has("wav")) {
      midi::RenderOptions ro;
      ro.sample_rate = static_cast<int>(a.get_int("rate", 16000));
      if (a.has("soundfont")) ro.soundfont = a.get("soundfont");
      std::string wav = numbered(a.get("wav"), i, count);
      audio::save(wav, midi::render(score, ro));
      item["wav"] = wav;
    }
    written.push_back(item);
  }
  std::printf("%s\n", written.dump().c_str());
  return 0;
}

int eval_lstm(const Args& a) {
  a.allow_only({"checkpoint", "data", "threads", "help"});
  if (a.has("help")) {
    std::fputs(kEvalUsage, stdout);
    return 0;
  }
  if (a.has("threads")) set_num_threads(static_cast<int>(a.get_int("threads", 1)));
  auto model = models::load_sequence_model(a.require("checkpoint"));
  TokenData d = load_token_files(split_paths(a.get_all("data")), model->config.vocab);
  int64_t tokens = 0;
  double nll = models::evaluate_nll(*model, d.test, 256, 0, &tokens);
  nlohmann::json j = {{"nll", nll}, {"bits_per_token", nll / std::log(2.0)}, {"tokens", tokens},
                      {"files", d.test.size()}, {"vocab", model->config.vocab}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

int dispatch(int argc, char** argv, const char* verb, const char* usage, int (*lstm)(const Args&)) {
  if (argc < 3 || std::string(argv[2]) == "--help") {
    FILE* out = argc < 3 ? stderr : stdout;
    std::fprintf(out, "models: lstm (MIDI event tokens), poly (the polyphonic piano-roll benchmark; "
                      "cadenza %s poly --help)\n\n", verb);
    std::fputs(usage, out);
    return argc < 3 ? 2 : 0;
  }
  std::string model = argv[2];
  if (model == "poly") return run_poly(verb, Args(argc, argv, 3, {"resume", "help"}));
  if (model != "lstm")
    throw UsageError(std::string("unknown model '") + model + "' for " + verb + " (available: lstm, poly)");
  return lstm(Args(argc, argv, 3, {"resume", "help"}));
}

}  // namespace

int cmd_train(int argc, char** argv) { return dispatch(argc, argv, "train", kTrainUsage, train_lstm); }
int cmd_sample(int argc, char** argv) { return dispatch(argc, argv, "sample", kSampleUsage, sample_lstm); }
int cmd_eval(int argc, char** argv) { return dispatch(argc, argv, "eval", kEvalUsage, eval_lstm); }

}  // namespace cadenza::cli
