// Trains a tiny regression with the installed library and checks the loss fell.
#include <cadenza/cadenza.h>

#include <cstdio>

int main() {
  using namespace cadenza;
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
  std::printf("consumer ok\n");
  return 0;
}
