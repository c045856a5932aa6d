#include "audio/spectrogram_image.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace cadenza::audio {

// A tick spacing (seconds) that puts ticks at least `min_px` apart.
static double tick_step(double seconds_per_px, int min_px) {
  for (double s :
       {0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0}) {
    if (s / seconds_per_px >= min_px) return s;
  }
  return 3600.0;
}

// Minutes when the ticks fall on whole minutes, else seconds, never mixed.
static std::string tick_label(double t, double step) {
  char buf[32];
  if (std::fmod(step, 60.0) == 0.0) {
    std::snprintf(buf, sizeof(buf), "%dm", static_cast<int>(std::lround(t / 60)));
  } else if (step >= 1.0) {
    std::snprintf(buf, sizeof(buf), "%ds", static_cast<int>(std::lround(t)));
  } else {
    std::snprintf(buf, sizeof(buf), "%.2fs", t);
  }
  return buf;
}

png::Image spectrogram_image(const Matrix& m, double seconds, int max_width, const std::string& title) {
  const int cols = static_cast<int>(std::min<int64_t>(m.cols, max_width));
  const int row_px = std::max(1, static_cast<int>(256 / m.rows));
  const int plot_h = static_cast<int>(m.rows) * row_px;
  const int left = 30, right = 10, top = 14, bottom = 22;
  png::Image img(left + cols + right, top + plot_h + bottom);
  img.text(left, 3, title.empty() ? "log-mel db" : title + " log-mel db");
  img.text(2, top + plot_h / 2, "mel");
  for (int x = 0; x < cols; ++x) {
    const int64_t f0 = x * m.cols / cols, f1 = std::max(f0 + 1, (x + 1) * m.cols / cols);
    for (int64_t r = 0; r < m.rows; ++r) {
      double v = 0.0;
      for (int64_t f = f0; f < f1; ++f) v += m.at(r, f);
      v = (v / static_cast<double>(f1 - f0) + 80.0) / 80.0;  // [-80, 0] dB -> [0, 1]
      uint8_t cr, cg, cb;
      png::colormap(std::clamp(v, 0.0, 1.0), cr, cg, cb);
      const int y0 = top + plot_h - static_cast<int>(r + 1) * row_px;  // low bands at the bottom
      img.fill_rect(left + x, y0, left + x + 1, y0 + row_px, cr, cg, cb);
    }
  }
  // Time axis: a frame is hop samples; a column spans m.cols / cols frames.
  const int axis_y = top + plot_h;
  img.line(left, axis_y, left + cols - 1, axis_y, 0, 0, 0);
  const double sec_per_px = seconds / std::max(1, cols);
  const double step = tick_step(std::max(sec_per_px, 1e-9), 60);
  for (int k = 0; k * step <= seconds + 1e-9; ++k) {
    const double t = k * step;  // by index, so float steps do not drift
    const int x = left + static_cast<int>(std::lround(t / sec_per_px));
    if (x >= left + cols) break;
    img.line(x, axis_y, x, axis_y + 4, 0, 0, 0);
    img.text(x - 2, axis_y + 7, tick_label(t, step));
  }
  return img;
}

png::Image stack_images(const std::vector<png::Image>& images) {
  int w = 0, h = 0;
  for (const auto& im : images) {
    w = std::max(w, im.width);
    h += im.height;
  }
  png::Image out(std::max(1, w), std::max(1, h));
  int y = 0;
  for (const auto& im : images) {
    for (int r = 0; r < im.height; ++r)
      std::copy(im.rgb.begin() + static_cast<size_t>(r) * im.width * 3,
                im.rgb.begin() + static_cast<size_t>(r + 1) * im.width * 3,
                out.rgb.begin() + (static_cast<size_t>(y + r) * out.width) * 3);
    y += im.height;
  }
  return out;
}

}  // namespace cadenza::audio
