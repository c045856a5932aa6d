// MIDI datasets: directory walk, hash split, conversion, augmentation, and a
// summary of what was kept and dropped.
#include "midi/dataset.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <sstream>

namespace cadenza::midi {

namespace fs = std::filesystem;

const char* split_name(Split s) {
  switch (s) {
    case Split::kTrain:
      return "train";
    case Split::kValid:
      return "valid";
    case Split::kTest:
      return "test";
  }
  return "?";
}

Split split_for(const std::string& relative_path, double valid_fraction, double test_fraction) {
  if (valid_fraction < 0 || test_fraction < 0 || valid_fraction + test_fraction > 1) {
    throw Error("dataset: need valid_fraction, test_fraction >= 0 with a sum <= 1");
  }
  uint64_t h = 1469598103934665603ull;  // FNV-1a 64
  for (unsigned char c : relative_path) {
    h ^= c;
    h *= 1099511628211ull;
  }
  double u = static_cast<double>(h >> 11) / static_cast<double>(1ull << 53);  // [0, 1)
  if (u < test_fraction) return Split::kTest;
  if (u < test_fraction + valid_fraction) return Split::kValid;
  return Split::kTrain;
}

std::vector<std::string> find_midi_files(const std::string& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw Error("dataset: " + root + " is not a directory");
  std::vector<std::string> out;
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
  if (ec) throw Error("dataset: cannot list " + root + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) throw Error("dataset: error while listing " + root + ": " + ec.message());
    if (!it->is_regular_file(ec)) continue;
    std::string ext = it->path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (ext != ".mid" && ext != ".midi") continue;
    out.push_back(it->path().lexically_relative(root).generic_string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string DatasetSummary::to_string() const {
  std::ostringstream o;
  o << "files: " << files_found << " found, " << files_kept << " kept; notes kept: " << notes_kept
    << "\nexamples: train " << examples[0] << ", valid " << examples[1] << ", test " << examples[2]
    << " (" << tokens_or_steps << " tokens or steps)";
  for (const auto& [reason, n] : dropped) o << "\ndropped (" << reason << "): " << n;
  return o.str();
}

std::vector<const Example*> MidiDataset::split(Split s) const {
  std::vector<const Example*> out;
  for (const Example& e : examples_) {
    if (e.split == s) out.push_back(&e);
  }
  return out;
}

namespace {

// Converts one (possibly transposed) score; returns a drop reason or "".
std::string convert(const Score& score, const DatasetOptions& o, Example& ex) {
  switch (o.representation) {
    case Representation::kPerformance:
      ex.tokens = performance::encode(score, o.performance);
      if (ex.tokens.empty()) return "no pitched notes";
      return "";
    case Representation::kMelody: {
      std::vector<int> events;
      try {
        events = melody::extract(score, o.melody);
      } catch (const Error& e) {
        return std::string("melody: ") +
               (std::string(e.what()).find("max_steps") != std::string::npos
                    ? "longer than max_steps"
                    : "pitch out of range");
      }
      if (events.empty()) return "no pitched notes";
      ex.tokens = melody::events_to_tokens(events, o.melody);
      return "";
    }
    case Representation::kPianoRoll: {
      try {
        ex.roll = to_pianoroll(o.split_channels ? split_by_channel(score) : score, o.roll);
      } catch (const Error&) {
        return "piano roll longer than max_steps";
      }
      return "";
    }
  }
  return "unknown representation";
}

}  // namespace

MidiDataset MidiDataset::load(const std::string& root, const DatasetOptions& o) {
  MidiDataset ds;
  DatasetSummary& sum = ds.summary_;
  std::vector<std::string> files = find_midi_files(root);
  sum.files_found = static_cast<int64_t>(files.size());
  if (files.empty()) throw Error("dataset: no .mid or .midi files under " + root);
  auto drop = [&](const std::string& path, const std::string& reason) {
    ++sum.dropped[reason];
    sum.dropped_files.emplace_back(path, reason);
  };
  for (const std::string& rel : files) {
    Score score;
    try {
      score = read((fs::path(root) / rel).string());
    } catch (const ParseError&) {
      drop(rel, "parse error");
      continue;
    } catch (const Error&) {
      drop(rel, "unreadable");
      continue;
    }
    int64_t notes = score.note_count();
    if (notes < o.min_notes) {
      drop(rel, "fewer than " + std::to_string(o.min_notes) + " notes");
      continue;
    }
    Split split = split_for(rel, o.valid_fraction, o.test_fraction);
    std::vector<int> shifts = {0};
    if (split == Split::kTrain) {
      for (int t : o.transpositions) {
        if (t != 0 && std::find(shifts.begin(), shifts.end(), t) == shifts.end())
          shifts.push_back(t);
      }
    }
    bool kept = false;
    for (int shift : shifts) {
      if (shift != 0 && !can_transpose(score, shift)) {
        drop(rel, "transposition out of range");
        continue;
      }
      Example ex;
      ex.path = rel;
      ex.split = split;
      ex.transpose = shift;
      ex.notes = notes;
      std::string reason = convert(shift ? transposed(score, shift) : score, o, ex);
      if (!reason.empty()) {
        drop(rel, reason);
        if (shift == 0) break;  // the file itself is unusable; its transpositions too
        continue;
      }
      if (shift == 0) {
        kept = true;
        sum.notes_kept += notes;
      }
      ++sum.examples[static_cast<int>(split)];
      sum.tokens_or_steps += o.representation == Representation::kPianoRoll
                                 ? ex.roll.steps
                                 : static_cast<int64_t>(ex.tokens.size());
      ds.examples_.push_back(std::move(ex));
    }
    if (kept) ++sum.files_kept;
  }
  if (ds.examples_.empty()) {
    throw Error("dataset: every file under " + root + " was dropped\n" + sum.to_string());
  }
  return ds;
}

}  // namespace cadenza::midi
