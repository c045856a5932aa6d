// Trains a tiny regression with the installed library and checks the loss
// fell, then runs the models floor (a token SequenceModel, its batch-1
// Decoder and a PolyModel) from the same installed package.
#include <cadenza/cadenza.h>

#include <cmath>
#include <cstdio>
#include <vector>

using namespace cadenza;

static bool models_floor() {
  models::SequenceModelConfig sc;
  sc.vocab = "test";
  sc.vocab_size = 12;
  sc.embed = 8;
  sc.hidden = 16;
  sc.layers = 2;
  models::SequenceModel seq(sc);
  Tensor ids = Tensor::from_vector<int64_t>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {2, 5});
  Tensor logits = seq.forward_tokens(ids);
  if (logits.shape() != Shape{2, 5, 12}) return false;
  models::Decoder dec(seq);
  if (dec.step(1).size() != 12) return false;

  models::PolyModelConfig pc;
  pc.hidden = 16;
  pc.layers = 1;
  pc.dropout = 0;
  models::PolyModel poly(pc);
  Tensor frames = Tensor::zeros({2, 3, models::kPolyKeys});
  Tensor nll = models::poly_frame_nll_sum(poly.forward_frames(frames), frames, Tensor::ones({2, 3}));
  std::printf("models: sequence logits [2, 5, 12], poly nll %.4f\n", nll.item());
  return std::isfinite(nll.item()) && nll.item() > 0;
}

int main() {
  manual_seed(0);
  nn::Linear model(3, 1);
  optim::SGD opt(model.parameters(), 0.1);
  Tensor x = randn({64, 3});
  Tensor y = matmul(x, Tensor::from_vector<float>({1.0f, -2.0f, 0.5f}, {3, 1}));
  double first = 0, last = 0;
  for (int step = 0; step < 100; ++step) {
    opt.zero_grad();
    Tensor loss = mse_loss(model(x), y);
    loss.backward();
    opt.step();
    if (step == 0) first = loss.item();
    last = loss.item();
  }
  std::printf("loss %.6f -> %.6f\n", first, last);
  if (!(last < first * 0.01)) return 1;
  if (!models_floor()) return 1;
  std::printf("consumer ok\n");
  return 0;
}
