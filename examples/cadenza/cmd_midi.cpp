// cadenza midi info|convert|tokens|render|roll: the MIDI floor from the
// command line. Reports are JSON on stdout so scripts (and the mido / midicsv
// comparison tests) can read them.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "args.h"
#include "audio/audio.h"
#include "commands.h"
#include "engine/npy.h"
#include "engine/png.h"
#include "midi/midi.h"

namespace cadenza::cli {

namespace {

using nlohmann::json;

const char* kMidiUsage =
    "usage: cadenza midi SUBCOMMAND ...\n"
    "\n"
    "  info FILE [--strict]\n"
    "      JSON: format, division, tracks (name, program, channel, notes), total notes,\n"
    "      duration in seconds, tempo changes, time and key signatures, reader warnings\n"
    "  convert IN OUT [--format 0|1] [--transpose N] [--quantize STEPS_PER_BEAT] "
    "[--split-channels]\n"
    "      read and rewrite a file (default format: that of IN; 1 when IN has several tracks)\n"
    "  tokens FILE --vocab performance|melody --out TOKENS.npy\n"
    "         [--include-drums] [--min-pitch 48] [--max-pitch 84] [--policy highest|lowest] "
    "[--track N]\n"
    "      token ids as a NumPy int32 array (performance: 388 tokens; melody: 2 + pitch range)\n"
    "  render FILE --out X.wav [--soundfont SF2] [--rate 44100] [--gain 0.5] [--tail 1.0] [--dry]\n"
    "      audio through FluidSynth (default sound font "
    "/usr/share/sounds/sf2/TimGM6mb.sf2)\n"
    "  roll FILE --out ROLL.png [--width 1600] [--row 4]\n"
    "      the piano roll as a picture: tracks in colours, time on the x axis\n";

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

int cmd_info(const Args& a) {
  a.allow_only({"strict"});
  std::string path = a.positional_at(1, "FILE");
  midi::ReadOptions o;
  o.strict = a.has("strict");
  print_json(score_info(midi::read(path, o), path));
  return 0;
}

int cmd_convert(const Args& a) {
  a.allow_only({"format", "transpose", "quantize", "split-channels"});
  std::string in = a.positional_at(1, "IN"), out = a.positional_at(2, "OUT");
  midi::Score s = midi::read(in);
  int format = static_cast<int>(a.get_int("format", s.format == 0 && s.tracks.size() == 1 ? 0 : 1));
  if (format != 0 && format != 1) throw UsageError("--format must be 0 or 1");
  if (a.has("split-channels")) s = midi::split_by_channel(s);
  if (int64_t t = a.get_int("transpose", 0)) {
    if (t < -127 || t > 127) throw UsageError("--transpose must be within -127..127");
    s = midi::transposed(s, static_cast<int>(t));
  }
  if (a.has("quantize")) {
    int64_t q = a.get_int("quantize", 0);
    if (q <= 0 || q > 960) throw UsageError("--quantize expects steps per beat in 1..960");
    s = midi::quantized(s, static_cast<int>(q));
  }
  midi::write(out, s, format);
  print_json({{"in", in},
              {"out", out},
              {"format", format},
              {"tracks", format == 0 ? 1 : s.tracks.size()},
              {"notes", s.note_count()},
              {"duration", s.duration()}});
  return 0;
}

int cmd_tokens(const Args& a) {
  a.allow_only({"vocab", "out", "include-drums", "min-pitch", "max-pitch", "policy", "track"});
  std::string path = a.positional_at(1, "FILE");
  std::string vocab = a.require("vocab"), out = a.require("out");
  midi::Score s = midi::read(path);
  std::vector<int32_t> tokens;
  int vocab_size = 0;
  if (vocab == "performance") {
    midi::performance::EncodeOptions o;
    o.include_drums = a.has("include-drums");
    tokens = midi::performance::encode(s, o);
    vocab_size = midi::performance::kVocabSize;
  } else if (vocab == "melody") {
    midi::melody::Options o;
    o.min_pitch = static_cast<int>(a.get_int("min-pitch", o.min_pitch));
    o.max_pitch = static_cast<int>(a.get_int("max-pitch", o.max_pitch));
    o.track = static_cast<int>(a.get_int("track", -1));
    std::string policy = a.get("policy", "highest");
    if (policy != "highest" && policy != "lowest")
      throw UsageError("--policy must be highest or lowest");
    o.policy = policy == "highest" ? midi::melody::Policy::kHighest : midi::melody::Policy::kLowest;
    tokens = midi::melody::events_to_tokens(midi::melody::extract(s, o), o);
    vocab_size = midi::melody::vocab_size(o);
  } else {
    throw UsageError("--vocab must be performance or melody, not '" + vocab + "'");
  }
  if (tokens.empty()) throw midi::Error(path + ": no pitched notes to tokenize");
  npy::save(out, tokens, {static_cast<int64_t>(tokens.size())});
  print_json({{"file", path},
              {"vocab", vocab},
              {"vocab_size", vocab_size},
              {"tokens", tokens.size()},
              {"out", out}});
  return 0;
}

int cmd_render(const Args& a) {
  a.allow_only({"out", "soundfont", "rate", "gain", "tail", "dry"});
  std::string path = a.positional_at(1, "FILE"), out = a.require("out");
  midi::RenderOptions o;
  o.soundfont = a.get("soundfont", o.soundfont);
  int64_t rate = a.get_int("rate", o.sample_rate);
  if (rate <= 0 || rate > 384000) throw UsageError("--rate must be within 1..384000");
  o.sample_rate = static_cast<int>(rate);
  o.gain = static_cast<float>(a.get_double("gain", o.gain));
  o.tail_seconds = a.get_double("tail", o.tail_seconds);
  o.reverb = o.chorus = !a.has("dry");
  audio::Buffer b = midi::render(midi::read(path), o);
  audio::save(out, b);
  print_json({{"file", path},
              {"out", out},
              {"sample_rate", b.sample_rate},
              {"channels", b.channels},
              {"seconds", b.seconds()},
              {"soundfont", o.soundfont}});
  return 0;
}

int cmd_roll(const Args& a) {
  a.allow_only({"out", "width", "row"});
  std::string path = a.positional_at(1, "FILE"), out = a.require("out");
  midi::RollImageOptions o;
  int64_t width = a.get_int("width", o.width), row = a.get_int("row", o.row);
  if (width < 100 || width > 20000) throw UsageError("--width must be within 100..20000");
  if (row < 1 || row > 20) throw UsageError("--row must be within 1..20 pixels");
  o.width = static_cast<int>(width);
  o.row = static_cast<int>(row);
  midi::Score s = midi::read(path);
  png::Image img = midi::draw_roll(s, o);
  png::save(out, img);
  print_json({{"file", path},
              {"out", out},
              {"width", img.width},
              {"height", img.height},
              {"tracks", midi::split_by_channel(s).tracks.size()},
              {"seconds", s.duration()}});
  return 0;
}

}  // namespace

int cmd_midi(int argc, char** argv) {
  if (argc < 3 || !std::strcmp(argv[2], "--help") || !std::strcmp(argv[2], "-h")) {
    std::fputs(kMidiUsage, argc < 3 ? stderr : stdout);
    return argc < 3 ? 2 : 0;
  }
  Args a(argc, argv, 2, {"strict", "include-drums", "dry", "split-channels", "help"});
  if (a.has("help")) {
    std::fputs(kMidiUsage, stdout);
    return 0;
  }
  std::string sub = a.positional_at(0, "SUBCOMMAND");
  if (sub == "info") return cmd_info(a);
  if (sub == "convert") return cmd_convert(a);
  if (sub == "tokens") return cmd_tokens(a);
  if (sub == "render") return cmd_render(a);
  if (sub == "roll") return cmd_roll(a);
  throw UsageError("unknown midi subcommand '" + sub + "' (info, convert, tokens, render, roll)");
}

}  // namespace cadenza::cli
