#include "engine/rnn.h"

#include "engine/backend.h"

#include <cmath>
#include <cstring>

#include "engine/autograd.h"
#include "engine/ops_util.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/rnn.h"

namespace cadenza {

using detail::check_defined;

namespace {

char* ptr(const Tensor& t, int64_t elem_offset = 0) {
  return static_cast<char*>(t.raw_data()) + elem_offset * dtype_size(t.dtype());
}

// C[M,N] (+)= A[M,K] @ op(B) on contiguous row-major buffers.
void gemm_nt(Device dev, DType dt, int64_t M, int64_t N, int64_t K, const void* A, const void* Bt, void* C,
             double beta) {  // B given as [N, K] (a weight), used transposed
  CADENZA_KERNEL(gemm, dev, dt)(dt, false, true, M, N, K, 1.0, A, K, Bt, K, beta, C, N);
}
void gemm_nn(Device dev, DType dt, int64_t M, int64_t N, int64_t K, const void* A, const void* B, void* C,
             double beta) {
  CADENZA_KERNEL(gemm, dev, dt)(dt, false, false, M, N, K, 1.0, A, K, B, N, beta, C, N);
}
void gemm_tn(Device dev, DType dt, int64_t M, int64_t N, int64_t K, const void* At, const void* B, void* C,
             double beta) {  // A given as [K, M]
  CADENZA_KERNEL(gemm, dev, dt)(dt, true, false, M, N, K, 1.0, At, M, B, N, beta, C, N);
}

// dst = src, `bytes` between contiguous buffers of `dev` (host pointers on
// the CPU, device pointers elsewhere).
void copy_bytes(Device dev, void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  if (dev.kind == Device::cpu)
    std::memcpy(dst, src, bytes);
  else
    backend::backend_for(dev).memory.within(dst, src, bytes, dev.index);
}

// Fills rows [R, G] with b_ih + b_hh (either may be undefined).
void fill_bias_rows(Tensor& out, int64_t R, int64_t G, const Tensor& b1, const Tensor& b2) {
  if (!b1.defined() && !b2.defined()) {
    if (out.device().kind == Device::cpu)
      std::memset(out.raw_data(), 0, out.numel() * dtype_size(out.dtype()));
    else
      out.fill_(0.0);
    return;
  }
  Tensor b = b1.defined() ? (b2.defined() ? add(b1.detach(), b2.detach()) : b1.detach()) : b2.detach();
  b = b.contiguous();
  if (out.device().kind != Device::cpu) {  // one broadcast copy instead of a copy per row
    out.copy_(b);
    return;
  }
  size_t row = G * dtype_size(out.dtype());
  for (int64_t r = 0; r < R; ++r) std::memcpy(ptr(out, r * G), b.raw_data(), row);
}

// The recurrence's kernel on x's device, looked up before any work: a device
// that has the input projection's GEMM but not the recurrence fails here,
// naming the op, rather than after writing into buffers of another device.
void require_recurrent_kernel(int64_t gates, const Tensor& x) {
  if (gates == 4)
    (void)CADENZA_KERNEL(lstm_recurrent_forward, x.device(), x.dtype());
  else
    (void)CADENZA_KERNEL(gru_recurrent_forward, x.device(), x.dtype());
}

void check_rnn_args(const char* op, int64_t gates, const Tensor& x, const Tensor& h0, const Tensor& c0,
                    const Tensor& w_ih, const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh,
                    int64_t& T, int64_t& B, int64_t& I, int64_t& H) {
  check_defined(x, op, "input");
  check_defined(w_ih, op, "weight_ih");
  check_defined(w_hh, op, "weight_hh");
  detail::check_floating(x, op);
  require_recurrent_kernel(gates, x);
  if (x.dim() != 3) throw Error(std::string(op) + ": input must be [T, B, in], got " + x.str());
  T = x.shape()[0];
  B = x.shape()[1];
  I = x.shape()[2];
  if (w_hh.dim() != 2 || w_hh.shape()[0] % gates != 0 || w_hh.shape()[1] * gates != w_hh.shape()[0])
    throw Error(std::string(op) + ": weight_hh must be [" + std::to_string(gates) + "H, H], got " + w_hh.str());
  H = w_hh.shape()[1];
  if (w_ih.shape() != Shape{gates * H, I})
    throw Error(std::string(op) + ": weight_ih " + w_ih.str() + " should be [" +
                std::to_string(gates * H) + ", " + std::to_string(I) + "] for input " + x.str());
  for (const Tensor* b : {&b_ih, &b_hh})
    if (b->defined() && b->shape() != Shape{gates * H})
      throw Error(std::string(op) + ": bias " + b->str() + " should be [" + std::to_string(gates * H) + "]");
  for (const Tensor* s : {&h0, &c0})
    if (s->defined() && s->shape() != Shape{B, H})
      throw Error(std::string(op) + ": initial state " + s->str() + " should be [" + std::to_string(B) +
                  ", " + std::to_string(H) + "]");
  // Devices first, by name: check_same_dtype would refuse a mismatch too,
  // without saying which tensor.
  detail::check_same_device(x, h0, op, "input", "h0");
  detail::check_same_device(x, c0, op, "input", "c0");
  detail::check_same_device(x, w_ih, op, "input", "weight_ih");
  detail::check_same_device(x, w_hh, op, "input", "weight_hh");
  detail::check_same_device(x, b_ih, op, "input", "bias_ih");
  detail::check_same_device(x, b_hh, op, "input", "bias_hh");
  for (const Tensor* t : {&h0, &c0, &w_ih, &w_hh, &b_ih, &b_hh})
    if (t->defined()) detail::check_same_dtype(x, *t, op);
  if (T == 0) throw Error(std::string(op) + ": input has no time steps");
}

// The *_layer_gates ops: gates [T, B, gates*H] given, weight_hh [gates*H, H],
// initial states [B, H] and a hidden bias [gates*H] optional.
void check_gates_args(const char* op, int64_t gates, const Tensor& gx, const Tensor& h0, const Tensor& c0,
                      const Tensor& w_hh, const Tensor& b_hh, int64_t& T, int64_t& B, int64_t& H) {
  check_defined(gx, op, "gates");
  check_defined(w_hh, op, "weight_hh");
  detail::check_floating(gx, op);
  require_recurrent_kernel(gates, gx);
  if (w_hh.dim() != 2 || w_hh.shape()[0] != gates * w_hh.shape()[1])
    throw Error(std::string(op) + ": weight_hh must be [" + std::to_string(gates) + "H, H], got " + w_hh.str());
  H = w_hh.shape()[1];
  const int64_t G = gates * H;
  if (gx.dim() != 3 || gx.shape()[2] != G)
    throw Error(std::string(op) + ": gates must be [T, B, " + std::to_string(G) + "] for weight_hh " +
                w_hh.str() + ", got " + gx.str());
  T = gx.shape()[0];
  B = gx.shape()[1];
  if (T == 0) throw Error(std::string(op) + ": input has no time steps");
  for (const Tensor* s : {&h0, &c0})
    if (s->defined() && s->shape() != Shape{B, H})
      throw Error(std::string(op) + ": initial state " + s->str() + " should be [" + std::to_string(B) + ", " +
                  std::to_string(H) + "]");
  if (b_hh.defined() && b_hh.shape() != Shape{G})
    throw Error(std::string(op) + ": bias " + b_hh.str() + " should be [" + std::to_string(G) + "]");
  detail::check_same_device(gx, h0, op, "gates", "h0");
  detail::check_same_device(gx, c0, op, "gates", "c0");
  detail::check_same_device(gx, w_hh, op, "gates", "weight_hh");
  detail::check_same_device(gx, b_hh, op, "gates", "bias_hh");
  for (const Tensor* t : {&h0, &c0, &w_hh, &b_hh})
    if (t->defined()) detail::check_same_dtype(gx, *t, op);
}

Tensor state_or_zeros(const Tensor& s, int64_t B, int64_t H, DType dt, Device dev) {
  return s.defined() ? s.detach().contiguous() : Tensor::zeros({B, H}, dt, dev);
}

// Gradient of the bias: column sums of dG [R, G].
Tensor bias_grad(const Tensor& dG, int64_t R, int64_t G) {
  NoGradGuard ng;
  return sum(reshape(dG, {R, G}), {0});
}

}  // namespace

namespace {

// The recurrence of an LSTM layer on pre-activations `act` [T, B, 4H] (input
// projection and biases, turned into the activations in place), shared by
// lstm_layer and lstm_layer_gates. X / Wih are given only for the fused short
// input path. Returns [T + 1, B, H] (h_1..h_T, then c_T) and fills `cells`.
Tensor lstm_recur(Tensor& act, Tensor& cells, int64_t T, int64_t B, int64_t H, const Tensor& Whh,
                  const Tensor& h_init, const Tensor& c_init, const Tensor& X, const Tensor& Wih, int64_t I) {
  const DType dt = act.dtype();
  const Device dev = act.device();
  const int64_t BH = B * H;
  Tensor out = Tensor::empty({T + 1, B, H}, dt, dev);
  cells = Tensor::empty({T, B, H}, dt, dev);
  CADENZA_KERNEL(lstm_recurrent_forward, dev, dt)(dt, T, B, H, act.raw_data(), Whh.raw_data(), h_init.raw_data(),
                                  c_init.raw_data(), out.raw_data(), cells.raw_data(),
                                  X.defined() ? X.raw_data() : nullptr, Wih.defined() ? Wih.raw_data() : nullptr, I);
  copy_bytes(dev, ptr(out, T * BH), ptr(cells, (T - 1) * BH), BH * dtype_size(dt));
  return out;
}

// Backward through the recurrence: the pre-activation gradients dG
// [T, B, 4H], dW_hh, and the gradients into h0 and c0.
struct LstmRecurGrads {
  Tensor dG, dWhh, dh0, dc0;
};
LstmRecurGrads lstm_recur_backward(const Tensor& g, const Tensor& act, const Tensor& cells, const Tensor& outs,
                                   int64_t T, int64_t B, int64_t H, const Tensor& Whh, const Tensor& h_init,
                                   const Tensor& c_init) {
  const DType dt = act.dtype();
  const Device dev = act.device();
  const int64_t G = 4 * H, BH = B * H, BG = B * G;
  Tensor gc = g.detach().contiguous();
  LstmRecurGrads r;
  r.dG = Tensor::empty({T, B, G}, dt, dev);
  r.dh0 = Tensor::empty({B, H}, dt, dev);
  r.dc0 = Tensor::empty({B, H}, dt, dev);
  copy_bytes(dev, r.dc0.raw_data(), ptr(gc, T * BH), BH * dtype_size(dt));
  CADENZA_KERNEL(lstm_recurrent_backward, dev, dt)(dt, T, B, H, act.raw_data(), Whh.raw_data(), c_init.raw_data(),
                                   cells.raw_data(), gc.raw_data(), r.dc0.raw_data(), r.dh0.raw_data(),
                                   r.dG.raw_data());
  r.dWhh = Tensor::empty({G, H}, dt, dev);
  gemm_tn(dev, dt, G, H, B, r.dG.raw_data(), h_init.raw_data(), r.dWhh.raw_data(), 0.0);
  if (T > 1) gemm_tn(dev, dt, G, H, (T - 1) * B, ptr(r.dG, BG), outs.raw_data(), r.dWhh.raw_data(), 1.0);
  return r;
}

}  // namespace

Tensor lstm_layer(const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& w_ih,
                  const Tensor& w_hh, const Tensor& b_ih, const Tensor& b_hh) {
  int64_t T, B, I, H;
  check_rnn_args("lstm_layer", 4, x, h0, c0, w_ih, w_hh, b_ih, b_hh, T, B, I, H);
  const DType dt = x.dtype();
  const Device dev = x.device();
  const int64_t G = 4 * H;
  Tensor X = x.detach().contiguous();
  Tensor Wih = w_ih.detach().contiguous(), Whh = w_hh.detach().contiguous();
  Tensor h_init = state_or_zeros(h0, B, H, dt, dev), c_init = state_or_zeros(c0, B, H, dt, dev);
  // act: pre-activations of all steps, turned into activations in place.
  Tensor act = Tensor::empty({T, B, G}, dt, dev);
  fill_bias_rows(act, T * B, G, b_ih, b_hh);
  // Few rows (sampling): the recurrent kernel projects the input per thread;
  // otherwise one big GEMM does it for every step at once.
  const bool fuse_input = T * B <= 16;
  if (!fuse_input) gemm_nt(dev, dt, T * B, G, I, X.raw_data(), Wih.raw_data(), act.raw_data(), 1.0);
  Tensor cells;
  Tensor out = lstm_recur(act, cells, T, B, H, Whh, h_init, c_init, fuse_input ? X : Tensor(),
                          fuse_input ? Wih : Tensor(), I);

  bool has_bih = b_ih.defined(), has_bhh = b_hh.defined();
  bool need_h0 = h0.defined(), need_c0 = c0.defined();
  Tensor outs = out.detach();
  return record(out, "lstm_layer", {x, h0, c0, w_ih, w_hh, b_ih, b_hh},
                [=](const Tensor& g) {
    LstmRecurGrads r = lstm_recur_backward(g, act, cells, outs, T, B, H, Whh, h_init, c_init);
    Tensor dX = Tensor::empty({T, B, I}, dt, dev), dWih = Tensor::empty({G, I}, dt, dev);
    gemm_nn(dev, dt, T * B, I, G, r.dG.raw_data(), Wih.raw_data(), dX.raw_data(), 0.0);
    gemm_tn(dev, dt, G, I, T * B, r.dG.raw_data(), X.raw_data(), dWih.raw_data(), 0.0);
    Tensor db = (has_bih || has_bhh) ? bias_grad(r.dG, T * B, G) : Tensor();
    return std::vector<Tensor>{dX, need_h0 ? r.dh0 : Tensor(), need_c0 ? r.dc0 : Tensor(), dWih, r.dWhh,
                               has_bih ? db : Tensor(), has_bhh ? db : Tensor()};
  });
}

Tensor lstm_layer_gates(const Tensor& gx, const Tensor& h0, const Tensor& c0, const Tensor& w_hh) {
  int64_t T, B, H;
  check_gates_args("lstm_layer_gates", 4, gx, h0, c0, w_hh, Tensor(), T, B, H);
  const int64_t G = 4 * H;
  const DType dt = gx.dtype();
  const Device dev = gx.device();
  Tensor Whh = w_hh.detach().contiguous();
  Tensor h_init = state_or_zeros(h0, B, H, dt, dev), c_init = state_or_zeros(c0, B, H, dt, dev);
  Tensor act = Tensor::empty({T, B, G}, dt, dev);  // a copy: the kernel overwrites it
  {
    Tensor src = gx.detach().contiguous();
    copy_bytes(dev, act.raw_data(), src.raw_data(), act.numel() * dtype_size(dt));
  }
  Tensor cells;
  Tensor out = lstm_recur(act, cells, T, B, H, Whh, h_init, c_init, Tensor(), Tensor(), 0);
  bool need_h0 = h0.defined(), need_c0 = c0.defined();
  Tensor outs = out.detach();
  return record(out, "lstm_layer_gates", {gx, h0, c0, w_hh}, [=](const Tensor& g) {
    LstmRecurGrads r = lstm_recur_backward(g, act, cells, outs, T, B, H, Whh, h_init, c_init);
    return std::vector<Tensor>{r.dG, need_h0 ? r.dh0 : Tensor(), need_c0 ? r.dc0 : Tensor(), r.dWhh};
  });
}

namespace {

// The GRU recurrence on the input projection gx [T, B, 3H] (with b_ih):
// returns h_1..h_T [T, B, H] and fills `save` (see gru_recurrent_forward).
Tensor gru_recur(const Tensor& gx, Tensor& save, int64_t T, int64_t B, int64_t H, const Tensor& Whh,
                 const Tensor& bhh, const Tensor& h_init) {
  const DType dt = gx.dtype();
  const Device dev = gx.device();
  save = Tensor::empty({T, B, 4 * H}, dt, dev);
  Tensor out = Tensor::empty({T, B, H}, dt, dev);
  CADENZA_KERNEL(gru_recurrent_forward, dev, dt)(dt, T, B, H, gx.raw_data(), Whh.raw_data(),
                                 bhh.defined() ? bhh.raw_data() : nullptr, h_init.raw_data(), out.raw_data(),
                                 save.raw_data());
  return out;
}

struct GruRecurGrads {
  Tensor dGx, dGh, dWhh, dh0;
};
GruRecurGrads gru_recur_backward(const Tensor& g, const Tensor& save, const Tensor& outs, int64_t T, int64_t B,
                                 int64_t H, const Tensor& Whh, const Tensor& h_init) {
  const DType dt = outs.dtype();
  const Device dev = outs.device();
  const int64_t G = 3 * H, BG = B * G;
  Tensor gc = g.detach().contiguous();
  GruRecurGrads r;
  r.dGx = Tensor::empty({T, B, G}, dt, dev);
  r.dGh = Tensor::empty({T, B, G}, dt, dev);
  r.dh0 = Tensor::empty({B, H}, dt, dev);
  CADENZA_KERNEL(gru_recurrent_backward, dev, dt)(dt, T, B, H, Whh.raw_data(), h_init.raw_data(), outs.raw_data(),
                                  save.raw_data(), gc.raw_data(), r.dGx.raw_data(), r.dGh.raw_data(),
                                  r.dh0.raw_data());
  r.dWhh = Tensor::empty({G, H}, dt, dev);
  gemm_tn(dev, dt, G, H, B, r.dGh.raw_data(), h_init.raw_data(), r.dWhh.raw_data(), 0.0);
  if (T > 1) gemm_tn(dev, dt, G, H, (T - 1) * B, ptr(r.dGh, BG), outs.raw_data(), r.dWhh.raw_data(), 1.0);
  return r;
}

}  // namespace

Tensor gru_layer(const Tensor& x, const Tensor& h0, const Tensor& w_ih, const Tensor& w_hh,
                 const Tensor& b_ih, const Tensor& b_hh) {
  int64_t T, B, I, H;
  check_rnn_args("gru_layer", 3, x, h0, Tensor(), w_ih, w_hh, b_ih, b_hh, T, B, I, H);
  const DType dt = x.dtype();
  const Device dev = x.device();
  const int64_t G = 3 * H;
  Tensor X = x.detach().contiguous();
  Tensor Wih = w_ih.detach().contiguous(), Whh = w_hh.detach().contiguous();
  Tensor h_init = state_or_zeros(h0, B, H, dt, dev);
  Tensor gx = Tensor::empty({T, B, G}, dt, dev);
  fill_bias_rows(gx, T * B, G, b_ih, Tensor());
  gemm_nt(dev, dt, T * B, G, I, X.raw_data(), Wih.raw_data(), gx.raw_data(), 1.0);
  Tensor bhh = b_hh.defined() ? b_hh.detach().contiguous() : Tensor();
  Tensor save;
  Tensor out = gru_recur(gx, save, T, B, H, Whh, bhh, h_init);
  bool has_bih = b_ih.defined(), has_bhh = b_hh.defined(), need_h0 = h0.defined();
  Tensor outs = out.detach();
  return record(out, "gru_layer", {x, h0, w_ih, w_hh, b_ih, b_hh}, [=](const Tensor& g) {
    GruRecurGrads r = gru_recur_backward(g, save, outs, T, B, H, Whh, h_init);
    Tensor dX = Tensor::empty({T, B, I}, dt, dev), dWih = Tensor::empty({G, I}, dt, dev);
    gemm_nn(dev, dt, T * B, I, G, r.dGx.raw_data(), Wih.raw_data(), dX.raw_data(), 0.0);
    gemm_tn(dev, dt, G, I, T * B, r.dGx.raw_data(), X.raw_data(), dWih.raw_data(), 0.0);
    return std::vector<Tensor>{dX, need_h0 ? r.dh0 : Tensor(), dWih, r.dWhh,
                               has_bih ? bias_grad(r.dGx, T * B, G) : Tensor(),
                               has_bhh ? bias_grad(r.dGh, T * B, G) : Tensor()};
  });
}

Tensor gru_layer_gates(const Tensor& gx, const Tensor& h0, const Tensor& w_hh, const Tensor& b_hh) {
  int64_t T, B, H;
  check_gates_args("gru_layer_gates", 3, gx, h0, Tensor(), w_hh, b_hh, T, B, H);
  const int64_t G = 3 * H;
  const DType dt = gx.dtype();
  const Device dev = gx.device();
  Tensor G_in = gx.detach().contiguous(), Whh = w_hh.detach().contiguous();
  Tensor h_init = state_or_zeros(h0, B, H, dt, dev);
  Tensor bhh = b_hh.defined() ? b_hh.detach().contiguous() : Tensor();
  Tensor save;
  Tensor out = gru_recur(G_in, save, T, B, H, Whh, bhh, h_init);
  bool has_bhh = b_hh.defined(), need_h0 = h0.defined();
  Tensor outs = out.detach();
  return record(out, "gru_layer_gates", {gx, h0, w_hh, b_hh}, [=](const Tensor& g) {
    GruRecurGrads r = gru_recur_backward(g, save, outs, T, B, H, Whh, h_init);
    return std::vector<Tensor>{r.dGx, need_h0 ? r.dh0 : Tensor(), r.dWhh,
                               has_bhh ? bias_grad(r.dGh, T * B, G) : Tensor()};
  });
}

namespace nn {

RNNBase::RNNBase(const std::string& mode_, int64_t in, int64_t hidden, int64_t layers, bool bf,
                 double dropout, bool bias, DType dtype, Generator* gen)
    : Module(mode_ == "lstm" ? "LSTM" : "GRU"), mode(mode_), input_size(in), hidden_size(hidden),
      num_layers(layers), batch_first(bf), dropout_p(dropout), gen_(gen) {
  if (mode != "lstm" && mode != "gru") throw Error("RNN: mode must be lstm or gru, got '" + mode + "'");
  if (in <= 0 || hidden <= 0 || layers <= 0)
    throw Error(type_name() + ": sizes and layers must be positive");
  if (!(dropout >= 0 && dropout < 1)) throw Error(type_name() + ": dropout must be in [0, 1)");
  int64_t G = (mode == "lstm" ? 4 : 3) * hidden;
  double bound = 1.0 / std::sqrt(static_cast<double>(hidden));
  for (int64_t k = 0; k < layers; ++k) {
    std::string s = "_l" + std::to_string(k);
    auto make = [&](const std::string& name, Shape shape) {
      Tensor t = Tensor::empty(shape, dtype);
      uniform_init(t, -bound, bound);
      return register_parameter(name, t);
    };
    w_ih.push_back(make("weight_ih" + s, {G, k == 0 ? in : hidden}));
    w_hh.push_back(make("weight_hh" + s, {G, hidden}));
    b_ih.push_back(bias ? make("bias_ih" + s, {G}) : Tensor());
    b_hh.push_back(bias ? make("bias_hh" + s, {G}) : Tensor());
  }
}

RNNOutput RNNBase::forward_rnn(const Tensor& x, const Tensor& h0, const Tensor& c0) {
  if (x.dim() != 3)
    throw Error(type_name() + ": input must be " + (batch_first ? "[B, T, in]" : "[T, B, in]") +
                ", got " + x.str());
  return run_layers(batch_first ? transpose(x, 0, 1) : x, false, h0, c0);
}

RNNOutput RNNBase::forward_rnn_gates(const Tensor& gates0, const Tensor& h0, const Tensor& c0) {
  const int64_t G = (mode == "lstm" ? 4 : 3) * hidden_size;
  if (gates0.dim() != 3 || gates0.shape()[2] != G)
    throw Error(type_name() + ": layer-0 gates must be " + (batch_first ? "[B, T, " : "[T, B, ") +
                std::to_string(G) + "], got " + gates0.str());
  return run_layers(batch_first ? transpose(gates0, 0, 1) : gates0, true, h0, c0);
}

RNNOutput RNNBase::run_layers(Tensor seq, bool gates0, const Tensor& h0, const Tensor& c0) {
  int64_t B = seq.shape()[1];
  Shape state{num_layers, B, hidden_size};
  if (h0.defined() && h0.shape() != state)
    throw Error(type_name() + ": h0 " + h0.str() + " should be " + shape_str(state));
  if (c0.defined() && c0.shape() != state)
    throw Error(type_name() + ": c0 " + c0.str() + " should be " + shape_str(state));
  if (mode == "gru" && c0.defined()) throw Error("GRU: takes no cell state c0");
  std::vector<Tensor> hs, cs;
  for (int64_t k = 0; k < num_layers; ++k) {
    Tensor hk = h0.defined() ? select(h0, 0, k) : Tensor();
    const bool given = gates0 && k == 0;
    if (mode == "lstm") {
      Tensor ck = c0.defined() ? select(c0, 0, k) : Tensor();
      Tensor packed = given ? lstm_layer_gates(seq, hk, ck, w_hh[k])
                            : lstm_layer(seq, hk, ck, w_ih[k], w_hh[k], b_ih[k], b_hh[k]);
      int64_t T = seq.shape()[0];
      seq = narrow(packed, 0, 0, T);
      hs.push_back(select(packed, 0, T - 1));
      cs.push_back(select(packed, 0, T));
    } else {
      seq = given ? gru_layer_gates(seq, hk, w_hh[k], b_hh[k])
                  : gru_layer(seq, hk, w_ih[k], w_hh[k], b_ih[k], b_hh[k]);
      hs.push_back(select(seq, 0, seq.shape()[0] - 1));
    }
    if (k + 1 < num_layers && dropout_p > 0 && is_training()) seq = dropout(seq, dropout_p, true, gen_);
  }
  RNNOutput out;
  out.output = batch_first ? transpose(seq, 0, 1) : seq;
  out.h_n = stack(hs, 0);
  if (mode == "lstm") out.c_n = stack(cs, 0);
  return out;
}

}  // namespace nn
}  // namespace cadenza
