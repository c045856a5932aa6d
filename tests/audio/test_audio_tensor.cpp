// The bridge to engine tensors: shapes and values survive the conversions.
#include <catch2/catch.hpp>

#include "audio/audio_tensor.h"
#include "audio_test_util.h"

using namespace cadenza;
using namespace cadenza::audio;
using namespace cadenza::audio::testing;

TEST_CASE("audio buffers and features become engine tensors", "[audio][tensor]") {
  ScratchDir dir("tensor");
  const Buffer b = stereo_sines(1000, 16000);
  const Tensor t = to_tensor(b);
  REQUIRE(t.shape() == Shape{2, 1000});
  CHECK(t.to_vector<float>() == b.data);
  const Buffer back = from_tensor(t, 16000);
  CHECK(back.channels == 2);
  CHECK(back.data == b.data);

  save(dir / "t.wav", b, SaveOptions{Subtype::kFloat});
  int rate = 0;
  const Tensor loaded = load_tensor(dir / "t.wav", &rate);
  CHECK(rate == 16000);
  CHECK(loaded.shape() == Shape{2, 1000});
  CHECK(loaded.to_vector<float>() == b.data);

  // Log-mel conditioning features: [n_mels, frames], the same numbers as the
  // vector front end.
  const std::vector<float> y = golden("sig16k").f;
  StftOptions so;
  so.n_fft = 512;
  MelOptions mo;
  mo.n_mels = 40;
  const Tensor mel = log_mel_tensor(Tensor::from_vector<float>(y), 16000, so, mo);
  const Matrix want = power_to_db(melspectrogram(y, 16000, so, mo));
  REQUIRE(mel.shape() == Shape{40, want.cols});
  CHECK(mel.to_vector<float>() == want.data);
  CHECK_THROWS_AS(log_mel_tensor(to_tensor(b), 16000), audio::Error);  // stereo

  const Tensor q = mu_law_encode_tensor(Tensor::from_vector<float>({-1.0f, 0.0f, 1.0f}));
  CHECK(q.to_vector<int64_t>() == std::vector<int64_t>{0, 128, 255});
  const Tensor x = mu_law_decode_tensor(q);
  CHECK(x.to_vector<float>()[0] == -1.0f);
  CHECK(x.shape() == Shape{3});
}
