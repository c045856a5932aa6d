#pragma once
// Op front ends: shape and dtype checks, the kernel call, and the backward
// rule recorded next to it. Every op here is differentiable in its floating
// inputs unless noted. Broadcasting follows NumPy. Dims may be negative.
#include <cstdint>
#include <optional>
#include <vector>

#include "engine/tensor.h"

namespace cadenza {

class Generator;

// ---- elementwise, binary (broadcasting) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);    // a^b, a > 0 where b varies
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
// Comparisons: 0/1 in the inputs' dtype, never differentiable.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);

// ---- elementwise, unary ----
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor log1p(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
Tensor abs(const Tensor& x);
Tensor sign(const Tensor& x);  // not differentiable (zero gradient)
Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi);
Tensor tanh(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0);
Tensor isinf_mask(const Tensor& x);  // 1 where +-inf, not differentiable

// Scalar forms (the scalar takes the tensor's dtype).
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, double s);
Tensor operator-(const Tensor& a, double s);
Tensor operator*(const Tensor& a, double s);
Tensor operator/(const Tensor& a, double s);
Tensor operator+(double s, const Tensor& a);
Tensor operator-(double s, const Tensor& a);
Tensor operator*(double s, const Tensor& a);
Tensor operator/(double s, const Tensor& a);

// ---- reductions: dims empty = all dims ----
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
// Gradient goes to every maximal element, split evenly (torch.amax).
Tensor max(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor min(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);  // i64, first maximum
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor var(const Tensor& x, const std::vector<int64_t>& dims, bool unbiased = true,
           bool keepdim = false);
// Sums `x` down to `shape` (the reverse of broadcasting to x.shape()).
Tensor sum_to(const Tensor& x, const Shape& shape);

// ---- linear algebra ----
// a: [..., M, K], b: [..., K, N] -> [..., M, N]; 1-D operands as in NumPy;
// batch dims broadcast.
Tensor matmul(const Tensor& a, const Tensor& b);
// x: [..., in], weight: [out, in], bias: [out] or undefined -> [..., out]
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// ---- convolution ----
// Dilated 1-D convolution, stride 1 (PyTorch's conv1d, with separate left
// and right zero padding so causal padding needs no copy).
// x: [B, Cin, T], weight: [Cout, Cin, K], bias: [Cout] or undefined
//   -> [B, Cout, T + pad_left + pad_right - dilation * (K - 1)]
Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), int64_t dilation = 1,
              int64_t pad_left = 0, int64_t pad_right = 0);
// The gradients of conv1d, themselves differentiable (so conv1d has
// derivatives of every order). g: [B, Cout, To].
//   conv1d_backward_input:  weight [Cout, Cin, K] -> [B, Cin, T]
//   conv1d_backward_weight: x [B, Cin, T] -> [Cout, Cin, kernel_size]
Tensor conv1d_backward_input(const Tensor& g, const Tensor& weight, int64_t T, int64_t dilation, int64_t pad_left);
Tensor conv1d_backward_weight(const Tensor& g, const Tensor& x, int64_t kernel_size, int64_t dilation,
                              int64_t pad_left);
// PyTorch's conv2d / conv3d with one group: stride, zero padding on both
// sides and dilation per spatial dim. Differentiable to any order.
// x: [B, Cin, H, W], weight: [Cout, Cin, kH, kW], bias: [Cout] or undefined
//   -> [B, Cout, oH, oW], o = (in + 2 * padding - dilation * (k - 1) - 1) / stride + 1
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              const std::vector<int64_t>& stride = {1, 1}, const std::vector<int64_t>& padding = {0, 0},
              const std::vector<int64_t>& dilation = {1, 1});
// x: [B, Cin, D, H, W], weight: [Cout, Cin, kD, kH, kW] -> [B, Cout, oD, oH, oW]
Tensor conv3d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              const std::vector<int64_t>& stride = {1, 1, 1}, const std::vector<int64_t>& padding = {0, 0, 0},
              const std::vector<int64_t>& dilation = {1, 1, 1});
// PyTorch's conv_transpose2d / 3d with one group (the input gradient of the
// convolution with the same weight). Differentiable to any order.
// x: [B, Cin, H, W], weight: [Cin, Cout, kH, kW], bias: [Cout] or undefined -> [B, Cout, oH, oW],
//   o = (in - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1,
//   output_padding smaller than stride or dilation.
Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
                        const std::vector<int64_t>& stride = {1, 1}, const std::vector<int64_t>& padding = {0, 0},
                        const std::vector<int64_t>& output_padding = {0, 0},
                        const std::vector<int64_t>& dilation = {1, 1});
// x: [B, Cin, D, H, W], weight: [Cin, Cout, kD, kH, kW] -> [B, Cout, oD, oH, oW]
Tensor conv_transpose3d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
                        const std::vector<int64_t>& stride = {1, 1, 1},
                        const std::vector<int64_t>& padding = {0, 0, 0},
                        const std::vector<int64_t>& output_padding = {0, 0, 0},
                        const std::vector<int64_t>& dilation = {1, 1, 1});
// WaveNet's gate: x: [B, 2C, T] -> tanh(x[:, :C]) * sigmoid(x[:, C:]): [B, C, T],
// forward and backward each one fused pass.
Tensor gated_activation(const Tensor& x);

// ---- shape and views (views share storage) ----
Tensor reshape(const Tensor& x, const Shape& shape);  // one -1 allowed
Tensor view(const Tensor& x, const Shape& shape);     // must not need a copy
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
Tensor select(const Tensor& x, int64_t dim, int64_t index);
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
Tensor expand(const Tensor& x, const Shape& shape);  // -1 keeps a dim
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor contiguous(const Tensor& x);
Tensor clone(const Tensor& x);
Tensor to_dtype(const Tensor& x, DType dtype);  // differentiable between float types
// A copy on `device` through its backend's copies (x itself when it is
// there); differentiable: the gradient goes back to x's device.
Tensor to_device(const Tensor& x, Device device);
// Uninitialised / zero tensors with x's shape, dtype and device.
Tensor empty_like(const Tensor& x);
Tensor zeros_like(const Tensor& x);

Tensor concat(const std::vector<Tensor>& xs, int64_t dim);
Tensor stack(const std::vector<Tensor>& xs, int64_t dim);
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim);
std::vector<Tensor> split_sizes(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim);
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim);
// pads: (before, after) pairs starting from the LAST dim, as torch.nn.functional.pad.
Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value = 0.0);

// ---- indexing ----
// index: 1-D i32/i64. x: [..., N, ...] along dim -> [..., len(index), ...]
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// out = x with src's slices added at `index` along dim.
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
// weight: [V, D], ids: any shape of integers -> [..., D]
Tensor embedding(const Tensor& weight, const Tensor& ids);
// index has x's rank; out[i][j] = x[i][index[i][j]] along dim (dim=1 shown).
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
// cond: nonzero = true; broadcasts all three.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);

// ---- activations / normalisation over a dim ----
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

// PyTorch's F.batch_norm over dim 1. x: [B, C, ...] -> same shape; running
// stats, weight and bias: [C] or undefined. training: normalise by the batch's
// mean and biased variance, and update the running stats in place (new =
// (1 - momentum) * old + momentum * batch, the variance unbiased); otherwise
// normalise by the running stats. Composed of primitives: any order.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5);

// ---- losses. reduction: "mean", "sum" or "none" ----
// logits: [N, C] (or [N, C, d...]), target: integer [N] (or [N, d...]).
Tensor cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index = -100,
                     const std::string& reduction = "mean");
// logp: [N, C] log-probabilities, target as above.
Tensor nll_loss(const Tensor& logp, const Tensor& target, int64_t ignore_index = -100,
                const std::string& reduction = "mean");
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        const std::string& reduction = "mean");
Tensor mse_loss(const Tensor& x, const Tensor& target, const std::string& reduction = "mean");
Tensor l1_loss(const Tensor& x, const Tensor& target, const std::string& reduction = "mean");

// Inverted dropout: in training, zeroes with probability p and scales by
// 1/(1-p); the mask comes from `gen` (the default generator if null).
Tensor dropout(const Tensor& x, double p, bool training, Generator* gen = nullptr);

}  // namespace cadenza
