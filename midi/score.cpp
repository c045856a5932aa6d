// Score model: equality, the tempo map, and whole-score edits (channel split,
// transposition, quantization).
#include "midi/score.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>
#include <tuple>

namespace cadenza::midi {

bool Note::operator==(const Note& o) const {
  return pitch == o.pitch && velocity == o.velocity && channel == o.channel &&
         start_tick == o.start_tick && end_tick == o.end_tick && start == o.start && end == o.end;
}
bool ControlChange::operator==(const ControlChange& o) const {
  return tick == o.tick && time == o.time && channel == o.channel && controller == o.controller &&
         value == o.value;
}
bool PitchBend::operator==(const PitchBend& o) const {
  return tick == o.tick && time == o.time && channel == o.channel && value == o.value;
}
bool ProgramChange::operator==(const ProgramChange& o) const {
  return tick == o.tick && time == o.time && channel == o.channel && program == o.program;
}
bool TextEvent::operator==(const TextEvent& o) const {
  return tick == o.tick && time == o.time && type == o.type && text == o.text;
}
bool Track::operator==(const Track& o) const {
  return name == o.name && instrument == o.instrument && program == o.program &&
         channel == o.channel && notes == o.notes && controls == o.controls && bends == o.bends &&
         programs == o.programs && texts == o.texts && end_tick == o.end_tick;
}
bool Tempo::operator==(const Tempo& o) const {
  return tick == o.tick && time == o.time && us_per_quarter == o.us_per_quarter;
}
bool TimeSignature::operator==(const TimeSignature& o) const {
  return tick == o.tick && time == o.time && numerator == o.numerator &&
         denominator == o.denominator && clocks_per_click == o.clocks_per_click &&
         notated_32nds == o.notated_32nds;
}
bool KeySignature::operator==(const KeySignature& o) const {
  return tick == o.tick && time == o.time && sharps == o.sharps && minor == o.minor;
}
bool Score::operator==(const Score& o) const {
  return first_difference(*this, o).empty();
}

std::string KeySignature::name() const {
  static const char* kMajor[] = {"Cb", "Gb", "Db", "Ab", "Eb", "Bb", "F", "C",
                                 "G",  "D",  "A",  "E",  "B",  "F#", "C#"};
  static const char* kMinor[] = {"Ab", "Eb", "Bb", "F",  "C",  "G",  "D", "A",
                                 "E",  "B",  "F#", "C#", "G#", "D#", "A#"};
  if (sharps < -7 || sharps > 7) return "unknown (" + std::to_string(sharps) + " sharps)";
  return std::string(minor ? kMinor[sharps + 7] : kMajor[sharps + 7]) +
         (minor ? " minor" : " major");
}

// ------------------------------------------------------------ tempo map ----

TempoMap::TempoMap(int ticks_per_quarter, const std::vector<Tempo>& tempos) {
  if (ticks_per_quarter <= 0) {
    throw Error("TempoMap: ticks per quarter must be > 0, not " +
                std::to_string(ticks_per_quarter));
  }
  double tpq = ticks_per_quarter;
  segments_.push_back({0, 0.0, 0.5 / tpq});  // 120 bpm until the first tempo event
  for (const Tempo& t : tempos) {
    double spt = t.us_per_quarter * 1e-6 / tpq;
    Segment& last = segments_.back();
    if (t.tick <= last.tick) {
      last.seconds_per_tick = spt;  // same tick (or tick 0): the later tempo wins
      continue;
    }
    double at = last.seconds + static_cast<double>(t.tick - last.tick) * last.seconds_per_tick;
    segments_.push_back({t.tick, at, spt});
  }
}

TempoMap::TempoMap(double smpte_ticks_per_second) {
  if (!(smpte_ticks_per_second > 0)) throw Error("TempoMap: SMPTE ticks per second must be > 0");
  segments_.push_back({0, 0.0, 1.0 / smpte_ticks_per_second});
}

double TempoMap::seconds(int64_t tick) const {
  auto it = std::upper_bound(segments_.begin(), segments_.end(), tick,
                             [](int64_t t, const Segment& s) { return t < s.tick; });
  const Segment& s = it == segments_.begin() ? segments_.front() : *(it - 1);
  return s.seconds + static_cast<double>(tick - s.tick) * s.seconds_per_tick;
}

int64_t TempoMap::tick(double seconds) const {
  if (!(seconds > 0)) return 0;
  auto it = std::upper_bound(segments_.begin(), segments_.end(), seconds,
                             [](double x, const Segment& s) { return x < s.seconds; });
  const Segment& s = *(it - 1);
  return s.tick + static_cast<int64_t>(std::llround((seconds - s.seconds) / s.seconds_per_tick));
}

// ---------------------------------------------------------------- score ----

TempoMap Score::tempo_map() const {
  if (ticks_per_quarter > 0) return TempoMap(ticks_per_quarter, tempos);
  MidiFile f;
  f.ticks_per_quarter = 0;
  f.smpte_fps = smpte_fps;
  f.ticks_per_frame = ticks_per_frame;
  return TempoMap(f.smpte_ticks_per_second());
}

int64_t Score::end_tick() const {
  int64_t end = 0;
  for (const Track& t : tracks) {
    end = std::max(end, t.end_tick);
    for (const Note& n : t.notes) end = std::max(end, n.end_tick);
  }
  return end;
}

double Score::duration() const {
  return tempo_map().seconds(end_tick());
}

int64_t Score::note_count() const {
  int64_t n = 0;
  for (const Track& t : tracks) n += static_cast<int64_t>(t.notes.size());
  return n;
}

int Score::us_per_quarter_at_start() const {
  return !tempos.empty() && tempos.front().tick == 0 ? tempos.front().us_per_quarter : 500000;
}

void Score::update_times() {
  TempoMap map = tempo_map();
  for (Tempo& t : tempos) t.time = map.seconds(t.tick);
  for (TimeSignature& t : time_signatures) t.time = map.seconds(t.tick);
  for (KeySignature& k : key_signatures) k.time = map.seconds(k.tick);
  for (Track& tr : tracks) {
    for (Note& n : tr.notes) {
      n.start = map.seconds(n.start_tick);
      n.end = map.seconds(n.end_tick);
    }
    for (auto& c : tr.controls) c.time = map.seconds(c.tick);
    for (auto& b : tr.bends) b.time = map.seconds(b.tick);
    for (auto& p : tr.programs) p.time = map.seconds(p.tick);
    for (auto& t : tr.texts) t.time = map.seconds(t.tick);
  }
}

namespace {

template <class T, class Describe>
std::string diff_lists(const std::string& what, const std::vector<T>& a, const std::vector<T>& b,
                       Describe describe) {
  if (a.size() != b.size()) {
    return what + ": " + std::to_string(a.size()) + " vs " + std::to_string(b.size()) + " entries";
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (!(a[i] == b[i]))
      return what + "[" + std::to_string(i) + "]: " + describe(a[i]) + " vs " + describe(b[i]);
  }
  return "";
}

std::string describe_note(const Note& n) {
  std::ostringstream o;
  o << "pitch " << n.pitch << " vel " << n.velocity << " ch " << n.channel << " ticks "
    << n.start_tick << "-" << n.end_tick << " (" << n.start << "-" << n.end << " s)";
  return o.str();
}

template <class T>
std::string describe_tick(const T& x) {
  std::ostringstream o;
  o << "event at tick " << x.tick << " (" << x.time << " s)";
  return o.str();
}

}  // namespace

std::string first_difference(const Score& a, const Score& b) {
  if (a.ticks_per_quarter != b.ticks_per_quarter || a.smpte_fps != b.smpte_fps ||
      a.ticks_per_frame != b.ticks_per_frame) {
    return "division differs";
  }
  std::string d;
  if (!(d = diff_lists("tempos", a.tempos, b.tempos, describe_tick<Tempo>)).empty()) return d;
  if (!(d = diff_lists("time signatures", a.time_signatures, b.time_signatures,
                       describe_tick<TimeSignature>))
           .empty())
    return d;
  if (!(d = diff_lists("key signatures", a.key_signatures, b.key_signatures,
                       describe_tick<KeySignature>))
           .empty())
    return d;
  if (a.tracks.size() != b.tracks.size()) {
    return "track count: " + std::to_string(a.tracks.size()) + " vs " +
           std::to_string(b.tracks.size());
  }
  for (size_t i = 0; i < a.tracks.size(); ++i) {
    const Track& x = a.tracks[i];
    const Track& y = b.tracks[i];
    std::string t = "track " + std::to_string(i) + " ";
    if (x.name != y.name) return t + "name: \"" + x.name + "\" vs \"" + y.name + "\"";
    if (x.instrument != y.instrument) return t + "instrument name differs";
    if (x.program != y.program)
      return t + "program: " + std::to_string(x.program) + " vs " + std::to_string(y.program);
    if (x.channel != y.channel)
      return t + "channel: " + std::to_string(x.channel) + " vs " + std::to_string(y.channel);
    if (x.end_tick != y.end_tick)
      return t + "end tick: " + std::to_string(x.end_tick) + " vs " + std::to_string(y.end_tick);
    if (!(d = diff_lists(t + "notes", x.notes, y.notes, describe_note)).empty()) return d;
    if (!(d = diff_lists(t + "controls", x.controls, y.controls, describe_tick<ControlChange>))
             .empty())
      return d;
    if (!(d = diff_lists(t + "bends", x.bends, y.bends, describe_tick<PitchBend>)).empty())
      return d;
    if (!(d = diff_lists(t + "programs", x.programs, y.programs, describe_tick<ProgramChange>))
             .empty())
      return d;
    if (!(d = diff_lists(t + "texts", x.texts, y.texts, describe_tick<TextEvent>)).empty())
      return d;
  }
  return "";
}

Track make_track(const std::string& name, int program, int channel) {
  if (program < 0 || program > 127)
    throw Error("make_track: program must be 0..127, not " + std::to_string(program));
  if (channel < 0 || channel > 15)
    throw Error("make_track: channel must be 0..15, not " + std::to_string(channel));
  Track t;
  t.name = name;
  t.program = program;
  t.channel = channel;
  t.programs.push_back({0, 0.0, channel, program});
  return t;
}

Score split_by_channel(const Score& s) {
  Score out = s;
  out.tracks.clear();
  for (const Track& t : s.tracks) {
    std::map<int, Track> parts;  // by channel
    auto part = [&](int ch) -> Track& {
      auto it = parts.find(ch);
      if (it != parts.end()) return it->second;
      Track p;
      p.name = t.name;
      p.instrument = t.instrument;
      p.channel = ch;
      p.end_tick = t.end_tick;
      return parts.emplace(ch, p).first->second;
    };
    for (const Note& n : t.notes) part(n.channel).notes.push_back(n);
    for (const auto& c : t.controls) part(c.channel).controls.push_back(c);
    for (const auto& b : t.bends) part(b.channel).bends.push_back(b);
    for (const auto& p : t.programs) {
      Track& tr = part(p.channel);
      if (tr.programs.empty()) tr.program = p.program;
      tr.programs.push_back(p);
    }
    if (parts.empty()) continue;
    bool first = true;
    for (auto& kv : parts) {
      if (parts.size() > 1)
        kv.second.name = t.name + (t.name.empty() ? "" : " ") + "ch" + std::to_string(kv.first + 1);
      if (first) kv.second.texts = t.texts;  // texts stay with the first part
      first = false;
      out.tracks.push_back(std::move(kv.second));
    }
  }
  if (out.tracks.empty() && !s.tracks.empty()) out.tracks.push_back(s.tracks.front());
  return out;
}

bool can_transpose(const Score& s, int semitones) {
  for (const Track& t : s.tracks) {
    for (const Note& n : t.notes) {
      if (n.channel == 9) continue;  // percussion keys name instruments, not pitches
      int p = n.pitch + semitones;
      if (p < 0 || p > 127) return false;
    }
  }
  return true;
}

Score transposed(const Score& s, int semitones) {
  if (!can_transpose(s, semitones)) {
    throw Error("transpose by " + std::to_string(semitones) +
                " semitones would move a note outside the MIDI range 0..127");
  }
  Score out = s;
  for (Track& t : out.tracks) {
    for (Note& n : t.notes) {
      if (n.channel != 9) n.pitch += semitones;
    }
    std::stable_sort(t.notes.begin(), t.notes.end(), [](const Note& a, const Note& b) {
      return std::tie(a.start_tick, a.pitch, a.channel, a.end_tick, a.velocity) <
             std::tie(b.start_tick, b.pitch, b.channel, b.end_tick, b.velocity);
    });
  }
  return out;
}

Score quantized(const Score& s, int steps_per_beat) {
  if (s.ticks_per_quarter <= 0)
    throw Error("quantize: the score uses SMPTE time, which has no beats");
  if (steps_per_beat <= 0)
    throw Error("quantize: steps per beat must be > 0, not " + std::to_string(steps_per_beat));
  double grid = static_cast<double>(s.ticks_per_quarter) / steps_per_beat;
  auto snap = [grid](int64_t tick) {
    return static_cast<int64_t>(std::llround(std::llround(tick / grid) * grid));
  };
  Score out = s;
  for (Track& t : out.tracks) {
    for (Note& n : t.notes) {
      int64_t start_step = std::llround(n.start_tick / grid);
      int64_t end_step =
          std::max(start_step + 1, static_cast<int64_t>(std::llround(n.end_tick / grid)));
      n.start_tick = std::llround(start_step * grid);
      n.end_tick = std::llround(end_step * grid);
    }
    for (auto& c : t.controls) c.tick = snap(c.tick);
    for (auto& b : t.bends) b.tick = snap(b.tick);
    for (auto& p : t.programs) p.tick = snap(p.tick);
    for (auto& x : t.texts) x.tick = snap(x.tick);
    t.end_tick = snap(t.end_tick);
    for (const Note& n : t.notes) t.end_tick = std::max(t.end_tick, n.end_tick);
    std::stable_sort(t.notes.begin(), t.notes.end(), [](const Note& a, const Note& b) {
      return std::tie(a.start_tick, a.pitch, a.channel, a.end_tick, a.velocity) <
             std::tie(b.start_tick, b.pitch, b.channel, b.end_tick, b.velocity);
    });
  }
  // Snapping can put two map events on one tick; the later one wins, as in reading.
  auto snap_map = [&](auto& v) {
    for (auto& x : v) x.tick = snap(x.tick);
    for (size_t i = 0; i + 1 < v.size();) {
      if (v[i].tick == v[i + 1].tick) {
        v.erase(v.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
  };
  snap_map(out.tempos);
  snap_map(out.time_signatures);
  snap_map(out.key_signatures);
  out.update_times();
  return out;
}

}  // namespace cadenza::midi
