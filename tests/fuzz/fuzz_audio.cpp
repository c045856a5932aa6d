// fuzz-sources: audio/io.cpp audio/sample_ops.cpp audio/spectral.cpp -lsndfile -lsamplerate -lfftw3
// Arbitrary bytes through audio::load_memory (every container libsndfile
// sniffs), then the decoded audio through resampling, mu-law and the STFT:
// anything may throw audio::Error, nothing may crash or read out of bounds.
#include <cstddef>
#include <cstdint>

#include "audio/audio.h"

// libsndfile's Ogg reader leaks libvorbis state on some malformed streams
// (inside Debian's libraries, not here); those leaks are not our findings.
extern "C" const char* __lsan_default_suppressions() {
  return "leak:libvorbis.so\nleak:libogg.so\nleak:libsndfile.so\n";
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cadenza::audio;
  try {
    Buffer b = load_memory(data, size, "fuzz");
    if (b.frames() > 200000) return 0;  // keep each run fast
    Buffer m = to_mono(b);
    std::vector<float> x = m.data;
    if (m.sample_rate >= 1000 && m.sample_rate <= 192000) {
      x = resample(x, m.sample_rate, 8000, Quality::kSincFastest);
    }
    mu_law_decode(mu_law_encode(x));
    StftOptions o;
    o.n_fft = 64;
    if (!x.empty()) {
      Spectrum s = stft(x, o);
      istft(s, o, static_cast<int64_t>(x.size()));
      mfcc(x, 8000, o, MfccOptions{13, MelOptions{20}, DbOptions{}});
    }
  } catch (const Error&) {
  }
  return 0;
}
