// Piano roll <-> Tensor conversions, kept apart so that the rest of the MIDI
// floor builds and fuzzes without the engine.
#include "midi/pianoroll_tensor.h"

namespace cadenza::midi {

Tensor roll_to_tensor(const PianoRoll& roll) {
  if (roll.data.size() != static_cast<size_t>(roll.tracks * roll.steps * 128)) {
    throw Error("roll_to_tensor: the roll holds " + std::to_string(roll.data.size()) +
                " values, not tracks x steps x 128");
  }
  return Tensor::from_vector<float>(roll.data, Shape{roll.tracks, roll.steps, 128});
}

PianoRoll roll_from_tensor(const Tensor& t, RollKind kind, double steps_per_beat,
                           double seconds_per_step) {
  const Shape& s = t.shape();
  if (s.size() != 3 || s[2] != 128) {
    throw Error("roll_from_tensor: expected a [tracks, steps, 128] tensor, got " + shape_str(s));
  }
  if ((steps_per_beat > 0) == (seconds_per_step > 0)) {
    throw Error("roll_from_tensor: set exactly one of steps_per_beat and seconds_per_step");
  }
  PianoRoll roll;
  roll.tracks = s[0];
  roll.steps = s[1];
  roll.kind = kind;
  roll.steps_per_beat = steps_per_beat;
  roll.seconds_per_step = seconds_per_step;
  roll.data = t.to_vector<float>();
  roll.names.assign(static_cast<size_t>(roll.tracks), std::string());
  roll.programs.assign(static_cast<size_t>(roll.tracks), 0);
  roll.channels.assign(static_cast<size_t>(roll.tracks), 0);
  for (int64_t i = 0; i < roll.tracks; ++i)
    roll.channels[i] = static_cast<int>(i < 9 ? i : i + 1) % 16;
  return roll;
}

Tensor tokens_to_tensor(const std::vector<int32_t>& tokens) {
  std::vector<int64_t> v(tokens.begin(), tokens.end());
  return Tensor::from_vector<int64_t>(v, Shape{static_cast<int64_t>(v.size())});
}

}  // namespace cadenza::midi
