#pragma once
// Spectrograms as pictures: a log-mel dB matrix with a time axis, and
// pictures stacked one above another (an original over its resynthesis).
#include <string>
#include <vector>

#include "audio/audio.h"
#include "engine/png.h"

namespace cadenza::audio {

// m: log-mel in dB, [n_mels, frames], 0 dB at the top of the colour ramp and
// -80 dB at the bottom, over `seconds`; long recordings are squeezed by
// averaging frames into at most `max_width` columns. `title` prefixes the label.
png::Image spectrogram_image(const Matrix& m, double seconds, int max_width = 1200, const std::string& title = "");

// The images one above another, left-aligned on white.
png::Image stack_images(const std::vector<png::Image>& images);

}  // namespace cadenza::audio
