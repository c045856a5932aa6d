#pragma once
// A score drawn as a piano-roll picture: one colour per track (format-0
// files are split by channel first), time on the x axis, pitch on the y axis
// with C rows shaded and labelled, seconds marked along the bottom.
#include <string>

#include "engine/png.h"
#include "midi/score.h"

namespace cadenza::midi {

struct RollImageOptions {
  int width = 1600;  // pixels, 100..20000
  int row = 4;       // pixels per pitch row, 1..20
  bool split_channels = true;
};

// midi::Error for a score without notes or bad sizes.
png::Image draw_roll(const Score& score, const RollImageOptions& options = {});
void save_roll_png(const Score& score, const std::string& path,
                   const RollImageOptions& options = {});

}  // namespace cadenza::midi
