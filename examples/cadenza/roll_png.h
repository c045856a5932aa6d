#pragma once
#include <string>

#include "midi/score.h"

namespace cadenza::cli {
// Draws `score` as a piano-roll PNG (tracks in colours, time on the x axis).
void save_roll_png(const midi::Score& score, const std::string& path);
}  // namespace cadenza::cli
