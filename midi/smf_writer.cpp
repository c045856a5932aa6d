// Standard MIDI File writer. It never uses running status: a full status byte
// after every event costs a few bytes and keeps files readable by tools that
// reset running status after meta and sysex events, as the standard says.
#include <algorithm>
#include <cstdio>
#include <fstream>

#include "midi/smf.h"

namespace cadenza::midi {

namespace {

void put16(std::vector<uint8_t>& out, uint32_t v) {
  out.push_back(uint8_t(v >> 8));
  out.push_back(uint8_t(v));
}
void put32(std::vector<uint8_t>& out, uint32_t v) {
  put16(out, v >> 16);
  put16(out, v & 0xFFFF);
}

void check_data(uint8_t b, size_t track, const Event& ev) {
  if (b & 0x80) {
    throw Error("write_smf: track " + std::to_string(track) + ", tick " + std::to_string(ev.tick) +
                ": data byte " + std::to_string(b) +
                " is > 127 (pitches, velocities and controller values are 0..127)");
  }
}

void put_delta(std::vector<uint8_t>& out, int64_t delta, size_t track) {
  // A delta of 2^28 or more cannot be one VLQ; split it with empty text
  // events would change the event list, so such files are refused instead.
  if (delta >= (int64_t(1) << 28)) {
    throw Error("write_smf: track " + std::to_string(track) + " has a gap of " +
                std::to_string(delta) + " ticks, more than a MIDI file can hold (2^28 - 1)");
  }
  append_vlq(out, static_cast<uint32_t>(delta));
}

}  // namespace

void append_vlq(std::vector<uint8_t>& out, uint32_t value) {
  if (value >= (1u << 28)) throw Error("append_vlq: value " + std::to_string(value) + " >= 2^28");
  uint8_t buf[4];
  int n = 0;
  do {
    buf[n++] = value & 0x7F;
    value >>= 7;
  } while (value);
  while (n > 1) out.push_back(buf[--n] | 0x80);
  out.push_back(buf[0]);
}

std::vector<uint8_t> serialize_smf(const MidiFile& f) {
  if (f.format < 0 || f.format > 2) {
    throw Error("write_smf: format must be 0, 1 or 2, not " + std::to_string(f.format));
  }
  if (f.tracks.empty()) throw Error("write_smf: a MIDI file needs at least one track");
  if (f.tracks.size() > 65535) throw Error("write_smf: more than 65535 tracks");
  if (f.format == 0 && f.tracks.size() != 1) {
    throw Error("write_smf: format 0 holds exactly one track, this file has " +
                std::to_string(f.tracks.size()) + " (merge them first)");
  }
  uint16_t division;
  if (f.ticks_per_quarter > 0) {
    if (f.ticks_per_quarter > 0x7FFF) {
      throw Error("write_smf: ticks per quarter must be at most 32767, not " +
                  std::to_string(f.ticks_per_quarter));
    }
    division = static_cast<uint16_t>(f.ticks_per_quarter);
  } else {
    if (f.smpte_fps != 24 && f.smpte_fps != 25 && f.smpte_fps != 29 && f.smpte_fps != 30) {
      throw Error("write_smf: neither ticks per quarter nor a valid SMPTE frame rate is set");
    }
    if (f.ticks_per_frame <= 0 || f.ticks_per_frame > 255) {
      throw Error("write_smf: SMPTE ticks per frame must be 1..255");
    }
    division = static_cast<uint16_t>((uint8_t(-f.smpte_fps) << 8) | f.ticks_per_frame);
  }

  std::vector<uint8_t> out;
  out.insert(out.end(), {'M', 'T', 'h', 'd'});
  put32(out, 6);
  put16(out, f.format);
  put16(out, static_cast<uint32_t>(f.tracks.size()));
  put16(out, division);

  for (size_t t = 0; t < f.tracks.size(); ++t) {
    const RawTrack& tr = f.tracks[t];
    out.insert(out.end(), {'M', 'T', 'r', 'k', 0, 0, 0, 0});
    size_t len_at = out.size() - 4;
    int64_t tick = 0;
    for (const Event& ev : tr.events) {
      if (ev.tick < tick) {
        throw Error("write_smf: track " + std::to_string(t) + ": event at tick " +
                    std::to_string(ev.tick) + " comes after tick " + std::to_string(tick) +
                    " (events must be in time order)");
      }
      if (ev.status == kMeta && ev.meta_type == kMetaEndOfTrack) continue;  // written below
      if (!(ev.status & 0x80)) {
        throw Error("write_smf: track " + std::to_string(t) + ": status byte " +
                    std::to_string(ev.status) + " is not a status (must be >= 0x80)");
      }
      put_delta(out, ev.tick - tick, t);
      tick = ev.tick;
      out.push_back(ev.status);
      if (ev.status == kMeta || ev.status == kSysex || ev.status == kSysexEscape) {
        if (ev.status == kMeta) {
          check_data(ev.meta_type, t, ev);
          out.push_back(ev.meta_type);
        }
        if (ev.payload.size() >= (1u << 28)) throw Error("write_smf: meta or sysex too long");
        append_vlq(out, static_cast<uint32_t>(ev.payload.size()));
        out.insert(out.end(), ev.payload.begin(), ev.payload.end());
        continue;
      }
      int kind = ev.status & 0xF0;
      int n = kind == kProgramChange || kind == kChannelPressure ? 1 : 2;
      if (ev.status >= 0xF0) n = ev.status == 0xF2 ? 2 : (ev.status == 0xF1 || ev.status == 0xF3);
      if (n >= 1) {
        check_data(ev.data1, t, ev);
        out.push_back(ev.data1);
      }
      if (n >= 2) {
        check_data(ev.data2, t, ev);
        out.push_back(ev.data2);
      }
    }
    int64_t end = std::max(tick, tr.end_tick);
    put_delta(out, end - tick, t);
    out.insert(out.end(), {kMeta, kMetaEndOfTrack, 0});
    size_t len = out.size() - len_at - 4;
    if (len > 0xFFFFFFFFu) throw Error("write_smf: track " + std::to_string(t) + " too long");
    for (int i = 0; i < 4; ++i) out[len_at + i] = uint8_t(len >> (24 - 8 * i));
  }
  return out;
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream o(tmp, std::ios::binary | std::ios::trunc);
    if (!o) throw Error(path + ": cannot open for writing (does the directory exist?)");
    o.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
    o.flush();
    if (!o) {
      std::remove(tmp.c_str());
      throw Error(path + ": write failed (disk full?)");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error(path + ": cannot rename the temporary file into place");
  }
}

void write_smf(const std::string& path, const MidiFile& file) {
  write_bytes(path, serialize_smf(file));
}

}  // namespace cadenza::midi
