// fuzz-sources: models/poly_data.cpp
// libFuzzer target for the polyphonic benchmark's JSON reader: any input must
// either parse or raise cadenza::Error, and whatever parses must hold only
// 0/1 keys of the declared shape, and read back the same when written out
// again as the benchmark's JSON.
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "models/poly_data.h"

using cadenza::models::kPolyKeys;
using cadenza::models::kPolyLowPitch;
using cadenza::models::PolyDataset;
using cadenza::models::PolyPiece;

static nlohmann::json to_json(const std::vector<PolyPiece>& pieces) {
  nlohmann::json out = nlohmann::json::array();
  for (const PolyPiece& p : pieces) {
    nlohmann::json piece = nlohmann::json::array();
    for (int64_t t = 0; t < p.frames; ++t) {
      nlohmann::json frame = nlohmann::json::array();
      for (int64_t k = 0; k < kPolyKeys; ++k)
        if (p.keys[t * kPolyKeys + k]) frame.push_back(kPolyLowPitch + k);
      piece.push_back(frame);
    }
    out.push_back(piece);
  }
  return out;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  PolyDataset d;
  try {
    d = cadenza::models::parse_poly_json(text, "fuzz", false);
  } catch (const cadenza::Error&) {
    return 0;
  }
  for (const auto* set : {&d.train, &d.valid, &d.test})
    for (const PolyPiece& p : *set) {
      if (p.keys.size() != static_cast<size_t>(p.frames * kPolyKeys)) std::abort();
      for (uint8_t k : p.keys)
        if (k > 1) std::abort();
      auto [lo, hi] = cadenza::models::key_range(p);
      if (lo > hi || hi >= kPolyKeys) std::abort();
    }
  nlohmann::json again = {{"train", to_json(d.train)}, {"valid", to_json(d.valid)}, {"test", to_json(d.test)}};
  PolyDataset e = cadenza::models::parse_poly_json(again.dump(), "fuzz-rewritten");
  if (e.train.size() != d.train.size() || e.valid.size() != d.valid.size() || e.test.size() != d.test.size())
    std::abort();
  for (size_t i = 0; i < d.train.size(); ++i)
    if (e.train[i].keys != d.train[i].keys) std::abort();
  return 0;
}
