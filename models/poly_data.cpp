#include "models/poly_data.h"

#include <algorithm>
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
          bool integral = note.is_number_integer() ||
                          (note.is_number_float() && note.get<double>() == static_cast<int64_t>(note.get<double>()));
          if (!integral)
            throw Error(where + ", frame " + std::to_string(f) + ": note " + note.dump() +
                        " is not an integer MIDI note number");
          double v = note.get<double>();
          if (v < kPolyLowPitch || v >= kPolyLowPitch + kPolyKeys)
            throw Error(where + ", frame " + std::to_string(f) + ": note " + note.dump() +
                        " is outside the piano's 21..108");
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

PolyBatch make_poly_batch(const std::vector<PolyPiece>& pieces, const std::vector<int64_t>& index,
                          int64_t start, int64_t max_len, const std::vector<int>& shifts) {
  if (index.empty()) throw Error("make_poly_batch: no pieces");
  if (!shifts.empty() && shifts.size() != index.size())
    throw Error("make_poly_batch: " + std::to_string(shifts.size()) + " shifts for " + std::to_string(index.size()) +
                " pieces");
  int64_t T = 0;
  for (int64_t i : index) {
    if (i < 0 || i >= static_cast<int64_t>(pieces.size()))
      throw Error("make_poly_batch: piece " + std::to_string(i) + " out of range");
    T = std::max(T, pieces[i].predicted() - start);
  }
  if (max_len > 0) T = std::min(T, max_len);
  T = std::max<int64_t>(T, 1);
  const int64_t B = static_cast<int64_t>(index.size()), K = kPolyKeys;
  PolyBatch b;
  b.input = Tensor::zeros({B, T, K});
  b.target = Tensor::zeros({B, T, K});
  b.mask = Tensor::zeros({B, T});
  float* pi = b.input.data<float>();
  float* pt = b.target.data<float>();
  float* pm = b.mask.data<float>();
  for (int64_t r = 0; r < B; ++r) {
    const PolyPiece& p = pieces[index[r]];
    const int shift = shifts.empty() ? 0 : shifts[r];
    if (shift != 0) {
      auto [lo, hi] = key_range(p);
      if (lo >= 0 && (lo + shift < 0 || hi + shift >= K))
        throw Error("make_poly_batch: a shift of " + std::to_string(shift) + " moves piece " +
                    std::to_string(index[r]) + " off the keyboard");
    }
    int64_t n = std::min(T, p.predicted() - start);
    for (int64_t t = 0; t < n; ++t) {
      const uint8_t* in = &p.keys[(start + t) * K];
      const uint8_t* tg = &p.keys[(start + t + 1) * K];
      float* di = pi + (r * T + t) * K + shift;
      float* dt = pt + (r * T + t) * K + shift;
      for (int64_t k = std::max<int64_t>(0, -shift); k < std::min<int64_t>(K, K - shift); ++k) {
        di[k] = in[k];
        dt[k] = tg[k];
      }
      pm[r * T + t] = 1;
      ++b.frames;
    }
  }
  return b;
}

}  // namespace cadenza::models
