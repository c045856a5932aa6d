#pragma once
// Standard MIDI File (SMF) byte layer: chunks, variable-length quantities,
// running status, meta and sysex events. It knows nothing of notes or of the
// engine, so it can be fuzzed on its own (tests/fuzz/fuzz_midi.cpp).
//
// Leniency (what real files need, each one recorded in MidiFile::warnings):
//  - running status survives meta and sysex events, although the standard
//    says they cancel it; many sequencers wrote files that rely on it;
//  - unknown chunks are skipped, bytes after the last track are ignored;
//  - a track without End of Track ends where its chunk ends;
//  - a track chunk whose length runs past the end of the file is accepted if
//    its events end with End of Track before the bytes run out;
//  - fewer track chunks than the header declares, if at least one is present.
// ReadOptions::strict turns each of these into a ParseError.
//
// Never tolerated: a truncated header, division 0, zero tracks, a variable
// length quantity longer than 4 bytes, a data byte > 127 where a data byte is
// due, running status with no earlier status byte, an event cut off by the
// end of its chunk. Nothing is allocated from a declared length before the
// bytes behind it are known to exist.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace cadenza::midi {

// Every error of the MIDI floor that is not a malformed file: bad arguments,
// unreadable paths, out-of-range tokens.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A malformed or truncated file. what() reads
// "<source>: byte <offset>: <what was expected>".
struct ParseError : Error {
  ParseError(const std::string& source, int64_t offset, const std::string& expected);
  std::string source;
  int64_t offset;
  std::string expected;
};

// Status bytes of the events a file can hold.
constexpr uint8_t kNoteOff = 0x80, kNoteOn = 0x90, kPolyPressure = 0xA0, kControlChange = 0xB0,
                  kProgramChange = 0xC0, kChannelPressure = 0xD0, kPitchBend = 0xE0, kSysex = 0xF0,
                  kSysexEscape = 0xF7, kMeta = 0xFF;

// Meta event types.
constexpr uint8_t kMetaSequenceNumber = 0x00, kMetaText = 0x01, kMetaCopyright = 0x02,
                  kMetaTrackName = 0x03, kMetaInstrumentName = 0x04, kMetaLyric = 0x05,
                  kMetaMarker = 0x06, kMetaCuePoint = 0x07, kMetaChannelPrefix = 0x20,
                  kMetaPort = 0x21, kMetaEndOfTrack = 0x2F, kMetaTempo = 0x51,
                  kMetaSmpteOffset = 0x54, kMetaTimeSignature = 0x58, kMetaKeySignature = 0x59,
                  kMetaSequencerSpecific = 0x7F;

// One event as stored in the file, at an absolute tick.
struct Event {
  int64_t tick = 0;
  uint8_t status = 0;     // full status byte (running status already resolved)
  uint8_t meta_type = 0;  // for status == kMeta
  uint8_t data1 = 0;      // channel messages and system common messages
  uint8_t data2 = 0;
  std::vector<uint8_t> payload;  // meta and sysex bytes (without the length)

  bool is_channel() const { return status >= 0x80 && status < 0xF0; }
  int channel() const { return status & 0x0F; }
  int kind() const { return status & 0xF0; }  // kNoteOn, kControlChange, ...
  bool operator==(const Event& o) const {
    return tick == o.tick && status == o.status && meta_type == o.meta_type && data1 == o.data1 &&
           data2 == o.data2 && payload == o.payload;
  }
};

struct RawTrack {
  std::vector<Event> events;  // in file order; ticks never decrease
  // Tick of End of Track (or of the last event when it is missing), so that
  // trailing silence survives a round trip and durations match other tools.
  int64_t end_tick = 0;
};

struct MidiFile {
  int format = 1;             // 0, 1 or 2
  int ticks_per_quarter = 0;  // PPQ division; 0 for SMPTE division
  int smpte_fps = 0;          // SMPTE division: 24, 25, 29 (29.97 drop frame) or 30
  int ticks_per_frame = 0;    // SMPTE division: ticks per frame
  std::vector<RawTrack> tracks;
  std::vector<std::string> warnings;  // every leniency used while reading

  // Ticks per second for SMPTE division (29 means 29.97), 0 for PPQ.
  double smpte_ticks_per_second() const;
};

struct ReadOptions {
  bool strict = false;  // turn every tolerated defect (see above) into a ParseError
  // Caps the number of events per file, so a hostile file of many tiny events
  // cannot exhaust memory; a file over the cap raises ParseError.
  int64_t max_events = 50'000'000;
};

// bytes -> MidiFile. `source` names the file in error messages.
MidiFile parse_smf(const uint8_t* data, size_t size, const std::string& source = "<memory>",
                   const ReadOptions& options = {});
MidiFile read_smf(const std::string& path, const ReadOptions& options = {});

// MidiFile -> bytes. Writes a full status byte for every channel event (no
// running status), an End of Track at the end of every track, and rejects
// events whose ticks decrease or whose data bytes are > 127 (midi::Error).
std::vector<uint8_t> serialize_smf(const MidiFile& file);
void write_smf(const std::string& path, const MidiFile& file);

// Variable-length quantities (exposed for tests).
void append_vlq(std::vector<uint8_t>& out, uint32_t value);  // value < 2^28

// Reads a whole file into memory; midi::Error names the path on failure.
std::vector<uint8_t> read_bytes(const std::string& path);
// Writes atomically (temp file + rename) so a failed write leaves no half file.
void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes);

}  // namespace cadenza::midi
