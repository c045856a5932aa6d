#pragma once
// Piano rolls and token sequences as engine Tensors (the only part of the MIDI
// floor that needs the engine).
#include <cstdint>
#include <vector>

#include "engine/tensor.h"
#include "midi/pianoroll.h"

namespace cadenza::midi {

// roll -> f32 Tensor [tracks, steps, 128]
Tensor roll_to_tensor(const PianoRoll& roll);

// Tensor [tracks, steps, 128] (any float dtype) -> roll on the given grid
// (exactly one of steps_per_beat, seconds_per_step > 0). midi::Error for any
// other shape.
PianoRoll roll_from_tensor(const Tensor& t, RollKind kind, double steps_per_beat,
                           double seconds_per_step = 0);

// tokens -> i64 Tensor [n] (what an embedding layer takes)
Tensor tokens_to_tensor(const std::vector<int32_t>& tokens);

}  // namespace cadenza::midi
