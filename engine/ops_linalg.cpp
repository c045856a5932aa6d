// matmul (2-D, batched, broadcasting) and linear, on Eigen's GEMM.
#include <algorithm>
#include <numeric>

#include "engine/ops_util.h"
#include "engine/backend.h"
#include "kernels/cpu/matmul.h"

namespace cadenza {

using namespace detail;

namespace {

// How a [.., M, K] operand can be handed to GEMM without a copy.
struct GemmOperand {
  Tensor t;        // possibly a contiguous copy
  bool trans;      // stored column-major
  int64_t ld;
};

GemmOperand gemm_operand(const Tensor& x) {
  int64_t r = x.dim() - 2, c = x.dim() - 1;
  const auto& st = x.strides();
  const auto& sh = x.shape();
  if (st[c] == 1 && st[r] >= std::max<int64_t>(1, sh[c])) return {x, false, st[r]};
  if (st[r] == 1 && st[c] >= std::max<int64_t>(1, sh[r])) return {x, true, st[c]};
  Tensor y = contiguous(x.detach());
  return {y, false, std::max<int64_t>(1, sh[c])};
}

// a: [..., M, K], b: [..., K, N], both with the same batch shape, no history.
Tensor matmul_raw(const Tensor& a_in, const Tensor& b_in) {
  int64_t M = a_in.shape()[a_in.dim() - 2], K = a_in.shape()[a_in.dim() - 1];
  int64_t N = b_in.shape()[b_in.dim() - 1];
  Shape batch(a_in.shape().begin(), a_in.shape().end() - 2);
  Shape s = batch;
  s.push_back(M);
  s.push_back(N);
  if (a_in.device() != b_in.device())
    throw Error("matmul: operands on " + a_in.device().str() + " and " + b_in.device().str() +
                "; move one with to(Device)");
  Tensor out = Tensor::empty(s, a_in.dtype(), a_in.device());
  int64_t nb = shape_numel(batch);
  if (out.numel() == 0) return out;
  GemmOperand A = gemm_operand(a_in), B = gemm_operand(b_in);
  size_t es = dtype_size(a_in.dtype());
  const char* pa = static_cast<const char*>(A.t.raw_data());
  const char* pb = static_cast<const char*>(B.t.raw_data());
  char* pc = static_cast<char*>(out.raw_data());
  std::vector<int64_t> idx(batch.size(), 0);
  for (int64_t i = 0; i < nb; ++i) {
    int64_t oa = 0, ob = 0;
    for (size_t k = 0; k < batch.size(); ++k) {
      oa += idx[k] * A.t.strides()[k];
      ob += idx[k] * B.t.strides()[k];
    }
    CADENZA_KERNEL(gemm, a_in.device(), a_in.dtype())(a_in.dtype(), A.trans, B.trans, M, N, K, 1.0, pa + oa * es, A.ld, pb + ob * es,
                  B.ld, 0.0, pc + i * M * N * es, N);
    for (int64_t k = static_cast<int64_t>(batch.size()) - 1; k >= 0; --k) {
      if (++idx[k] < batch[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_defined(a, "matmul", "first operand");
  check_defined(b, "matmul", "second operand");
  check_same_dtype(a, b, "matmul");
  check_floating(a, "matmul");
  if (a.dim() == 0 || b.dim() == 0)
    throw Error("matmul: operands must be at least 1-D, got " + a.str() + " and " + b.str());
  if (a.dim() == 1) return squeeze(matmul(unsqueeze(a, 0), b), -2);
  if (b.dim() == 1) return squeeze(matmul(a, unsqueeze(b, 1)), -1);
  int64_t K = a.shape()[a.dim() - 1];
  if (b.shape()[b.dim() - 2] != K)
    throw Error("matmul: inner dimensions differ: " + a.str() + " @ " + b.str());
  // [..., M, K] @ [K, N]: one GEMM over all rows, not one per batch entry.
  // The rows are taken in a's storage order: its leading dims are permuted
  // by stride, largest first (a batch-first view of an LSTM's [T, B, H]
  // output becomes [T, B, H] again), so a tensor whose rows are a permuted
  // contiguous block needs no copy; the result takes that layout, permuted
  // back. Rows that are no such block are copied in order first.
  if (b.dim() == 2 && a.dim() > 2) {
    const int64_t lead = a.dim() - 1;
    std::vector<int64_t> order(static_cast<size_t>(lead));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t i, int64_t j) { return a.strides()[i] > a.strides()[j]; });
    std::vector<int64_t> back(order.size());
    for (size_t i = 0; i < order.size(); ++i) back[order[i]] = static_cast<int64_t>(i);
    order.push_back(lead);
    back.push_back(lead);
    Tensor ap = permute(a, order);
    Shape s(ap.shape().begin(), ap.shape().end() - 1);
    s.push_back(b.shape()[1]);
    return permute(reshape(matmul(reshape(ap, {-1, K}), b), s), back);
  }
  Shape ba(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_shapes(ba, bb, "matmul");
  Shape sa = batch, sb = batch;
  sa.push_back(a.shape()[a.dim() - 2]);
  sa.push_back(K);
  sb.push_back(K);
  sb.push_back(b.shape()[b.dim() - 1]);
  Tensor out = matmul_raw(broadcast_view(a, sa, "matmul"), broadcast_view(b, sb, "matmul"));
  bool ga = a.requires_grad(), gb = b.requires_grad();
  return record(out, "matmul", {a, b}, [a, b, ga, gb](const Tensor& g) {
    return std::vector<Tensor>{
        ga ? sum_to(matmul(g, transpose(b, -1, -2)), a.shape()) : Tensor(),
        gb ? sum_to(matmul(transpose(a, -1, -2), g), b.shape()) : Tensor()};
  });
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_defined(x, "linear", "input");
  check_defined(weight, "linear", "weight");
  if (weight.dim() != 2) throw Error("linear: weight must be [out, in], got " + weight.str());
  if (x.dim() == 0 || x.shape().back() != weight.shape()[1])
    throw Error("linear: input " + x.str() + " does not end in in_features=" +
                std::to_string(weight.shape()[1]) + " of weight " + weight.str());
  Tensor y = matmul(x, transpose(weight, 0, 1));
  if (!bias.defined()) return y;
  if (bias.dim() != 1 || bias.shape()[0] != weight.shape()[0])
    throw Error("linear: bias " + bias.str() + " should be [" + std::to_string(weight.shape()[0]) + "]");
  return add(y, bias);
}

}  // namespace cadenza
