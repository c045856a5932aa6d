#pragma once
// Helpers shared by the audio tests: scratch directories, test signals,
// golden files and a tolerance check that reports the worst element.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "audio/audio.h"
#include "engine/npy.h"

namespace cadenza::audio::testing {

// A fresh directory per test, removed afterwards.
struct ScratchDir {
  explicit ScratchDir(const std::string& tag) {
    path = (std::filesystem::temp_directory_path() /
            ("cadenza_audio_" + tag + "_" + std::to_string(::getpid())))
               .string();
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
  std::string path;
};

// amplitude * sin(2 pi f t + phase) at `rate`, [n].
inline std::vector<float> sine(int64_t n, double freq, int rate, double amplitude = 0.5,
                               double phase = 0.0) {
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    x[static_cast<size_t>(i)] =
        static_cast<float>(amplitude * std::sin(2.0 * M_PI * freq * i / rate + phase));
  }
  return x;
}

inline Buffer stereo_sines(int64_t n, int rate) {
  Buffer b;
  b.sample_rate = rate;
  b.channels = 2;
  b.data = sine(n, 440.0, rate, 0.8);
  std::vector<float> r = sine(n, 660.0, rate, 0.5, 0.3);
  b.data.insert(b.data.end(), r.begin(), r.end());
  return b;
}

inline std::string golden_path(const std::string& name) {
  return std::string(CADENZA_SOURCE_DIR) + "/tests/golden/audio/" + name + ".npy";
}

struct Golden {
  std::vector<int64_t> shape;
  std::vector<float> f;    // for "<f4"
  std::vector<int32_t> i;  // for "<i4"
};

inline Golden golden(const std::string& name) {
  npy::Array a = npy::load(golden_path(name));
  Golden g;
  g.shape = a.shape;
  if (a.descr == "<f4") {
    g.f.resize(a.bytes.size() / 4);
    std::memcpy(g.f.data(), a.bytes.data(), a.bytes.size());
  } else if (a.descr == "<i4") {
    g.i.resize(a.bytes.size() / 4);
    std::memcpy(g.i.data(), a.bytes.data(), a.bytes.size());
  }
  return g;
}

// The tolerance used against librosa: element-wise
//   |got - want| <= rtol * |want| + floor * max|want|
// i.e. relative error rtol, except for entries so far below the peak
// (floor, e.g. 1e-7 = 140 dB) that float32 storage alone dominates them.
// Returns "" when every element passes, else a description of the worst one.
inline std::string compare(const std::vector<float>& got, const std::vector<float>& want,
                           double rtol, double floor = 1e-7) {
  if (got.size() != want.size()) {
    return "size " + std::to_string(got.size()) + " != " + std::to_string(want.size());
  }
  double peak = 0.0;
  for (float w : want) peak = std::max(peak, std::fabs(static_cast<double>(w)));
  double worst = 0.0;
  size_t at = 0;
  for (size_t k = 0; k < got.size(); ++k) {
    const double err = std::fabs(static_cast<double>(got[k]) - want[k]);
    const double tol = rtol * std::fabs(static_cast<double>(want[k])) + floor * peak;
    const double ratio = tol > 0 ? err / tol : (err > 0 ? INFINITY : 0.0);
    if (ratio > worst) {
      worst = ratio;
      at = k;
    }
  }
  if (worst <= 1.0) return "";
  std::ostringstream s;
  s << "element " << at << ": got " << got[at] << " want " << want[at] << " (" << worst
    << "x the tolerance)";
  return s.str();
}

inline double max_abs_diff(const float* a, const float* b, int64_t n) {
  double m = 0.0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(static_cast<double>(a[i]) - b[i]));
  return m;
}

}  // namespace cadenza::audio::testing
