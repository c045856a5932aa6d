// The persistent LSTM decoder (kernels/cuda/decoder.h) on a GPU (ctest label
// cuda; exit 77, a skip, without one): its tokens against the host replay
// of its schedule (tests/engine/decoder_replay.h, which the CPU tests hold
// to the CPU Decoder) for the same uniforms, greedy and sampled with top-k
// and top-p, over runs that carry the state, on odd sizes and on W1's LSTM.
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "../engine/decoder_replay.h"
#include "engine/backend.h"
#include "kernels/cuda/decoder.h"

using namespace cadenza;

namespace {

int failures = 0;

struct RandomLstm {
  std::vector<std::vector<float>> store;
  kmath::dec::Weights w;
  RandomLstm(int64_t V, int64_t H, int64_t L, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.f, 1.f / std::sqrt(static_cast<float>(H)));
    auto fill = [&](int64_t n, float scale) {
      store.emplace_back(static_cast<size_t>(n));
      for (float& v : store.back()) v = nd(rng) * scale;
      return store.back().data();
    };
    store.reserve(static_cast<size_t>(4 * L + 4));
    w.V = V;
    w.H = H;
    w.L = L;
    w.table = fill(V * 4 * H, 8.f);
    for (int64_t l = 0; l < L; ++l) {
      w.w_hh.push_back(fill(4 * H * H, 1.f));
      w.w_ih.push_back(l > 0 ? fill(4 * H * H, 1.f) : nullptr);
      w.b.push_back(l > 0 ? fill(4 * H, 4.f) : nullptr);
    }
    w.w_out = fill(V * H, 12.f);
    w.b_out = fill(V, 4.f);
  }
};

void check_case(const std::string& name, const RandomLstm& m, int64_t tokens) {
  try {
    kernels::cuda::DecoderDevice gpu(m.w, 0);
    test::HostDecoder host(m.w, gpu.plan());  // the device's split of the units
    const std::vector<int32_t> primer = {1, 5, 2};
    int run = 0;
    for (auto [temperature, top_k, top_p] :
         {std::tuple{1.0, int64_t{0}, 1.0}, std::tuple{0.8, int64_t{20}, 0.9}, std::tuple{0.0, int64_t{0}, 1.0},
          // Hot enough that top-p keeps many tokens (the weights make the
          // logits peaked), so its renormalisation decides draws.
          std::tuple{6.0, int64_t{0}, 0.8}}) {
      std::vector<double> us(static_cast<size_t>(tokens));
      std::mt19937_64 rng(100 + run++);
      std::uniform_real_distribution<double> ud(0, 1);
      for (double& v : us) v = ud(rng);
      auto want = host.generate(tokens, 0, us, temperature, top_k, top_p, primer, nullptr);
      auto got = gpu.generate(tokens, 0, us, temperature, top_k, top_p, primer);
      int64_t first_diff = -1;
      for (size_t i = 0; i < want.size() && first_diff < 0; ++i)
        if (got.at(i) != want[i]) first_diff = static_cast<int64_t>(i);
      const bool ok = got.size() == want.size() && first_diff < 0;
      std::printf("%s: %s, temperature %.1f top-k %lld top-p %.1f, %lld tokens (%lld blocks, %lld bytes of shared "
                  "memory)%s\n",
                  ok ? "ok" : "FAILED", name.c_str(), temperature, static_cast<long long>(top_k), top_p,
                  static_cast<long long>(tokens), static_cast<long long>(gpu.plan().blocks),
                  static_cast<long long>(gpu.plan().smem_bytes),
                  ok ? "" : (", first different token at " + std::to_string(first_diff)).c_str());
      if (!ok) ++failures;
    }
  } catch (const std::exception& e) {
    std::printf("FAILED: %s: %s\n", name.c_str(), e.what());
    ++failures;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (backend::available_backends().size() < 2 || backend::is_emulated(Device{Device::cuda, 0})) {
    std::puts("skipped: no CUDA backend in this build or no CUDA device on this machine");
    return 77;
  }
  // --quick: a tenth of the tokens (compute-sanitizer); --emu: that, and
  // 40 of W1's (the CUDA emulator runs the kernel on the CPU).
  const std::string mode = argc > 1 ? argv[1] : "";
  const int64_t div = mode == "--quick" || mode == "--emu" ? 10 : 1;
  check_case("odd sizes (V 37, H 45, 3 layers)", RandomLstm(37, 45, 3, 1), 300 / div);
  check_case("H above the SM count (V 100, H 300, 1 layer)", RandomLstm(100, 300, 1, 2), 300 / div);
  check_case("W1 (V 388, H 512, 2 layers)", RandomLstm(388, 512, 2, 3), mode == "--emu" ? 40 : 2000 / div);
  std::printf("%s\n", failures ? "SOME CHECKS FAILED" : "all checks passed");
  return failures ? 1 : 0;
}
