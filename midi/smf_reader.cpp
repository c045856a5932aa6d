// Standard MIDI File parser. Every read is bounds-checked against the end of
// the current chunk, and every failure is a ParseError with the byte offset,
// so that hostile files end in an exception rather than in a crash.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>

#include "midi/smf.h"

namespace cadenza::midi {

namespace {

std::string hex(int v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", v & 0xFF);
  return buf;
}

// Number of data bytes after a status byte, for channel and system common
// messages; -1 for the variable-length ones (sysex, meta).
int data_length(uint8_t status) {
  switch (status & 0xF0) {
    case kProgramChange:
    case kChannelPressure:
      return 1;
    case 0xF0:
      break;
    default:
      return 2;
  }
  switch (status) {
    case 0xF1:
    case 0xF3:
      return 1;  // MTC quarter frame, song select
    case 0xF2:
      return 2;  // song position
    case kSysex:
    case kSysexEscape:
    case kMeta:
      return -1;
    default:
      return 0;  // tune request, real-time bytes
  }
}

// Reads within [pos, end) of a buffer and reports errors at absolute offsets.
class Cursor {
 public:
  Cursor(const uint8_t* data, size_t pos, size_t end, const std::string& source)
      : data_(data), pos_(pos), end_(end), source_(source) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return end_ - pos_; }
  bool at_end() const { return pos_ >= end_; }

  uint8_t byte(const char* what) {
    if (pos_ >= end_) fail(std::string("expected ") + what + ", found the end of the chunk");
    return data_[pos_++];
  }
  void unread() { --pos_; }

  uint8_t data_byte(const char* what) {
    size_t at = pos_;
    uint8_t b = byte(what);
    if (b & 0x80) {
      fail_at(at, std::string("expected ") + what + " (a data byte < 0x80), found " + hex(b));
    }
    return b;
  }

  // Variable-length quantity: at most 4 bytes, 7 bits each (so < 2^28).
  uint32_t vlq(const char* what) {
    size_t start = pos_;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      uint8_t b = byte(what);
      v = (v << 7) | (b & 0x7F);
      if (!(b & 0x80)) return v;
    }
    fail_at(start, std::string("expected ") + what +
                       " (a variable-length quantity of at most 4 bytes), found 5 or more");
  }

  const uint8_t* take(size_t n, const char* what) {
    if (n > remaining()) {
      fail(std::string("expected ") + what + " of " + std::to_string(n) + " bytes, only " +
           std::to_string(remaining()) + " remain");
    }
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }

  [[noreturn]] void fail(const std::string& msg) const { fail_at(pos_, msg); }
  [[noreturn]] void fail_at(size_t at, const std::string& msg) const {
    throw ParseError(source_, static_cast<int64_t>(at), msg);
  }

 private:
  const uint8_t* data_;
  size_t pos_, end_;
  const std::string& source_;
};

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}
uint16_t be16(const uint8_t* p) {
  return uint16_t((p[0] << 8) | p[1]);
}

bool printable_id(const uint8_t* p) {
  return std::all_of(p, p + 4, [](uint8_t c) { return c >= 0x20 && c < 0x7F; });
}

// Parses the events of one MTrk chunk in [begin, end). Returns false when the
// chunk ended without End of Track (the caller decides whether that is fine).
bool parse_track(const uint8_t* data, size_t begin, size_t end, const std::string& source,
                 RawTrack& track, int64_t& events_left) {
  Cursor c(data, begin, end, source);
  int64_t tick = 0;
  uint8_t running = 0;  // 0: no running status yet
  // A track's events need at least 2 bytes each, which bounds the reserve.
  track.events.reserve(std::min<size_t>((end - begin) / 2, 1 << 16));
  while (!c.at_end()) {
    tick += c.vlq("a delta time");
    Event ev;
    ev.tick = tick;
    size_t status_at = c.pos();
    uint8_t b = c.byte("a status byte");
    if (b & 0x80) {
      ev.status = b;
    } else {
      if (!running) {
        c.fail_at(status_at, "expected a status byte, found data byte " + hex(b) +
                                 " with no earlier status to run on");
      }
      ev.status = running;
      c.unread();  // the byte was the first data byte
    }
    if (--events_left < 0) c.fail_at(status_at, "fewer events (the file exceeds max_events)");
    int n = data_length(ev.status);
    if (n >= 0) {
      // Only channel messages set running status; system common messages
      // cancel it, as the standard says.
      running = ev.is_channel() ? ev.status : 0;
      if (n >= 1) ev.data1 = c.data_byte("a data byte");
      if (n >= 2) ev.data2 = c.data_byte("a second data byte");
    } else if (ev.status == kMeta) {
      ev.meta_type = c.byte("a meta event type");
      if (ev.meta_type & 0x80) {
        c.fail_at(c.pos() - 1, "expected a meta event type < 0x80, found " + hex(ev.meta_type));
      }
      uint32_t len = c.vlq("a meta event length");
      const uint8_t* p = c.take(len, "meta event data");
      ev.payload.assign(p, p + len);
    } else {  // sysex F0 or F7 escape
      uint32_t len = c.vlq("a sysex length");
      const uint8_t* p = c.take(len, "sysex data");
      ev.payload.assign(p, p + len);
    }
    bool eot = ev.status == kMeta && ev.meta_type == kMetaEndOfTrack;
    track.end_tick = tick;
    if (eot) return true;  // bytes after End of Track inside the chunk are padding
    track.events.push_back(std::move(ev));
  }
  return false;
}

}  // namespace

ParseError::ParseError(const std::string& src, int64_t off, const std::string& exp)
    : Error(src + ": byte " + std::to_string(off) + ": " + exp),
      source(src),
      offset(off),
      expected(exp) {}

double MidiFile::smpte_ticks_per_second() const {
  if (ticks_per_quarter > 0) return 0.0;
  double fps = smpte_fps == 29 ? 29.97 : smpte_fps;
  return fps * ticks_per_frame;
}

MidiFile parse_smf(const uint8_t* data, size_t size, const std::string& source,
                   const ReadOptions& options) {
  MidiFile f;
  Cursor head(data, 0, size, source);
  if (size < 14) {
    head.fail_at(size, "expected a 14-byte MThd header, the file has only " + std::to_string(size) +
                           " bytes");
  }
  if (std::string(reinterpret_cast<const char*>(data), 4) != "MThd") {
    head.fail_at(0, "expected \"MThd\" (a Standard MIDI File header)");
  }
  uint32_t hlen = be32(data + 4);
  if (hlen < 6)
    head.fail_at(4, "expected a header length of at least 6, found " + std::to_string(hlen));
  if (hlen > size - 8) {
    head.fail_at(4, "expected a header of " + std::to_string(hlen) + " bytes, only " +
                        std::to_string(size - 8) + " remain");
  }
  f.format = be16(data + 8);
  int ntracks = be16(data + 10);
  uint16_t division = be16(data + 12);
  if (f.format > 2) {
    head.fail_at(8, "expected format 0, 1 or 2, found " + std::to_string(f.format));
  }
  if (ntracks == 0) head.fail_at(10, "expected at least one track, the header declares zero");
  if (division & 0x8000) {
    int fps = -static_cast<int8_t>(division >> 8);
    if (fps != 24 && fps != 25 && fps != 29 && fps != 30) {
      head.fail_at(
          12, "expected an SMPTE frame rate of 24, 25, 29 or 30, found " + std::to_string(fps));
    }
    f.smpte_fps = fps;
    f.ticks_per_frame = division & 0xFF;
    if (f.ticks_per_frame == 0) head.fail_at(13, "expected SMPTE ticks per frame > 0, found 0");
  } else {
    if (division == 0) head.fail_at(12, "expected a division (ticks per quarter) > 0, found 0");
    f.ticks_per_quarter = division;
  }

  int64_t events_left = options.max_events;
  size_t pos = 8 + hlen;
  f.tracks.reserve(std::min<size_t>(ntracks, (size - pos) / 8 + 1));
  while (static_cast<int>(f.tracks.size()) < ntracks) {
    auto missing = [&](const std::string& why) {
      std::string msg = "expected " + std::to_string(ntracks) + " tracks, found " +
                        std::to_string(f.tracks.size()) + " (" + why + ")";
      if (f.tracks.empty() || options.strict) head.fail_at(pos, msg);
      f.warnings.push_back("byte " + std::to_string(pos) + ": " + msg);
    };
    if (size - pos < 8) {
      if (size - pos > 0 && !f.tracks.empty() && !options.strict) {
        f.warnings.push_back("ignored " + std::to_string(size - pos) + " trailing bytes");
      }
      missing("the file ends");
      break;
    }
    const uint8_t* id = data + pos;
    uint32_t len = be32(data + pos + 4);
    size_t body = pos + 8;
    size_t avail = size - body;
    bool is_track = std::string(reinterpret_cast<const char*>(id), 4) == "MTrk";
    if (!is_track) {
      if (!printable_id(id) || len > avail) {
        missing("junk where a chunk was expected");
        break;
      }
      f.warnings.push_back("byte " + std::to_string(pos) + ": skipped unknown chunk \"" +
                           std::string(reinterpret_cast<const char*>(id), 4) + "\"");
      pos = body + len;
      continue;
    }
    bool overrun = len > avail;
    if (overrun && options.strict) {
      head.fail_at(pos + 4, "expected a track of " + std::to_string(len) + " bytes, only " +
                                std::to_string(avail) + " remain");
    }
    size_t end = overrun ? size : body + len;
    RawTrack track;
    bool ended = parse_track(data, body, end, source, track, events_left);
    if (overrun) {
      if (!ended) {
        head.fail_at(size, "expected End of Track: track " + std::to_string(f.tracks.size()) +
                               " declares " + std::to_string(len) +
                               " bytes but the file ends after " + std::to_string(avail));
      }
      f.warnings.push_back("track " + std::to_string(f.tracks.size()) +
                           ": chunk length runs past the end of the file");
    } else if (!ended) {
      if (options.strict) {
        head.fail_at(end, "expected End of Track before the end of track " +
                              std::to_string(f.tracks.size()));
      }
      f.warnings.push_back("track " + std::to_string(f.tracks.size()) + ": no End of Track");
    }
    f.tracks.push_back(std::move(track));
    pos = end;
  }
  if (pos < size && static_cast<int>(f.tracks.size()) == ntracks) {
    if (options.strict) head.fail_at(pos, "expected the end of the file after the last track");
    f.warnings.push_back("ignored " + std::to_string(size - pos) + " bytes after the last track");
  }
  return f;
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open for reading (does the file exist?)");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(path + ": read error");
  return bytes;
}

MidiFile read_smf(const std::string& path, const ReadOptions& options) {
  std::vector<uint8_t> bytes = read_bytes(path);
  return parse_smf(bytes.data(), bytes.size(), path, options);
}

}  // namespace cadenza::midi
