#pragma once
// LSTM and GRU: layer ops with hand-written CPU kernels (one GEMM for the
// input projection of all steps, one recurrent GEMM per step, one fused
// pointwise kernel per step forward and backward), and nn modules whose
// parameters are named and laid out as torch.nn.LSTM / torch.nn.GRU.
#include <memory>
#include <vector>

#include "engine/nn.h"

namespace cadenza {

// x: [T, B, in]; h0, c0: [B, H] or undefined (zeros); w_ih: [4H, in],
// w_hh: [4H, H]; b_ih, b_hh: [4H] or undefined. Gate order i, f, g, o.
// -> [T + 1, B, H]: rows 0..T-1 are h_1..h_T, row T is the final cell c_T.
// (One packed output keeps the op single-output for autograd; use
// lstm_split to get the pieces as views.)
Tensor lstm_layer(const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w_ih,
                  const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh);

// x: [T, B, in]; h0: [B, H] or undefined; w_ih: [3H, in], w_hh: [3H, H];
// biases [3H] or undefined. Gate order r, z, n; the n gate's hidden bias sits
// inside r * (W_hn h + b_hn) as in PyTorch. -> [T, B, H] (h_T is row T-1).
Tensor gru_layer(const Tensor& x, const Tensor& h0, const Tensor& w_ih, const Tensor& w_hh,
                 const Tensor& b_ih, const Tensor& b_hh);

// The same layers with the input projection already done: gates
// [T, B, 4H] = x W_ih^T + b_ih + b_hh (LSTM), or [T, B, 3H] = x W_ih^T + b_ih
// (GRU, whose b_hh stays inside the n gate). A model whose input is an
// embedding can fold W_ih into a per-token table this way (SequenceModel).
Tensor lstm_layer_gates(const Tensor& gates, const Tensor& h0, const Tensor& c0, const Tensor& w_hh);
Tensor gru_layer_gates(const Tensor& gates, const Tensor& h0, const Tensor& w_hh, const Tensor& b_hh);

namespace nn {

struct RNNOutput {
  Tensor output;  // [B, T, H] if batch_first else [T, B, H]
  Tensor h_n;     // [layers, B, H]
  Tensor c_n;     // [layers, B, H] (LSTM only)
};

// Multi-layer LSTM or GRU (mode "lstm" / "gru"), parameters
// weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}, initialised
// U(-1/sqrt(H), 1/sqrt(H)) as PyTorch does. Dropout applies to the outputs
// of every layer but the last, in training only.
class RNNBase : public Module {
 public:
  RNNBase(const std::string& mode, int64_t input_size, int64_t hidden_size, int64_t num_layers = 1,
          bool batch_first = false, double dropout = 0.0, bool bias = true,
          DType dtype = DType::f32, Generator* dropout_gen = nullptr);
  // x: [B, T, in] (batch_first) or [T, B, in]; h0 / c0: [layers, B, H] or undefined.
  RNNOutput forward_rnn(const Tensor& x, const Tensor& h0 = Tensor(), const Tensor& c0 = Tensor());
  // As forward_rnn, with layer 0's input projection given (lstm_layer_gates):
  // gates0 is [B, T, G] (batch_first) or [T, B, G]; weight_ih_l0 and, for an
  // LSTM, both layer-0 biases are then the caller's business.
  RNNOutput forward_rnn_gates(const Tensor& gates0, const Tensor& h0 = Tensor(), const Tensor& c0 = Tensor());
  Tensor forward(const Tensor& x) override { return forward_rnn(x).output; }

  std::string mode;
  int64_t input_size, hidden_size, num_layers;
  bool batch_first;
  double dropout_p;
  std::vector<Tensor> w_ih, w_hh, b_ih, b_hh;

 private:
  RNNOutput run_layers(Tensor seq, bool gates0, const Tensor& h0, const Tensor& c0);
  Generator* gen_;
};

class LSTM : public RNNBase {
 public:
  LSTM(int64_t input_size, int64_t hidden_size, int64_t num_layers = 1, bool batch_first = false,
       double dropout = 0.0, bool bias = true, DType dtype = DType::f32)
      : RNNBase("lstm", input_size, hidden_size, num_layers, batch_first, dropout, bias, dtype) {}
};

class GRU : public RNNBase {
 public:
  GRU(int64_t input_size, int64_t hidden_size, int64_t num_layers = 1, bool batch_first = false,
      double dropout = 0.0, bool bias = true, DType dtype = DType::f32)
      : RNNBase("gru", input_size, hidden_size, num_layers, batch_first, dropout, bias, dtype) {}
};

}  // namespace nn
}  // namespace cadenza
