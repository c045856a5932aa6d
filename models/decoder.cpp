#include "models/decoder.h"

#include "kernels/decoder_math.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "engine/autograd.h"
#include "engine/threading.h"
#include "kernels/cpu/gemv.h"
#include "kernels/cpu/rnn.h"
#include "kernels/math.h"

namespace cadenza::models {
namespace {

std::vector<float> values(const Tensor& t, int64_t n) {
  if (!t.defined()) return std::vector<float>(n, 0.f);
  return t.detach().to(Device{}).contiguous().to_vector<float>();
}

// This thread's share [b0, b1) of n items, in blocks of `align`.
void share(int64_t n, int64_t align, int tid, int nt, int64_t& b0, int64_t& b1) {
  int64_t blocks = (n + align - 1) / align;
  b0 = std::min(n, blocks * tid / nt * align);
  b1 = std::min(n, blocks * (tid + 1) / nt * align);
}

}  // namespace

Decoder::Decoder(const SequenceModel& model) {
  NoGradGuard ng;
  const SequenceModelConfig& c = model.config;
  V_ = c.vocab_size;
  H_ = c.hidden;
  L_ = c.layers;
  lstm_ = c.cell == "lstm";
  G_ = (lstm_ ? 4 : 3) * H_;
  const nn::RNNBase& rnn = *model.rnn;
  if (model.embedding->weight.dtype() != DType::f32)
    throw Error("Decoder: the model must be f32, got " + model.embedding->weight.str());
  table_ = model.gate_table().to(Device{}).contiguous().to_vector<float>();
  w_ih_.resize(L_);
  w_hh_.resize(L_);
  b_x_.resize(L_);
  b_h_.resize(L_);
  for (int64_t l = 0; l < L_; ++l) {
    if (l > 0) w_ih_[l] = values(rnn.w_ih[l], 0);
    w_hh_[l] = values(rnn.w_hh[l], 0);
    std::vector<float> bi = values(rnn.b_ih[l], G_), bh = values(rnn.b_hh[l], G_);
    if (lstm_) {
      for (int64_t r = 0; r < G_; ++r) bi[r] += bh[r];
      b_x_[l] = bi;  // layer 0's lives in the table
    } else {
      b_x_[l] = bi;
      b_h_[l] = bh;
    }
  }
  w_out_ = values(model.output->weight, 0);
  b_out_ = values(model.output->bias, V_);
  for (auto& h : h_) h.assign(L_, std::vector<float>(H_, 0.f));
  c_.assign(L_, std::vector<float>(H_, 0.f));
  gx_.assign(L_, std::vector<float>(lstm_ ? G_ : 4 * H_, 0.f));  // a GRU saves r, z, n, gh_n here
  gh_.assign(L_, std::vector<float>(G_, 0.f));
  logits_.assign(V_, 0.f);
  // A team only pays when each member has a real slice of units to stream.
  const int64_t weights = L_ * G_ * (H_ + c.embed) + V_ * H_;
  threads_ = weights < (int64_t(1) << 18) ? 1 : std::max(1, std::min<int>(get_num_threads(), int(H_ / 16)));
}

void Decoder::weights(kmath::dec::Weights* out) const {
  if (!lstm_) throw Error("Decoder: only an LSTM's weights go to the CUDA decoder");
  kmath::dec::Weights& w = *out;
  w = kmath::dec::Weights{};
  w.V = V_;
  w.H = H_;
  w.L = L_;
  w.table = table_.data();
  for (int64_t l = 0; l < L_; ++l) {
    w.w_hh.push_back(w_hh_[l].data());
    w.w_ih.push_back(l > 0 ? w_ih_[l].data() : nullptr);
    w.b.push_back(b_x_[l].data());
  }
  w.w_out = w_out_.data();
  w.b_out = b_out_.data();
}

void Decoder::reset() {
  for (auto& buf : h_)
    for (auto& h : buf) std::fill(h.begin(), h.end(), 0.f);
  for (auto& c : c_) std::fill(c.begin(), c.end(), 0.f);
}

void Decoder::check_token(int32_t token) const {
  if (token < 0 || token >= V_)
    throw Error("Decoder: token " + std::to_string(token) + " is outside the vocabulary [0, " +
                std::to_string(V_) + ")");
}

void Decoder::team_pre(int tid, int nt, int cur) {
  const int64_t H = H_;
  int64_t j0, j1;
  share(H, 16, tid, nt, j0, j1);
  if (j1 <= j0) return;
  for (int64_t l = 0; l < L_; ++l) {
    const float* hp = h_[cur][l].data();
    for (int q = 0; q < (lstm_ ? 4 : 3); ++q) {
      const int64_t r0 = q * H + j0, r1 = q * H + j1;
      const size_t bytes = (r1 - r0) * sizeof(float);
      if (lstm_) {  // gx = b + W_hh h (layer 0's bias is in the table)
        float* gx = gx_[l].data();
        if (l == 0)
          std::memset(gx + r0, 0, bytes);
        else
          std::memcpy(gx + r0, b_x_[l].data() + r0, bytes);
        kernels::gemv_rows(w_hh_[l].data(), H, H, hp, gx, r0, r1, true);
      } else {  // gh = b_hh + W_hh h; gx = b_ih
        float* gh = gh_[l].data();
        std::memcpy(gh + r0, b_h_[l].data() + r0, bytes);
        kernels::gemv_rows(w_hh_[l].data(), H, H, hp, gh, r0, r1, true);
        if (l > 0) std::memcpy(gx_[l].data() + r0, b_x_[l].data() + r0, bytes);
      }
    }
  }
}

void Decoder::team_post(int tid, int nt, int cur, int32_t token, bool logits) {
  const int nxt = 1 - cur;
  const int64_t H = H_;
  int64_t j0, j1;
  share(H, 16, tid, nt, j0, j1);
  for (int64_t l = 0; l < L_; ++l) {
    const float* hp = h_[cur][l].data();
    float* hn = h_[nxt][l].data();
    float* gx = gx_[l].data();
    if (j1 > j0) {
      for (int q = 0; q < (lstm_ ? 4 : 3); ++q) {
        const int64_t r0 = q * H + j0, r1 = q * H + j1;
        if (l == 0) {
          const float* t = table_.data() + token * G_;
          if (lstm_)
            for (int64_t r = r0; r < r1; ++r) gx[r] += t[r];
          else
            std::memcpy(gx + r0, t + r0, (r1 - r0) * sizeof(float));
        } else {
          kernels::gemv_rows(w_ih_[l].data(), H, H, h_[nxt][l - 1].data(), gx, r0, r1, true);
        }
      }
      float* c = c_[l].data();
      if (lstm_) {
        kernels::lstm_cell_forward_f32(gx, H, j0, j1 - j0, c, c, hn);
      } else {
        // The cell reads unit j's pre-activations before it saves r, z, n
        // and gh_n over them (gx has 4H floats), and nothing reads them later.
        const float* gh = gh_[l].data();
        for (int64_t j = j0; j < j1; ++j) kmath::gru_cell_forward(gx, gh, H, j, hp[j], gx, hn[j]);
      }
    }
#pragma omp barrier
  }
  if (logits) {
    int64_t r0, r1;
    share(V_, 4, tid, nt, r0, r1);
    if (r1 > r0) {
      std::memcpy(logits_.data() + r0, b_out_.data() + r0, (r1 - r0) * sizeof(float));
      kernels::gemv_rows(w_out_.data(), H, H, h_[nxt][L_ - 1].data(), logits_.data(), r0, r1, true);
    }
#pragma omp barrier
  }
}

const std::vector<float>& Decoder::step(int32_t token) {
  check_token(token);
  const int cur = cur_;
#pragma omp parallel num_threads(threads_)
  {
    const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
    team_pre(tid, nt, cur);
    team_post(tid, nt, cur, token, true);
  }
  cur_ = 1 - cur_;
  return logits_;
}

std::vector<int32_t> Decoder::generate(int64_t tokens, int32_t first, const std::function<double()>& u,
                                       double temperature, int64_t top_k, double top_p,
                                       const std::vector<int32_t>& primer) {
  for (int32_t t : primer) check_token(t);
  int32_t token = primer.empty() ? first : primer.back();
  check_token(token);
  std::vector<int32_t> out;
  out.reserve(static_cast<size_t>(std::max<int64_t>(0, tokens)));
  const int64_t feed = primer.empty() ? 0 : static_cast<int64_t>(primer.size()) - 1;
  bool failed = false;
  std::string error;
  const int cur0 = cur_;
#pragma omp parallel num_threads(threads_)
  {
    const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
    int cur = cur0;  // each member flips its own copy: no shared write to wait for
    for (int64_t i = 0; i < feed; ++i) {
      team_pre(tid, nt, cur);
      team_post(tid, nt, cur, primer[i], false);  // ends at a barrier
      cur = 1 - cur;
    }
    team_pre(tid, nt, cur);
    for (int64_t i = 0; i < tokens; ++i) {
      team_post(tid, nt, cur, token, true);
      cur = 1 - cur;
      // While the master samples, the others already run the next token's
      // recurrent products, which need only the state.
      if (tid == 0 && !failed) {
        try {
          token = static_cast<int32_t>(sample_token(logits_.data(), V_, temperature, top_k, top_p, u()));
          out.push_back(token);
        } catch (const std::exception& e) {
          failed = true;
          error = e.what();
        }
      }
      if (i + 1 < tokens) team_pre(tid, nt, cur);
#pragma omp barrier
      if (failed) break;  // read by all after the barrier, so all leave together
    }
  }
  cur_ = (feed + tokens) % 2 == 0 ? cur0 : 1 - cur0;
  if (failed) throw Error("Decoder: sampling failed: " + error);
  return out;
}

}  // namespace cadenza::models
