#include "models/token_data.h"

#include <sys/stat.h>

#include <sstream>


namespace cadenza::models {

static bool is_dir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

int64_t vocab_size_of(const std::string& vocab) {
  if (vocab == "performance") return midi::performance::kVocabSize;
  if (vocab == "melody") return midi::melody::vocab_size(midi::melody::Options{});
  throw OptionError("vocab", "vocab must be performance or melody, got '" + vocab + "'");
}

TokenSeq tokenize(const midi::Score& score, const std::string& vocab) {
  if (vocab == "performance") return midi::performance::encode(score);
  midi::melody::Options o;
  return midi::melody::events_to_tokens(midi::melody::extract(score, o), o);
}

midi::Score detokenize(const TokenSeq& tokens, const std::string& vocab) {
  if (vocab == "performance") return midi::performance::decode(tokens);
  midi::melody::Options o;
  return midi::melody::to_score(midi::melody::tokens_to_events(tokens, o), o);
}

TokenSeq transpose_performance(const TokenSeq& tokens, int s) {
  using namespace midi::performance;
  TokenSeq out(tokens);
  for (auto& t : out) {
    if (t >= kNoteOn && t < kNoteOff) {
      int p = t - kNoteOn + s;
      if (p < 0 || p > 127) return {};
      t = kNoteOn + p;
    } else if (t >= kNoteOff && t < kTimeShift) {
      int p = t - kNoteOff + s;
      if (p < 0 || p > 127) return {};
      t = kNoteOff + p;
    }
  }
  return out;
}

std::vector<std::string> default_token_corpus() {
  return {"/usr/share/games/openttd/baseset/openmsx", "/usr/share/planetblupi/music"};
}

static midi::DatasetOptions dataset_options(const std::string& vocab) {
  midi::DatasetOptions o;
  vocab_size_of(vocab);
  o.representation = vocab == "performance" ? midi::Representation::kPerformance : midi::Representation::kMelody;
  return o;
}

TokenData load_token_data(const std::vector<std::string>& paths, const std::string& vocab) {
  if (paths.empty()) throw OptionError("data", "no MIDI files or directories to read");
  TokenData d;
  d.vocab_size = vocab_size_of(vocab);
  auto opts = dataset_options(vocab);
  std::ostringstream rep;
  for (const auto& p : paths) {
    if (is_dir(p)) {
      auto ds = midi::MidiDataset::load(p, opts);
      for (auto& ex : ds.examples()) {
        if (ex.tokens.size() < 2) continue;
        auto& seqs = ex.split == midi::Split::kTrain ? d.train : ex.split == midi::Split::kValid ? d.valid : d.test;
        auto& names = ex.split == midi::Split::kTrain ? d.train_names
                      : ex.split == midi::Split::kValid ? d.valid_names : d.test_names;
        seqs.push_back(ex.tokens);
        names.push_back(p + "/" + ex.path);
      }
      rep << p << ": " << ds.summary().to_string() << "\n";
    } else {
      midi::Score s = midi::read(p);
      auto toks = tokenize(s, vocab);
      auto base = p.substr(p.find_last_of('/') + 1);
      auto split = midi::split_for(base, opts.valid_fraction, opts.test_fraction);
      if (toks.size() < 2) {
        rep << p << ": dropped (fewer than 2 tokens)\n";
        continue;
      }
      (split == midi::Split::kTrain ? d.train : split == midi::Split::kValid ? d.valid : d.test).push_back(toks);
      (split == midi::Split::kTrain ? d.train_names
       : split == midi::Split::kValid ? d.valid_names : d.test_names).push_back(p);
    }
  }
  // A small corpus can hash every file into one split; keep training possible
  // and say so.
  if (d.valid.empty() && d.train.size() > 1) {
    d.valid.push_back(d.train.back());
    d.valid_names.push_back(d.train_names.back());
    d.train.pop_back();
    d.train_names.pop_back();
    rep << "note: no file hashed into the validation split; using " << d.valid_names.back() << "\n";
  } else if (d.valid.empty() && d.train.size() == 1 && d.train[0].size() >= 20) {
    // One piece alone: its last tenth validates the rest.
    TokenSeq& only = d.train[0];
    size_t cut = only.size() - only.size() / 10;
    d.valid.emplace_back(only.begin() + static_cast<std::ptrdiff_t>(cut), only.end());
    d.valid_names.push_back(d.train_names[0] + " (last tenth)");
    only.resize(cut);
    rep << "note: one piece only; its last tenth is the validation split\n";
  }
  if (d.train.empty()) throw Error("no training pieces in " + paths.front() + (paths.size() > 1 ? " ..." : ""));
  int64_t tt = 0, vt = 0;
  for (auto& s : d.train) tt += s.size();
  for (auto& s : d.valid) vt += s.size();
  rep << "pieces: " << d.train.size() << " train (" << tt << " tokens), " << d.valid.size() << " valid ("
      << vt << " tokens), " << d.test.size() << " test";
  d.report = rep.str();
  return d;
}

TokenData load_token_files(const std::vector<std::string>& paths, const std::string& vocab) {
  TokenData d;
  d.vocab_size = vocab_size_of(vocab);
  for (const auto& p : paths) {
    std::vector<std::string> files;
    if (is_dir(p)) {
      for (auto& rel : midi::find_midi_files(p)) files.push_back(p + "/" + rel);
    } else {
      files.push_back(p);
    }
    for (auto& f : files) {
      auto toks = tokenize(midi::read(f), vocab);
      d.test.push_back(toks);
      d.test_names.push_back(f);
    }
  }
  if (d.test.empty()) throw Error("no MIDI files in " + (paths.empty() ? std::string("(no paths)") : paths.front()) +
                                  (paths.size() > 1 ? " ..." : ""));
  return d;
}

}  // namespace cadenza::models
