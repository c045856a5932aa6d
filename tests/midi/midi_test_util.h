#pragma once
// Helpers for the MIDI tests: byte builders for hand-made files, and the
// packaged corpora (whose absence is a failure, not a skip: scripts/test.sh
// installs them).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <vector>

namespace midi_test {

using Bytes = std::vector<uint8_t>;

inline Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

inline Bytes be32(uint32_t v) {
  return {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
}

inline Bytes header(int format, int ntracks, int division) {
  return cat({{'M', 'T', 'h', 'd'},
              be32(6),
              {uint8_t(format >> 8), uint8_t(format), uint8_t(ntracks >> 8), uint8_t(ntracks),
               uint8_t(division >> 8), uint8_t(division)}});
}

inline Bytes track(const Bytes& events) {
  return cat({{'M', 'T', 'r', 'k'}, be32(uint32_t(events.size())), events});
}

inline const Bytes kEndOfTrack = {0x00, 0xFF, 0x2F, 0x00};

// Every .mid of Debian's openttd-openmsx and planetblupi-music-midi.
inline std::vector<std::string> corpus_files() {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  for (const char* dir :
       {"/usr/share/games/openttd/baseset/openmsx", "/usr/share/planetblupi/music"}) {
    INFO("MIDI corpus " << dir
                        << " is missing: apt-get install openttd-openmsx planetblupi-music-midi");
    REQUIRE(fs::is_directory(dir));
    size_t before = out.size();
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.path().extension() == ".mid") out.push_back(e.path().string());
    }
    REQUIRE(out.size() > before);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A fresh directory under the build tree for files a test writes.
inline std::string temp_dir(const std::string& name) {
  namespace fs = std::filesystem;
  fs::path p = fs::path(CADENZA_BINARY_DIR) / "test-midi-tmp" / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

}  // namespace midi_test
