// The persistent CUDA generation kernel's arithmetic and schedule, run on
// the host: kernels/wavenet_generate_math.h's block bodies, called in the
// order the kernel's flags allow, on the images kernels/cuda uploads,
// against the CPU generator (kernels/cpu/wavenet_generate.h). A GPU runs
// the same bodies (tests/engine_tools/cuda_wavenet_generate_check.cpp).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <type_traits>
#include <vector>

#include "kernels/cpu/wavenet_generate.h"
#include "kernels/wavenet_generate_math.h"
#include "wavenet_gen_model.h"

using namespace cadenza;
using namespace cadenza::kernels;
using cadenza::test::Model;
using cadenza::test::uniforms;
namespace wg = cadenza::kmath::wg;

namespace {

// The kernel's blocks on the host, one after another in an order its flags
// allow: per sample, layer 0 (after drawing the last sample's inputs), each
// layer above, the head1 blocks, the head3 blocks. Each layer keeps its own
// scratch (a block's shared memory lives for the whole launch), and each
// head block reads its slice copied the way the kernel copies it into shared
// memory. The queues persist across runs, as on the device.
template <class W>
struct HostKernel {
  WaveNetGenImages im;
  wg::Plan plan;
  std::vector<float> ring, msg_h, msg_s, head_b, logits;
  std::vector<std::vector<float>> scratch;  // per layer: x, zp, u
  int64_t t = 0;

  HostKernel(const WaveNetGenWeights& w, int64_t N, WaveNetGenPrecision p, int64_t sms)
      : im(wavenet_generate_images(w, N, p)) {
    const wg::Dims& d = im.dims;
    plan = wg::plan(d, sms, 227 * 1024);
    REQUIRE(plan.fits);
    ring.assign(static_cast<size_t>(im.ring_floats), 0.f);
    msg_h.assign(static_cast<size_t>(d.L * 2 * d.N * d.R), 0.f);
    msg_s.assign(static_cast<size_t>(d.L * 2 * d.N * d.S), 0.f);
    head_b.assign(static_cast<size_t>(2 * d.N * d.S), 0.f);
    logits.assign(static_cast<size_t>(2 * d.N * d.Q), 0.f);
    scratch.assign(static_cast<size_t>(d.L), std::vector<float>(static_cast<size_t>(d.N * (d.R + d.G + d.H()))));
  }
  const W* layers() const {
    if constexpr (std::is_same_v<W, float>) return im.layers_f32.data();
    else return im.layers_h.data();
  }
  const W* last(int which) const {
    if constexpr (std::is_same_v<W, float>) return which == 1 ? im.last1_f32.data() : im.last3_f32.data();
    else return which == 1 ? im.last1_h.data() : im.last3_h.data();
  }

  void run(int64_t steps, const int32_t* ids_in, const float* cond, const double* uniforms, double temperature,
           int32_t* out, float* logits_out) {
    const wg::Dims& d = im.dims;
    std::vector<int32_t> ids(ids_in, ids_in + d.N);
    wg::Ctx<W> c;
    c.d = d;
    c.layers = layers();
    c.bias = im.bias.data();
    c.gate_bias = im.gate_bias.empty() ? nullptr : im.gate_bias.data();
    c.dilation = im.dilation.data();
    c.ring_at = im.ring_at.data();
    c.ring = ring.data();
    c.table = im.table.data();
    c.last1 = last(1);
    c.last1_b = im.last1_b.data();
    c.last3 = last(3);
    c.last3_b = im.last3_b.data();
    c.msg_h = msg_h.data();
    c.msg_s = msg_s.data();
    c.head_b = head_b.data();
    c.logits = logits.data();
    c.ids = ids.data();
    c.cond = cond;
    c.uniforms = uniforms;
    c.out = out;
    c.logits_out = logits_out;
    c.t0 = t;
    c.steps = steps;
    c.temperature = temperature;
    c.half = static_cast<float>(std::sqrt(0.5));
    c.scale = static_cast<float>(std::sqrt(1.0 / static_cast<double>(d.L)));
    const int64_t lw = d.layer_words(), hr = d.head_rows();
    auto sc_of = [&](int64_t l) {
      float* s = scratch[l].data();
      return wg::LayerScratch{s, s + d.N * d.R, s + d.N * (d.R + d.G)};
    };
    // The head blocks' slices, as the kernel copies them into shared memory.
    auto slice = [&](const W* full, int64_t cols, int64_t b0, int64_t b1) {
      std::vector<W> s(static_cast<size_t>(hr * (b1 - b0)));
      for (int64_t k = 0; k < hr * (b1 - b0); ++k) s[k] = full[(k / (b1 - b0)) * cols + b0 + k % (b1 - b0)];
      return s;
    };
    std::vector<float> a(static_cast<size_t>(d.N * d.S)), p(static_cast<size_t>(d.Q));
    for (int64_t l = 0; l < d.L; ++l) wg::layer_past(c, l, t, c.layers + l * lw, sc_of(l), 0, 1);
    auto draw_all = [&](int64_t s) {
      for (int64_t n = 0; n < d.N; ++n) wg::sample_stream(c, s, n, c.l_msg(s) + n * d.Q, p.data());
    };
    for (int64_t s = 0; s < steps; ++s) {
      if (s > 0) draw_all(s - 1);
      for (int64_t l = 0; l < d.L; ++l) {
        const W* w = c.layers + l * lw;
        const wg::LayerScratch sc = sc_of(l);
        wg::layer_load(c, l, s, sc, 0, 1);
        wg::layer_sums(c, s, w, sc, 0, 1);
        wg::layer_gate(d, sc, 0, 1);
        wg::layer_residual(c, l, s, w, sc, 0, 1);
        wg::layer_skip(c, l, s, w, sc, 0, 1);
        if (s + 1 < steps) wg::layer_past(c, l, t + s + 1, w, sc, 0, 1);
      }
      for (int64_t i = 0; i < plan.head1; ++i) {
        const int64_t c0 = wg::share_begin(d.S, i, plan.head1), c1 = wg::share_begin(d.S, i + 1, plan.head1);
        const std::vector<W> sl = slice(c.last1, d.S, c0, c1);
        wg::head_load_skip(c, s, a.data(), 0, 1);
        wg::head_last1(c, s, a.data(), c0, c1, sl.data(), c1 - c0, 0, 1);
      }
      for (int64_t i = 0; i < plan.head3; ++i) {
        const int64_t q0 = wg::share_begin(d.Q, i, plan.head3), q1 = wg::share_begin(d.Q, i + 1, plan.head3);
        const std::vector<W> sl = slice(c.last3, d.Q, q0, q1);
        wg::head_load_b(c, s, a.data(), 0, 1);
        wg::head_last3(c, s, a.data(), q0, q1, sl.data(), q1 - q0, 0, 1);
      }
    }
    draw_all(steps - 1);
    t += steps;
  }
};

template <class W>
void compare(const Model& m, WaveNetGenPrecision prec, int64_t sms, int64_t steps, double temperature) {
  HostKernel<W> gpu(m.w, m.N, prec, sms);
  INFO("head blocks " << gpu.plan.head1 << " + " << gpu.plan.head3);
  for (const cadenza::test::RunDiff& r : cadenza::test::against_cpu(m, prec, steps, temperature, gpu)) {
    INFO("a run of " << r.steps << " steps: worst logit difference " << r.worst << " (largest " << r.top << ")");
    REQUIRE(r.worst <= 1e-5 * std::max(1.0, r.top));
    REQUIRE(r.same_draws);
    if (temperature > 0) REQUIRE(r.changes > r.steps / 4);  // the draws vary: the comparison means something
  }
}

}  // namespace

TEST_CASE("wavenet_generate: the CUDA kernel's blocks, run on the host, give the CPU generator's logits and draws",
          "[kernels][wavenet_generate]") {
  // Odd sizes (pairs of rows end in a lone row under bf16), kernel 2 and 3,
  // dilations past the run's start, conditioning and gate biases.
  const std::vector<int64_t> dils = {1, 2, 4, 8, 1, 3, 9};
  SECTION("f32, kernel 2, plain") {
    Model m(7, 18, 37, 33, 2, 0, 3, dils, false, 1);
    compare<float>(m, WaveNetGenPrecision::f32, 132, 90, 1.0);
  }
  SECTION("f32, kernel 3, mel and class conditioning, one head block each (a small device)") {
    Model m(8, 12, 10, 32, 3, 5, 2, dils, true, 2);
    compare<float>(m, WaveNetGenPrecision::f32, static_cast<int64_t>(dils.size()) + 2, 90, 1.0);
  }
  SECTION("f32, greedy (temperature 0)") {
    Model m(6, 8, 16, 40, 2, 0, 2, dils, false, 3);
    compare<float>(m, WaveNetGenPrecision::f32, 132, 60, 0.0);
  }
  SECTION("f32 and bf16 at the W2 model's sizes (20 layers, 8 + 8 head blocks)") {
    std::vector<int64_t> w2;
    for (int i = 0; i < 20; ++i) w2.push_back(int64_t{1} << (i % 10));
    Model m(64, 128, 256, 256, 2, 0, 2, w2, false, 6);
    compare<float>(m, WaveNetGenPrecision::f32, 132, 60, 1.0);
    compare<uint32_t>(m, WaveNetGenPrecision::bf16, 132, 60, 1.0);
  }
  SECTION("bf16 weights") {
    Model m(7, 18, 37, 33, 3, 5, 5, dils, true, 4);
    compare<uint32_t>(m, WaveNetGenPrecision::bf16, 132, 90, 0.9);
  }
}

TEST_CASE("wavenet_generate: the launch plan", "[kernels][wavenet_generate]") {
  // W2 of DESIGN.md: 2 stacks x 10 layers, residual 64, gate 128, skip 256,
  // 256 classes, on an H100/H200 (132 SMs, 227 KB of shared memory a block).
  wg::Dims d;
  d.R = 64;
  d.G = 128;
  d.S = 256;
  d.Q = 256;
  d.K = 2;
  d.L = 20;
  for (int64_t N : {1, 8}) {
    d.N = N;
    d.bf16 = false;
    wg::Plan p = wg::plan(d, 132, 227 * 1024);
    REQUIRE(p.fits);
    REQUIRE(p.weights_in_smem);
    REQUIRE(p.head1 == 8);
    REQUIRE(p.head3 == 8);
    REQUIRE(p.blocks == 36);
    REQUIRE(p.weight_bytes == d.layer_words() * 4);  // a layer's weights are the largest block's
    REQUIRE(d.layer_words() == 2 * 64 * 128 + 64 * 320);
    REQUIRE(p.smem_bytes <= 227 * 1024);
    d.bf16 = true;
    wg::Plan h = wg::plan(d, 132, 227 * 1024);
    REQUIRE(h.weight_bytes == p.weight_bytes / 2);
  }
  // A vocoder's 80 mel channels still fit in f32 for one stream.
  d.N = 1;
  d.cin = 80;
  d.bf16 = false;
  REQUIRE(wg::plan(d, 132, 227 * 1024).weights_in_smem);
  // A device with fewer SMs than blocks: the head narrows to one block each.
  wg::Plan small = wg::plan(d, 22, 227 * 1024);
  REQUIRE(small.fits);
  REQUIRE(small.head1 == 1);
  REQUIRE(small.head3 == 1);
  REQUIRE_FALSE(wg::plan(d, 21, 227 * 1024).fits);
  // Weights past shared memory are read from global memory instead.
  wg::Plan tight = wg::plan(d, 132, 100 * 1024);
  REQUIRE(tight.fits);
  REQUIRE_FALSE(tight.weights_in_smem);
  REQUIRE(tight.smem_bytes == tight.scratch_floats * 4);
  // Scratch that cannot fit at all: too many streams.
  d.N = 4096;
  REQUIRE_FALSE(wg::plan(d, 132, 227 * 1024).fits);
}

TEST_CASE("wavenet_generate: first_max split over lanes gives first_max's index", "[kernels][wavenet_generate]") {
  std::mt19937 rng(11);
  const float nan = std::nanf(""), inf = std::numeric_limits<float>::infinity();
  // Few distinct values, so ties are everywhere; NaNs, infinities and both
  // zeros, at index 0 too.
  const std::vector<float> pool = {-1.f, 0.f, -0.f, 2.f, 2.f, 3.f, nan, inf, -inf, 0.5f};
  std::uniform_int_distribution<size_t> pick(0, pool.size() - 1);
  for (int trial = 0; trial < 3000; ++trial) {
    const int64_t Q = 1 + trial % 70;
    std::vector<float> row(static_cast<size_t>(Q));
    for (float& v : row) v = pool[pick(rng)];
    if (trial % 5 == 0) std::fill(row.begin(), row.end(), nan);
    const int64_t want = wg::first_max(row.data(), Q);
    for (int64_t lanes : {1, 7, 32}) {
      // Merged in the warp's shuffle order, and in lane order.
      std::vector<wg::MaxAt> part;
      for (int64_t lane = 0; lane < lanes; ++lane) part.push_back(wg::first_max_part(row.data(), Q, lane, lanes));
      std::vector<wg::MaxAt> tree = part;
      for (int64_t off = 16; off > 0; off /= 2)
        for (int64_t lane = 0; lane + off < lanes; ++lane) tree[lane] = wg::first_max_merge(tree[lane], tree[lane + off]);
      wg::MaxAt seq;
      for (const wg::MaxAt& m : part) seq = wg::first_max_merge(seq, m);
      INFO("trial " << trial << " Q " << Q << " lanes " << lanes);
      if (lanes <= 32 && lanes > 16) REQUIRE(wg::first_max_of(row.data(), tree[0]) == want);
      REQUIRE(wg::first_max_of(row.data(), seq) == want);
    }
  }
}
