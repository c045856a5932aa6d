// Score <-> piano roll.
#include "midi/pianoroll.h"

#include <algorithm>
#include <cmath>
#include <tuple>

namespace cadenza::midi {

namespace {

// Maps a note to grid steps, in ticks (beat grid) or seconds (time grid).
struct Grid {
  bool beats;
  double steps_per_tick = 0, steps_per_second = 0;
  int64_t start(const Note& n) const {
    return beats ? std::llround(n.start_tick * steps_per_tick)
                 : std::llround(n.start * steps_per_second);
  }
  int64_t end(const Note& n) const {
    int64_t e =
        beats ? std::llround(n.end_tick * steps_per_tick) : std::llround(n.end * steps_per_second);
    return std::max(e, start(n) + 1);
  }
};

}  // namespace

PianoRoll to_pianoroll(const Score& score, const RollOptions& o) {
  Grid g;
  g.beats = !(o.seconds_per_step > 0);
  if (g.beats) {
    if (!(o.steps_per_beat > 0))
      throw Error("pianoroll: steps_per_beat must be > 0 (or set seconds_per_step)");
    if (score.ticks_per_quarter <= 0) {
      throw Error(
          "pianoroll: the score uses SMPTE time, which has no beats; set seconds_per_step instead");
    }
    g.steps_per_tick = o.steps_per_beat / score.ticks_per_quarter;
  } else {
    g.steps_per_second = 1.0 / o.seconds_per_step;
  }
  int64_t steps = g.beats ? std::llround(score.end_tick() * g.steps_per_tick)
                          : std::llround(score.duration() * g.steps_per_second);
  for (const Track& t : score.tracks) {
    for (const Note& n : t.notes) steps = std::max(steps, g.end(n));
  }
  int64_t tracks = static_cast<int64_t>(score.tracks.size());
  if (steps > o.max_steps || (tracks > 0 && steps * tracks > o.max_steps * 16)) {
    throw Error("pianoroll: " + std::to_string(steps) + " steps x " + std::to_string(tracks) +
                " tracks is more than max_steps allows (" + std::to_string(o.max_steps) +
                "); use a coarser grid or raise RollOptions::max_steps");
  }
  PianoRoll roll;
  roll.tracks = tracks;
  roll.steps = steps;
  roll.kind = o.kind;
  roll.steps_per_beat = g.beats ? o.steps_per_beat : 0;
  roll.seconds_per_step = g.beats ? 0 : o.seconds_per_step;
  roll.us_per_quarter = score.us_per_quarter_at_start();
  roll.data.assign(static_cast<size_t>(tracks * steps * 128), 0.0f);
  for (int64_t t = 0; t < tracks; ++t) {
    const Track& tr = score.tracks[t];
    roll.names.push_back(tr.name);
    roll.programs.push_back(tr.program);
    roll.channels.push_back(tr.channel < 0 ? 0 : tr.channel);
    for (const Note& n : tr.notes) {
      if (n.channel == 9 && !o.include_drums) continue;
      int64_t s0 = g.start(n), s1 = g.end(n);
      if (o.kind == RollKind::kOnset) {
        roll.at(t, s0, n.pitch) = 1.0f;
        continue;
      }
      float v = o.kind == RollKind::kVelocity ? n.velocity / 127.0f : 1.0f;
      for (int64_t s = s0; s < s1; ++s) {
        float& cell = roll.at(t, s, n.pitch);
        cell = std::max(cell, v);  // overlapping notes: the louder one
      }
    }
  }
  return roll;
}

Score from_pianoroll(const PianoRoll& roll, const FromRollOptions& o) {
  if (roll.data.size() != static_cast<size_t>(roll.tracks * roll.steps * 128)) {
    throw Error("from_pianoroll: data holds " + std::to_string(roll.data.size()) +
                " values, expected tracks x steps x 128 = " +
                std::to_string(roll.tracks * roll.steps * 128));
  }
  if (o.velocity < 1 || o.velocity > 127) throw Error("from_pianoroll: velocity must be 1..127");
  if (o.ticks_per_quarter <= 0 || o.ticks_per_quarter > 32767) {
    throw Error("from_pianoroll: ticks_per_quarter must be 1..32767");
  }
  if (o.onset_length < 1) throw Error("from_pianoroll: onset_length must be >= 1");
  double ticks_per_step;
  if (roll.seconds_per_step > 0) {
    double ticks_per_second = o.ticks_per_quarter * 1e6 / roll.us_per_quarter;
    ticks_per_step = roll.seconds_per_step * ticks_per_second;
  } else if (roll.steps_per_beat > 0) {
    ticks_per_step = o.ticks_per_quarter / roll.steps_per_beat;
  } else {
    throw Error("from_pianoroll: the roll has neither steps_per_beat nor seconds_per_step set");
  }
  auto tick = [&](int64_t step) {
    return static_cast<int64_t>(std::llround(step * ticks_per_step));
  };

  Score score;
  score.ticks_per_quarter = o.ticks_per_quarter;
  score.tempos.push_back({0, 0.0, roll.us_per_quarter});
  for (int64_t t = 0; t < roll.tracks; ++t) {
    auto pick = [&](const auto& v, auto fallback) {
      return static_cast<size_t>(t) < v.size() ? v[t] : fallback;
    };
    int channel = std::clamp(pick(roll.channels, 0), 0, 15);
    Track tr = make_track(pick(roll.names, std::string()),
                          std::clamp(pick(roll.programs, 0), 0, 127), channel);
    auto add = [&](int pitch, int64_t s0, int64_t s1, int velocity) {
      Note n;
      n.pitch = pitch;
      n.velocity = std::clamp(velocity, 1, 127);
      n.channel = channel;
      n.start_tick = tick(s0);
      n.end_tick = tick(s1);
      tr.notes.push_back(n);
    };
    for (int p = 0; p < 128; ++p) {
      int64_t run_start = -1;
      int run_velocity = 0;
      for (int64_t s = 0; s <= roll.steps; ++s) {
        float v = s < roll.steps ? roll.at(t, s, p) : 0.0f;
        if (roll.kind == RollKind::kOnset) {
          if (v > o.threshold) add(p, s, std::min(s + o.onset_length, roll.steps), o.velocity);
          continue;
        }
        // Velocity rolls sound wherever the velocity rounds to at least 1.
        int velocity =
            roll.kind == RollKind::kVelocity ? static_cast<int>(std::lround(v * 127)) : o.velocity;
        bool on = roll.kind == RollKind::kVelocity ? velocity >= 1 : v > o.threshold;
        if (run_start >= 0 && (!on || velocity != run_velocity)) {
          add(p, run_start, s, run_velocity);
          run_start = -1;
        }
        if (on && run_start < 0) {
          run_start = s;
          run_velocity = velocity;
        }
      }
    }
    std::sort(tr.notes.begin(), tr.notes.end(), [](const Note& a, const Note& b) {
      return std::tie(a.start_tick, a.pitch, a.channel, a.end_tick, a.velocity) <
             std::tie(b.start_tick, b.pitch, b.channel, b.end_tick, b.velocity);
    });
    tr.end_tick = tick(roll.steps);
    score.tracks.push_back(std::move(tr));
  }
  score.update_times();
  return score;
}

}  // namespace cadenza::midi
