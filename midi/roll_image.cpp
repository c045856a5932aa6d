// Piano-roll pictures for `cadenza midi roll` and the trainers' samples.
#include "midi/roll_image.h"

#include <algorithm>
#include <cstdint>

namespace cadenza::midi {

namespace {

// Distinct colours for up to 12 tracks, then repeated.
const uint8_t kPalette[][3] = {{31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                               {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
                               {188, 189, 34},  {23, 190, 207}, {0, 0, 128},     {128, 0, 0}};

}  // namespace

png::Image draw_roll(const Score& score, const RollImageOptions& o) {
  if (o.width < 100 || o.width > 20000)
    throw Error("draw_roll: width must be within 100..20000 pixels");
  if (o.row < 1 || o.row > 20) throw Error("draw_roll: row must be within 1..20 pixels");
  const Score s = o.split_channels ? split_by_channel(score) : score;
  int lo = 127, hi = 0;
  for (const Track& t : s.tracks) {
    for (const Note& n : t.notes) {
      lo = std::min(lo, n.pitch);
      hi = std::max(hi, n.pitch);
    }
  }
  if (lo > hi) throw Error("draw_roll: the score has no notes to draw");
  lo = std::max(0, lo - 2);
  hi = std::min(127, hi + 2);
  const int left = 30, bottom = 14;
  int plot_w = o.width - left;
  int plot_h = (hi - lo + 1) * o.row;
  double seconds = std::max(score.duration(), 1e-3);  // the split may drop a conductor track
  double px_per_s = plot_w / seconds;
  png::Image img(o.width, plot_h + bottom);
  // C rows shaded, with octave labels, so pitches can be read off.
  for (int p = lo; p <= hi; ++p) {
    int y = (hi - p) * o.row;
    if (p % 12 != 0) continue;
    img.fill_rect(left, y, o.width, y + o.row, 235, 235, 235);  // bounds are [x0, x1) x [y0, y1)
    img.text(0, std::max(0, y - 3), "c" + std::to_string(p / 12 - 1), 80, 80, 80);
  }
  // Second marks along the bottom, at a step that leaves room for labels.
  double step = 1;
  while (step * px_per_s < 60) step *= step == 1 ? 5 : 2;
  for (double t = 0; t <= seconds; t += step) {
    int x = left + static_cast<int>(t * px_per_s);
    img.line(x, 0, x, plot_h - 1, 210, 210, 210);
    img.text(x + 2, plot_h + 4, std::to_string(static_cast<int64_t>(t)));
  }
  for (size_t i = 0; i < s.tracks.size(); ++i) {
    const uint8_t* c = kPalette[i % 12];
    for (const Note& n : s.tracks[i].notes) {
      int x0 = left + static_cast<int>(n.start * px_per_s);
      int x1 = std::max(x0 + 1, left + static_cast<int>(n.end * px_per_s));  // at least a pixel
      int y = (hi - n.pitch) * o.row;
      img.fill_rect(x0, y, x1, y + o.row, c[0], c[1], c[2]);
    }
  }
  return img;
}

void save_roll_png(const Score& score, const std::string& path, const RollImageOptions& options) {
  png::save(path, draw_roll(score, options));
}

}  // namespace cadenza::midi
