// Melody RNN events: one event per sixteenth-note step, extracted from
// polyphonic tracks by keeping the highest (or lowest) note.
#include <algorithm>
#include <cmath>

#include "midi/tokens.h"

namespace cadenza::midi::melody {

namespace {

void check_options(const Options& o) {
  if (o.min_pitch < 0 || o.max_pitch > 128 || o.min_pitch >= o.max_pitch) {
    throw Error("melody: need 0 <= min_pitch < max_pitch <= 128, got " +
                std::to_string(o.min_pitch) + ".." + std::to_string(o.max_pitch));
  }
  if (o.steps_per_quarter <= 0) throw Error("melody: steps_per_quarter must be > 0");
}

struct Onset {
  int64_t step, end;
  int pitch;
};

// Moves a pitch by octaves into [min, max); -1 when it cannot fit.
int fold(int pitch, const Options& o) {
  while (pitch < o.min_pitch) pitch += 12;
  while (pitch >= o.max_pitch) pitch -= 12;
  return pitch >= o.min_pitch ? pitch : -1;
}

}  // namespace

int vocab_size(const Options& o) {
  check_options(o);
  return 2 + o.max_pitch - o.min_pitch;
}

std::vector<int> extract(const Score& score, const Options& o) {
  check_options(o);
  if (score.ticks_per_quarter <= 0) {
    throw Error("melody::extract: the score uses SMPTE time, which has no beats to put steps on");
  }
  if (o.track >= static_cast<int>(score.tracks.size())) {
    throw Error("melody::extract: track " + std::to_string(o.track) +
                " does not exist (the score has " + std::to_string(score.tracks.size()) + ")");
  }
  double steps_per_tick = static_cast<double>(o.steps_per_quarter) / score.ticks_per_quarter;
  std::vector<Onset> onsets;
  int64_t length = 0;
  for (size_t t = 0; t < score.tracks.size(); ++t) {
    if (o.track >= 0 && static_cast<int>(t) != o.track) continue;
    for (const Note& n : score.tracks[t].notes) {
      if (n.channel == 9) continue;
      int64_t start = std::llround(n.start_tick * steps_per_tick);
      int64_t end = std::max<int64_t>(start + 1, std::llround(n.end_tick * steps_per_tick));
      if (end >= o.max_steps) {
        throw Error("melody::extract: the score is longer than max_steps (" +
                    std::to_string(o.max_steps) + " steps of 1/" +
                    std::to_string(o.steps_per_quarter) + " quarter)");
      }
      onsets.push_back({start, end, n.pitch});
    }
  }
  if (onsets.empty()) return {};
  // Policy order within a step: the best candidate first.
  bool highest = o.policy == Policy::kHighest;
  std::sort(onsets.begin(), onsets.end(), [highest](const Onset& a, const Onset& b) {
    if (a.step != b.step) return a.step < b.step;
    if (a.pitch != b.pitch) return highest ? a.pitch > b.pitch : a.pitch < b.pitch;
    return a.end > b.end;
  });
  int64_t last_end = 0;
  for (const Onset& x : onsets) last_end = std::max(last_end, x.end);
  length = last_end + 1;

  std::vector<int> events(static_cast<size_t>(length), kNoEvent);
  size_t next = 0;
  bool active = false;
  int active_pitch = 0;
  int64_t active_end = 0;
  for (int64_t s = 0; s < length; ++s) {
    const Onset* candidate = nullptr;
    while (next < onsets.size() && onsets[next].step == s) {
      if (!candidate) candidate = &onsets[next];
      ++next;
    }
    bool takes_over =
        candidate &&
        (!active || s >= active_end ||
         (highest ? candidate->pitch >= active_pitch : candidate->pitch <= active_pitch));
    if (takes_over) {
      int p = fold(candidate->pitch, o);
      if (p < 0 || (!o.fold_octaves && p != candidate->pitch)) {
        throw Error("melody::extract: pitch " + std::to_string(candidate->pitch) + " at step " +
                    std::to_string(s) + " is outside " + std::to_string(o.min_pitch) + ".." +
                    std::to_string(o.max_pitch - 1) +
                    (o.fold_octaves ? " and the range is too narrow to fold it" : ""));
      }
      events[s] = p;
      active = true;
      active_pitch = candidate->pitch;
      active_end = candidate->end;
    } else if (active && s == active_end) {
      events[s] = kNoteOffEvent;
      active = false;
    }
  }
  return events;
}

std::vector<int32_t> events_to_tokens(const std::vector<int>& events, const Options& o) {
  check_options(o);
  std::vector<int32_t> out;
  out.reserve(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    int e = events[i];
    if (e == kNoEvent || e == kNoteOffEvent) {
      out.push_back(e + 2);
    } else if (e >= o.min_pitch && e < o.max_pitch) {
      out.push_back(2 + e - o.min_pitch);
    } else {
      throw Error("melody::events_to_tokens: event " + std::to_string(i) + " is " +
                  std::to_string(e) + ", neither NO_EVENT (-2), NOTE_OFF (-1) nor a pitch in " +
                  std::to_string(o.min_pitch) + ".." + std::to_string(o.max_pitch - 1));
    }
  }
  return out;
}

std::vector<int> tokens_to_events(const std::vector<int32_t>& tokens, const Options& o) {
  int vocab = vocab_size(o);
  std::vector<int> out;
  out.reserve(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    int32_t t = tokens[i];
    if (t < 0 || t >= vocab) {
      throw Error("melody::tokens_to_events: token " + std::to_string(i) + " is " +
                  std::to_string(t) + ", outside the vocabulary 0.." + std::to_string(vocab - 1));
    }
    out.push_back(t < 2 ? t - 2 : t - 2 + o.min_pitch);
  }
  return out;
}

Score to_score(const std::vector<int>& events, const Options& o, int velocity) {
  check_options(o);
  if (velocity < 1 || velocity > 127) throw Error("melody::to_score: velocity must be 1..127");
  Score score;
  score.ticks_per_quarter = 480;
  score.tempos.push_back({0, 0.0, 500000});
  score.time_signatures.push_back({0, 0.0, 4, 4, 24, 8});
  Track track = make_track("melody", 0, 0);
  auto tick = [&](int64_t step) { return std::llround(step * 480.0 / o.steps_per_quarter); };
  int64_t start = -1;
  int pitch = 0;
  auto close = [&](int64_t step) {
    if (start < 0) return;
    Note n;
    n.pitch = pitch;
    n.velocity = velocity;
    n.start_tick = tick(start);
    n.end_tick = tick(step);
    track.notes.push_back(n);
    start = -1;
  };
  for (size_t s = 0; s < events.size(); ++s) {
    int e = events[s];
    if (e == kNoEvent) continue;
    if (e < kNoEvent || e > 127) {
      throw Error("melody::to_score: event " + std::to_string(s) + " is " + std::to_string(e) +
                  " (expected -2, -1 or a pitch 0..127)");
    }
    close(static_cast<int64_t>(s));
    if (e >= 0) {
      start = static_cast<int64_t>(s);
      pitch = e;
    }
  }
  close(static_cast<int64_t>(events.size()));
  track.end_tick = tick(static_cast<int64_t>(events.size()));
  score.tracks.push_back(std::move(track));
  score.update_times();
  return score;
}

std::string token_name(int32_t id, const Options& o) {
  if (id == 0) return "NO_EVENT";
  if (id == 1) return "NOTE_OFF";
  if (id < 0 || id >= vocab_size(o)) return "INVALID " + std::to_string(id);
  return "NOTE " + std::to_string(id - 2 + o.min_pitch);
}

}  // namespace cadenza::midi::melody
