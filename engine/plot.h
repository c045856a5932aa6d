#pragma once
// Line charts as PNG (loss curves), drawn with engine/png.h so the trainers
// need no plotting library.
#include <cstdint>
#include <string>
#include <vector>

namespace cadenza {

struct Series {
  std::string name;          // legend entry
  std::vector<double> x, y;  // same length; non-finite points are skipped (the line breaks)
  uint8_t r = 0, g = 0, b = 0;
};

// Writes an 800x500 PNG (atomically) with axes, grid, tick labels, a legend,
// `title` above and the axis labels. Series may be empty, a single point or
// constant. Throws cadenza::Error naming the file when x and y differ in
// length or the file cannot be written.
void plot_lines(const std::string& png_path, const std::string& title,
                const std::vector<Series>& series, const std::string& xlabel,
                const std::string& ylabel);

// The tick values a chart of [lo, hi] shows: multiples of 1, 2 or 5 x 10^k,
// about `target` of them. Exposed for tests.
std::vector<double> nice_ticks(double lo, double hi, int target = 6);

// A short tick label: "0.2", "1500", "2e-5", "1.5e7" (the plot font has no '+').
std::string tick_label(double v, double step);

}  // namespace cadenza
