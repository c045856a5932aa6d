// The persistent WaveNet generation kernel (kernels/cuda/wavenet_generate.h)
// on a GPU (ctest label cuda; exit 77, a skip, without one): the logits and
// draws of the CPU generator for the same uniforms, over two runs (the
// second continuing the first's queues), in f32 and bf16, on odd shapes
// (kernel 2 and 3, conditioning, gate biases, many streams) and on the W2
// model's sizes for 1 and 8 streams. test_wavenet_generate.cpp runs the
// same block bodies on the host. --quick: a tenth of the steps (for
// compute-sanitizer, which slows the kernel a hundredfold).
#include <cstdio>
#include <string>

#include "../engine/wavenet_gen_model.h"
#include "engine/backend.h"
#include "kernels/cuda/wavenet_generate.h"

using namespace cadenza;
using cadenza::test::Model;

namespace {

int failures = 0;

void check_case(const std::string& name, const Model& m, kernels::WaveNetGenPrecision prec, int64_t steps,
                double temperature) {
  try {
    kernels::cuda::WaveNetGenDevice gen(m.w, m.N, prec, 0);
    const kmath::wg::Plan& p = gen.plan();
    for (const test::RunDiff& r : test::against_cpu(m, prec, steps, temperature, gen)) {
      const bool ok = r.worst <= 1e-5 * std::max(1.0, r.top) && r.same_draws &&
                      (temperature <= 0 || r.changes > r.steps / 4);
      std::printf("%s: %s, %lld steps (blocks %lld, %lld bytes of shared memory, weights %s): worst logit difference "
                  "%.3g (largest %.3g), draws %s\n",
                  ok ? "ok" : "FAILED", name.c_str(), static_cast<long long>(r.steps),
                  static_cast<long long>(p.blocks), static_cast<long long>(p.smem_bytes),
                  p.weights_in_smem ? "in shared memory" : "from L2", r.worst, r.top,
                  r.same_draws ? "the same" : "DIFFER");
      if (!ok) ++failures;
    }
  } catch (const std::exception& e) {
    std::printf("FAILED: %s: %s\n", name.c_str(), e.what());
    ++failures;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t div = argc > 1 && std::string(argv[1]) == "--quick" ? 10 : 1;
  if (backend::available_backends().size() < 2 || backend::is_emulated(Device{Device::cuda, 0})) {
    std::puts("skipped: no CUDA backend in this build or no CUDA device on this machine");
    return 77;
  }
  using P = kernels::WaveNetGenPrecision;
  const std::vector<int64_t> dils = {1, 2, 4, 8, 1, 3, 9};
  check_case("f32, odd sizes, kernel 2", Model(7, 18, 37, 33, 2, 0, 3, dils, false, 1), P::f32, 300 / div, 1.0);
  check_case("f32, kernel 3, mel and gate biases", Model(8, 12, 10, 32, 3, 5, 2, dils, true, 2), P::f32, 300 / div, 1.0);
  check_case("f32, greedy", Model(6, 8, 16, 40, 2, 0, 2, dils, false, 3), P::f32, 200 / div, 0.0);
  check_case("bf16, kernel 3, mel, 5 streams", Model(7, 18, 37, 33, 3, 5, 5, dils, true, 4), P::bf16, 300 / div, 0.9);
  check_case("f32, 40 streams", Model(8, 16, 24, 32, 2, 0, 40, dils, false, 5), P::f32, 100 / div, 1.0);
  std::vector<int64_t> w2;
  for (int i = 0; i < 20; ++i) w2.push_back(int64_t{1} << (i % 10));
  for (int64_t N : {1, 8}) {
    const Model m(64, 128, 256, 256, 2, 0, N, w2, false, 6);
    check_case("f32, W2 sizes, " + std::to_string(N) + " streams", m, P::f32, 3000 / div, 1.0);
    check_case("bf16, W2 sizes, " + std::to_string(N) + " streams", m, P::bf16, 3000 / div, 1.0);
  }
  const Model voc(64, 128, 256, 256, 2, 80, 1, w2, false, 7);
  check_case("f32, W2 sizes with 80 mel channels", voc, P::f32, 1000 / div, 1.0);
  std::printf("%s\n", failures ? "SOME CHECKS FAILED" : "all checks passed");
  return failures ? 1 : 0;
}
