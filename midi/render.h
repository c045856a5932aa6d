#pragma once
// Score -> audio through FluidSynth and a General MIDI sound font. Optional at
// build time (CADENZA_FLUIDSYNTH); without it render() throws midi::Error that
// says how to get it.
#include <string>

#include "audio/audio.h"
#include "midi/score.h"

namespace cadenza::midi {

constexpr const char* kDefaultSoundFont = "/usr/share/sounds/sf2/TimGM6mb.sf2";

struct RenderOptions {
  std::string soundfont = kDefaultSoundFont;
  int sample_rate = 44100;    // any rate > 0; outside FluidSynth's 8..96 kHz it is resampled
  double tail_seconds = 1.0;  // rendered after the last event, for release and reverb
  float gain = 0.5f;          // FluidSynth's master gain
  bool reverb = true, chorus = true;
  double max_seconds = 3600;  // refuse longer scores rather than allocate hours of audio
};

// Whether this build can render (FluidSynth was found at configure time).
bool can_render();

// score -> stereo audio: Buffer{sample_rate, 2, [2, frames]}. midi::Error for a
// missing sound font, a build without FluidSynth, or a score over max_seconds.
audio::Buffer render(const Score& score, const RenderOptions& options = {});

}  // namespace cadenza::midi
