#include "engine/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "engine/png.h"
#include "engine/tensor.h"

namespace cadenza {

namespace {

constexpr int kWidth = 800, kHeight = 500;
constexpr int kScale = 2;  // the png font is 3x5; doubled it is readable at 800x500

struct Rgb {
  uint8_t r, g, b;
};
constexpr Rgb kInk{40, 40, 40}, kGrid{228, 228, 228}, kAxis{0, 0, 0};

int text_width(const std::string& s, int scale) {
  return s.empty() ? 0 : (4 * static_cast<int>(s.size()) - 1) * scale;
}

// Renders `s` at 1x into a scratch image, then copies each lit pixel as a
// scale x scale block, optionally turned 90 degrees anticlockwise (for the
// y-axis label, read bottom to top). (x, y) is the top-left of the result.
void draw_text(png::Image& img, int x, int y, const std::string& s, int scale, Rgb c,
               bool vertical = false) {
  if (s.empty()) return;
  const int w = 4 * static_cast<int>(s.size());
  png::Image glyphs(w, 5, 255, 255, 255);
  glyphs.text(0, 0, s, 0, 0, 0);
  // The png font lacks '_' and '+', which metric names and labels use.
  for (size_t i = 0; i < s.size(); ++i) {
    const int gx = 4 * static_cast<int>(i);
    if (s[i] == '_') glyphs.line(gx, 4, gx + 2, 4, 0, 0, 0);
    if (s[i] == '+') {
      glyphs.line(gx, 2, gx + 2, 2, 0, 0, 0);
      glyphs.line(gx + 1, 1, gx + 1, 3, 0, 0, 0);
    }
  }
  for (int gy = 0; gy < 5; ++gy) {
    for (int gx = 0; gx < w; ++gx) {
      if (glyphs.rgb[(static_cast<size_t>(gy) * w + gx) * 3] != 0) continue;
      int px = vertical ? x + gy * scale : x + gx * scale;
      int py = vertical ? y + (w - 1 - gx) * scale : y + gy * scale;
      img.fill_rect(px, py, px + scale, py + scale, c.r, c.g, c.b);  // end exclusive
    }
  }
}

void thick_line(png::Image& img, int x0, int y0, int x1, int y1, Rgb c) {
  img.line(x0, y0, x1, y1, c.r, c.g, c.b);
  img.line(x0, y0 + 1, x1, y1 + 1, c.r, c.g, c.b);
  img.line(x0 + 1, y0, x1 + 1, y1, c.r, c.g, c.b);
}

// Widens a degenerate or empty range so the mapping never divides by zero.
void widen(double& lo, double& hi) {
  if (!(lo <= hi)) {  // no finite data at all
    lo = 0;
    hi = 1;
    return;
  }
  const double mag = std::max(std::fabs(lo), std::fabs(hi));
  if (hi - lo <= mag * 1e-9) {
    const double pad = mag > 0 ? mag * 0.1 : 1.0;
    lo -= pad;
    hi += pad;
  }
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target) {
  std::vector<double> ticks;
  if (!std::isfinite(lo) || !std::isfinite(hi) || !(hi > lo) || target < 1) return ticks;
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / mag;
  const double step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  // Integer tick indices avoid the drift of repeatedly adding a step.
  const double first = std::ceil(lo / step - 1e-9);
  for (int i = 0; i < 100; ++i) {
    double v = (first + i) * step;
    if (v > hi + step * 1e-9) break;
    if (std::fabs(v) < step * 1e-9) v = 0;  // no "-0" or "1e-17"
    ticks.push_back(v);
  }
  return ticks;
}

std::string tick_label(double v, double step) {
  if (v == 0) return "0";
  char buf[64];
  const double av = std::fabs(v);
  step = std::fabs(step) > 0 ? std::fabs(step) : av;
  if (av >= 1e7 || av < 1e-4) {
    const int e = static_cast<int>(std::floor(std::log10(av)));
    const double scale = std::pow(10.0, e);
    int decimals = static_cast<int>(std::ceil(-std::log10(step / scale) - 1e-9));
    decimals = std::clamp(decimals, 0, 3);
    std::snprintf(buf, sizeof buf, "%.*fe%d", decimals, v / scale, e);
  } else {
    int decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
    decimals = std::clamp(decimals, 0, 8);
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  }
  return buf;
}

void plot_lines(const std::string& png_path, const std::string& title,
                const std::vector<Series>& series, const std::string& xlabel,
                const std::string& ylabel) {
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (const Series& s : series) {
    if (s.x.size() != s.y.size())
      throw Error("plot_lines: '" + png_path + "': series '" + s.name + "' has " +
                  std::to_string(s.x.size()) + " x values but " + std::to_string(s.y.size()) +
                  " y values");
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      xmin = std::min(xmin, s.x[i]);
      xmax = std::max(xmax, s.x[i]);
      ymin = std::min(ymin, s.y[i]);
      ymax = std::max(ymax, s.y[i]);
    }
  }
  widen(xmin, xmax);
  widen(ymin, ymax);
  const double ypad = (ymax - ymin) * 0.05;  // keep curves off the frame
  ymin -= ypad;
  ymax += ypad;

  const std::vector<double> xt = nice_ticks(xmin, xmax, 8), yt = nice_ticks(ymin, ymax, 6);
  const double xstep = xt.size() > 1 ? xt[1] - xt[0] : xmax - xmin;
  const double ystep = yt.size() > 1 ? yt[1] - yt[0] : ymax - ymin;
  int ylabel_w = 0;
  for (double v : yt) ylabel_w = std::max(ylabel_w, text_width(tick_label(v, ystep), kScale));

  // Layout: y-axis label, tick labels, then the frame; title above, x ticks
  // and x-axis label below.
  const int left = 12 + (ylabel.empty() ? 0 : 5 * kScale + 10) + ylabel_w + 8;
  const int right = kWidth - 24, top = 40, bottom = kHeight - 56;
  auto px = [&](double x) {
    return left + static_cast<int>(std::lround((x - xmin) / (xmax - xmin) * (right - left)));
  };
  auto py = [&](double y) {
    return bottom - static_cast<int>(std::lround((y - ymin) / (ymax - ymin) * (bottom - top)));
  };

  png::Image img(kWidth, kHeight);
  draw_text(img, (kWidth - text_width(title, 3)) / 2, 12, title, 3, kInk);
  for (double v : xt) {
    const int x = px(v);
    img.line(x, top, x, bottom, kGrid.r, kGrid.g, kGrid.b);
    img.line(x, bottom, x, bottom + 4, kAxis.r, kAxis.g, kAxis.b);
    const std::string l = tick_label(v, xstep);
    draw_text(img, x - text_width(l, kScale) / 2, bottom + 9, l, kScale, kInk);
  }
  for (double v : yt) {
    const int y = py(v);
    img.line(left, y, right, y, kGrid.r, kGrid.g, kGrid.b);
    img.line(left - 4, y, left, y, kAxis.r, kAxis.g, kAxis.b);
    const std::string l = tick_label(v, ystep);
    draw_text(img, left - 8 - text_width(l, kScale), y - 5 * kScale / 2, l, kScale, kInk);
  }
  draw_text(img, (left + right - text_width(xlabel, kScale)) / 2, kHeight - 22, xlabel, kScale,
            kInk);
  draw_text(img, 12, (top + bottom - text_width(ylabel, kScale)) / 2, ylabel, kScale, kInk,
            /*vertical=*/true);

  for (const Series& s : series) {
    const Rgb c{s.r, s.g, s.b};
    const size_t n = s.x.size();
    auto ok = [&](size_t i) { return i < n && std::isfinite(s.x[i]) && std::isfinite(s.y[i]); };
    for (size_t i = 0; i < n; ++i) {
      if (!ok(i)) continue;
      const int x = px(s.x[i]), y = py(s.y[i]);
      if (ok(i + 1)) {
        thick_line(img, x, y, px(s.x[i + 1]), py(s.y[i + 1]), c);
      } else if (i == 0 || !ok(i - 1)) {
        // An isolated point (a single validation result, or one between
        // gaps) would draw nothing as a line, so mark it.
        img.fill_rect(x - 2, y - 2, x + 3, y + 3, c.r, c.g, c.b);
      }
    }
  }
  // The frame goes over the curves so points on the edge stay tidy.
  img.line(left, top, right, top, kAxis.r, kAxis.g, kAxis.b);
  img.line(left, bottom, right, bottom, kAxis.r, kAxis.g, kAxis.b);
  img.line(left, top, left, bottom, kAxis.r, kAxis.g, kAxis.b);
  img.line(right, top, right, bottom, kAxis.r, kAxis.g, kAxis.b);

  // Legend in the top-right corner of the plot area.
  int name_w = 0, entries = 0;
  for (const Series& s : series) {
    if (s.name.empty()) continue;
    name_w = std::max(name_w, text_width(s.name, kScale));
    ++entries;
  }
  if (entries > 0) {
    const int row_h = 5 * kScale + 8;
    const int w = 8 + 24 + 8 + name_w + 8, h = entries * row_h + 8;
    const int x0 = right - 10 - w, y0 = top + 10;
    img.fill_rect(x0, y0, x0 + w + 1, y0 + h + 1, 255, 255, 255);
    img.line(x0, y0, x0 + w, y0, 160, 160, 160);
    img.line(x0, y0 + h, x0 + w, y0 + h, 160, 160, 160);
    img.line(x0, y0, x0, y0 + h, 160, 160, 160);
    img.line(x0 + w, y0, x0 + w, y0 + h, 160, 160, 160);
    int y = y0 + 8;
    for (const Series& s : series) {
      if (s.name.empty()) continue;
      const int mid = y + 5 * kScale / 2;
      thick_line(img, x0 + 8, mid - 1, x0 + 32, mid - 1, Rgb{s.r, s.g, s.b});
      draw_text(img, x0 + 40, y, s.name, kScale, kInk);
      y += row_h;
    }
  }
  png::save(png_path, img);  // atomic; throws cadenza::Error naming the file
}

}  // namespace cadenza
