// Performance RNN event encoding: 10 ms time shifts, 32 velocity bins.
#include <algorithm>
#include <cmath>
#include <deque>
#include <tuple>

#include "midi/tokens.h"

namespace cadenza::midi::performance {

namespace {

// 127 velocities over 32 bins: ceil(127 / 32) = 4 per bin, as in Magenta.
constexpr int kBinSize = 4;
constexpr int kTicksPerStep = 10;  // decode: 500 ticks per quarter at 120 bpm is 1 ms per tick

struct NoteEvent {
  int64_t step;
  int kind;  // 0: off, 1: on; offs first so a repeated pitch is released before it restrikes
  int pitch;
  int64_t end_step;  // ons of one pitch at one step: the one that ends first first (FIFO)
  int velocity;
};

}  // namespace

int velocity_to_bin(int velocity) {
  if (velocity < 1 || velocity > 127) {
    throw Error("performance::velocity_to_bin: velocity must be 1..127, not " +
                std::to_string(velocity));
  }
  return (velocity - 1) / kBinSize + 1;
}

int bin_to_velocity(int bin) {
  if (bin < 1 || bin > kVelocityBins) {
    throw Error("performance::bin_to_velocity: bin must be 1..32, not " + std::to_string(bin));
  }
  return 1 + (bin - 1) * kBinSize;
}

std::vector<int32_t> encode(const Score& score, const EncodeOptions& options) {
  std::vector<NoteEvent> events;
  for (const Track& t : score.tracks) {
    for (const Note& n : t.notes) {
      if (n.channel == 9 && !options.include_drums) continue;
      int64_t start = std::llround(n.start / kStepSeconds);
      int64_t end = std::max<int64_t>(start + 1, std::llround(n.end / kStepSeconds));
      events.push_back({start, 1, n.pitch, end, n.velocity});
      events.push_back({end, 0, n.pitch, end, n.velocity});
    }
  }
  std::sort(events.begin(), events.end(), [](const NoteEvent& a, const NoteEvent& b) {
    return std::tie(a.step, a.kind, a.pitch, a.end_step, a.velocity) <
           std::tie(b.step, b.kind, b.pitch, b.end_step, b.velocity);
  });
  std::vector<int32_t> out;
  int64_t limit = options.max_tokens > 0 ? options.max_tokens : INT64_MAX;
  int64_t step = 0;
  int last_bin = 0;  // none emitted yet
  std::vector<int32_t> pending;
  for (const NoteEvent& e : events) {
    pending.clear();
    int64_t s = step;
    while (s < e.step) {
      int64_t shift = std::min<int64_t>(kMaxShiftSteps, e.step - s);
      pending.push_back(static_cast<int32_t>(kTimeShift + shift - 1));
      s += shift;
    }
    int bin = last_bin;
    if (e.kind == 1) {
      bin = velocity_to_bin(e.velocity);
      if (bin != last_bin) pending.push_back(kVelocity + bin - 1);
      pending.push_back(kNoteOn + e.pitch);
    } else {
      pending.push_back(kNoteOff + e.pitch);
    }
    if (static_cast<int64_t>(out.size() + pending.size()) > limit) break;
    out.insert(out.end(), pending.begin(), pending.end());
    step = s;
    last_bin = bin;
  }
  return out;
}

Score decode(const std::vector<int32_t>& tokens) {
  Score score;
  score.ticks_per_quarter = 500;
  score.tempos.push_back({0, 0.0, 500000});
  Track track = make_track("performance", 0, 0);
  int64_t step = 0;
  int velocity = 100;                             // before any VELOCITY token
  std::deque<std::pair<int64_t, int>> open[128];  // (start step, velocity), oldest first
  auto close = [&](int pitch, int64_t start, int vel, int64_t end) {
    Note n;
    n.pitch = pitch;
    n.velocity = vel;
    n.channel = 0;
    n.start_tick = start * kTicksPerStep;
    n.end_tick = std::max(end, start + 1) * kTicksPerStep;
    track.notes.push_back(n);
  };
  for (size_t i = 0; i < tokens.size(); ++i) {
    int32_t id = tokens[i];
    if (id < 0 || id >= kVocabSize) {
      throw Error("performance::decode: token " + std::to_string(i) + " is " + std::to_string(id) +
                  ", outside the vocabulary 0..387");
    }
    if (id < kNoteOff) {
      open[id].emplace_back(step, velocity);
    } else if (id < kTimeShift) {
      int pitch = id - kNoteOff;
      if (open[pitch].empty()) continue;  // nothing sounding: a stray off
      auto [start, vel] = open[pitch].front();
      open[pitch].pop_front();
      close(pitch, start, vel, step);
    } else if (id < kVelocity) {
      step += id - kTimeShift + 1;
    } else {
      velocity = bin_to_velocity(id - kVelocity + 1);
    }
  }
  for (int p = 0; p < 128; ++p) {
    for (auto [start, vel] : open[p]) close(p, start, vel, step);
  }
  std::sort(track.notes.begin(), track.notes.end(), [](const Note& a, const Note& b) {
    return std::tie(a.start_tick, a.pitch, a.channel, a.end_tick, a.velocity) <
           std::tie(b.start_tick, b.pitch, b.channel, b.end_tick, b.velocity);
  });
  track.end_tick = step * kTicksPerStep;
  for (const Note& n : track.notes) track.end_tick = std::max(track.end_tick, n.end_tick);
  score.tracks.push_back(std::move(track));
  score.update_times();
  return score;
}

std::string token_name(int32_t id) {
  if (id < 0 || id >= kVocabSize) return "INVALID " + std::to_string(id);
  if (id < kNoteOff) return "NOTE_ON " + std::to_string(id);
  if (id < kTimeShift) return "NOTE_OFF " + std::to_string(id - kNoteOff);
  if (id < kVelocity) return "TIME_SHIFT " + std::to_string((id - kTimeShift + 1) * 10) + "ms";
  return "VELOCITY " + std::to_string(id - kVelocity + 1);
}

}  // namespace cadenza::midi::performance
