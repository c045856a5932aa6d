// Tensor conversions. Kept apart from the rest of audio/ so that the I/O and
// transforms build and fuzz without the engine.
#include "audio/audio_tensor.h"

namespace cadenza::audio {
namespace {

std::vector<float> mono_samples(const Tensor& x, const char* what) {
  if (x.dim() == 1 || (x.dim() == 2 && x.shape()[0] == 1)) return x.to_vector<float>();
  throw Error(std::string("audio: ") + what + " wants a mono signal [T] or [1, T], got " +
              shape_str(x.shape()));
}

}  // namespace

Tensor to_tensor(const Buffer& b) {
  return Tensor::from_vector<float>(b.data, Shape{b.channels, b.frames()});
}

Buffer from_tensor(const Tensor& x, int sample_rate) {
  if (x.dim() != 1 && x.dim() != 2) {
    throw Error("audio: from_tensor wants [C, T] or [T], got " + shape_str(x.shape()));
  }
  Buffer b;
  b.sample_rate = sample_rate;
  b.channels = x.dim() == 1 ? 1 : static_cast<int>(x.shape()[0]);
  b.data = x.to_vector<float>();
  return b;
}

Tensor to_tensor(const Matrix& m) {
  return Tensor::from_vector<float>(m.data, Shape{m.rows, m.cols});
}

Tensor load_tensor(const std::string& path, int* sample_rate) {
  Buffer b = load(path);
  if (sample_rate) *sample_rate = b.sample_rate;
  return to_tensor(b);
}

Tensor log_mel_tensor(const Tensor& x, int sample_rate, const StftOptions& so,
                      const MelOptions& mo) {
  return to_tensor(
      power_to_db(melspectrogram(mono_samples(x, "log_mel_tensor"), sample_rate, so, mo)));
}

Tensor mu_law_encode_tensor(const Tensor& x, int quantization_channels) {
  const std::vector<int32_t> q = mu_law_encode(x.to_vector<float>(), quantization_channels);
  return Tensor::from_vector<int64_t>(std::vector<int64_t>(q.begin(), q.end()), x.shape());
}

Tensor mu_law_decode_tensor(const Tensor& q, int quantization_channels) {
  const std::vector<int64_t> v = q.to_vector<int64_t>();
  std::vector<int32_t> c(v.begin(), v.end());
  return Tensor::from_vector<float>(mu_law_decode(c, quantization_channels), q.shape());
}

}  // namespace cadenza::audio
