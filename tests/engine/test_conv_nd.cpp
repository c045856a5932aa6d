// conv2d / conv3d, their transposes and batch_norm: the kernels against a
// plain double loop (including MusicGAN's kernel == stride cases), f64
// gradient checks of first and second order (a WGAN-GP critic differentiates
// its convolutions twice), torch.nn.functional goldens
// (make_conv_nd_golden.py), errors that name the op and the tensor, and the
// nn modules under PyTorch's names.
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "engine/checkpoint.h"
#include "engine/nn.h"
#include "engine/threading.h"
#include "gradcheck.h"
#include "kernels/conv_nd_math.h"
#include "kernels/cpu/conv_nd.h"

using namespace cadenza;
using cadenza::test::gradcheck;
using cadenza::test::gradgradcheck;
using cadenza::test::leaf;

namespace {

using Sizes = std::vector<int64_t>;

// The definition, one multiply-add at a time, in double.
struct Ref {
  kernels::ConvNdShape s;
  std::vector<double> x, w, b, g, y, dx, dw, db;

  int64_t xi(int64_t bb, int64_t c, const int64_t* p) const {
    return (((bb * s.Cin + c) * s.in[0] + p[0]) * s.in[1] + p[1]) * s.in[2] + p[2];
  }
  void run() {
    const int64_t L = s.out_volume(), K = s.kernel_volume();
    y.assign(s.B * s.Cout * L, 0.0);
    dx.assign(s.B * s.Cin * s.in_volume(), 0.0);
    dw.assign(s.Cout * s.Cin * K, 0.0);
    db.assign(s.Cout, 0.0);
    for (int64_t bb = 0; bb < s.B; ++bb)
      for (int64_t o = 0; o < s.Cout; ++o)
        for (int64_t l = 0; l < L; ++l) {
          const int64_t op[3] = {l / (s.out[1] * s.out[2]), (l / s.out[2]) % s.out[1],
                                 l % s.out[2]};
          const int64_t yi = (bb * s.Cout + o) * L + l;
          double acc = b.empty() ? 0.0 : b[o];
          db[o] += g[yi];
          for (int64_t c = 0; c < s.Cin; ++c)
            for (int64_t q = 0; q < K; ++q) {
              const int64_t kq[3] = {q / (s.k[1] * s.k[2]), (q / s.k[2]) % s.k[1], q % s.k[2]};
              int64_t ip[3];
              bool inside = true;
              for (int d = 0; d < 3; ++d) {
                ip[d] = op[d] * s.stride[d] - s.pad[d] + kq[d] * s.dilation[d];
                inside = inside && ip[d] >= 0 && ip[d] < s.in[d];
              }
              if (!inside) continue;
              const int64_t wi = (o * s.Cin + c) * K + q, i = xi(bb, c, ip);
              acc += w[wi] * x[i];
              dx[i] += w[wi] * g[yi];
              dw[wi] += g[yi] * x[i];
            }
          y[yi] = acc;
        }
  }
};

std::vector<double> randoms(int64_t n, Generator& g) {
  std::vector<double> v(static_cast<size_t>(n));
  for (auto& e : v) e = uniform_double(&g) * 2 - 1;
  return v;
}

template <class T>
void require_near(const std::vector<T>& got, const std::vector<double>& want, double tol,
                  const char* what) {
  // One sentinel past the end: nothing is written beyond the buffer.
  REQUIRE(got.size() == want.size() + 1);
  REQUIRE(got.back() == T(-7));
  for (size_t i = 0; i < want.size(); ++i) {
    INFO(what << " element " << i << ": " << got[i] << " vs " << want[i]);
    REQUIRE(std::fabs(got[i] - want[i]) <= tol * (1 + std::fabs(want[i])));
  }
}

template <class T>
void check_kernels(const Ref& r, double tol) {
  const auto& s = r.s;
  DType dt = sizeof(T) == 4 ? DType::f32 : DType::f64;
  auto cast = [](const std::vector<double>& v) { return std::vector<T>(v.begin(), v.end()); };
  auto x = cast(r.x), w = cast(r.w), b = cast(r.b), g = cast(r.g);
  std::vector<T> y(r.y.size() + 1, T(-7)), dx(r.dx.size() + 1, T(-7)), dw(r.dw.size() + 1, T(-7)),
      db(r.db.size() + 1, T(-7));
  kernels::conv_nd_forward(dt, s, x.data(), w.data(), r.b.empty() ? nullptr : b.data(), y.data());
  kernels::conv_nd_backward_input(dt, s, g.data(), w.data(), dx.data());
  kernels::conv_nd_backward_weight(dt, s, g.data(), x.data(), dw.data());
  kernels::conv_nd_backward_bias(dt, s, g.data(), db.data());
  require_near(y, r.y, tol, "forward");
  require_near(dx, r.dx, tol, "backward_input");
  require_near(dw, r.dw, tol, "backward_weight");
  require_near(db, r.db, tol, "backward_bias");
}

Ref random_ref(Generator& gen, int trial) {
  auto pick = [&](int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(uniform_double(&gen) * (hi - lo + 1));
  };
  Ref r;
  auto& s = r.s;
  s.B = pick(1, 3);
  s.Cin = pick(1, 7);
  s.Cout = pick(1, 21);        // either side of the panel GEMM's 16-row cut
  const int mode = trial % 4;  // 0: general, 1: kernel == stride, 2: 1x1x1, 3: 2-D (leading dim 1)
  for (int d = 0; d < 3; ++d) {
    if (mode == 3 && d == 0) {
      s.k[d] = s.stride[d] = s.dilation[d] = s.in[d] = 1;
      s.pad[d] = 0;
    } else if (mode == 1) {
      s.k[d] = pick(1, 4);
      s.stride[d] = s.k[d];
      s.dilation[d] = 1;
      s.pad[d] = 0;
      s.in[d] = s.k[d] * pick(1, 4) + pick(0, s.k[d] - 1);  // a remainder the windows skip
    } else if (mode == 2) {
      s.k[d] = s.stride[d] = s.dilation[d] = 1;
      s.pad[d] = 0;
      s.in[d] = pick(1, 9);
    } else {
      s.k[d] = pick(1, 3);
      s.stride[d] = pick(1, 3);
      s.dilation[d] = pick(1, 2);
      s.pad[d] = pick(0, 2);
      s.in[d] = pick(1, 9);
    }
  }
  for (int d = 0; d < 3; ++d) {
    const int64_t span = s.dilation[d] * (s.k[d] - 1) + 1, padded = s.in[d] + 2 * s.pad[d];
    if (padded < s.in[d] || padded < span) s.in[d] = span;  // keep the output non-empty
    s.out[d] = (s.in[d] + 2 * s.pad[d] - span) / s.stride[d] + 1;
  }
  r.x = randoms(s.B * s.Cin * s.in_volume(), gen);
  r.w = randoms(s.Cout * s.Cin * s.kernel_volume(), gen);
  if (trial % 3 != 0) r.b = randoms(s.Cout, gen);
  r.g = randoms(s.B * s.Cout * s.out_volume(), gen);
  r.run();
  return r;
}

}  // namespace

TEST_CASE("conv_nd: kernels equal a double loop on random shapes, f32 and f64, 1 and 2 threads",
          "[engine][conv_nd]") {
  const int threads_before = get_num_threads();
  Generator gen(21);
  for (int trial = 0; trial < 60; ++trial) {
    Ref r = random_ref(gen, trial);
    const auto& s = r.s;
    INFO("trial " << trial << " B=" << s.B << " Cin=" << s.Cin << " Cout=" << s.Cout
                  << " in=" << s.in[0] << "x" << s.in[1] << "x" << s.in[2] << " k=" << s.k[0] << "x"
                  << s.k[1] << "x" << s.k[2] << " stride=" << s.stride[0] << "," << s.stride[1]
                  << "," << s.stride[2] << " pad=" << s.pad[0] << "," << s.pad[1] << "," << s.pad[2]
                  << " dil=" << s.dilation[0] << "," << s.dilation[1] << "," << s.dilation[2]);
    set_num_threads(trial % 2 ? 1 : 2);
    check_kernels<double>(r, 1e-12);
    check_kernels<float>(r, 5e-5);
  }
  set_num_threads(threads_before);
}

// The CUDA kernels' algorithm (kernels/cuda/conv_nd.cu) run on the host with
// its index helpers: columns by conv_nd_column (vol2col), the three
// products, and the input gradient gathered by conv_nd_gather (col2vol).
TEST_CASE("conv_nd: the CUDA kernels' column helpers give the double loop's results", "[engine][conv_nd]") {
  Generator gen(23);
  for (int trial = 0; trial < 60; ++trial) {
    Ref r = random_ref(gen, trial);
    const auto& s = r.s;
    INFO("trial " << trial);
    const int64_t V = s.in_volume(), P = s.out_volume(), kvol = s.kernel_volume(), rows = s.Cin * kvol;
    bool unit = true;
    for (int d = 0; d < 3; ++d) unit = unit && s.k[d] == 1 && s.stride[d] == 1 && s.pad[d] == 0;
    REQUIRE(kmath::conv_nd_is_pointwise(s) == unit);
    if (trial % 4 == 2) REQUIRE(unit);
    auto coords = [](int64_t e, const int64_t (&n)[3], int64_t (&c)[3]) {
      c[2] = e % n[2];
      c[1] = e / n[2] % n[1];
      c[0] = e / (n[1] * n[2]);
    };
    std::vector<double> y(r.y.size()), dx(r.dx.size()), dw(r.dw.size(), 0.0);
    for (int64_t b = 0; b < s.B; ++b) {
      std::vector<double> col(rows * P, -1.0), gcol(rows * P, 0.0);
      for (int64_t c = 0; c < s.Cin; ++c)
        for (int64_t p = 0; p < P; ++p) {
          int64_t pd[3];
          coords(p, s.out, pd);
          kmath::conv_nd_column(s, pd, r.x.data() + (b * s.Cin + c) * V, col.data() + c * kvol * P + p, P);
        }
      for (int64_t o = 0; o < s.Cout; ++o)
        for (int64_t p = 0; p < P; ++p) {
          double acc = r.b.empty() ? 0.0 : r.b[o];
          const double go = r.g[(b * s.Cout + o) * P + p];
          for (int64_t row = 0; row < rows; ++row) {
            acc += r.w[o * rows + row] * col[row * P + p];
            gcol[row * P + p] += r.w[o * rows + row] * go;
            dw[o * rows + row] += go * col[row * P + p];
          }
          y[(b * s.Cout + o) * P + p] = acc;
        }
      for (int64_t c = 0; c < s.Cin; ++c)
        for (int64_t i = 0; i < V; ++i) {
          int64_t id[3];
          coords(i, s.in, id);
          dx[(b * s.Cin + c) * V + i] = kmath::conv_nd_gather(s, id, gcol.data() + c * kvol * P, P);
        }
    }
    auto near = [](const std::vector<double>& got, const std::vector<double>& want, const char* what) {
      REQUIRE(got.size() == want.size());
      for (size_t i = 0; i < want.size(); ++i) {
        INFO(what << " element " << i);
        REQUIRE(std::fabs(got[i] - want[i]) <= 1e-12 * (1 + std::fabs(want[i])));
      }
    };
    near(y, r.y, "forward");
    near(dx, r.dx, "backward_input");
    near(dw, r.dw, "backward_weight");
  }
}

TEST_CASE("conv_nd: several column blocks per sample and the output-padded transpose",
          "[engine][conv_nd]") {
  const int threads_before = get_num_threads();
  Generator gen(5);
  // Cin * kvol * output columns is above the kernel's block budget, so a
  // sample is cut into blocks (overlapping windows: the input gradient adds
  // blocks on one thread). Cout is 2 to keep the double loop short.
  Ref r;
  r.s = kernels::ConvNdShape{2,         16,        2,         {14, 14, 14}, {14, 14, 14},
                             {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}};
  r.x = randoms(r.s.B * r.s.Cin * r.s.in_volume(), gen);
  r.w = randoms(r.s.Cout * r.s.Cin * r.s.kernel_volume(), gen);
  r.b = randoms(r.s.Cout, gen);
  r.g = randoms(r.s.B * r.s.Cout * r.s.out_volume(), gen);
  r.run();
  // The same with kernel == stride (disjoint windows: blocks spread over threads).
  Ref p;
  p.s = kernels::ConvNdShape{3,          40,         2,         {4, 48, 96}, {4, 16, 8},
                             {1, 3, 12}, {1, 3, 12}, {0, 0, 0}, {1, 1, 1}};
  p.x = randoms(p.s.B * p.s.Cin * p.s.in_volume(), gen);
  p.w = randoms(p.s.Cout * p.s.Cin * p.s.kernel_volume(), gen);
  p.g = randoms(p.s.B * p.s.Cout * p.s.out_volume(), gen);
  p.run();
  // A 1x1x1 kernel whose output is one larger than its input (a transposed
  // convolution with output_padding 1 < dilation 2): not the identity case.
  Ref q;
  q.s = kernels::ConvNdShape{2,         3,         4,         {1, 3, 4}, {1, 3, 5},
                             {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, {1, 1, 2}};
  q.x = randoms(q.s.B * q.s.Cin * q.s.in_volume(), gen);
  q.w = randoms(q.s.Cout * q.s.Cin, gen);
  q.g = randoms(q.s.B * q.s.Cout * q.s.out_volume(), gen);
  q.run();
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    for (const Ref* c : {&r, &p, &q}) {
      check_kernels<double>(*c, 1e-11);
      check_kernels<float>(*c, 1e-4);
    }
  }
  set_num_threads(threads_before);
}

TEST_CASE("conv_nd: f64 gradient checks of conv2d and conv3d", "[engine][conv_nd][grad]") {
  struct Case {
    Sizes stride, pad, dil;
    bool bias;
  };
  for (Case c : {Case{{1, 1}, {0, 0}, {1, 1}, true}, Case{{2, 3}, {1, 0}, {1, 2}, true},
                 Case{{3, 2}, {2, 1}, {2, 1}, false}}) {
    DYNAMIC_SECTION("conv2d stride " << c.stride[0] << "," << c.stride[1] << " pad " << c.pad[0]
                                     << "," << c.pad[1] << " dil " << c.dil[0] << "," << c.dil[1]) {
      Tensor x = leaf({2, 3, 7, 11}, -1, 1, 1), w = leaf({5, 3, 3, 2}, -1, 1, 2);
      Tensor b = c.bias ? leaf({5}, -1, 1, 3) : Tensor();
      const std::vector<Tensor> in =
          c.bias ? std::vector<Tensor>{x, w, b} : std::vector<Tensor>{x, w};
      gradcheck(
          [&](const std::vector<Tensor>& v) {
            return conv2d(v[0], v[1], v.size() > 2 ? v[2] : Tensor(), c.stride, c.pad, c.dil);
          },
          in);
    }
  }
  for (Case c :
       {Case{{1, 1, 1}, {0, 0, 0}, {1, 1, 1}, true}, Case{{1, 2, 3}, {1, 0, 2}, {2, 1, 1}, true},
        Case{{2, 1, 2}, {0, 1, 0}, {1, 2, 1}, false}}) {
    DYNAMIC_SECTION("conv3d stride " << c.stride[0] << "," << c.stride[1] << "," << c.stride[2]) {
      Tensor x = leaf({2, 3, 5, 7, 5}, -1, 1, 4), w = leaf({3, 3, 2, 3, 2}, -1, 1, 5);
      Tensor b = c.bias ? leaf({3}, -1, 1, 6) : Tensor();
      const std::vector<Tensor> in =
          c.bias ? std::vector<Tensor>{x, w, b} : std::vector<Tensor>{x, w};
      gradcheck(
          [&](const std::vector<Tensor>& v) {
            return conv3d(v[0], v[1], v.size() > 2 ? v[2] : Tensor(), c.stride, c.pad, c.dil);
          },
          in);
    }
  }
  SECTION("conv3d, kernel == stride (the MusicGAN pitch and step convolutions)") {
    Tensor x = leaf({2, 3, 1, 6, 13}, -1, 1, 7), w = leaf({5, 3, 1, 3, 4}, -1, 1, 8),
           b = leaf({5}, -1, 1, 9);
    gradcheck(
        [](const std::vector<Tensor>& v) {
          return conv3d(v[0], v[1], v[2], {1, 3, 4});
        },
        {x, w, b});
  }
}

TEST_CASE("conv_nd: f64 gradient checks of conv_transpose2d and conv_transpose3d",
          "[engine][conv_nd][grad]") {
  SECTION("conv_transpose2d, stride 2 and 3, output_padding, dilation") {
    Tensor x = leaf({2, 5, 4, 3}, -1, 1, 1), w = leaf({5, 3, 3, 2}, -1, 1, 2),
           b = leaf({3}, -1, 1, 3);
    gradcheck(
        [](const std::vector<Tensor>& v) {
          return conv_transpose2d(v[0], v[1], v[2], {2, 3}, {1, 0}, {1, 2});
        },
        {x, w, b});
    gradcheck(
        [](const std::vector<Tensor>& v) {
          return conv_transpose2d(v[0], v[1], Tensor(), {1, 1}, {1, 1}, {0, 1}, {2, 2});
        },
        {x, w});
  }
  SECTION("conv_transpose3d, odd sizes") {
    Tensor x = leaf({2, 3, 3, 5, 2}, -1, 1, 4), w = leaf({3, 7, 2, 2, 3}, -1, 1, 5),
           b = leaf({7}, -1, 1, 6);
    gradcheck(
        [](const std::vector<Tensor>& v) {
          return conv_transpose3d(v[0], v[1], v[2], {2, 1, 3}, {0, 1, 1}, {1, 0, 2}, {1, 2, 1});
        },
        {x, w, b});
  }
  SECTION("conv_transpose3d, kernel == stride (MusicGAN's generator)") {
    Tensor x = leaf({2, 5, 1, 2, 3}, -1, 1, 7), w = leaf({5, 3, 1, 3, 4}, -1, 1, 8),
           b = leaf({3}, -1, 1, 9);
    gradcheck(
        [](const std::vector<Tensor>& v) {
          return conv_transpose3d(v[0], v[1], v[2], {1, 3, 4});
        },
        {x, w, b});
  }
}

TEST_CASE("conv_nd: second-order gradient checks (the critic path)", "[engine][conv_nd][grad]") {
  SECTION("conv2d with stride and padding") {
    Tensor x = leaf({1, 2, 7, 5}, -1, 1, 1), w = leaf({3, 2, 3, 2}, -1, 1, 2),
           b = leaf({3}, -1, 1, 3);
    gradgradcheck(
        [](const std::vector<Tensor>& v) {
          return tanh(conv2d(v[0], v[1], v[2], {2, 1}, {1, 1}));
        },
        {x, w, b});
  }
  SECTION("conv3d with stride, padding and dilation") {
    Tensor x = leaf({2, 2, 3, 5, 7}, -1, 1, 4), w = leaf({3, 2, 2, 2, 3}, -1, 1, 5),
           b = leaf({3}, -1, 1, 6);
    gradgradcheck(
        [](const std::vector<Tensor>& v) {
          return tanh(conv3d(v[0], v[1], v[2], {1, 2, 2}, {0, 1, 1}, {1, 1, 2}));
        },
        {x, w, b});
  }
  SECTION("conv_transpose3d") {
    Tensor x = leaf({1, 3, 2, 3, 2}, -1, 1, 7), w = leaf({3, 2, 1, 2, 3}, -1, 1, 8),
           b = leaf({2}, -1, 1, 9);
    gradgradcheck(
        [](const std::vector<Tensor>& v) {
          return tanh(conv_transpose3d(v[0], v[1], v[2], {1, 2, 2}, {0, 0, 1}, {0, 1, 0}));
        },
        {x, w, b});
  }
  SECTION("critic: conv3d -> leaky_relu -> flatten -> linear -> sum") {
    Tensor x = leaf({2, 2, 2, 4, 6}, -1, 1, 10), w = leaf({3, 2, 1, 2, 3}, -1, 1, 11),
           b = leaf({3}, -1, 1, 12);
    Tensor lw = leaf({1, 3 * 2 * 2 * 2}, -1, 1, 13);
    gradgradcheck(
        [](const std::vector<Tensor>& v) {
          Tensor h = leaky_relu(conv3d(v[0], v[1], v[2], {1, 2, 3}), 0.2);
          return sum(linear(flatten(h, 1), v[3]));
        },
        {x, w, b, lw});
  }
}

TEST_CASE("conv_nd: the WGAN-GP penalty's gradient w.r.t. the critic's weights",
          "[engine][conv_nd][grad]") {
  // L = sum_b (||d critic(x)/d x_b|| - 1)^2 differentiated w.r.t. the
  // weights: a gradient of a gradient through conv3d, compared with central
  // differences of L itself.
  Tensor x = leaf({2, 2, 2, 4, 6}, -1, 1, 20);
  Tensor w = leaf({3, 2, 1, 2, 3}, -1, 1, 21), b = leaf({3}, -1, 1, 22),
         lw = leaf({1, 24}, -1, 1, 23);
  Tensor w2 = leaf({3, 3, 2, 1, 1}, -1, 1, 24);
  auto penalty = [&](bool create) {
    Tensor h = leaky_relu(conv3d(x, w, b, {1, 2, 3}), 0.2);
    h = leaky_relu(conv3d(h, w2, Tensor(), {1, 1, 1}, {1, 0, 0}), 0.2);  // [2, 3, 3, 2, 2]
    Tensor d = sum(linear(flatten(narrow(h, 2, 0, 2), 1), lw));
    Tensor gx = grad({d}, {x}, {}, create, create)[0];
    Tensor norm = sqrt(sum(mul(gx, gx), {1, 2, 3, 4}));
    return sum(pow(norm - 1.0, 2.0));
  };
  std::vector<Tensor> params{w, b, lw, w2};
  auto analytic = grad({penalty(true)}, params, {}, false, false, true);
  const double eps = 1e-6;
  // The critic is piecewise linear in x, so its input gradient does not
  // depend on the first bias (it only moves the kinks): zero gradient there.
  REQUIRE(analytic[0].defined());
  REQUIRE(analytic[2].defined());
  REQUIRE(analytic[3].defined());
  for (size_t i = 0; i < params.size(); ++i) {
    auto ga = analytic[i].defined() ? analytic[i].to_vector<double>()
                                    : std::vector<double>(params[i].numel(), 0.0);
    double* p = params[i].data<double>();
    for (int64_t j = 0; j < params[i].numel(); ++j) {
      const double orig = p[j];
      p[j] = orig + eps;
      const double lp = penalty(false).item();
      p[j] = orig - eps;
      const double lm = penalty(false).item();
      p[j] = orig;
      cadenza::test::check_close(
          ga[j], (lp - lm) / (2 * eps), 1e-5,
          "parameter " + std::to_string(i) + " element " + std::to_string(j));
    }
  }
}

TEST_CASE("conv_nd: batch_norm gradients in training and eval", "[engine][conv_nd][grad]") {
  Tensor x = leaf({3, 2, 5}, -2, 2, 1), w = leaf({2}, 0.5, 1.5, 2), b = leaf({2}, -1, 1, 3);
  SECTION("training (batch statistics)") {
    gradcheck(
        [](const std::vector<Tensor>& v) {
          return batch_norm(v[0], Tensor(), Tensor(), v[1], v[2], true);
        },
        {x, w, b});
    gradgradcheck(
        [](const std::vector<Tensor>& v) {
          return batch_norm(v[0], Tensor(), Tensor(), v[1], v[2], true);
        },
        {x, w, b});
  }
  SECTION("eval (running statistics)") {
    Tensor rm = Tensor::from_vector(std::vector<double>{0.3, -0.2}, {2});
    Tensor rv = Tensor::from_vector(std::vector<double>{0.7, 1.9}, {2});
    gradcheck(
        [&](const std::vector<Tensor>& v) { return batch_norm(v[0], rm, rv, v[1], v[2], false); },
        {x, w, b});
  }
}

TEST_CASE("conv_nd: matches torch.nn.functional within 1e-5", "[engine][conv_nd][golden]") {
  auto f = load_safetensors(std::string(CADENZA_SOURCE_DIR) + "/tests/golden/conv_nd.safetensors");
  auto close = [](const Tensor& got, const Tensor& want, const std::string& what) {
    INFO(what << ": " << got.str() << " vs " << want.str());
    REQUIRE(got.shape() == want.shape());
    auto g = got.to_vector<double>(), e = want.to_vector<double>();
    const double tol = want.dtype() == DType::f64 ? 1e-12 : 1e-5;
    for (size_t i = 0; i < g.size(); ++i) {
      INFO("element " << i << ": " << g[i] << " vs " << e[i]);
      REQUIRE(std::fabs(g[i] - e[i]) <= tol * (1 + std::fabs(e[i])));
    }
  };
  for (const char* name : {"conv2d_odd", "conv3d_odd", "conv3d_octave", "conv3d_beat", "conv3d_f64",
                           "convt2d_odd", "convt3d_odd", "convt3d_octave", "convt3d_step"}) {
    DYNAMIC_SECTION(name) {
      const std::string p = std::string(name) + ".";
      Tensor x = f.at(p + "x"), w = f.at(p + "weight");
      Tensor b = f.contains(p + "bias") ? f.at(p + "bias") : Tensor();
      x.requires_grad_(true);
      w.requires_grad_(true);
      if (b.defined()) b.requires_grad_(true);
      auto stride = f.at(p + "stride").to_vector<int64_t>(),
           pad = f.at(p + "padding").to_vector<int64_t>();
      auto opad = f.at(p + "output_padding").to_vector<int64_t>(),
           dil = f.at(p + "dilation").to_vector<int64_t>();
      const bool transposed = std::string(name).rfind("convt", 0) == 0;
      Tensor y;
      if (x.dim() == 4)
        y = transposed ? conv_transpose2d(x, w, b, stride, pad, opad, dil)
                       : conv2d(x, w, b, stride, pad, dil);
      else
        y = transposed ? conv_transpose3d(x, w, b, stride, pad, opad, dil)
                       : conv3d(x, w, b, stride, pad, dil);
      close(y, f.at(p + "y"), p + "y");
      sum(mul(y, f.at(p + "gy"))).backward();
      close(x.grad(), f.at(p + "dx"), p + "dx");
      close(w.grad(), f.at(p + "dweight"), p + "dweight");
      if (b.defined()) close(b.grad(), f.at(p + "dbias"), p + "dbias");
    }
  }
  SECTION("batch_norm: training output, gradients, running stats, then eval") {
    const std::string p = "batch_norm.";
    Tensor x = f.at(p + "x"), w = f.at(p + "weight"), b = f.at(p + "bias");
    Tensor rm = f.at(p + "running_mean0").clone(), rv = f.at(p + "running_var0").clone();
    for (Tensor* t : {&x, &w, &b}) t->requires_grad_(true);
    Tensor y = batch_norm(x, rm, rv, w, b, true, 0.2, 1e-4);
    close(y, f.at(p + "y"), "batch_norm y");
    close(rm, f.at(p + "running_mean"), "running_mean");
    close(rv, f.at(p + "running_var"), "running_var");
    sum(mul(y, f.at(p + "gy"))).backward();
    close(x.grad(), f.at(p + "dx"), "batch_norm dx");
    close(w.grad(), f.at(p + "dweight"), "batch_norm dweight");
    close(b.grad(), f.at(p + "dbias"), "batch_norm dbias");
    close(batch_norm(x, rm, rv, w, b, false, 0.2, 1e-4), f.at(p + "y_eval"), "batch_norm eval");
  }
}

TEST_CASE("conv_nd: bad inputs name the op and the tensor", "[engine][conv_nd][errors]") {
  Tensor x3 = randn({2, 3, 4, 5, 6}), w3 = randn({4, 3, 1, 2, 3});
  REQUIRE_THROWS_WITH(conv3d(randn({3, 4, 5, 6}), w3),
                      Catch::Contains("conv3d: input must be [B, C, D, H, W], got"));
  REQUIRE_THROWS_WITH(conv3d(x3, randn({4, 3, 2, 3})),
                      Catch::Contains("conv3d: weight must be [Cout, Cin, kD, kH, kW]"));
  REQUIRE_THROWS_WITH(conv2d(randn({2, 3, 4}), randn({4, 3, 2, 2})),
                      Catch::Contains("conv2d: input must be"));
  REQUIRE_THROWS_WITH(conv3d(x3, randn({4, 5, 1, 2, 3})),
                      Catch::Contains("conv3d: weight f32[4, 5, 1, 2, 3] does not fit input"));
  REQUIRE_THROWS_WITH(conv3d(x3, w3, randn({5})),
                      Catch::Contains("conv3d: bias f32[5] should be [4]"));
  REQUIRE_THROWS_WITH(conv3d(x3, randn({4, 3, 5, 1, 1})),
                      Catch::Contains("conv3d: input f32[2, 3, 4, 5, 6] is too small for kernel"));
  REQUIRE_THROWS_WITH(
      conv2d(randn({1, 1, 3, 3}), randn({1, 1, 2, 2}), Tensor(), {1, 1}, {0, 0}, {3, 1}),
      Catch::Contains("too small"));
  REQUIRE_THROWS_WITH(conv3d(x3, w3, Tensor(), {1, 1}),
                      Catch::Contains("conv3d: stride must have 3 values, got 2"));
  REQUIRE_THROWS_WITH(conv3d(x3, w3, Tensor(), {1, 0, 1}),
                      Catch::Contains("conv3d: stride must be >= 1"));
  REQUIRE_THROWS_WITH(conv3d(x3, w3, Tensor(), {1, 1, 1}, {0, -1, 0}),
                      Catch::Contains("conv3d: padding must be >= 0"));
  REQUIRE_THROWS_WITH(conv3d(x3, w3, Tensor(), {1, 1, 1}, {0, 0, 0}, {1, 0, 1}),
                      Catch::Contains("conv3d: dilation must be >= 1"));
  Tensor wt = randn({3, 4, 1, 1, 12});
  REQUIRE_THROWS_WITH(
      conv_transpose3d(randn({2, 5, 4, 16, 7}), wt),
      Catch::Contains("conv_transpose3d: weight f32[3, 4, 1, 1, 12] does not fit input"));
  REQUIRE_THROWS_WITH(
      conv_transpose3d(randn({2, 3, 4, 16, 7}), wt, Tensor(), {1, 1, 12}, {0, 0, 0}, {0, 0, 12}),
      Catch::Contains(
          "conv_transpose3d: output_padding (0, 0, 12) must be smaller than either stride"));
  REQUIRE_THROWS_WITH(conv_transpose2d(randn({2, 3, 4}), randn({3, 4, 2, 2})),
                      Catch::Contains("conv_transpose2d: input must be"));
  REQUIRE_THROWS_WITH(
      conv_transpose2d(randn({1, 3, 1, 1}), randn({3, 4, 1, 1}), Tensor(), {1, 1}, {1, 1}),
      Catch::Contains("conv_transpose2d: input f32[1, 3, 1, 1] with kernel"));
  REQUIRE_THROWS_WITH(batch_norm(randn({4}), Tensor(), Tensor(), Tensor(), Tensor(), true),
                      Catch::Contains("batch_norm: input must be [B, C, ...]"));
  REQUIRE_THROWS_WITH(batch_norm(randn({1, 3}), Tensor(), Tensor(), Tensor(), Tensor(), true),
                      Catch::Contains("more than one value per channel"));
  REQUIRE_THROWS_WITH(batch_norm(randn({2, 3}), Tensor(), Tensor(), randn({4}), Tensor(), true),
                      Catch::Contains("batch_norm: weight f32[4] should be [3]"));
}

TEST_CASE("conv_nd: modules have PyTorch's names, shapes and init bounds",
          "[engine][conv_nd][nn]") {
  nn::Conv3d c(3, 8, {1, 4, 3}, {1, 4, 2});
  auto names = c.named_parameters();
  REQUIRE(names.size() == 2);
  REQUIRE(names[0].first == "weight");
  REQUIRE(names[0].second.shape() == Shape{8, 3, 1, 4, 3});
  REQUIRE(names[1].first == "bias");
  REQUIRE(names[1].second.shape() == Shape{8});
  for (float v : c.weight.to_vector<float>()) REQUIRE(std::fabs(v) <= 1.0 / std::sqrt(36.0));
  REQUIRE(c(randn({2, 3, 4, 16, 84})).shape() == Shape{2, 8, 4, 4, 41});
  nn::ConvTranspose3d t(6, 4, {1, 1, 12}, {1, 1, 12});
  REQUIRE(t.weight.shape() == Shape{6, 4, 1, 1, 12});
  // PyTorch's fan_in for a transposed weight is its dim 1 times the kernel.
  for (float v : t.bias.to_vector<float>()) REQUIRE(std::fabs(v) <= 1.0 / std::sqrt(48.0));
  REQUIRE(t(randn({2, 6, 4, 16, 7})).shape() == Shape{2, 4, 4, 16, 84});
  nn::Conv2d c2(2, 3, {3, 3}, {2, 2}, {1, 1}, {1, 1}, false);
  REQUIRE(c2.named_parameters().size() == 1);
  REQUIRE(c2(randn({1, 2, 9, 8})).shape() == Shape{1, 3, 5, 4});
  nn::ConvTranspose2d t2(2, 3, {3, 3}, {2, 2}, {1, 1}, {1, 0});
  REQUIRE(t2(randn({1, 2, 5, 4})).shape() == Shape{1, 3, 10, 7});
  REQUIRE_THROWS_WITH(nn::Conv3d(3, 8, {1, 4}), Catch::Contains("Conv3d"));
}

TEST_CASE("conv_nd: BatchNorm tracks running statistics and switches to them in eval",
          "[engine][conv_nd][nn]") {
  nn::BatchNorm bn(3);
  auto sd = bn.state_dict();
  REQUIRE(sd.size() == 5);
  const char* want[] = {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"};
  for (size_t i = 0; i < 5; ++i) REQUIRE(sd[i].first == want[i]);
  REQUIRE(bn.named_parameters().size() == 2);
  REQUIRE(bn.num_batches_tracked.dtype() == DType::i64);
  Generator g(3);
  Tensor x = randn({4, 3, 2, 5}, DType::f32, &g) * 2.0 + 1.0;
  Tensor y = bn(x);
  REQUIRE(bn.num_batches_tracked.to_vector<int64_t>()[0] == 1);
  // Per channel: zero mean, unit (biased) variance; running stats moved 10%.
  auto m = mean(y, {0, 2, 3}).to_vector<float>();
  auto v = var(y, {0, 2, 3}, false).to_vector<float>();
  auto xm = mean(x, {0, 2, 3}).to_vector<float>(), xv = var(x, {0, 2, 3}, true).to_vector<float>();
  auto rm = bn.running_mean.to_vector<float>(), rv = bn.running_var.to_vector<float>();
  for (int c = 0; c < 3; ++c) {
    REQUIRE(std::fabs(m[c]) < 1e-5);
    REQUIRE(std::fabs(v[c] - 1) < 1e-3);
    REQUIRE(std::fabs(rm[c] - 0.1f * xm[c]) < 1e-5);
    REQUIRE(std::fabs(rv[c] - (0.9f + 0.1f * xv[c])) < 1e-5);
  }
  bn.eval();
  Tensor ye = bn(x);
  REQUIRE(bn.num_batches_tracked.to_vector<int64_t>()[0] == 1);
  auto a = ye.to_vector<float>(), xs = x.to_vector<float>();
  for (size_t i = 0; i < a.size(); ++i) {
    const int64_t c = (static_cast<int64_t>(i) / 10) % 3;
    REQUIRE(std::fabs(a[i] - (xs[i] - rm[c]) / std::sqrt(rv[c] + 1e-5f)) < 1e-4);
  }
  nn::BatchNorm plain(3, 1e-5, 0.1, false, false);
  REQUIRE(plain.state_dict().empty());
  plain.eval();
  auto mp = mean(plain(x), {0, 2, 3}).to_vector<float>();
  for (float e : mp) REQUIRE(std::fabs(e) < 1e-5);
}
