// MusicGAN's corpus: MIDI files -> bar-aligned multi-track rolls -> segments.
#include "models/musicgan_data.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <tuple>

#include "midi/dataset.h"

namespace cadenza::models {

namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kFamilies = {"Drums", "Piano", "Guitar", "Bass", "Strings"};
// A program that sounds like each family, for the way back to MIDI.
const std::vector<int> kFamilyPrograms = {0, 0, 24, 32, 48};
constexpr size_t kMaxUnreadableListed = 5;
// A roll larger than this is refused: a hostile file can claim hours of bars.
constexpr int64_t kMaxRollBytes = int64_t{1} << 28;

// LPD-5's merge: drums, then the GM families piano (0-7), guitar (24-31) and
// bass (32-39); everything else joins the strings.
int family_of(const midi::Track& t) {
  if (t.is_drum()) return 0;
  if (t.program < 8) return 1;
  if (t.program >= 24 && t.program < 32) return 2;
  if (t.program >= 32 && t.program < 40) return 3;
  return 4;
}

void check_options(const MultitrackOptions& o) {
  auto bad = [](const char* name, const std::string& what) {
    throw OptionError(name, std::string("musicgan data: ") + name + " " + what);
  };
  if (o.bars < 1 || o.bars > 1024) bad("bars", "must be 1..1024, not " + std::to_string(o.bars));
  if (o.steps_per_bar < 1 || o.steps_per_bar > 4096)
    bad("steps_per_bar", "must be 1..4096, not " + std::to_string(o.steps_per_bar));
  if (o.pitches < 1 || o.pitches > 128)
    bad("pitches", "must be 1..128, not " + std::to_string(o.pitches));
  if (o.lowest_pitch < 0 || o.lowest_pitch + o.pitches > 128)
    bad("lowest_pitch", "must leave lowest_pitch + pitches <= 128 (MIDI notes 0..127), not " +
                            std::to_string(o.lowest_pitch) + " + " + std::to_string(o.pitches));
  if (o.meter_numerator < 1 || o.meter_numerator > 255)
    bad("meter_numerator", "must be 1..255, not " + std::to_string(o.meter_numerator));
  const int d = o.meter_denominator;
  if (d < 1 || d > 128 || (d & (d - 1)) != 0)
    bad("meter_denominator", "must be a power of two (1, 2, 4, 8, ...), not " + std::to_string(d));
  if (o.tracks != "auto" && o.tracks != "program" && o.tracks != "order")
    bad("tracks", "must be auto, program or order, not '" + o.tracks + "'");
  if (o.hop_bars < 1) bad("hop_bars", "must be >= 1, not " + std::to_string(o.hop_bars));
  if (!(o.valid_fraction >= 0 && o.valid_fraction < 1))
    bad("valid_fraction", "must be in [0, 1), not " + std::to_string(o.valid_fraction));
}

struct Bar {
  double start = 0, length = 0;  // ticks
  bool in_meter = false;         // a whole bar of the wanted meter
};

// Bars from tick 0 through the time-signature map until `end_tick` is
// covered. A signature that falls inside a bar cuts the bar there.
std::vector<Bar> bar_grid(const midi::Score& s, int64_t end_tick, const MultitrackOptions& o,
                          int64_t max_bars) {
  std::vector<midi::TimeSignature> ts = s.time_signatures;
  if (ts.empty() || ts.front().tick > 0)
    ts.insert(ts.begin(), midi::TimeSignature{});  // MIDI's default 4/4
  std::vector<Bar> bars;
  double at = 0;
  size_t k = 0;  // the signature in effect at `at`
  while (at < static_cast<double>(end_tick) && static_cast<int64_t>(bars.size()) <= max_bars) {
    while (k + 1 < ts.size() && static_cast<double>(ts[k + 1].tick) <= at + 1e-9) ++k;
    const auto& cur = ts[k];
    Bar b;
    b.start = at;
    b.length = s.ticks_per_quarter * 4.0 * cur.numerator / cur.denominator;
    b.in_meter = cur.numerator == o.meter_numerator && cur.denominator == o.meter_denominator;
    if (!(b.length >= 1)) {  // a 0/x signature: a bar of 4/4 in no meter, so the walk moves on
      b.length = s.ticks_per_quarter * 4.0;
      b.in_meter = false;
    }
    if (k + 1 < ts.size() && static_cast<double>(ts[k + 1].tick) < at + b.length - 1e-9) {
      b.length = static_cast<double>(ts[k + 1].tick) - at;
      b.in_meter = false;
    }
    bars.push_back(b);
    at += b.length;
  }
  return bars;
}

// A tick -> a step of the bar grid, rounded as midi::to_pianoroll rounds.
int64_t step_of(const std::vector<Bar>& bars, int64_t steps_per_bar, int64_t tick) {
  const double t = static_cast<double>(tick);
  auto it = std::upper_bound(bars.begin(), bars.end(), t,
                             [](double v, const Bar& b) { return v < b.start; });
  size_t i = it == bars.begin() ? 0 : static_cast<size_t>(it - bars.begin()) - 1;
  const Bar& b = bars[i];
  return static_cast<int64_t>(i) * steps_per_bar +
         std::llround((t - b.start) / b.length * static_cast<double>(steps_per_bar));
}

struct Usable {
  std::string path;
  midi::Score score;            // split by channel
  std::vector<int> with_notes;  // indices of tracks that hold notes
};

struct Kept {
  std::string path;
  int64_t bars = 0;
  std::vector<uint8_t> roll;
  std::vector<int32_t> starts;  // first bars of the kept segments
  int us_per_quarter = 500000;
  bool valid = false;
};

}  // namespace

std::string MultitrackSummary::str() const {
  std::ostringstream s;
  s << root << ": " << files_found << " MIDI file" << (files_found == 1 ? "" : "s") << " read, "
    << files_used << " used (" << train_files << " train, " << valid_files << " held out)";
  if (!files_dropped.empty()) {
    s << "; dropped:";
    bool first = true;
    for (const auto& [why, n] : files_dropped) {
      s << (first ? " " : ", ") << why << " " << n;
      first = false;
    }
  }
  if (!unreadable.empty()) {
    s << " (unreadable:";
    for (size_t i = 0; i < unreadable.size(); ++i)
      s << (i ? "; " : " ") << unreadable[i].first << ": " << unreadable[i].second;
    s << ")";
  }
  s << ". Segments: " << train_segments << " train, " << valid_segments << " held out";
  if (!segments_dropped.empty()) {
    s << " (left out:";
    bool first = true;
    for (const auto& [why, n] : segments_dropped) {
      s << (first ? " " : ", ") << why << " " << n;
      first = false;
    }
    s << ")";
  }
  s << ". Tracks (" << (mode.empty() ? "?" : mode) << "):";
  for (size_t i = 0; i < track_names.size(); ++i) s << (i ? ", " : " ") << track_names[i];
  s << ". Notes: " << notes << " placed";
  if (notes_out_of_range) s << ", " << notes_out_of_range << " outside the pitch range dropped";
  if (tracks_left_out)
    s << "; " << tracks_left_out << " tracks beyond the first file's count left out";
  s << ".";
  return s.str();
}

std::string default_chorale_dir() {
  if (const char* d = std::getenv("CADENZA_DATA"); d && *d)
    return std::string(d) + "/bach-chorales";
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
    return std::string(x) + "/cadenza/bach-chorales";
  if (const char* h = std::getenv("HOME"); h && *h)
    return std::string(h) + "/.cache/cadenza/bach-chorales";
  return ".cache/cadenza/bach-chorales";
}

MultitrackCorpus load_multitrack_corpus(const std::string& dir_or_file, const MultitrackOptions& o,
                                        MultitrackSummary* summary_out) {
  check_options(o);
  MultitrackSummary sum;
  sum.root = dir_or_file;
  std::error_code ec;
  std::string root = dir_or_file;
  std::vector<std::string> files;
  if (fs::is_regular_file(dir_or_file, ec)) {
    fs::path p(dir_or_file);
    root = p.has_parent_path() ? p.parent_path().string() : ".";
    files.push_back(p.filename().string());
  } else if (fs::is_directory(dir_or_file, ec)) {
    try {
      files = midi::find_midi_files(dir_or_file);
    } catch (const midi::Error& e) {
      throw Error(std::string("musicgan data: ") + e.what());
    }
  } else {
    std::string hint =
        dir_or_file == default_chorale_dir()
            ? " (the default Bach chorales: make them with scripts/prepare_bach_chorales.sh)"
            : "";
    throw Error("musicgan data: '" + dir_or_file + "' is neither a folder nor a MIDI file" + hint);
  }
  if (files.empty())
    throw Error("musicgan data: no .mid or .midi file under '" + dir_or_file + "'");
  sum.files_found = static_cast<int64_t>(files.size());

  // Pass 1: read every file; the track mode may depend on all of them.
  std::vector<Usable> usable;
  for (const std::string& rel : files) {
    Usable u;
    u.path = rel;
    std::string why;
    try {
      u.score = midi::read((fs::path(root) / rel).string());
      if (u.score.ticks_per_quarter <= 0) why = "SMPTE time division: no beats, so no bars";
    } catch (const midi::Error& e) {
      why = e.what();
    }
    if (!why.empty()) {
      ++sum.files_dropped["unreadable"];
      if (sum.unreadable.size() < kMaxUnreadableListed) sum.unreadable.emplace_back(rel, why);
      continue;
    }
    u.score = midi::split_by_channel(u.score);
    for (size_t t = 0; t < u.score.tracks.size(); ++t)
      if (!u.score.tracks[t].notes.empty()) u.with_notes.push_back(static_cast<int>(t));
    if (u.with_notes.empty()) {
      ++sum.files_dropped["empty"];
      continue;
    }
    usable.push_back(std::move(u));
  }

  MultitrackCorpus c;
  c.options = o;
  std::string mode = o.tracks;
  if (mode == "auto") {
    bool same = !usable.empty();
    for (const Usable& u : usable)
      same = same && u.with_notes.size() == usable.front().with_notes.size();
    mode = same && usable.front().with_notes.size() <= 8 ? "order" : "program";
  }
  sum.mode = mode;
  size_t n_order = 0;
  if (mode == "program") {
    c.track_names = kFamilies;
    c.programs = kFamilyPrograms;
    c.is_drum = {true, false, false, false, false};
  } else if (!usable.empty()) {
    const Usable& first = usable.front();
    n_order = first.with_notes.size();
    for (size_t i = 0; i < n_order; ++i) {
      const midi::Track& t = first.score.tracks[first.with_notes[i]];
      c.track_names.push_back(t.name.empty() ? "Track " + std::to_string(i + 1) : t.name);
      c.programs.push_back(t.program);
      c.is_drum.push_back(t.is_drum());
    }
  }
  sum.track_names = c.track_names;

  // Pass 2: rolls and segments.
  const int64_t T = c.tracks(), S = o.steps_per_bar, P = o.pitches;
  std::vector<Kept> kept;
  for (Usable& u : usable) {
    const midi::Score& sc = u.score;
    std::vector<int> dest(sc.tracks.size(), -1);  // score track -> roll track
    if (mode == "program") {
      for (int t : u.with_notes) dest[t] = family_of(sc.tracks[t]);
    } else {
      if (u.with_notes.size() < n_order) {
        ++sum.files_dropped["too few tracks"];
        continue;
      }
      for (size_t i = 0; i < n_order; ++i) dest[u.with_notes[i]] = static_cast<int>(i);
      sum.tracks_left_out += static_cast<int64_t>(u.with_notes.size() - n_order);
    }
    int64_t end_tick = 0;
    for (size_t t = 0; t < sc.tracks.size(); ++t)
      if (dest[t] >= 0)
        for (const midi::Note& n : sc.tracks[t].notes) end_tick = std::max(end_tick, n.end_tick);
    const int64_t max_bars = kMaxRollBytes / (T * S * P);
    std::vector<Bar> grid = bar_grid(sc, std::max<int64_t>(end_tick, 1), o, max_bars);
    const int64_t nb = static_cast<int64_t>(grid.size());
    if (nb > max_bars) {
      ++sum.files_dropped["too long"];
      continue;
    }
    if (nb < o.bars) {
      ++sum.files_dropped["too short"];
      continue;
    }
    Kept k;
    k.path = u.path;
    k.bars = nb;
    k.roll.assign(static_cast<size_t>(T * nb * S * P), 0);
    int64_t placed = 0, outside = 0;
    for (size_t t = 0; t < sc.tracks.size(); ++t) {
      if (dest[t] < 0) continue;
      uint8_t* track_roll = k.roll.data() + dest[t] * nb * S * P;
      for (const midi::Note& n : sc.tracks[t].notes) {
        const int p = n.pitch - o.lowest_pitch;
        if (p < 0 || p >= P) {
          ++outside;
          continue;
        }
        int64_t a = step_of(grid, S, n.start_tick), b = step_of(grid, S, n.end_tick);
        a = std::min(a, nb * S - 1);
        b = std::min(std::max(b, a + 1), nb * S);
        for (int64_t s = a; s < b; ++s) track_roll[s * P + p] = 1;
        ++placed;
      }
    }
    int64_t in_meter_segments = 0;
    for (int64_t first = 0; first + o.bars <= nb; first += o.hop_bars) {
      bool meter = true;
      for (int64_t b = first; b < first + o.bars; ++b) meter = meter && grid[b].in_meter;
      if (!meter) {
        ++sum.segments_dropped["meter"];
        continue;
      }
      ++in_meter_segments;
      bool sounds = false;
      for (int64_t t = 0; t < T && !sounds; ++t) {
        const uint8_t* from = k.roll.data() + (t * nb + first) * S * P;
        const uint8_t* to = from + o.bars * S * P;
        sounds = std::find(from, to, uint8_t{1}) != to;
      }
      if (!sounds) {
        ++sum.segments_dropped["empty"];
        continue;
      }
      k.starts.push_back(static_cast<int32_t>(first));
    }
    if (k.starts.empty()) {
      ++sum.files_dropped[in_meter_segments == 0 ? "meter" : "empty"];
      continue;
    }
    sum.notes += placed;
    sum.notes_out_of_range += outside;
    k.us_per_quarter = sc.us_per_quarter_at_start();
    k.valid = midi::split_for(k.path, o.valid_fraction, 0) == midi::Split::kValid;
    kept.push_back(std::move(k));
  }
  sum.files_used = static_cast<int64_t>(kept.size());
  if (kept.empty()) {
    if (summary_out) *summary_out = sum;
    throw Error("musicgan data: nothing usable in '" + dir_or_file + "' for " +
                std::to_string(o.bars) + "-bar segments in " + std::to_string(o.meter_numerator) +
                "/" + std::to_string(o.meter_denominator) + ": " + sum.str());
  }
  // Small corpora: keep a file on each side when the hash put them all on one.
  auto count_valid = [&] {
    return static_cast<size_t>(
        std::count_if(kept.begin(), kept.end(), [](const Kept& k) { return k.valid; }));
  };
  if (count_valid() == kept.size()) kept.front().valid = false;
  if (o.valid_fraction > 0 && count_valid() == 0 && kept.size() > 1) kept.back().valid = true;

  std::vector<int> tempos;
  for (Kept& k : kept) {
    const int32_t f = static_cast<int32_t>(c.files_.size());
    for (int32_t first : k.starts) (k.valid ? c.valid_ : c.train_).push_back({f, first});
    (k.valid ? sum.valid_files : sum.train_files)++;
    tempos.push_back(k.us_per_quarter);
    c.files_.push_back({std::move(k.path), k.bars, std::move(k.roll)});
  }
  std::nth_element(tempos.begin(), tempos.begin() + tempos.size() / 2, tempos.end());
  c.us_per_quarter = tempos[tempos.size() / 2];
  sum.train_segments = c.train_size();
  sum.valid_segments = c.valid_size();
  if (summary_out) *summary_out = sum;
  return c;
}

Tensor MultitrackCorpus::batch(bool valid, const std::vector<int64_t>& indices) const {
  const auto& segs = valid ? valid_ : train_;
  const int64_t T = tracks(), B = options.bars, S = options.steps_per_bar, P = options.pitches;
  Tensor out = Tensor::zeros({static_cast<int64_t>(indices.size()), T, B, S, P});
  float* o = out.data<float>();
  const int64_t block = B * S * P;  // one track of one segment: contiguous in the file's roll
  for (size_t i = 0; i < indices.size(); ++i) {
    const int64_t idx = indices[i];
    if (idx < 0 || idx >= static_cast<int64_t>(segs.size()))
      throw Error("musicgan data: segment " + std::to_string(idx) + " is outside the " +
                  (valid ? "held-out" : "training") + " split of " + std::to_string(segs.size()) +
                  " segments");
    const File& f = files_[segs[idx].file];
    for (int64_t t = 0; t < T; ++t) {
      const uint8_t* from = f.roll.data() + (t * f.bars + segs[idx].first_bar) * S * P;
      float* to = o + (static_cast<int64_t>(i) * T + t) * block;
      for (int64_t j = 0; j < block; ++j) to[j] = from[j];
    }
  }
  return out;
}

Tensor MultitrackCorpus::all(bool valid) const {
  std::vector<int64_t> idx(static_cast<size_t>(valid ? valid_size() : train_size()));
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>(i);
  return batch(valid, idx);
}

std::pair<std::string, int64_t> MultitrackCorpus::segment_source(bool valid, int64_t index) const {
  const auto& segs = valid ? valid_ : train_;
  if (index < 0 || index >= static_cast<int64_t>(segs.size()))
    throw Error("musicgan data: no segment " + std::to_string(index) + " in the " +
                (valid ? "held-out" : "training") + " split");
  return {files_[segs[index].file].path, segs[index].first_bar};
}

MultitrackMeta multitrack_meta(const MultitrackCorpus& c) {
  MultitrackMeta m;
  m.track_names = c.track_names;
  m.programs = c.programs;
  m.is_drum = c.is_drum;
  m.us_per_quarter = c.us_per_quarter;
  m.lowest_pitch = c.options.lowest_pitch;
  m.meter_numerator = c.options.meter_numerator;
  m.meter_denominator = c.options.meter_denominator;
  return m;
}

midi::Score multitrack_to_score(const Tensor& roll, const MultitrackMeta& meta, float threshold,
                                int ticks_per_quarter) {
  if (roll.dim() != 4)
    throw Error(
        "multitrack_to_score: expected a roll [tracks, bars, steps_per_bar, pitches], got " +
        roll.str());
  const int64_t T = roll.size(0), B = roll.size(1), S = roll.size(2), P = roll.size(3);
  if (T != static_cast<int64_t>(meta.track_names.size()) ||
      meta.programs.size() != meta.track_names.size() ||
      meta.is_drum.size() != meta.track_names.size())
    throw Error("multitrack_to_score: the roll has " + std::to_string(T) +
                " tracks, the metadata names " + std::to_string(meta.track_names.size()) +
                " (with " + std::to_string(meta.programs.size()) + " programs, " +
                std::to_string(meta.is_drum.size()) + " drum flags)");
  if (meta.lowest_pitch < 0 || meta.lowest_pitch + P > 128)
    throw Error("multitrack_to_score: pitches " + std::to_string(meta.lowest_pitch) + " + " +
                std::to_string(P) + " leave MIDI's 0..127");
  if (ticks_per_quarter < 1) throw Error("multitrack_to_score: ticks_per_quarter must be >= 1");
  const std::vector<float> v = roll.to_vector<float>();
  midi::Score sc;
  sc.format = 1;
  sc.ticks_per_quarter = ticks_per_quarter;
  sc.tempos.push_back({0, 0.0, meta.us_per_quarter});
  midi::TimeSignature ts;
  ts.numerator = meta.meter_numerator;
  ts.denominator = meta.meter_denominator;
  sc.time_signatures.push_back(ts);
  const double ticks_per_step = ticks_per_quarter * 4.0 * meta.meter_numerator /
                                meta.meter_denominator / static_cast<double>(S);
  auto tick = [&](int64_t step) {
    return static_cast<int64_t>(std::llround(step * ticks_per_step));
  };
  const int64_t steps = B * S;
  int next_channel = 0;
  for (int64_t t = 0; t < T; ++t) {
    int ch = 9;
    if (!meta.is_drum[t]) {
      ch = next_channel;
      next_channel = (next_channel + 1) % 16;
      if (next_channel == 9) next_channel = 10;
    }
    midi::Track tr =
        midi::make_track(meta.track_names[t], std::clamp(meta.programs[t], 0, 127), ch);
    for (int64_t p = 0; p < P; ++p) {
      int64_t run = -1;
      for (int64_t s = 0; s <= steps; ++s) {
        const bool on = s < steps && v[static_cast<size_t>(((t * steps) + s) * P + p)] > threshold;
        if (on && run < 0) run = s;
        if (!on && run >= 0) {
          midi::Note n;
          n.pitch = meta.lowest_pitch + static_cast<int>(p);
          n.velocity = 100;
          n.channel = ch;
          n.start_tick = tick(run);
          n.end_tick = tick(s);
          tr.notes.push_back(n);
          run = -1;
        }
      }
    }
    std::sort(tr.notes.begin(), tr.notes.end(), [](const midi::Note& a, const midi::Note& b) {
      return std::tie(a.start_tick, a.pitch, a.channel, a.end_tick, a.velocity) <
             std::tie(b.start_tick, b.pitch, b.channel, b.end_tick, b.velocity);
    });
    tr.end_tick = tick(steps);
    sc.tracks.push_back(std::move(tr));
  }
  sc.update_times();
  return sc;
}

midi::Score multitrack_to_score(const Tensor& roll, const MultitrackCorpus& like, float threshold) {
  return multitrack_to_score(roll, multitrack_meta(like), threshold);
}

}  // namespace cadenza::models
