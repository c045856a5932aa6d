#include "engine/png.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "engine/file_io.h"
#include "engine/tensor.h"

namespace cadenza::png {

Image::Image(int w, int h, uint8_t r, uint8_t g, uint8_t b) : width(w), height(h) {
  if (w <= 0 || h <= 0) throw Error("png::Image: size must be positive");
  rgb.resize(static_cast<size_t>(w) * h * 3);
  for (size_t i = 0; i < rgb.size(); i += 3) {
    rgb[i] = r;
    rgb[i + 1] = g;
    rgb[i + 2] = b;
  }
}

void Image::set(int x, int y, uint8_t r, uint8_t g, uint8_t b) {
  if (x < 0 || y < 0 || x >= width || y >= height) return;
  size_t i = (static_cast<size_t>(y) * width + x) * 3;
  rgb[i] = r;
  rgb[i + 1] = g;
  rgb[i + 2] = b;
}

void Image::fill_rect(int x0, int y0, int x1, int y1, uint8_t r, uint8_t g, uint8_t b) {
  for (int y = std::max(0, y0); y < std::min(height, y1); ++y)
    for (int x = std::max(0, x0); x < std::min(width, x1); ++x) set(x, y, r, g, b);
}

void Image::line(int x0, int y0, int x1, int y1, uint8_t r, uint8_t g, uint8_t b) {
  int dx = std::abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
  int dy = -std::abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
  int err = dx + dy;
  for (;;) {
    set(x0, y0, r, g, b);
    if (x0 == x1 && y0 == y1) break;
    int e2 = 2 * err;
    if (e2 >= dy) { err += dy; x0 += sx; }
    if (e2 <= dx) { err += dx; y0 += sy; }
  }
}

// 3x5 glyphs, one bit per pixel, row-major from the top-left (bit 14 first).
static int glyph(char c) {
  switch (c) {
    case '0': return 0x7B6F; case '1': return 0x2C97; case '2': return 0x73E7;
    case '3': return 0x73CF; case '4': return 0x5BC9; case '5': return 0x79CF;
    case '6': return 0x79EF; case '7': return 0x7249; case '8': return 0x7BEF;
    case '9': return 0x7BCF; case '.': return 0x0002; case '-': return 0x01C0;
    case ':': return 0x0410; case '/': return 0x12A4; case 'a': return 0x2BED;
    case 'b': return 0x6BAE; case 'c': return 0x7927; case 'd': return 0x6B6E;
    case 'e': return 0x79E7; case 'f': return 0x79E4; case 'g': return 0x796F;
    case 'h': return 0x5BED; case 'i': return 0x7497; case 'j': return 0x126A;
    case 'k': return 0x5BAD; case 'l': return 0x4927; case 'm': return 0x5FED;
    case 'n': return 0x6B6D; case 'o': return 0x2B6A; case 'p': return 0x6BA4;
    case 'q': return 0x2B79; case 'r': return 0x6BAD; case 's': return 0x388E;
    case 't': return 0x7492; case 'u': return 0x5B6F; case 'v': return 0x5B6A;
    case 'w': return 0x5BFD; case 'x': return 0x5AAD; case 'y': return 0x5A92;
    case 'z': return 0x72A7; case '(': return 0x2922; case ')': return 0x2252;
    default: return 0;
  }
}

void Image::text(int x, int y, const std::string& s, uint8_t r, uint8_t g, uint8_t b) {
  for (char ch : s) {
    char c = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    int bits = glyph(c);
    for (int row = 0; row < 5; ++row)
      for (int col = 0; col < 3; ++col)
        if (bits & (1 << (14 - (row * 3 + col)))) set(x + col, y + row, r, g, b);
    x += 4;
  }
}

static void put32(std::string& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>((v >> s) & 0xff));
}

static void chunk(std::string& out, const char* type, const std::string& data) {
  put32(out, static_cast<uint32_t>(data.size()));
  std::string body(type, 4);
  body += data;
  out += body;
  put32(out, static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()),
                                         static_cast<uInt>(body.size()))));
}

std::string encode(const Image& img) {
  std::string raw;
  raw.reserve(static_cast<size_t>(img.height) * (img.width * 3 + 1));
  for (int y = 0; y < img.height; ++y) {
    raw.push_back(0);  // filter: none
    raw.append(reinterpret_cast<const char*>(&img.rgb[static_cast<size_t>(y) * img.width * 3]),
               static_cast<size_t>(img.width) * 3);
  }
  uLongf zlen = compressBound(static_cast<uLong>(raw.size()));
  std::string z(zlen, '\0');
  if (compress2(reinterpret_cast<Bytef*>(&z[0]), &zlen, reinterpret_cast<const Bytef*>(raw.data()),
                static_cast<uLong>(raw.size()), 6) != Z_OK)
    throw Error("png: compression failed");
  z.resize(zlen);
  std::string out("\x89PNG\r\n\x1a\n", 8);
  std::string ihdr;
  put32(ihdr, static_cast<uint32_t>(img.width));
  put32(ihdr, static_cast<uint32_t>(img.height));
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit RGB
  chunk(out, "IHDR", ihdr);
  chunk(out, "IDAT", z);
  chunk(out, "IEND", "");
  return out;
}

void save(const std::string& path, const Image& img) { write_file_atomic(path, encode(img)); }

void colormap(double v, uint8_t& r, uint8_t& g, uint8_t& b) {
  if (!(v >= 0)) v = 0;
  if (v > 1) v = 1;
  // A few stops of a viridis-like ramp, linearly interpolated.
  static const double stops[5][3] = {
      {68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
  double t = v * 4;
  int i = std::min(3, static_cast<int>(t));
  double f = t - i;
  r = static_cast<uint8_t>(std::lround(stops[i][0] + f * (stops[i + 1][0] - stops[i][0])));
  g = static_cast<uint8_t>(std::lround(stops[i][1] + f * (stops[i + 1][1] - stops[i][1])));
  b = static_cast<uint8_t>(std::lround(stops[i][2] + f * (stops[i + 1][2] - stops[i][2])));
}

}  // namespace cadenza::png
