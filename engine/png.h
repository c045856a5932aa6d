#pragma once
// A small PNG writer (8-bit RGB, zlib from Debian) for the pictures the tools
// draw: piano rolls, spectrograms, loss curves.
#include <cstdint>
#include <string>
#include <vector>

namespace cadenza::png {

struct Image {
  Image(int w, int h, uint8_t r = 255, uint8_t g = 255, uint8_t b = 255);
  int width, height;
  std::vector<uint8_t> rgb;  // row-major, 3 bytes per pixel
  void set(int x, int y, uint8_t r, uint8_t g, uint8_t b);  // ignores points outside
  void fill_rect(int x0, int y0, int x1, int y1, uint8_t r, uint8_t g, uint8_t b);
  void line(int x0, int y0, int x1, int y1, uint8_t r, uint8_t g, uint8_t b);
  // 5x7 pixel digits, '.', '-', letters a-z (lower case) for axis labels.
  void text(int x, int y, const std::string& s, uint8_t r = 0, uint8_t g = 0, uint8_t b = 0);
};

// The PNG file's bytes.
std::string encode(const Image& img);
void save(const std::string& path, const Image& img);  // atomic

// Maps v in [0, 1] to a perceptual colour ramp (dark blue -> yellow).
void colormap(double v, uint8_t& r, uint8_t& g, uint8_t& b);

}  // namespace cadenza::png
