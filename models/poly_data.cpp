#include "models/poly_data.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace cadenza::models {

const std::vector<PolyPiece>& PolyDataset::split(const std::string& name) const {
  if (name == "train") return train;
  if (name == "valid" || name == "validation") return valid;
  if (name == "test") return test;
  throw Error("unknown split '" + name + "' (train, valid or test)");
}

int64_t predicted_frames(const std::vector<PolyPiece>& pieces) {
  int64_t n = 0;
  for (auto& p : pieces) n += p.predicted();
  return n;
}

std::string PolyDataset::summary() const {
  std::ostringstream s;
  s << path << ":";
  const char* names[] = {"train", "valid", "test"};
  const std::vector<PolyPiece>* sets[] = {&train, &valid, &test};
  for (int i = 0; i < 3; ++i) {
    int64_t frames = 0;
    for (auto& p : *sets[i]) frames += p.frames;
    s << (i ? ", " : " ") << names[i] << " " << sets[i]->size() << " pieces / " << frames << " frames";
  }
  if (duplicate_notes) s << " (" << duplicate_notes << " repeated notes within a frame kept once)";
  return s.str();
}

namespace {
// A bad note as the message shows it: the value if it is a scalar, else its
// kind (a nested value could be megabytes, or deep enough to overflow dump()).
std::string describe(const nlohmann::json& v) {
  if (v.is_structured()) return std::string("(a JSON ") + v.type_name() + ")";
  std::string s = v.dump();
  return s.size() > 40 ? s.substr(0, 40) + "..." : s;
}
}  // namespace

PolyDataset parse_poly_json(const std::string& text, const std::string& name, bool require_all) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    throw Error("'" + name + "' is not valid JSON: " + e.what());
  }
  if (!j.is_object())
    throw Error("'" + name + "': expected a JSON object with \"train\", \"valid\" and \"test\" lists");
  PolyDataset d;
  d.path = name;
  const char* names[] = {"train", "valid", "test"};
  std::vector<PolyPiece>* sets[] = {&d.train, &d.valid, &d.test};
  for (int s = 0; s < 3; ++s) {
    auto it = j.find(names[s]);
    if (it == j.end()) {
      if (require_all) throw Error("'" + name + "' has no \"" + names[s] + "\" split");
      continue;
    }
    const std::string where0 = "'" + name + "', split " + names[s];
    if (!it->is_array()) throw Error(where0 + ": expected a list of pieces");
    for (size_t p = 0; p < it->size(); ++p) {
      const auto& piece = (*it)[p];
      const std::string where = where0 + ", piece " + std::to_string(p);
      if (!piece.is_array()) throw Error(where + ": expected a list of frames");
      PolyPiece out;
      out.frames = static_cast<int64_t>(piece.size());
      out.keys.assign(static_cast<size_t>(out.frames) * kPolyKeys, 0);
      for (size_t f = 0; f < piece.size(); ++f) {
        const auto& frame = piece[f];
        if (!frame.is_array())
          throw Error(where + ", frame " + std::to_string(f) + ": expected a list of MIDI note numbers");
        for (const auto& note : frame) {
          // Integral floats (MATLAB exports write 60.0) are accepted as notes.
          if (!note.is_number())
            throw Error(where + ", frame " + std::to_string(f) + ": note " + describe(note) +
                        " is not an integer MIDI note number");
          const double v = note.get<double>();
          if (!(v >= kPolyLowPitch && v < kPolyLowPitch + kPolyKeys))
            throw Error(where + ", frame " + std::to_string(f) + ": note " + describe(note) +
                        " is outside the piano's 21..108");
          if (v != std::floor(v))
            throw Error(where + ", frame " + std::to_string(f) + ": note " + describe(note) +
                        " is not an integer MIDI note number");
          uint8_t& k = out.keys[f * kPolyKeys + (static_cast<int64_t>(v) - kPolyLowPitch)];
          if (k) ++d.duplicate_notes;
          k = 1;
        }
      }
      sets[s]->push_back(std::move(out));
    }
  }
  return d;
}

PolyDataset load_poly_json(const std::string& path, bool require_all) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot open poly dataset '" + path + "'");
  std::ostringstream buf;
  buf << f.rdbuf();
  if (f.bad()) throw Error("cannot read poly dataset '" + path + "'");
  return parse_poly_json(buf.str(), path, require_all);
}

std::pair<int, int> key_range(const PolyPiece& piece) {
  int lo = -1, hi = -1;
  for (int64_t t = 0; t < piece.frames; ++t)
    for (int k = 0; k < kPolyKeys; ++k)
      if (piece.keys[t * kPolyKeys + k]) {
        if (lo < 0 || k < lo) lo = k;
        if (k > hi) hi = k;
      }
  return {lo, hi};
}

}  // namespace cadenza::models
