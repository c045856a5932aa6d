// Writes a small TensorBoard log with cadenza::SummaryWriter, for
// tests/reference/check_tensorboard.py to read back with the PyPI tensorboard
// package. Also writes LOGDIR/expected.tsv (tag, step, value, wall_time per
// line) so the checker compares against exactly what was written.
//
//   write_tb_sample LOGDIR
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/summary.h"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s LOGDIR\n", argv[0]);
    return 2;
  }
  const std::string logdir = argv[1];
  try {
    // Old event files from an earlier run would be merged with these.
    if (fs::is_directory(logdir)) {
      for (const auto& entry : fs::directory_iterator(logdir))
        if (entry.path().filename().string().find("tfevents") != std::string::npos)
          fs::remove(entry.path());
    }
    fs::create_directories(logdir);
    const std::string expected_path = (fs::path(logdir) / "expected.tsv").string();
    FILE* expected = std::fopen(expected_path.c_str(), "w");
    if (!expected) {
      std::fprintf(stderr, "write_tb_sample: cannot create '%s'\n", expected_path.c_str());
      return 1;
    }
    const double t0 = 1700000000.0;
    auto log = [&](cadenza::SummaryWriter& w, const char* tag, double value, int64_t step) {
      const double wall = t0 + 0.5 * static_cast<double>(step);
      w.add_scalar(tag, value, step, wall);
      std::fprintf(expected, "%s\t%lld\t%.17g\t%.17g\n", tag, static_cast<long long>(step), value,
                   wall);
    };
    // Two writers, as a run and its resumption write them: TensorBoard must
    // merge the two files into one series per tag.
    for (int part = 0; part < 2; ++part) {
      cadenza::SummaryWriter w(logdir);
      for (int64_t step = part * 50; step < (part + 1) * 50; ++step) {
        log(w, "train/loss", 5.0 * std::exp(-static_cast<double>(step) / 20.0) + 0.5, step);
        log(w, "train/lr", 1e-3 * std::cos(static_cast<double>(step) / 100.0), step);
        if (step % 10 == 9) log(w, "val/nll_nats", 3.0 - 0.01 * static_cast<double>(step), step);
      }
      w.flush();
    }
    // Steps past 2^32 and values of both signs and large magnitude.
    {
      cadenza::SummaryWriter w(logdir);
      log(w, "edge/big_step", -1.5, int64_t(5000000000));
      log(w, "edge/big_step", 3.0e30, int64_t(5000000001));
    }
    // An audio clip: 0.1 s of a 440 Hz tone at 16 kHz (check_tensorboard.py
    // decodes the WAV and compares it with the same tone).
    {
      cadenza::SummaryWriter w(logdir);
      std::vector<float> tone(1600);
      for (size_t i = 0; i < tone.size(); ++i) tone[i] = 0.5f * std::sin(2 * M_PI * 440.0 * i / 16000.0);
      w.add_audio("audio/tone", tone, 16000, 7, t0);
      // A 5x3 picture: red left column, the rest white but a green pixel at (2, 1).
      cadenza::png::Image img(5, 3);
      img.fill_rect(0, 0, 1, 3, 255, 0, 0);
      img.set(2, 1, 0, 255, 0);
      w.add_image("images/test", img, 9, t0);
    }
    std::fclose(expected);
    std::printf("write_tb_sample: wrote %s\n", logdir.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "write_tb_sample: %s\n", e.what());
    return 1;
  }
  return 0;
}
