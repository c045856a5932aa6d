#pragma once
// The polyphonic music benchmark's data: a JSON file
//   {"train": [piece, ...], "valid": [...], "test": [...]}
// where a piece is a list of frames and a frame the list of MIDI note numbers
// (21..108) sounding in it, possibly empty (the form of shared/data/polyphonic
// and of the TCN repository's .mat files). Here a piece becomes an 88-key
// binary roll, and batches of pieces become padded tensors with a mask.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"
#include "models/poly_model.h"

namespace cadenza::models {

struct PolyPiece {
  int64_t frames = 0;
  std::vector<uint8_t> keys;  // [frames, 88], 1 where a key sounds
  // The frame count the benchmark predicts: every frame but the first.
  int64_t predicted() const { return frames > 1 ? frames - 1 : 0; }
};

struct PolyDataset {
  std::string path;
  std::vector<PolyPiece> train, valid, test;
  int64_t duplicate_notes = 0;  // a note listed twice in one frame (kept once)
  const std::vector<PolyPiece>& split(const std::string& name) const;  // train|valid|test
  std::string summary() const;  // pieces and frames per split, for the user
};

// Throws cadenza::Error naming the file and, for bad content, the split,
// piece and frame index and what is wrong (not JSON, a missing split, a note
// that is not an integer in 21..108, ...). A split may be absent only if
// `require_all` is false.
PolyDataset load_poly_json(const std::string& path, bool require_all = true);
// The same from JSON text (`name` stands for the file in messages).
PolyDataset parse_poly_json(const std::string& text, const std::string& name, bool require_all = true);

// Frames every piece of `pieces` contributes to the NLL.
int64_t predicted_frames(const std::vector<PolyPiece>& pieces);

// One padded batch for next-frame prediction: inputs are frames 0..n-2,
// targets frames 1..n-1 of each piece, starting at frame `start` and at most
// `max_len` long (0 = to the end); mask marks the real (non-padding) steps.
struct PolyBatch {
  Tensor input;   // f32 [B, T, 88]
  Tensor target;  // f32 [B, T, 88]
  Tensor mask;    // f32 [B, T]
  int64_t frames = 0;  // sum of mask
};
// `shifts` (empty, or one per row) transposes row r by shifts[r] keys; a
// note shifted off the keyboard is an error.
PolyBatch make_poly_batch(const std::vector<PolyPiece>& pieces, const std::vector<int64_t>& index,
                          int64_t start = 0, int64_t max_len = 0, const std::vector<int>& shifts = {});

// The lowest and highest sounding key of a piece (-1, -1 when it is silent).
std::pair<int, int> key_range(const PolyPiece& piece);

}  // namespace cadenza::models
