// cadenza midi info|convert|tokens|render|roll: the MIDI floor from the
// command line. Reports are JSON on stdout so scripts (and the mido / midicsv
// comparison tests) can read them.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "audio/audio.h"
#include "cli_checks.h"
#include "commands.h"
#include "engine/npy.h"
#include "engine/png.h"
#include "midi/midi.h"

namespace cadenza::cli {

namespace {

using nlohmann::json;

// Latin-1 and other non-UTF-8 bytes in names become U+FFFD rather than
// making nlohmann::json throw on output.
void print_json(const json& j) {
  std::string s = j.dump(2, ' ', false, json::error_handler_t::replace);
  std::printf("%s\n", s.c_str());
}

json score_info(const midi::Score& s, const std::string& path) {
  json j;
  j["file"] = path;
  j["format"] = s.format;
  if (s.ticks_per_quarter > 0) {
    j["division"] = {{"ticks_per_quarter", s.ticks_per_quarter}};
  } else {
    j["division"] = {{"smpte_fps", s.smpte_fps}, {"ticks_per_frame", s.ticks_per_frame}};
  }
  json tracks = json::array();
  for (size_t i = 0; i < s.tracks.size(); ++i) {
    const midi::Track& t = s.tracks[i];
    json tj = {{"index", i},
               {"name", t.name},
               {"program", t.program},
               {"channel", t.channel},
               {"notes", t.notes.size()},
               {"drums", t.is_drum()},
               {"end_tick", t.end_tick}};
    if (!t.instrument.empty()) tj["instrument"] = t.instrument;
    tracks.push_back(tj);
  }
  j["tracks"] = tracks;
  j["notes"] = s.note_count();
  j["end_tick"] = s.end_tick();
  j["duration"] = s.duration();
  json tempos = json::array();
  for (const auto& t : s.tempos) {
    tempos.push_back({{"tick", t.tick},
                      {"time", t.time},
                      {"bpm", t.bpm()},
                      {"us_per_quarter", t.us_per_quarter}});
  }
  j["tempo_changes"] = tempos;
  json ts = json::array();
  for (const auto& t : s.time_signatures) {
    ts.push_back(
        {{"tick", t.tick},
         {"time", t.time},
         {"signature", std::to_string(t.numerator) + "/" + std::to_string(t.denominator)}});
  }
  j["time_signatures"] = ts;
  json ks = json::array();
  for (const auto& k : s.key_signatures)
    ks.push_back({{"tick", k.tick}, {"time", k.time}, {"key", k.name()}});
  j["key_signatures"] = ks;
  j["warnings"] = s.warnings;
  return j;
}

struct InfoArgs {
  std::string file;
  bool strict = false;
};

void define_info(CLI::App& sub, InfoArgs& o) {
  sub.footer(
      "JSON: format, division, tracks (name, program, channel, notes), total notes,\n"
      "duration in seconds, tempo changes, time and key signatures, reader warnings.\n");
  sub.add_option("FILE", o.file, "the MIDI file")->required();
  sub.add_flag("--strict", o.strict,
               "fail on the defects the reader otherwise tolerates (and lists as warnings)");
}

void run_info(const InfoArgs& o) {
  midi::ReadOptions ro;
  ro.strict = o.strict;
  print_json(score_info(midi::read(o.file, ro), o.file));
}

struct ConvertArgs {
  std::string in, out;
  std::optional<int> format, quantize;
  int transpose = 0;
  bool split_channels = false;
};

void define_convert(CLI::App& sub, ConvertArgs& o) {
  sub.footer("Reads IN and writes OUT as a standard MIDI file.\n");
  sub.add_option("IN", o.in, "the MIDI file to read")->required();
  sub.add_option("OUT", o.out, "the MIDI file to write")->required();
  sub.add_option("--format", o.format, "SMF format of OUT")
      ->transform(integer(0, 1))
      ->default_str("that of IN; 1 when IN has several tracks");
  sub.add_option("--transpose", o.transpose, "semitones to move every non-drum note by")
      ->transform(integer(-127, 127));
  sub.add_option("--quantize", o.quantize, "snap every tick to this many steps per beat")
      ->transform(integer(1, 960))
      ->default_str("off");
  sub.add_flag("--split-channels", o.split_channels,
               "one track per (track, channel) pair that holds channel events");
}

void run_convert(const ConvertArgs& o) {
  midi::Score s = midi::read(o.in);
  const int format = o.format.value_or(s.format == 0 && s.tracks.size() == 1 ? 0 : 1);
  if (o.split_channels) s = midi::split_by_channel(s);
  if (o.transpose != 0) s = midi::transposed(s, o.transpose);
  if (o.quantize) s = midi::quantized(s, *o.quantize);
  midi::write(o.out, s, format);
  print_json({{"in", o.in},
              {"out", o.out},
              {"format", format},
              {"tracks", format == 0 ? 1 : s.tracks.size()},
              {"notes", s.note_count()},
              {"duration", s.duration()}});
}

struct TokensArgs {
  std::string file, vocab, out, policy = "highest";
  bool include_drums = false;
  midi::melody::Options melody;
};

void define_tokens(CLI::App& sub, TokensArgs& o) {
  sub.footer(
      "Writes the token ids as a NumPy int32 array (performance: 388 tokens;\n"
      "melody: 2 + pitch range).\n");
  sub.add_option("FILE", o.file, "the MIDI file")->required();
  sub.add_option("--vocab", o.vocab, "the token vocabulary")
      ->required()
      ->check(one_of({"performance", "melody"}));
  sub.add_option("--out", o.out, "the .npy file to write")->required();
  sub.add_flag("--include-drums", o.include_drums, "performance: keep drum notes too");
  sub.add_option("--min-pitch", o.melody.min_pitch, "melody: lowest pitch kept (inclusive)")
      ->transform(integer(0, 127));
  sub.add_option("--max-pitch", o.melody.max_pitch, "melody: highest pitch kept (exclusive)")
      ->transform(integer(1, 128));
  sub.add_option("--policy", o.policy, "melody: which note of a chord becomes the melody")
      ->check(one_of({"highest", "lowest"}));
  sub.add_option("--track", o.melody.track, "melody: that track only (-1: every non-drum track)")
      ->transform(integer(-1, 65535));
}

void run_tokens(const TokensArgs& o) {
  midi::Score s = midi::read(o.file);
  std::vector<int32_t> tokens;
  int vocab_size = 0;
  if (o.vocab == "performance") {
    midi::performance::EncodeOptions eo;
    eo.include_drums = o.include_drums;
    tokens = midi::performance::encode(s, eo);
    vocab_size = midi::performance::kVocabSize;
  } else {
    midi::melody::Options mo = o.melody;
    if (mo.min_pitch >= mo.max_pitch) {
      throw UsageError("--min-pitch " + std::to_string(mo.min_pitch) +
                       " must be below --max-pitch " + std::to_string(mo.max_pitch));
    }
    mo.policy =
        o.policy == "highest" ? midi::melody::Policy::kHighest : midi::melody::Policy::kLowest;
    tokens = midi::melody::events_to_tokens(midi::melody::extract(s, mo), mo);
    vocab_size = midi::melody::vocab_size(mo);
  }
  if (tokens.empty()) throw midi::Error(o.file + ": no pitched notes to tokenize");
  npy::save(o.out, tokens, {static_cast<int64_t>(tokens.size())});
  print_json({{"file", o.file},
              {"vocab", o.vocab},
              {"vocab_size", vocab_size},
              {"tokens", tokens.size()},
              {"out", o.out}});
}

struct RenderArgs {
  std::string file, out;
  midi::RenderOptions render;
  bool dry = false;
};

void define_render(CLI::App& sub, RenderArgs& o) {
  sub.add_option("FILE", o.file, "the MIDI file")->required();
  sub.add_option("--out", o.out, "the audio file to write (.wav, .flac, .ogg)")->required();
  sub.add_option("--soundfont", o.render.soundfont, "the SF2 sound font");
  sub.add_option("--rate", o.render.sample_rate, "sample rate (Hz)")->transform(integer(1, 384000));
  sub.add_option("--gain", o.render.gain, "FluidSynth's master gain")->check(number(0, 10));
  sub.add_option("--tail", o.render.tail_seconds, "seconds rendered after the last event")
      ->check(number(0, 3600));
  sub.add_flag("--dry", o.dry, "no reverb and no chorus");
}

void run_render(const RenderArgs& o) {
  midi::RenderOptions ro = o.render;
  ro.reverb = ro.chorus = !o.dry;
  audio::Buffer b = midi::render(midi::read(o.file), ro);
  audio::save(o.out, b);
  print_json({{"file", o.file},
              {"out", o.out},
              {"sample_rate", b.sample_rate},
              {"channels", b.channels},
              {"seconds", b.seconds()},
              {"soundfont", ro.soundfont}});
}

struct RollArgs {
  std::string file, out;
  midi::RollImageOptions roll;
};

void define_roll(CLI::App& sub, RollArgs& o) {
  sub.footer("Tracks in colours, time on the x axis.\n");
  sub.add_option("FILE", o.file, "the MIDI file")->required();
  sub.add_option("--out", o.out, "the .png file to write")->required();
  sub.add_option("--width", o.roll.width, "picture width (pixels)")->transform(integer(100, 20000));
  sub.add_option("--row", o.roll.row, "pixels per pitch row")->transform(integer(1, 20));
}

void run_roll(const RollArgs& o) {
  midi::Score s = midi::read(o.file);
  png::Image img = midi::draw_roll(s, o.roll);
  png::save(o.out, img);
  print_json({{"file", o.file},
              {"out", o.out},
              {"width", img.width},
              {"height", img.height},
              {"tracks", midi::split_by_channel(s).tracks.size()},
              {"seconds", s.duration()}});
}

}  // namespace

void add_midi_command(CLI::App& root) {
  CLI::App* midi = add_group(root, "midi", "MIDI files: info, convert, tokens, render, roll");
  add_command(*midi, "info", "what a MIDI file holds, as JSON", define_info, run_info);
  add_command(*midi, "convert", "read and rewrite a MIDI file", define_convert, run_convert);
  add_command(*midi, "tokens", "a MIDI file as token ids (.npy)", define_tokens, run_tokens);
  add_command(*midi, "render", "a MIDI file as audio, through FluidSynth", define_render,
              run_render);
  add_command(*midi, "roll", "the piano roll as a picture (.png)", define_roll, run_roll);
}

}  // namespace cadenza::cli
