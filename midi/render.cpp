// FluidSynth rendering. Events are applied at their exact sample frame: the
// synth renders up to the frame, then takes the event, so timing does not
// depend on FluidSynth's internal block size.
#include "midi/render.h"

#include <cadenza/config.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>
#include <tuple>

#if CADENZA_HAVE_FLUIDSYNTH
#include <fluidsynth.h>
#endif

namespace cadenza::midi {

bool can_render() {
  return CADENZA_HAVE_FLUIDSYNTH != 0;
}

#if !CADENZA_HAVE_FLUIDSYNTH

audio::Buffer render(const Score&, const RenderOptions&) {
  throw Error(
      "render: this build of cadenza has no FluidSynth; install it (apt-get install "
      "libfluidsynth-dev) and reconfigure with -DCADENZA_FLUIDSYNTH=ON");
}

#else

namespace {

// FluidSynth accepts 8 kHz .. 96 kHz; other rates are rendered at 44.1 kHz
// and resampled.
constexpr int kMinSynthRate = 8000, kMaxSynthRate = 96000;

struct SynthEvent {
  double time;
  int rank;  // at one instant: programs, controllers, note-offs, note-ons
  int kind, channel, a, b;
};

void silence_fluidsynth_log() {
  // Errors come back as return codes and become our own messages; without
  // this FluidSynth also prints them (and warnings) to stderr.
  for (int level : {FLUID_PANIC, FLUID_ERR, FLUID_WARN, FLUID_INFO, FLUID_DBG}) {
    fluid_set_log_function(level, nullptr, nullptr);
  }
}

std::vector<SynthEvent> collect_events(const Score& score) {
  std::vector<SynthEvent> ev;
  for (const Track& t : score.tracks) {
    for (const ProgramChange& p : t.programs)
      ev.push_back({p.time, 0, kProgramChange, p.channel, p.program, 0});
    for (const ControlChange& c : t.controls)
      ev.push_back({c.time, 1, kControlChange, c.channel, c.controller, c.value});
    for (const PitchBend& b : t.bends)
      ev.push_back({b.time, 1, kPitchBend, b.channel, b.value + 8192, 0});
    for (const Note& n : t.notes) {
      ev.push_back({n.start, 3, kNoteOn, n.channel, n.pitch, n.velocity});
      // A zero-length note still gets its note-off after its note-on.
      ev.push_back({n.end, n.end > n.start ? 2 : 4, kNoteOff, n.channel, n.pitch, 0});
    }
  }
  std::stable_sort(ev.begin(), ev.end(), [](const SynthEvent& x, const SynthEvent& y) {
    return std::tie(x.time, x.rank) < std::tie(y.time, y.rank);
  });
  return ev;
}

}  // namespace

audio::Buffer render(const Score& score, const RenderOptions& o) {
  if (o.sample_rate <= 0)
    throw Error("render: sample rate must be > 0, not " + std::to_string(o.sample_rate));
  if (!std::ifstream(o.soundfont).good()) {
    throw Error("render: sound font " + o.soundfont +
                " not found (apt-get install timgm6mb-soundfont, or pass another .sf2)");
  }
  double seconds = score.duration() + std::max(0.0, o.tail_seconds);
  if (seconds > o.max_seconds) {
    throw Error("render: the score lasts " + std::to_string(seconds) +
                " s, more than max_seconds (" + std::to_string(o.max_seconds) + ")");
  }
  int rate = o.sample_rate;
  int synth_rate = rate < kMinSynthRate || rate > kMaxSynthRate ? 44100 : rate;

  silence_fluidsynth_log();
  std::unique_ptr<fluid_settings_t, void (*)(fluid_settings_t*)> settings(new_fluid_settings(),
                                                                          delete_fluid_settings);
  if (!settings) throw Error("render: FluidSynth could not allocate its settings");
  fluid_settings_setnum(settings.get(), "synth.sample-rate", synth_rate);
  fluid_settings_setnum(settings.get(), "synth.gain", o.gain);
  fluid_settings_setint(settings.get(), "synth.reverb.active", o.reverb ? 1 : 0);
  fluid_settings_setint(settings.get(), "synth.chorus.active", o.chorus ? 1 : 0);
  fluid_settings_setint(settings.get(), "synth.cpu-cores", 1);
  std::unique_ptr<fluid_synth_t, void (*)(fluid_synth_t*)> synth(new_fluid_synth(settings.get()),
                                                                 delete_fluid_synth);
  if (!synth) throw Error("render: FluidSynth could not create a synthesizer");
  if (fluid_synth_sfload(synth.get(), o.soundfont.c_str(), 1) == FLUID_FAILED) {
    throw Error("render: FluidSynth could not load the sound font " + o.soundfont +
                " (is it a valid .sf2 file?)");
  }

  std::vector<SynthEvent> events = collect_events(score);
  int64_t total = static_cast<int64_t>(std::ceil(seconds * synth_rate));
  audio::Buffer out;
  out.sample_rate = synth_rate;
  out.channels = 2;
  out.data.assign(static_cast<size_t>(2 * total), 0.0f);
  float* left = out.data.data();
  float* right = left + total;
  int64_t frame = 0;
  auto render_to = [&](int64_t until) {
    until = std::min(until, total);
    while (frame < until) {
      int n = static_cast<int>(std::min<int64_t>(4096, until - frame));
      fluid_synth_write_float(synth.get(), n, left + frame, 0, 1, right + frame, 0, 1);
      frame += n;
    }
  };
  for (const SynthEvent& e : events) {
    render_to(static_cast<int64_t>(std::llround(e.time * synth_rate)));
    fluid_synth_t* s = synth.get();
    switch (e.kind) {
      case kProgramChange:
        fluid_synth_program_change(s, e.channel, e.a);
        break;
      case kControlChange:
        fluid_synth_cc(s, e.channel, e.a, e.b);
        break;
      case kPitchBend:
        fluid_synth_pitch_bend(s, e.channel, e.a);
        break;
      case kNoteOn:
        fluid_synth_noteon(s, e.channel, e.a, e.b);
        break;
      case kNoteOff:
        fluid_synth_noteoff(s, e.channel, e.a);
        break;
      default:
        break;
    }
  }
  render_to(total);
  if (synth_rate != rate) return audio::resample(out, rate);
  return out;
}

#endif

}  // namespace cadenza::midi
