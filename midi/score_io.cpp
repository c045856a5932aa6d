// MidiFile <-> Score: pairs note-ons with note-offs, gathers the tempo and
// signature maps, and orders events for writing so that a read of the written
// file gives the same Score back.
#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <tuple>

#include "midi/score.h"

namespace cadenza::midi {

namespace {

std::string payload_text(const Event& ev) {
  return std::string(ev.payload.begin(), ev.payload.end());
}

// Later events at the same tick replace earlier ones; the input is stably
// sorted by tick first, so file order (and track order) decides.
template <class T>
void sort_and_dedupe(std::vector<T>& v) {
  std::stable_sort(v.begin(), v.end(), [](const T& a, const T& b) { return a.tick < b.tick; });
  std::vector<T> out;
  for (const T& x : v) {
    if (!out.empty() && out.back().tick == x.tick) {
      out.back() = x;
    } else {
      out.push_back(x);
    }
  }
  v.swap(out);
}

bool note_less(const Note& a, const Note& b) {
  return std::tie(a.start_tick, a.pitch, a.channel, a.end_tick, a.velocity) <
         std::tie(b.start_tick, b.pitch, b.channel, b.end_tick, b.velocity);
}

// The channel a track "plays on": that of its first note in sorted order, else
// of its earliest channel event. Defined on the Score's own lists (not on file
// order) so that it survives a write and a read.
int channel_of(const Track& tr) {
  if (!tr.notes.empty()) return tr.notes.front().channel;
  int64_t best_tick = INT64_MAX;
  int channel = -1;
  auto consider = [&](int64_t tick, int ch) {
    if (tick < best_tick) {
      best_tick = tick;
      channel = ch;
    }
  };
  // Same tick: programs, then controllers, then bends (the writer's order).
  if (!tr.programs.empty()) consider(tr.programs.front().tick, tr.programs.front().channel);
  if (!tr.controls.empty()) consider(tr.controls.front().tick, tr.controls.front().channel);
  if (!tr.bends.empty()) consider(tr.bends.front().tick, tr.bends.front().channel);
  return channel;
}

Track read_track(const RawTrack& raw, size_t index, Score& score) {
  Track tr;
  tr.end_tick = raw.end_tick;
  bool have_name = false, have_instrument = false, have_program = false;
  // Open notes per (channel, pitch): indices into tr.notes, oldest first.
  std::map<int, std::deque<size_t>> open;
  int64_t unmatched_offs = 0;

  for (const Event& ev : raw.events) {
    if (ev.is_channel()) {
      int ch = ev.channel();
      int kind = ev.kind();
      if (kind == kNoteOn && ev.data2 > 0) {
        Note n;
        n.pitch = ev.data1;
        n.velocity = ev.data2;
        n.channel = ch;
        n.start_tick = ev.tick;
        n.end_tick = -1;  // still sounding
        open[ch * 128 + n.pitch].push_back(tr.notes.size());
        tr.notes.push_back(n);
      } else if (kind == kNoteOff || kind == kNoteOn) {
        auto it = open.find(ch * 128 + ev.data1);
        if (it == open.end() || it->second.empty()) {
          ++unmatched_offs;
          continue;
        }
        tr.notes[it->second.front()].end_tick = ev.tick;
        it->second.pop_front();
      } else if (kind == kControlChange) {
        tr.controls.push_back({ev.tick, 0.0, ch, ev.data1, ev.data2});
      } else if (kind == kPitchBend) {
        tr.bends.push_back({ev.tick, 0.0, ch, (ev.data1 | (ev.data2 << 7)) - 8192});
      } else if (kind == kProgramChange) {
        tr.programs.push_back({ev.tick, 0.0, ch, ev.data1});
        if (!have_program) tr.program = ev.data1;
        have_program = true;
      }
      continue;
    }
    if (ev.status != kMeta) continue;
    const auto& p = ev.payload;
    switch (ev.meta_type) {
      case kMetaTempo: {
        int us = p.size() >= 3 ? (p[0] << 16) | (p[1] << 8) | p[2] : 0;
        if (us <= 0) {
          score.warnings.push_back("track " + std::to_string(index) + ", tick " +
                                   std::to_string(ev.tick) + ": ignored an invalid tempo event");
        } else {
          score.tempos.push_back({ev.tick, 0.0, us});
        }
        break;
      }
      case kMetaTimeSignature:
        if (p.size() < 4 || p[1] > 16 || p[0] == 0) {
          score.warnings.push_back("track " + std::to_string(index) + ", tick " +
                                   std::to_string(ev.tick) +
                                   ": ignored an invalid time signature event");
        } else {
          score.time_signatures.push_back({ev.tick, 0.0, p[0], 1 << p[1], p[2], p[3]});
        }
        break;
      case kMetaKeySignature:
        if (p.size() < 2 || p[1] > 1) {
          score.warnings.push_back("track " + std::to_string(index) + ", tick " +
                                   std::to_string(ev.tick) +
                                   ": ignored an invalid key signature event");
        } else {
          score.key_signatures.push_back({ev.tick, 0.0, static_cast<int8_t>(p[0]), p[1] == 1});
        }
        break;
      case kMetaTrackName:
        if (!have_name) {
          tr.name = payload_text(ev);
          have_name = true;
        } else {
          tr.texts.push_back({ev.tick, 0.0, ev.meta_type, payload_text(ev)});
        }
        break;
      case kMetaInstrumentName:
        if (!have_instrument) {
          tr.instrument = payload_text(ev);
          have_instrument = true;
        } else {
          tr.texts.push_back({ev.tick, 0.0, ev.meta_type, payload_text(ev)});
        }
        break;
      case kMetaText:
      case kMetaCopyright:
      case kMetaLyric:
      case kMetaMarker:
      case kMetaCuePoint:
        tr.texts.push_back({ev.tick, 0.0, ev.meta_type, payload_text(ev)});
        break;
      default:
        break;
    }
  }
  int64_t unclosed = 0;
  for (Note& n : tr.notes) {
    if (n.end_tick < 0) {
      n.end_tick = std::max(raw.end_tick, n.start_tick);
      ++unclosed;
    }
  }
  if (unmatched_offs) {
    score.warnings.push_back("track " + std::to_string(index) + ": dropped " +
                             std::to_string(unmatched_offs) + " note-offs with no sounding note");
  }
  if (unclosed) {
    score.warnings.push_back("track " + std::to_string(index) + ": " + std::to_string(unclosed) +
                             " notes still sounding at End of Track were ended there");
  }
  std::stable_sort(tr.notes.begin(), tr.notes.end(), note_less);
  tr.channel = channel_of(tr);
  return tr;
}

Event meta(int64_t tick, uint8_t type, std::vector<uint8_t> payload) {
  Event ev;
  ev.tick = tick;
  ev.status = kMeta;
  ev.meta_type = type;
  ev.payload = std::move(payload);
  return ev;
}

Event channel_event(int64_t tick, int kind, int channel, int d1, int d2) {
  Event ev;
  ev.tick = tick;
  ev.status = static_cast<uint8_t>(kind | (channel & 0x0F));
  ev.data1 = static_cast<uint8_t>(d1);
  ev.data2 = static_cast<uint8_t>(d2);
  return ev;
}

void check_range(int v, int lo, int hi, const char* what, size_t track) {
  if (v < lo || v > hi) {
    throw Error("write: track " + std::to_string(track) + ": " + what + " " + std::to_string(v) +
                " is outside " + std::to_string(lo) + ".." + std::to_string(hi));
  }
}

// Writing order at one tick (see score.h); ties keep insertion order.
enum Rank { kRankMeta = 0, kRankProgram, kRankControl, kRankNoteOff, kRankNoteOn, kRankZeroOff };

struct Keyed {
  int64_t tick;
  int rank;
  Event ev;
};

void add_track_events(const Track& tr, size_t index, std::vector<Keyed>& out) {
  auto text = [](const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); };
  // An empty name is still written when later name events exist, or the
  // reader would promote the first of those to the name.
  auto has_text = [&](int type) {
    return std::any_of(tr.texts.begin(), tr.texts.end(),
                       [type](const TextEvent& t) { return t.type == type; });
  };
  if (!tr.name.empty() || has_text(kMetaTrackName)) {
    out.push_back({0, kRankMeta, meta(0, kMetaTrackName, text(tr.name))});
  }
  if (!tr.instrument.empty() || has_text(kMetaInstrumentName)) {
    out.push_back({0, kRankMeta, meta(0, kMetaInstrumentName, text(tr.instrument))});
  }
  for (const TextEvent& t : tr.texts) {
    check_range(t.type, 1, 127, "text meta type", index);
    out.push_back({t.tick, kRankMeta, meta(t.tick, static_cast<uint8_t>(t.type), text(t.text))});
  }
  for (const ProgramChange& p : tr.programs) {
    check_range(p.channel, 0, 15, "channel", index);
    check_range(p.program, 0, 127, "program", index);
    out.push_back(
        {p.tick, kRankProgram, channel_event(p.tick, kProgramChange, p.channel, p.program, 0)});
  }
  for (const ControlChange& c : tr.controls) {
    check_range(c.channel, 0, 15, "channel", index);
    check_range(c.controller, 0, 127, "controller", index);
    check_range(c.value, 0, 127, "controller value", index);
    out.push_back({c.tick, kRankControl,
                   channel_event(c.tick, kControlChange, c.channel, c.controller, c.value)});
  }
  for (const PitchBend& b : tr.bends) {
    check_range(b.channel, 0, 15, "channel", index);
    check_range(b.value, -8192, 8191, "pitch bend", index);
    int v = b.value + 8192;
    out.push_back(
        {b.tick, kRankControl, channel_event(b.tick, kPitchBend, b.channel, v & 0x7F, v >> 7)});
  }
  std::vector<Note> notes = tr.notes;
  std::stable_sort(notes.begin(), notes.end(), note_less);
  for (const Note& n : notes) {
    check_range(n.channel, 0, 15, "channel", index);
    check_range(n.pitch, 0, 127, "pitch", index);
    check_range(n.velocity, 1, 127, "velocity", index);
    if (n.start_tick < 0 || n.end_tick < n.start_tick) {
      throw Error("write: track " + std::to_string(index) + ": a note of pitch " +
                  std::to_string(n.pitch) + " has start tick " + std::to_string(n.start_tick) +
                  " and end tick " + std::to_string(n.end_tick) + " (need 0 <= start <= end)");
    }
    out.push_back({n.start_tick, kRankNoteOn,
                   channel_event(n.start_tick, kNoteOn, n.channel, n.pitch, n.velocity)});
    int rank = n.end_tick == n.start_tick ? kRankZeroOff : kRankNoteOff;
    out.push_back({n.end_tick, rank, channel_event(n.end_tick, kNoteOff, n.channel, n.pitch, 0)});
  }
}

void add_maps(const Score& s, std::vector<Keyed>& out) {
  for (const Tempo& t : s.tempos) {
    int us = t.us_per_quarter;
    if (us <= 0 || us > 0xFFFFFF)
      throw Error("write: tempo " + std::to_string(us) + " us per quarter is outside 1..16777215");
    out.push_back({t.tick, kRankMeta,
                   meta(t.tick, kMetaTempo, {uint8_t(us >> 16), uint8_t(us >> 8), uint8_t(us)})});
  }
  for (const TimeSignature& t : s.time_signatures) {
    int dd = 0;
    while ((1 << dd) < t.denominator && dd < 16) ++dd;
    if ((1 << dd) != t.denominator || t.numerator < 1 || t.numerator > 255) {
      throw Error("write: time signature " + std::to_string(t.numerator) + "/" +
                  std::to_string(t.denominator) + " is not writable (denominator a power of 2)");
    }
    out.push_back({t.tick, kRankMeta,
                   meta(t.tick, kMetaTimeSignature,
                        {uint8_t(t.numerator), uint8_t(dd), uint8_t(t.clocks_per_click),
                         uint8_t(t.notated_32nds)})});
  }
  for (const KeySignature& k : s.key_signatures) {
    out.push_back({k.tick, kRankMeta,
                   meta(k.tick, kMetaKeySignature, {uint8_t(int8_t(k.sharps)), uint8_t(k.minor)})});
  }
}

RawTrack finish(std::vector<Keyed>& keyed, int64_t end_tick) {
  std::stable_sort(keyed.begin(), keyed.end(), [](const Keyed& a, const Keyed& b) {
    return std::tie(a.tick, a.rank) < std::tie(b.tick, b.rank);
  });
  RawTrack raw;
  raw.events.reserve(keyed.size());
  for (auto& k : keyed) {
    if (k.tick < 0) throw Error("write: an event has a negative tick " + std::to_string(k.tick));
    raw.events.push_back(std::move(k.ev));
  }
  raw.end_tick = std::max(end_tick, raw.events.empty() ? int64_t(0) : raw.events.back().tick);
  return raw;
}

}  // namespace

Score to_score(const MidiFile& f) {
  Score s;
  s.format = f.format;
  s.ticks_per_quarter = f.ticks_per_quarter;
  s.smpte_fps = f.smpte_fps;
  s.ticks_per_frame = f.ticks_per_frame;
  s.warnings = f.warnings;
  s.tracks.reserve(f.tracks.size());
  for (size_t i = 0; i < f.tracks.size(); ++i) s.tracks.push_back(read_track(f.tracks[i], i, s));
  sort_and_dedupe(s.tempos);
  sort_and_dedupe(s.time_signatures);
  sort_and_dedupe(s.key_signatures);
  // The writer puts the maps in track 0, so track 0 is taken to last until
  // the last map event, wherever it was read from; then a write and a read
  // give the same track ends.
  if (!s.tracks.empty()) {
    int64_t& end = s.tracks[0].end_tick;
    if (!s.tempos.empty()) end = std::max(end, s.tempos.back().tick);
    if (!s.time_signatures.empty()) end = std::max(end, s.time_signatures.back().tick);
    if (!s.key_signatures.empty()) end = std::max(end, s.key_signatures.back().tick);
  }
  s.update_times();
  return s;
}

MidiFile to_smf(const Score& s, int format) {
  if (format != 0 && format != 1) {
    throw Error("write: format must be 0 or 1, not " + std::to_string(format));
  }
  MidiFile f;
  f.format = format;
  f.ticks_per_quarter = s.ticks_per_quarter;
  f.smpte_fps = s.smpte_fps;
  f.ticks_per_frame = s.ticks_per_frame;
  if (format == 0 || s.tracks.empty()) {
    std::vector<Keyed> keyed;
    add_maps(s, keyed);
    Track merged;
    int64_t end = 0;
    for (size_t i = 0; i < s.tracks.size(); ++i) {
      const Track& t = s.tracks[i];
      // Names of later tracks become plain track-name texts at tick 0.
      if (i == 0) {
        merged.name = t.name;
        merged.instrument = t.instrument;
      } else if (!t.name.empty()) {
        merged.texts.push_back({0, 0.0, kMetaTrackName, t.name});
      }
      merged.notes.insert(merged.notes.end(), t.notes.begin(), t.notes.end());
      merged.controls.insert(merged.controls.end(), t.controls.begin(), t.controls.end());
      merged.bends.insert(merged.bends.end(), t.bends.begin(), t.bends.end());
      merged.programs.insert(merged.programs.end(), t.programs.begin(), t.programs.end());
      merged.texts.insert(merged.texts.end(), t.texts.begin(), t.texts.end());
      end = std::max(end, t.end_tick);
    }
    add_track_events(merged, 0, keyed);
    f.tracks.push_back(finish(keyed, std::max(end, s.end_tick())));
    return f;
  }
  for (size_t i = 0; i < s.tracks.size(); ++i) {
    std::vector<Keyed> keyed;
    if (i == 0) add_maps(s, keyed);
    add_track_events(s.tracks[i], i, keyed);
    f.tracks.push_back(finish(keyed, s.tracks[i].end_tick));
  }
  return f;
}

Score parse(const uint8_t* data, size_t size, const std::string& source, const ReadOptions& o) {
  return to_score(parse_smf(data, size, source, o));
}

Score read(const std::string& path, const ReadOptions& options) {
  return to_score(read_smf(path, options));
}

std::vector<uint8_t> serialize(const Score& score, int format) {
  return serialize_smf(to_smf(score, format));
}

void write(const std::string& path, const Score& score, int format) {
  write_bytes(path, serialize(score, format));
}

}  // namespace cadenza::midi
