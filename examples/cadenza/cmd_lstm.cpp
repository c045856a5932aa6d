// cadenza train|sample|eval lstm: the LSTM/GRU model over MIDI event tokens.
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli_checks.h"
#include "commands.h"
#include "engine/random.h"
#include "midi/midi.h"
#include "models/lstm_workloads.h"
#include "models/token_data.h"
#include "models/token_trainer.h"
#include "sample_output.h"
#include "train_flags.h"

namespace cadenza::cli {
namespace {

const char* kTrainAbout =
    "Train the LSTM/GRU over MIDI event tokens with truncated BPTT: the training pieces are shuffled\n"
      "(and transposed) each epoch and cut into --batch parallel streams of --seq-len tokens; the\n"
      "recurrent state carries over between steps. Adam, warmup then cosine decay by default.";

const char* kSampleAbout =
    "Generate event tokens from a checkpoint and write them as MIDI (and WAV, PNG).";

const char* kEvalAbout =
    "NLL per predicted token of a checkpoint on MIDI files; prints JSON (nats, bits, tokens).";

struct TrainLstm : TrainCommand<models::SequenceModelConfig, models::TokenTrainOptions, std::vector<std::string>> {
  std::string vocab = "performance";
};

}  // namespace

void lstm_train(CLI::App& cmd) {
  auto f = new_command<TrainLstm>(cmd, kTrainAbout);
  cmd.add_option("--data", f->data,
                 "MIDI files or directories (repeatable, comma-separated) [default: Debian's openttd-openmsx "
                 "and planetblupi MIDI corpora]")
      ->delimiter(',');
  cmd.add_option("--vocab", f->vocab, "token vocabulary: performance (388 events) or melody [default: performance]");
  cmd.add_option("--cell", f->cfg.cell, "recurrent cell: lstm or gru [default: lstm]");
  cmd.add_option("--layers", f->cfg.layers, "recurrent layers [default: 2]");
  cmd.add_option("--hidden", f->cfg.hidden, "units per layer [default: 512]");
  cmd.add_option("--embed", f->cfg.embed, "token embedding size [default: 256]");
  cmd.add_option("--dropout", f->cfg.dropout, "dropout between layers and before the output [default: 0.1]");
  cmd.add_option("--batch", f->o.batch,
                 "parallel token streams [default: 32, fewer when the data cannot fill 32]");
  cmd.add_option("--seq-len", f->o.seq_len, "tokens per stream and step (the BPTT window) [default: 128]");
  cmd.add_option("--val-tokens", f->o.val_tokens, "validation tokens per evaluation (0: all) [default: 65536]");
  cmd.add_option("--transpose", f->o.transpose,
                 "shift each training piece by a random -N..N semitones per epoch (performance vocabulary) "
                 "[default: 3 for performance, else 0]");
  models::TokenTrainOptions d;
  d.warmup = -1;
  f->loop.add(cmd, TrainFlags::Length::kSteps, d,
              {{"warmup", std::to_string(models::kTokenDefaultWarmup) + ", at most a tenth of the run"}});
  cmd.footer(
      "Writes RUN/metrics.csv, TensorBoard events, RUN/latest.safetensors, RUN/best.safetensors (by\n"
      "validation NLL) and RUN/loss.png. Ctrl-C saves a checkpoint; --resume continues it exactly.");
  cmd.callback([&cmd, f] {
    models::TokenTrainOptions& o = f->o;
    if (!given(cmd, "batch")) o.batch = -1;  // 32, or what the data fills
    if (!given(cmd, "transpose")) o.transpose = f->vocab == "performance" ? 3 : 0;
    f->loop.apply(cmd, o);
    models::SequenceModelConfig& cfg = f->cfg;
    cfg.vocab = f->vocab;
    cfg.vocab_size = models::vocab_size_of(f->vocab);
    cfg.validate();
    if (o.transpose > 0 && f->vocab != "performance")
      throw UsageError("--transpose applies to the performance vocabulary only");
    std::vector<std::string> paths = f->data.empty() ? models::default_token_corpus() : f->data;
    models::TokenData data = models::load_token_data(paths, f->vocab);
    std::printf("%s\n", data.report.c_str());
    std::printf("model: %s, %lld layers x %lld, embedding %lld, vocabulary %s (%lld)\n", cfg.cell.c_str(),
                (long long)cfg.layers, (long long)cfg.hidden, (long long)cfg.embed, f->vocab.c_str(),
                (long long)cfg.vocab_size);
    std::fflush(stdout);
    models::TransposeFn tf = nullptr;
    if (f->vocab == "performance") tf = models::transpose_performance;
    models::TrainResult r;
    run_with_stop_on_sigint([&] { r = models::train_tokens(cfg, data.train, data.valid, o, tf); });
    double uni = models::unigram_nll(data.train, data.valid, cfg.vocab_size);
    nlohmann::json j = {{"steps", r.steps_done},
                        {"interrupted", r.interrupted},
                        {"stopped_early", r.stopped_early},
                        {"final_val_nll", r.final_val_nll},
                        {"best_val_nll", r.best_val_nll},
                        {"best_val_bits", r.best_val_nll / std::log(2.0)},
                        {"unigram_val_nll", uni},
                        {"latest", o.out_dir + "/latest.safetensors"},
                        {"best", o.out_dir + "/best.safetensors"}};
    std::printf("%s\n", j.dump().c_str());
  });
}

namespace {

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

struct SampleLstm {
  int64_t length = 1000, top_k = 0, seed = 1;
  int count = 1;
  double temperature = 1.0, top_p = 1.0, max_note = 0;
  std::string primer, device = "cpu";
  SampleOutputs outputs;
};

}  // namespace

void lstm_sample(CLI::App& cmd) {
  auto f = new_command<SampleLstm>(cmd, kSampleAbout);
  f->outputs.add(cmd, "lstm", "MIDI file to write (numbered x-1.mid, x-2.mid, ... with --count)");
  cmd.add_option("--length", f->length, "tokens to generate [default: 1000]")->check(positive_number());
  cmd.add_option("--temperature", f->temperature, "softmax temperature (0: greedy) [default: 1.0]")
      ->check(non_negative_number());
  cmd.add_option("--top-k", f->top_k, "sample among the k most likely tokens (0: all) [default: 0]")
      ->check(non_negative_number());
  cmd.add_option("--top-p", f->top_p, "nucleus sampling mass in (0, 1] [default: 1.0]")
      ->check(CLI::Range(1e-12, 1.0));
  cmd.add_option("--primer", f->primer, "MIDI file whose tokens start every sample")->check(CLI::ExistingFile);
  cmd.add_option("--seed", f->seed, "random seed [default: 1]");
  cmd.add_option("--count", f->count, "samples to write [default: 1]")->check(positive_number());
  cmd.add_option("--device", f->device, "where the model runs: cpu (the fast decoder), cuda or cuda:N [default: cpu]");
  cmd.add_option("--max-note-seconds", f->max_note,
                 "end notes the model left sounding longer than this (0: off) [default: 0]")
      ->check(non_negative_number());
  cmd.callback([f] {
    apply_threads(f->outputs.threads);
    const Device device = Device::parse(f->device);
    auto model = models::load_sequence_model(f->outputs.checkpoint);
    model->to(device);
    const std::string& vocab = model->config.vocab;
    models::TokenSeq primer;
    if (!f->primer.empty()) primer = models::tokenize(midi::read(f->primer), vocab);
    Generator gen(static_cast<uint64_t>(f->seed));
    nlohmann::json written = nlohmann::json::array();
    for (int i = 0; i < f->count; ++i) {
      auto toks = models::generate(*model, f->length, 0, [&] { return uniform_double(&gen); }, f->temperature,
                                   f->top_k, f->top_p, primer);
      midi::Score score = models::detokenize(toks, vocab);
      if (f->max_note > 0) cap_note_lengths(score, f->max_note);
      std::string mid = numbered(f->outputs.out, i, f->count);
      midi::write(mid, score);
      nlohmann::json item = {{"midi", mid}, {"tokens", toks.size()}};
      f->outputs.write(score, i, f->count, item);
      written.push_back(item);
    }
    std::printf("%s\n", written.dump().c_str());
  });
}

namespace {

struct EvalLstm {
  std::string checkpoint;
  std::vector<std::string> data;
  int threads = 0;
};

}  // namespace

void lstm_eval(CLI::App& cmd) {
  auto f = new_command<EvalLstm>(cmd, kEvalAbout);
  cmd.add_option("--checkpoint", f->checkpoint, "a train lstm checkpoint (.safetensors)")->required();
  cmd.add_option("--data", f->data, "MIDI files or directories (repeatable, comma-separated)")
      ->required()
      ->delimiter(',');
  add_threads_flag(cmd, f->threads);
  cmd.callback([f] {
    apply_threads(f->threads);
    auto model = models::load_sequence_model(f->checkpoint);
    models::TokenData d = models::load_token_files(f->data, model->config.vocab);
    int64_t tokens = 0;
    double nll = models::evaluate_nll(*model, d.test, 256, 0, &tokens);
    nlohmann::json j = {{"nll", nll}, {"bits_per_token", nll / std::log(2.0)}, {"tokens", tokens},
                        {"files", d.test.size()}, {"vocab", model->config.vocab}};
    std::printf("%s\n", j.dump().c_str());
  });
}


}  // namespace cadenza::cli
