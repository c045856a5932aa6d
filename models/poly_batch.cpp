// Padded, masked batches of benchmark pieces as engine tensors (kept apart
// from the JSON reader, which needs no tensors, so the fuzz target can link
// the reader alone).
#include <algorithm>

#include "models/poly_data.h"

namespace cadenza::models {

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
    // Keys [k0, k1) stay on the keyboard after the shift; a sounding key
    // outside them is an error, found while copying rather than by a
    // separate scan of the piece.
    const int64_t k0 = std::max<int64_t>(0, -shift), k1 = std::min<int64_t>(K, K - shift);
    int64_t n = std::min(T, p.predicted() - start);
    for (int64_t t = 0; t < n; ++t) {
      const uint8_t* in = &p.keys[(start + t) * K];
      const uint8_t* tg = &p.keys[(start + t + 1) * K];
      auto sounds = [&](int64_t a, int64_t b) {
        for (int64_t k = a; k < b; ++k)
          if (in[k] || tg[k]) return true;
        return false;
      };
      if (sounds(0, k0) || sounds(k1, K))
        throw Error("make_poly_batch: a shift of " + std::to_string(shift) + " moves piece " +
                    std::to_string(index[r]) + " off the keyboard");
      float* di = pi + (r * T + t) * K;
      float* dt = pt + (r * T + t) * K;
      for (int64_t k = k0; k < k1; ++k) {
        di[k + shift] = in[k];
        dt[k + shift] = tg[k];
      }
      pm[r * T + t] = 1;
      ++b.frames;
    }
  }
  return b;
}

}  // namespace cadenza::models
