// The seam between front ends and kernels (engine/backend.h): one table of
// op cases runs every kernel entry on every backend this process has,
// against the CPU (atol + |ref| * eps), with odd shapes (5, 7, 11, 13),
// size-1 dims, non-contiguous views and each dtype an entry takes, with 64
// guard bytes after every host buffer (CADENZA_GUARD_BYTES in ctest). On a
// machine without a GPU only the CPU backend runs: there each case also
// runs on contiguous copies of its inputs, which must give the same values,
// and the errors of a missing kernel, a missing dtype and a missing device
// are checked.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <functional>
#include <set>

#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/ops.h"
#include "engine/ops_util.h"
#include "engine/optim.h"
#include "engine/random.h"
#include "engine/rnn.h"
#include "kernels/elementwise_math.h"
#include "kernels/strided_layout.h"

using namespace cadenza;
using backend::KernelId;

namespace {

// Inputs of a case, made on the CPU; `strided` asks for non-contiguous views
// of the same values.
using Inputs = std::vector<Tensor>;
struct OpCase {
  std::string name;
  std::vector<KernelId> kernels;  // the entries the case runs
  std::vector<DType> dtypes;
  std::function<Inputs(DType, bool strided)> make;
  // Runs on tensors of one device; returns the outputs to compare.
  std::function<std::vector<Tensor>(const Inputs&)> run;
  double eps = 1e-5;  // f32; f64 uses 1e-12
};

// A [rows, cols] tensor of values from `seed`; strided: the transpose of a
// [cols, rows] tensor, or a narrowed slice, holding the same values.
Tensor matrix(int64_t rows, int64_t cols, DType dt, uint64_t seed, bool strided) {
  Generator g(seed);
  Tensor base = randn({rows, cols}, DType::f64, &g);
  if (dt == DType::i32 || dt == DType::i64) base = mul(base, Tensor::scalar(5.0, DType::f64));  // truncated below
  base = base.to(dt);
  if (!strided) return base;
  Tensor t = base.transpose(0, 1).contiguous().transpose(0, 1);  // column-major storage
  REQUIRE((!t.is_contiguous() || rows == 1 || cols == 1));
  return t;
}

Tensor volume(const Shape& shape, DType dt, uint64_t seed, bool strided) {
  Generator g(seed);
  Tensor t = randn(shape, dt, &g);
  if (!strided) return t;
  Shape big = shape;
  big.back() += 3;  // strided: the same values in a narrowed view of a wider tensor
  Tensor wide = Tensor::full(big, -7.0, dt);
  Tensor view = wide.narrow(static_cast<int64_t>(shape.size()) - 1, 1, shape.back());
  view.copy_(t);
  return view;
}

Tensor leaf(Tensor t) {
  t = t.detach();
  t.requires_grad_(true);
  return t;
}

std::vector<Tensor> grads_of(const Tensor& out, const Inputs& xs) {
  Tensor loss = sum(mul(out, out));
  loss.backward();
  std::vector<Tensor> r = {out};
  for (const Tensor& x : xs)
    if (x.requires_grad()) r.push_back(x.grad());
  return r;
}

std::vector<OpCase> op_cases() {
  std::vector<OpCase> c;
  const std::vector<DType> F = {DType::f32, DType::f64};
  const std::vector<DType> ALL = {DType::f32, DType::f64, DType::i32, DType::i64};
  c.push_back({"add/sub/mul broadcast, size-1 dims",
               {KernelId::binary_forward},
               ALL,
               [](DType dt, bool s) {
                 return Inputs{matrix(7, 13, dt, 1, s), matrix(1, 13, dt, 2, s), matrix(7, 1, dt, 3, s)};
               },
               [](const Inputs& x) { return std::vector<Tensor>{mul(sub(add(x[0], x[1]), x[2]), x[1])}; }});
  c.push_back({"unary: neg, abs, exp",
               {KernelId::unary_forward},
               F,
               [](DType dt, bool s) { return Inputs{matrix(5, 11, dt, 4, s)}; },
               [](const Inputs& x) { return std::vector<Tensor>{neg(x[0]), abs(x[0]), exp(x[0])}; }});
  c.push_back({"copy_cast: contiguous, to(dtype); fill",
               {KernelId::copy_cast, KernelId::fill},
               ALL,
               [](DType dt, bool s) { return Inputs{matrix(11, 5, dt, 5, s)}; },
               [](const Inputs& x) {
                 Tensor f = Tensor::full({5, 7}, 2.5, DType::f64, x[0].device());
                 return std::vector<Tensor>{contiguous(x[0]), x[0].to(DType::f64), f};
               }});
  c.push_back({"where",
               {KernelId::where_forward, KernelId::binary_forward},
               F,
               [](DType dt, bool s) { return Inputs{matrix(7, 5, dt, 6, s), matrix(7, 5, dt, 7, s)}; },
               [](const Inputs& x) {
                 Tensor cond = gt(x[0], x[1]);
                 return std::vector<Tensor>{where(cond, x[0], x[1])};
               }});
  // The CUDA elementwise family's launch paths: 16-byte packs (with a
  // tail of n % 4, a broadcast scalar operand, casts between 4- and 8-byte
  // types), a contiguous run that is not 16-byte aligned, a 1-d stride, and
  // transposes (the FastDiv multi-index); the 64-bit path runs them all
  // again under CADENZA_CUDA_INDEX64=1 (tests/cuda_emu).
  c.push_back({"elementwise layouts: packs with a tail, a broadcast scalar, an unaligned run, a 1-d stride",
               {KernelId::binary_forward, KernelId::unary_forward, KernelId::copy_cast, KernelId::where_forward},
               F,
               [](DType dt, bool s) {
                 return Inputs{volume({4099}, dt, 51, s), volume({4099}, dt, 52, s), matrix(2051, 2, dt, 53, s)};
               },
               [](const Inputs& x) {
                 const Tensor &a = x[0], &b = x[1];
                 const DType other = a.dtype() == DType::f32 ? DType::f64 : DType::f32;
                 Tensor a1 = a.narrow(0, 1, 4097), b2 = b.narrow(0, 2, 4097);
                 Tensor col = x[2].narrow(1, 1, 1);  // [2051, 1], stride 2
                 return std::vector<Tensor>{add(a, b),
                                            mul(a, Tensor::scalar(1.5, a.dtype())),
                                            sub(Tensor::scalar(0.25, a.dtype()), b),
                                            neg(a1),
                                            add(a1, b2),
                                            exp(col),
                                            a.to(other),
                                            a1.to(other).to(a.dtype()),
                                            where(gt(a, b), a, b),
                                            contiguous(x[2].transpose(0, 1))};
               }});
  // Copies of transposes (CUDA: 32 x 32 tiles through shared memory), with
  // tails on both sides of a tile, other dims around the transposed pair,
  // a cast on the way, and a source broadcast along the last dim.
  c.push_back({"copies of transposed views, with casts, other dims and a broadcast",
               {KernelId::copy_cast},
               ALL,
               [](DType dt, bool s) { return Inputs{matrix(3 * 37, 45, dt, 61, s), matrix(70, 33, dt, 62, s)}; },
               [](const Inputs& x) {
                 const DType other = x[0].dtype() == DType::f32 ? DType::f64 : DType::f32;
                 Tensor v = x[0].reshape({3, 37, 45});
                 return std::vector<Tensor>{contiguous(v.transpose(1, 2)),
                                            contiguous(v.transpose(0, 2)),
                                            v.transpose(1, 2).to(other),
                                            contiguous(v.permute({2, 0, 1})),
                                            contiguous(x[1].transpose(0, 1)),
                                            contiguous(x[1].narrow(1, 2, 1).expand({70, 40})),
                                            contiguous(x[1].transpose(0, 1).narrow(0, 3, 29))};
               }});
  c.push_back({"reductions: sum, max, argmax over dims",
               {KernelId::reduce_forward},
               ALL,
               [](DType dt, bool s) { return Inputs{matrix(13, 7, dt, 8, s)}; },
               [](const Inputs& x) {
                 return std::vector<Tensor>{sum(x[0], {0}), sum(x[0], {1}, true), max(x[0], {1}), argmax(x[0], 0)};
               }});
  // Long and leading dims. On CUDA: column tiles (37 outputs in two tiles
  // of 32; 300 rows cut into ranges, as the emulator has 132
  // multiprocessors; fewer rows than row groups) and warps per output with
  // the rows cut into ranges (whole-tensor reductions; inner 3). With ties
  // (the integers), and NaNs that must win at their first row whether or
  // not the rows fall in one range.
  c.push_back({"reductions over long and leading dims: sum, max, argmax, argmin with ties and NaNs",
               {KernelId::reduce_forward},
               ALL,
               [](DType dt, bool s) {
                 Tensor a = matrix(300, 37, dt, 21, s), b = matrix(15, 19, dt, 22, s);
                 if (dt == DType::f32 || dt == DType::f64) {
                   for (auto [row, col] : {std::pair{100, 5}, {250, 5}, {20, 6}, {10, 6}, {299, 36}})
                     a.narrow(0, row, 1).narrow(1, col, 1).fill_(std::nan(""));
                   b.narrow(0, 7, 1).narrow(1, 18, 1).fill_(std::nan(""));
                 }
                 return Inputs{a, b};
               },
               [](const Inputs& x) {
                 Tensor b3 = x[1].reshape({3, 5, 19}), flat = x[0].reshape({-1}), a3 = x[0].reshape({2, 1850, 3});
                 return std::vector<Tensor>{sum(x[0], {0}),    max(x[0], {0}),      argmax(x[0], 0),
                                            argmin(x[0], 0),   sum(b3, {1}),        max(b3, {1}, true),
                                            argmax(b3, 1),     argmin(b3, 1, true), sum(x[0].narrow(0, 3, 70), {0}),
                                            sum(x[0]),         max(x[0]),           argmax(flat, 0),
                                            argmin(flat, 0),   sum(a3, {1}),        argmin(a3, 1),
                                            max(a3, {1})};
               }});
  c.push_back({"softmax and log_softmax with their gradients",
               {KernelId::softmax_forward},
               F,
               [](DType dt, bool s) { return Inputs{leaf(matrix(5, 13, dt, 9, s))}; },
               [](const Inputs& x) { return grads_of(add(softmax(x[0], 1), log_softmax(x[0], 0)), x); }});
  c.push_back({"fused cross_entropy over [N, C, d] with an ignored target, each reduction, with gradients",
               {KernelId::cross_entropy_forward, KernelId::cross_entropy_backward},
               F,
               [](DType dt, bool s) { return Inputs{leaf(volume({5, 13, 3}, dt, 41, s))}; },
               [](const Inputs& x) {
                 Tensor t = Tensor::from_vector<int64_t>({12, 0, 5, -100, 7, 7, 1, 11, 3, 2, 0, -100, 9, 4, 6},
                                                         {5, 3})
                                .to(x[0].device());
                 Tensor none = cross_entropy(x[0], t, -100, "none");
                 Tensor total = add(add(sum(none), cross_entropy(x[0], t)), cross_entropy(x[0], t, -100, "sum"));
                 std::vector<Tensor> r = grads_of(total, x);
                 r.push_back(none);
                 return r;
               }});
  c.push_back({"matmul of strided operands, with gradients",
               {KernelId::gemm},
               F,
               [](DType dt, bool s) { return Inputs{leaf(matrix(7, 11, dt, 10, s)), leaf(matrix(11, 5, dt, 11, s))}; },
               [](const Inputs& x) { return grads_of(matmul(x[0], x[1]), x); }});
  c.push_back({"index_select, gather and their gradients (index_add, scatter_add)",
               {KernelId::index_select_forward, KernelId::index_add_forward, KernelId::gather_forward,
                KernelId::scatter_add_forward},
               F,
               [](DType dt, bool s) { return Inputs{leaf(matrix(7, 5, dt, 12, s))}; },
               [](const Inputs& x) {
                 Tensor idx = Tensor::from_vector<int64_t>({4, 0, 4, 6, 1}, {5}).to(x[0].device());
                 Tensor gidx = Tensor::from_vector<int64_t>({0, 4, 4, 2, 1, 3, 3}, {7, 1}).to(x[0].device());
                 Tensor a = index_select(x[0], 0, idx), b = gather(x[0], 1, gidx);
                 return grads_of(add(sum(a), sum(b)), x);
               }});
  c.push_back({"integer index_select and gather",
               {KernelId::index_select_forward, KernelId::gather_forward},
               {DType::i32, DType::i64},
               [](DType dt, bool s) { return Inputs{matrix(7, 5, dt, 13, s)}; },
               [](const Inputs& x) {
                 Tensor idx = Tensor::from_vector<int64_t>({6, 0, 3}, {3}).to(x[0].device());
                 Tensor gidx = Tensor::from_vector<int64_t>({1, 1, 0, 4, 2, 3, 0}, {7, 1}).to(x[0].device());
                 return std::vector<Tensor>{index_select(x[0], 0, idx), gather(x[0], 1, gidx)};
               }});
  c.push_back({"conv1d dilated with causal padding, and its gradients",
               {KernelId::conv1d_forward, KernelId::conv1d_backward_input, KernelId::conv1d_backward_weight,
                KernelId::conv1d_backward_bias},
               F,
               [](DType dt, bool s) {
                 return Inputs{leaf(volume({2, 5, 13}, dt, 14, s)), leaf(volume({7, 5, 2}, dt, 15, s)),
                               leaf(volume({7}, dt, 16, false))};
               },
               [](const Inputs& x) { return grads_of(conv1d(x[0], x[1], x[2], 3, 3, 0), x); }});
  c.push_back({"index_add and scatter_add with colliding indices",
               {KernelId::index_add_forward, KernelId::scatter_add_forward},
               ALL,
               [](DType dt, bool s) {
                 return Inputs{matrix(7, 5, dt, 31, s), matrix(4, 5, dt, 32, s), matrix(7, 11, dt, 33, s)};
               },
               [](const Inputs& x) {
                 Tensor idx = Tensor::from_vector<int64_t>({6, 0, 6, 2}, {4}).to(x[0].device());
                 std::vector<int64_t> e(7 * 11);
                 for (size_t i = 0; i < e.size(); ++i) e[i] = static_cast<int64_t>((i * 7 + i / 3) % 5);
                 Tensor gidx = Tensor::from_vector<int64_t>(e, {7, 11}).to(x[0].device());
                 Tensor wide = Tensor::zeros({7, 5}, x[0].dtype(), x[0].device());
                 return std::vector<Tensor>{index_add(x[0], 0, idx, x[1]), scatter_add(wide, 1, gidx, x[2])};
               }});
  c.push_back({"conv1d: kernel 3 at dilation 2 with symmetric padding, a tap reading nothing at dilation 7, "
               "kernel 1 with bias; gradients",
               {KernelId::conv1d_forward, KernelId::conv1d_backward_input, KernelId::conv1d_backward_weight,
                KernelId::conv1d_backward_bias},
               F,
               [](DType dt, bool s) {
                 return Inputs{leaf(volume({3, 5, 11}, dt, 34, s)), leaf(volume({7, 5, 3}, dt, 35, s)),
                               leaf(volume({7, 5, 1}, dt, 36, s)), leaf(volume({7}, dt, 37, false)),
                               leaf(volume({7, 5, 2}, dt, 38, s))};
               },
               [](const Inputs& x) {
                 Tensor a = conv1d(x[0], x[1], Tensor(), 2, 2, 2);  // [3, 7, 11]
                 Tensor b = conv1d(x[0], x[2], x[3], 1, 0, 0);      // [3, 7, 11]
                 Tensor c = conv1d(narrow(x[0], 2, 0, 5), x[4], Tensor(), 7, 7, 0);  // [3, 7, 5]: tap 0 reads nothing
                 return grads_of(concat({add(a, b), c}, 2), x);
               }});
  c.push_back({"conv2d strided and padded, and its gradients",
               {KernelId::conv_nd_forward, KernelId::conv_nd_backward_input, KernelId::conv_nd_backward_weight,
                KernelId::conv_nd_backward_bias},
               F,
               [](DType dt, bool s) {
                 return Inputs{leaf(volume({2, 3, 7, 11}, dt, 17, s)), leaf(volume({5, 3, 3, 2}, dt, 18, s)),
                               leaf(volume({5}, dt, 19, false))};
               },
               [](const Inputs& x) { return grads_of(conv2d(x[0], x[1], x[2], {2, 1}, {1, 0}), x); }});
  // Channels of more than 2048 terms: the CUDA per-channel sums cut them
  // into slices (5 here: 3 x 2900 terms) and add the slices after.
  c.push_back({"batch_norm and a convolution's bias gradient over channels of thousands of terms",
               {KernelId::batch_norm_stats, KernelId::batch_norm_forward, KernelId::batch_norm_backward,
                KernelId::conv1d_forward, KernelId::conv1d_backward_input, KernelId::conv1d_backward_weight,
                KernelId::conv1d_backward_bias},
               F,
               [](DType dt, bool s) {
                 return Inputs{leaf(volume({3, 2, 2900}, dt, 51, s)), leaf(volume({2}, dt, 52, false)),
                               leaf(volume({2}, dt, 53, false)), leaf(volume({3, 2, 2}, dt, 54, s)),
                               leaf(volume({3}, dt, 55, false))};
               },
               [](const Inputs& x) {
                 Tensor rm = Tensor::zeros({2}, x[0].dtype(), x[0].device());
                 Tensor rv = Tensor::ones({2}, x[0].dtype(), x[0].device());
                 Tensor y = batch_norm(x[0], rm, rv, x[1], x[2], true);
                 auto r = grads_of(conv1d(y, x[3], x[4], 4, 4, 0), x);
                 r.push_back(rm);
                 r.push_back(rv);
                 return r;
               }});
  c.push_back({"batch_norm in training, and its gradients",
               {KernelId::batch_norm_stats, KernelId::batch_norm_forward, KernelId::batch_norm_backward},
               F,
               [](DType dt, bool s) {
                 return Inputs{leaf(volume({5, 3, 7}, dt, 20, s)), leaf(volume({3}, dt, 21, false)),
                               leaf(volume({3}, dt, 22, false))};
               },
               [](const Inputs& x) {
                 Tensor rm = Tensor::zeros({3}, x[0].dtype(), x[0].device());
                 Tensor rv = Tensor::ones({3}, x[0].dtype(), x[0].device());
                 auto r = grads_of(batch_norm(x[0], rm, rv, x[1], x[2], true), x);
                 r.push_back(rm);
                 r.push_back(rv);
                 return r;
               }});
  c.push_back(
      {"batch_norm without weight or bias on [B, C] (L = 1), with a weight that takes no "
       "gradient on [B, C, 2, 3], and in evaluation",
       {KernelId::batch_norm_stats, KernelId::batch_norm_forward, KernelId::batch_norm_backward},
       F,
       [](DType dt, bool s) {
         return Inputs{leaf(volume({13, 5}, dt, 60, s)), leaf(volume({3, 11, 2, 3}, dt, 61, s)),
                       volume({11}, dt, 62, false), leaf(volume({1, 5, 13}, dt, 63, s)),
                       volume({5}, dt, 64, false)};
       },
       [](const Inputs& x) {
         Tensor a = batch_norm(x[0], Tensor(), Tensor(), Tensor(), Tensor(), true);
         Tensor b = batch_norm(x[1], Tensor(), Tensor(), x[2], Tensor(), true, 0.1, 1e-3);
         Tensor rv = add(mul(x[4], x[4]), Tensor::scalar(0.5, x[4].dtype()).to(x[4].device()));
         Tensor e = batch_norm(x[3], x[4], rv, Tensor(), x[4], false);
         return grads_of(add(add(sum(mul(a, x[0])), sum(mul(b, b))), sum(mul(e, x[3]))), x);
       },
       // f32: the CPU's own gradients are up to 7.6e-5 (relative) off the
       // f64 values here, and the CUDA kernels' 6.3e-5 (on the emulator).
       2e-4});
  c.push_back({"gated_activation and its gradient",
               {KernelId::gated_activation_forward, KernelId::gated_activation_backward},
               F,
               [](DType dt, bool s) { return Inputs{leaf(volume({2, 10, 11}, dt, 23, s))}; },
               [](const Inputs& x) { return grads_of(gated_activation(x[0]), x); }});
  c.push_back({"LSTM and GRU layers, and their gradients",
               {KernelId::lstm_recurrent_forward, KernelId::lstm_recurrent_backward, KernelId::gru_recurrent_forward,
                KernelId::gru_recurrent_backward, KernelId::gemm},
               F,
               [](DType dt, bool s) {
                 return Inputs{leaf(volume({5, 2, 3}, dt, 24, s)), leaf(matrix(20, 3, dt, 25, s)),
                               leaf(matrix(20, 5, dt, 26, s)), leaf(matrix(15, 3, dt, 27, s)),
                               leaf(matrix(15, 5, dt, 28, s))};
               },
               [](const Inputs& x) {
                 Tensor l = lstm_layer(x[0], Tensor(), Tensor(), x[1], x[2], Tensor(), Tensor());
                 Tensor g = gru_layer(x[0], Tensor(), x[3], x[4], Tensor(), Tensor());
                 return grads_of(add(sum(l), sum(g)), x);
               }});
  c.push_back(
      {"LSTM and GRU layers with biases and initial states over 21 rows (one input GEMM), and the "
       "layer-0 gates forms",
       {KernelId::lstm_recurrent_forward, KernelId::lstm_recurrent_backward,
        KernelId::gru_recurrent_forward, KernelId::gru_recurrent_backward, KernelId::gemm},
       F,
       [](DType dt, bool s) {
         return Inputs{leaf(volume({7, 3, 4}, dt, 70, s)),  // x: T 7, B 3, I 4
                       leaf(matrix(3, 5, dt, 71, s)),       // h0
                       leaf(matrix(3, 5, dt, 72, s)),       // c0
                       leaf(matrix(20, 4, dt, 73, s)),      leaf(matrix(20, 5, dt, 74, s)),
                       leaf(volume({20}, dt, 75, false)),   leaf(volume({20}, dt, 76, false)),
                       leaf(matrix(15, 4, dt, 77, s)),      leaf(matrix(15, 5, dt, 78, s)),
                       leaf(volume({15}, dt, 79, false)),   leaf(volume({15}, dt, 80, false)),
                       leaf(volume({2, 1, 20}, dt, 81, s)),   // LSTM gates: T 2, B 1
                       leaf(volume({3, 2, 15}, dt, 82, s))};  // GRU gates: T 3, B 2
       },
       [](const Inputs& x) {
         Tensor l = lstm_layer(x[0], x[1], x[2], x[3], x[4], x[5], x[6]);
         Tensor g = gru_layer(x[0], x[1], x[7], x[8], x[9], x[10]);
         Tensor lg = lstm_layer_gates(x[11], Tensor(), Tensor(), x[4]);
         Tensor gg = gru_layer_gates(x[12], Tensor(), x[8], x[10]);
         return grads_of(add(add(sum(mul(l, l)), sum(g)), add(sum(mul(lg, lg)), sum(gg))), x);
       },
       // f32: the squared loss amplifies rounding; the CPU's weight_ih
       // gradient is 2.5e-4 (relative) off the f64 values, the CUDA
       // kernels' 2.7e-5 (on the emulator).
       1e-3});
  c.push_back({"Adam and SGD steps, global-norm clipping",
               {KernelId::adam_step, KernelId::sgd_step, KernelId::sum_squares, KernelId::scale_inplace},
               F,
               [](DType dt, bool s) { return Inputs{volume({5, 7}, dt, 29, false), volume({5, 7}, dt, 30, s)}; },
               [](const Inputs& x) {
                 Tensor p = x[0].clone(), q = x[0].clone();
                 p.requires_grad_(true);
                 q.requires_grad_(true);
                 p.set_grad(contiguous(x[1]).clone());
                 q.set_grad(contiguous(x[1]).clone());
                 q.set_grad(mul(q.grad(), Tensor::scalar(3.0, q.dtype()).to(q.device())));
                 // One call for the group: two tensors and an empty one.
                 Tensor e = Tensor::zeros({0}, p.dtype(), p.device());
                 e.requires_grad_(true);
                 e.set_grad(Tensor::zeros({0}, p.dtype(), p.device()));
                 const double norm = optim::clip_grad_norm({p, e, q}, 0.5);
                 optim::Adam adam({p}, 1e-2);
                 optim::SGD sgd({q}, 1e-2, 0.9);
                 adam.step();
                 sgd.step();
                 NoGradGuard ng;
                 return std::vector<Tensor>{p.detach(), q.detach(), p.grad(), q.grad(),
                                            Tensor::scalar(norm, DType::f64)};
               }});
  c.push_back({"Adam, AdamW and SGD over lists longer than a launch's, with per-tensor step counts",
               {KernelId::adam_step, KernelId::sgd_step, KernelId::sum_squares, KernelId::scale_inplace},
               F,
               [](DType dt, bool s) {
                 // 53 parameters (a CUDA launch takes 48) of up to 8193
                 // elements, one empty: sizes one over and at the CUDA
                 // kernels' chunks (1024 elements a block of an update,
                 // 8192 of sum_squares), and between.
                 const int64_t edge[] = {1, 1024, 1025, 2048, 2049, 8192, 8193};
                 Inputs x;
                 for (int i = 0; i < 53; ++i) {
                   const int64_t n = i == 7 ? 0 : i >= 10 && i < 17 ? edge[i - 10] : (i * 389) % 2101;
                   x.push_back(volume({n, 1}, dt, 300 + i, false));
                   x.push_back(volume({n, 1}, dt, 400 + i, s));
                 }
                 return x;
               },
               [](const Inputs& x) {
                 NoGradGuard ng;
                 std::vector<Tensor> a, w, q, r;  // Adam's, AdamW's, SGD's with and without momentum
                 for (size_t i = 0; i < x.size(); i += 2)
                   for (auto* list : {&a, &w, &q, &r}) {
                     Tensor p = x[i].clone();
                     p.requires_grad_(true);
                     list->push_back(p);
                   }
                 optim::Adam adam(a, 1e-2, 0.9, 0.999, 1e-8, 0.01);
                 optim::AdamW adamw(w, 1e-2, 0.9, 0.999, 1e-8, 0.1);
                 optim::SGD sgd(q, 1e-2, 0.9, 0.3, 0.001, false);  // dampening: a fresh buffer shows
                 optim::SGD plain(r, 1e-2);
                 for (int step = 0; step < 3; ++step) {
                   for (size_t k = 0; k < a.size(); ++k) {
                     // Every third parameter has no gradient at the first
                     // step, so its step count lags the others'.
                     const bool skip = step == 0 && k % 3 == 1;
                     Tensor g = mul(x[2 * k + 1], Tensor::scalar(1.0 + step, x[0].dtype()).to(x[0].device()));
                     for (auto* list : {&a, &w, &q, &r}) (*list)[k].set_grad(skip ? Tensor() : g.clone());
                   }
                   optim::clip_grad_norm(a, 4.0);
                   adam.step();
                   adamw.step();
                   sgd.step();
                   plain.step();
                 }
                 std::vector<Tensor> out;
                 for (auto* list : {&a, &w, &q, &r})
                   for (Tensor& p : *list) out.push_back(p.detach());
                 for (Tensor& p : a) out.push_back(p.grad());
                 return out;
               }});
  c.push_back({"Philox uniform and normal draws",
               {KernelId::philox_uniform, KernelId::philox_normal},
               F,
               [](DType dt, bool) { return Inputs{Tensor::zeros({7, 13}, dt)}; },
               [](const Inputs& x) {
                 Generator g(77);
                 Tensor u = x[0].clone(), n = x[0].clone();
                 uniform_(u, -1, 1, &g);
                 normal_(n, 0, 2, &g);
                 // An output one element past an aligned start (CUDA: no
                 // vector stores).
                 Tensor base = Tensor::zeros({93}, x[0].dtype(), x[0].device());
                 Tensor uo = base.narrow(0, 1, 91), no = base.narrow(0, 2, 91);
                 uniform_(uo, 0, 1, &g);
                 Tensor uo_copy = uo.clone();
                 normal_(no, 0, 1, &g);
                 return std::vector<Tensor>{u, n, uo_copy, no};
               }});
  c.push_back({"dropout and bernoulli drawn on the device, with a CPU scalar operand",
               {KernelId::philox_bernoulli, KernelId::binary_forward, KernelId::copy_cast, KernelId::fill},
               F,
               [](DType dt, bool s) { return Inputs{leaf(volume({6, 5, 41}, dt, 90, s))}; },
               [](const Inputs& x) {
                 Generator g(78);
                 Tensor d = dropout(x[0], 0.3, true, &g);
                 Tensor keep = bernoulli({3, 29}, 0.6, DType::i32, &g, x[0].device());
                 // A 0-d CPU scalar (no history) is filled in on x's device.
                 Tensor scaled = mul(d, Tensor::scalar(1.5, x[0].dtype()));
                 std::vector<Tensor> r = grads_of(sum(mul(scaled, scaled)), x);
                 r.push_back(d);
                 r.push_back(keep);
                 r.push_back(Tensor::scalar(static_cast<double>(g.offset()), DType::f64));
                 return r;
               }});
  return c;
}

void require_close(const Tensor& got, const Tensor& want, double eps, const std::string& what) {
  INFO(what << ": " << got.str() << " against " << want.str());
  REQUIRE(got.shape() == want.shape());
  REQUIRE(got.dtype() == want.dtype());
  REQUIRE(got.device() == Device{});
  std::vector<double> a = got.to_vector<double>(), b = want.to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("element " << i << ": " << a[i] << " against " << b[i]);
    if (std::isnan(b[i])) {
      REQUIRE(std::isnan(a[i]));
      continue;
    }
    REQUIRE(std::abs(a[i] - b[i]) <= eps + std::abs(b[i]) * eps);
  }
}

std::vector<Tensor> run_on(const OpCase& c, const Inputs& cpu_inputs, Device dev) {
  Inputs xs;
  for (const Tensor& x : cpu_inputs) {
    Tensor moved = x.to(dev).detach();
    if (x.requires_grad()) moved.requires_grad_(true);
    xs.push_back(moved);
  }
  std::vector<Tensor> out;
  for (const Tensor& y : c.run(xs)) out.push_back(y.detach().to(Device{}));
  return out;
}

}  // namespace

TEST_CASE("backend: every kernel entry of every backend against the CPU, with guard bytes", "[backend]") {
  auto cases = op_cases();
  // Every entry of the table is run by some case.
  std::set<int> covered;
  for (const OpCase& c : cases)
    for (KernelId k : c.kernels) covered.insert(static_cast<int>(k));
  for (int i = 0; i < backend::kKernelCount; ++i) {
    INFO("no case runs " << backend::kernel_name(static_cast<KernelId>(i)));
    REQUIRE(covered.count(i));
  }
  const int64_t overruns_before = backend::guard_violations();
  for (const backend::Backend* b : backend::available_backends()) {
    const Device dev{b->kind, 0};
    for (const OpCase& c : cases)
      for (DType dt : c.dtypes) {
        bool supported = true;
        for (KernelId k : c.kernels) supported = supported && b->supports(k, dt);
        if (!supported) continue;  // listed by the next test case
        const double eps = dt == DType::f64 ? 1e-12 : c.eps;
        DYNAMIC_SECTION(b->name << ": " << c.name << " " << dtype_name(dt)) {
          Inputs strided = c.make(dt, true), dense = c.make(dt, false);
          std::vector<Tensor> ref = run_on(c, dense, Device{});
          std::vector<Tensor> got = run_on(c, strided, dev);
          REQUIRE(got.size() == ref.size());
          for (size_t i = 0; i < got.size(); ++i)
            require_close(got[i], ref[i], eps, b->name + " output " + std::to_string(i));
        }
      }
  }
  if (backend::guard_bytes() > 0) REQUIRE(backend::guard_violations() == overruns_before);
}

TEST_CASE("backend: the CPU has every kernel; what another backend lacks is listed", "[backend]") {
  const backend::Backend& cpu = backend::backend_for(Device{});
  REQUIRE(cpu.name == "cpu");
  REQUIRE(cpu.missing().empty());
  std::set<std::string> names;
  for (int i = 0; i < backend::kKernelCount; ++i) names.insert(backend::kernel_name(static_cast<KernelId>(i)));
  REQUIRE(names.size() == static_cast<size_t>(backend::kKernelCount));
  REQUIRE(names.count("conv1d_forward"));
  for (const backend::Backend* b : backend::available_backends()) {
    std::string list;
    for (const auto& m : b->missing()) list += m + " ";
    WARN(b->name << " backend lacks " << b->missing().size() << " of " << backend::kKernelCount
                 << " kernels: " << list);
  }
}

TEST_CASE("backend: a missing kernel, dtype or device is an error naming op, device and dtype", "[backend]") {
  // A dtype the CPU's gemm does not take (matmul's front end refuses
  // integers before it asks; the seam refuses them too).
  REQUIRE_THROWS_WITH(CADENZA_KERNEL(gemm, Device{}, DType::i64),
                      Catch::Contains("gemm has no kernel on cpu for i64") && Catch::Contains("takes f32, f64"));
  REQUIRE_NOTHROW(CADENZA_KERNEL(gemm, Device{}, DType::f64));
  // An empty entry, as a backend without the op has it.
  backend::Backend partial;
  partial.name = "partial";
  REQUIRE_FALSE(partial.supports(KernelId::conv1d_forward, DType::f32));
  REQUIRE(partial.missing().size() == static_cast<size_t>(backend::kKernelCount));
  REQUIRE_THROWS_WITH(backend::throw_missing(partial, KernelId::conv1d_forward, Device{Device::cuda, 0}, DType::f32),
                      Catch::Contains("conv1d_forward has no kernel on cuda:0 for f32") &&
                          Catch::Contains("does not have this op yet"));
  // A device this process does not have: nothing is allocated or copied.
  bool has_cuda = backend::available_backends().size() > 1;
  if (!has_cuda) {
    REQUIRE_THROWS_WITH(Tensor::zeros({2}, DType::f32, Device{Device::cuda, 0}),
                        Catch::Contains("cuda:0 is not available"));
    REQUIRE_THROWS_WITH(Tensor::ones({2}).to(Device{Device::cuda, 0}), Catch::Contains("cuda:0 is not available"));
  }
  // A device index beyond those present.
  REQUIRE_THROWS_WITH(Tensor::ones({2}).to(Device{Device::cuda, 7}), Catch::Contains("cuda:7 is not available"));
}

TEST_CASE("backend: to(Device), empty_like and zeros_like keep the device; the CPU copy is a no-op", "[backend]") {
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  REQUIRE(x.to(Device{}).impl() == x.impl());
  Tensor e = empty_like(x), z = zeros_like(x.transpose(0, 1));
  REQUIRE(e.shape() == x.shape());
  REQUIRE(e.device() == x.device());
  REQUIRE(z.shape() == Shape{3, 2});
  REQUIRE(sum(z).item() == 0);
  for (const backend::Backend* b : backend::available_backends()) {
    Device dev{b->kind, 0};
    Tensor y = leaf(x.transpose(0, 1)).to(dev);
    REQUIRE(y.device() == dev);
    REQUIRE(y.to(Device{}).to_vector<float>() == std::vector<float>{1, 4, 2, 5, 3, 6});
  }
  // The gradient of to(Device) goes back to the source's device.
  Tensor w = leaf(x);
  sum(mul(w.to(Device{}), w)).backward();
  REQUIRE(w.grad().to_vector<float>() == std::vector<float>{2, 4, 6, 8, 10, 12});
}

TEST_CASE("backend: guard bytes after a host buffer catch a write past its end", "[backend]") {
  if (backend::guard_bytes() == 0) {
    WARN("CADENZA_GUARD_BYTES is not set: guard bytes are off in this run");
    return;
  }
  const int64_t before = backend::guard_violations();
  {
    Tensor t = Tensor::empty({5}, DType::f32);
    static_cast<unsigned char*>(t.raw_data())[5 * sizeof(float) + 3] = 0;  // one byte past the end
  }
  REQUIRE(backend::guard_violations() == before + 1);
  { Tensor ok = Tensor::full({7}, 1.0); }
  REQUIRE(backend::guard_violations() == before + 1);
}

TEST_CASE("backend: the elementwise math shared with the CUDA kernels is the CPU kernels' math", "[backend]") {
  using kernels::BinaryOp;
  using kernels::UnaryOp;
  const std::vector<double> values = {-2.5, -1.0, -0.3, 0.0, 0.7, 1.0, 3.0, 40.0};
  auto same = [](double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; };
  auto cpu_unary = [](UnaryOp op, auto v, double p0, double p1) {
    using T = decltype(v);
    T out = 0;
    const int64_t shape[1] = {1}, strides[1] = {1};
    kernels::unary_forward(op, dtype_of<T>(), 1, shape, {&v, strides}, {&out, strides}, p0, p1);
    return out;
  };
  for (int o = 0; o <= static_cast<int>(UnaryOp::in_range); ++o) {
    const auto op = static_cast<UnaryOp>(o);
    const double p0 = op == UnaryOp::clamp || op == UnaryOp::in_range ? -1.0 : 0.5, p1 = 2.0;
    for (double v : values) {
      INFO("unary op " << o << " of " << v);
      REQUIRE(same(kmath::unary_value<double>(op, v, p0, p1), cpu_unary(op, v, p0, p1)));
      REQUIRE(same(kmath::unary_value<float>(op, static_cast<float>(v), p0, p1),
                   cpu_unary(op, static_cast<float>(v), p0, p1)));
    }
  }
  auto cpu_binary = [](BinaryOp op, auto a, decltype(a) b) {
    using T = decltype(a);
    T out = 0;
    const int64_t shape[1] = {1}, strides[1] = {1};
    kernels::binary_forward(op, dtype_of<T>(), 1, shape, {&a, strides}, {&b, strides}, {&out, strides});
    return out;
  };
  for (int o = 0; o <= static_cast<int>(BinaryOp::ge); ++o) {
    const auto op = static_cast<BinaryOp>(o);
    for (double a : values)
      for (double b : values) {
        INFO("binary op " << o << " of " << a << ", " << b);
        REQUIRE(same(kmath::binary_value<double>(op, a, b), cpu_binary(op, a, b)));
        REQUIRE(same(kmath::binary_value<float>(op, static_cast<float>(a), static_cast<float>(b)),
                     cpu_binary(op, static_cast<float>(a), static_cast<float>(b))));
        const auto ia = static_cast<int64_t>(a), ib = static_cast<int64_t>(b);
        if (op != BinaryOp::pow) REQUIRE(kmath::binary_value<int64_t>(op, ia, ib) == cpu_binary(op, ia, ib));
        // The same op with the scalar by value (scalar_right: b; scalar_left: a).
        const double code = static_cast<double>(o);
        REQUIRE(same(cpu_unary(UnaryOp::scalar_right, a, b, code), cpu_binary(op, a, b)));
        REQUIRE(same(cpu_unary(UnaryOp::scalar_left, b, a, code), cpu_binary(op, a, b)));
        REQUIRE(same(cpu_unary(UnaryOp::scalar_right, static_cast<float>(a), b, code),
                     cpu_binary(op, static_cast<float>(a), static_cast<float>(b))));
        REQUIRE(same(kmath::unary_value<float>(UnaryOp::scalar_left, static_cast<float>(b), a, code),
                     cpu_binary(op, static_cast<float>(a), static_cast<float>(b))));
        if (op != BinaryOp::pow)
          REQUIRE(kmath::unary_value<int64_t>(UnaryOp::scalar_right, ia, static_cast<double>(ib), code) ==
                  cpu_binary(op, ia, ib));
      }
  }
}

TEST_CASE("backend: FastDiv, the CUDA elementwise multi-index's division, divides as / does", "[backend]") {
  // Every divisor a shape can give up to 4096, powers of two and their
  // neighbours up to 2^31, and random ones; each against dividends at the
  // ends of the range, at multiples of the divisor and at random.
  std::vector<uint32_t> divisors;
  for (uint32_t d = 1; d <= 4096; ++d) divisors.push_back(d);
  for (int k = 12; k <= 31; ++k)
    for (int64_t e : {-1, 0, 1}) {
      const int64_t d = (int64_t{1} << k) + e;
      if (d <= (int64_t{1} << 31)) divisors.push_back(static_cast<uint32_t>(d));
    }
  uint64_t state = 12345;
  auto next = [&state] {  // splitmix64
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  for (int i = 0; i < 2000; ++i) divisors.push_back(static_cast<uint32_t>(next() % (uint64_t{1} << 31)) + 1);
  const uint32_t top = (uint32_t{1} << 31) - 1;
  int64_t checked = 0;
  for (uint32_t d : divisors) {
    const kmath::FastDiv f(d);
    std::vector<uint32_t> ns = {0, 1, d - 1, d, top, top - 1, top / d * d, top / d * d - 1};
    for (int i = 0; i < 64; ++i) ns.push_back(static_cast<uint32_t>(next() % (uint64_t{1} << 31)));
    for (uint32_t n : ns) {
      if (n > top) continue;  // d - 1 or d itself when d = 2^31
      if (f.div(n) != n / d) FAIL("FastDiv(" << d << ").div(" << n << ") = " << f.div(n) << ", not " << n / d);
      ++checked;
    }
  }
  REQUIRE(checked > 400000);
}

TEST_CASE("backend: uploads queued without waiting arrive intact, however many and however large", "[backend]") {
  // CUDA stages uploads in an 8 MiB pinned ring and only queues the copies
  // (the emulator holds them back until the device would have to run
  // them): 40 of 1 MiB (five times round the ring), one of 20 MiB (in
  // chunks) and 2100 small ones (more than the ring keeps in flight), each
  // with its own values, the host buffer refilled at once after each, into
  // tensors allocated beforehand (an allocation does not order anything).
  for (const backend::Backend* b : backend::available_backends()) {
    if (b->kind == Device::cpu) continue;  // memcpy
    const Device dev{b->kind, 0};
    INFO(b->name);
    std::vector<int64_t> sizes;
    for (int i = 0; i < 40; ++i) sizes.push_back((int64_t{1} << 18) + i);
    sizes.push_back(int64_t{5} << 20);
    for (int i = 0; i < 2100; ++i) sizes.push_back(1 + (i * 37) % 300);
    std::vector<Tensor> up;
    for (int64_t n : sizes) up.push_back(Tensor::empty({n}, DType::f32, dev));
    Tensor host = Tensor::empty({int64_t{5} << 20}, DType::f32);
    auto value = [](size_t i, int64_t k) { return static_cast<float>(i * 7919 + k % 1009); };
    for (size_t i = 0; i < sizes.size(); ++i) {
      float* h = host.data<float>();
      for (int64_t k = 0; k < sizes[i]; ++k) h[k] = value(i, k);
      b->memory.from_host(up[i].raw_data(), h, static_cast<size_t>(sizes[i]) * sizeof(float), dev.index);
    }
    for (size_t i = 0; i < sizes.size(); ++i) {
      const std::vector<float> v = up[i].to(Device{}).to_vector<float>();
      bool same = true;
      for (int64_t k = 0; same && k < sizes[i]; ++k) same = v[k] == value(i, k);
      INFO("upload " << i << " of " << sizes[i] << " values");
      REQUIRE(same);
    }
  }
}

TEST_CASE("backend: a 0-d CPU scalar follows a device operand; other mixes are errors", "[backend]") {
  for (const backend::Backend* b : backend::available_backends()) {
    if (b->kind == Device::cpu) continue;
    const Device dev{b->kind, 0};
    Tensor x = Tensor::from_vector<float>({1, 2, 3}).to(dev);
    Tensor y = sub(Tensor::scalar(1.0), mul(x, Tensor::scalar(2.0)));  // either side
    REQUIRE(y.device() == dev);
    REQUIRE(y.to_vector<float>() == std::vector<float>{-1, -3, -5});
    // Each binary op with the scalar by value on either side, against the
    // same op with a 0-d operand on the device; a strided operand; 0-d.
    Tensor m = Tensor::from_vector<float>({1.5f, -2, 0, 3, 7, -0.25f}, {2, 3}).to(dev).transpose(0, 1);
    for (int o = 0; o <= static_cast<int>(kernels::BinaryOp::ge); ++o) {
      const auto op = static_cast<kernels::BinaryOp>(o);
      const Tensor s = Tensor::scalar(o == 4 ? 2.0 : -1.5), sd = s.to(dev);
      INFO("binary op " << o);
      REQUIRE(detail::binary_raw(op, m, s, "op").to_vector<float>() ==
              detail::binary_raw(op, m, sd, "op").to_vector<float>());
      REQUIRE(detail::binary_raw(op, s, m, "op").to_vector<float>() ==
              detail::binary_raw(op, sd, m, "op").to_vector<float>());
    }
    REQUIRE(div(Tensor::scalar(3.0), Tensor::scalar(4.0).to(dev)).to_vector<float>() == std::vector<float>{0.75f});
    Tensor n = add(Tensor::ones({1}, DType::i64, dev), Tensor::scalar(1.0, DType::i64));
    REQUIRE(n.to_vector<int64_t>() == std::vector<int64_t>{2});
    // An i64 a double cannot hold is copied, not filled in from a double.
    const int64_t big = (int64_t{1} << 60) + 1;
    Tensor nb = add(Tensor::ones({1}, DType::i64, dev), Tensor::from_vector<int64_t>({big}).reshape({}));
    REQUIRE(nb.to_vector<int64_t>() == std::vector<int64_t>{big + 1});
    REQUIRE_THROWS_WITH(add(x, Tensor::from_vector<float>({1, 2, 3})),
                        Catch::Contains("operands on " + dev.str() + " and cpu"));
  }
}

TEST_CASE("backend: an index out of range is an error naming its first bad value on every backend", "[backend]") {
  for (const backend::Backend* b : backend::available_backends()) {
    const Device dev{b->kind, 0};
    INFO(b->name);
    Tensor table = Tensor::ones({5, 3}).to(dev);
    Tensor good = Tensor::from_vector<int64_t>({4, 0, 2, 4}).to(dev);
    REQUIRE(embedding(table, good).shape() == Shape{4, 3});
    // Below and above the range; the message names the first bad value.
    Tensor high = Tensor::from_vector<int64_t>({1, 7, 2, -1}).to(dev);
    Tensor low = Tensor::from_vector<int64_t>({1, -2, 9}).to(dev);
    REQUIRE_THROWS_WITH(index_select(table, 0, high), Catch::Contains("index 7 is out of range") &&
                                                          Catch::Contains("of size 5"));
    REQUIRE_THROWS_WITH(index_select(table, 0, low), Catch::Contains("index -2 is out of range"));
    REQUIRE_THROWS_WITH(embedding(table, Tensor::from_vector<int64_t>({5}).to(dev)),
                        Catch::Contains("index 5 is out of range"));
    // An empty index is in range.
    REQUIRE(index_select(table, 0, Tensor::zeros({0}, DType::i64).to(dev)).shape() == Shape{0, 3});
  }
}
