#include "kernels/cpu/conv1d.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include <omp.h>

#include "kernels/cpu/matmul.h"
#include "kernels/cpu/panel_gemm.h"

namespace cadenza::kernels {

namespace {

// Tap k of w [Cout, Cin, K] as a [Cout, Cin] matrix; PyTorch's layout keeps
// a tap's weights K apart, so they are gathered once per call (weights are
// small next to the activations).
template <class T>
std::vector<T> taps_of(const Conv1dShape& s, const T* w) {
  const int64_t n = s.Cout * s.Cin;
  std::vector<T> out(static_cast<size_t>(n * s.K));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < s.K; ++k) out[k * n + i] = w[i * s.K + k];
  return out;
}

template <class T>
void forward(DType dt, const Conv1dShape& s, const T* x, const T* w, const T* bias, T* y) {
  const int64_t n = s.Cout * s.Cin;
  std::vector<T> packed;
  const T* taps = w;  // K == 1: already [Cout, Cin]
  if (s.K > 1) {
    packed = taps_of(s, w);
    taps = packed.data();
  }
  for (int64_t b = 0; b < s.B; ++b) {
    T* yb = y + b * s.Cout * s.To;
    const T* xb = x + b * s.Cin * s.T;
    for (int64_t o = 0; o < s.Cout; ++o) std::fill(yb + o * s.To, yb + (o + 1) * s.To, bias ? bias[o] : T(0));
    for (int64_t k = 0; k < s.K; ++k) {
      int64_t t0, t1;
      conv1d_tap_columns(s, k, &t0, &t1);
      if (t1 <= t0) continue;
      const int64_t off = k * s.dilation - s.pad_left;
      gemm(dt, false, false, s.Cout, t1 - t0, s.Cin, 1.0, taps + k * n, s.Cin, xb + t0 + off, s.T, 1.0, yb + t0,
           s.To);
    }
  }
}

template <class T>
void backward_input(DType dt, const Conv1dShape& s, const T* g, const T* w, T* dx) {
  const int64_t n = s.Cout * s.Cin;
  std::vector<T> packed;
  const T* taps = w;
  if (s.K > 1) {
    packed = taps_of(s, w);
    taps = packed.data();
  }
  std::memset(dx, 0, sizeof(T) * static_cast<size_t>(s.B * s.Cin * s.T));
  for (int64_t b = 0; b < s.B; ++b) {
    T* dxb = dx + b * s.Cin * s.T;
    const T* gb = g + b * s.Cout * s.To;
    for (int64_t k = 0; k < s.K; ++k) {
      int64_t t0, t1;
      conv1d_tap_columns(s, k, &t0, &t1);
      if (t1 <= t0) continue;
      const int64_t off = k * s.dilation - s.pad_left;
      // dx[:, t + off] += w_k^T g[:, t]
      gemm(dt, true, false, s.Cin, t1 - t0, s.Cout, 1.0, taps + k * n, s.Cin, gb + t0, s.To, 1.0, dxb + t0 + off,
           s.T);
    }
  }
}

template <class T>
void backward_weight(DType dt, const Conv1dShape& s, const T* g, const T* x, T* dw) {
  const int64_t n = s.Cout * s.Cin;
  std::vector<T> taps(static_cast<size_t>(n * s.K), T(0));
  for (int64_t k = 0; k < s.K; ++k) {
    int64_t t0, t1;
    conv1d_tap_columns(s, k, &t0, &t1);
    if (t1 <= t0) continue;
    const int64_t off = k * s.dilation - s.pad_left;
    for (int64_t b = 0; b < s.B; ++b) {
      // dw_k += g[:, t] x[:, t + off]^T over the tap's columns.
      gemm(dt, false, true, s.Cout, s.Cin, t1 - t0, 1.0, g + b * s.Cout * s.To + t0, s.To,
           x + b * s.Cin * s.T + t0 + off, s.T, 1.0, taps.data() + k * n, s.Cin);
    }
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < s.K; ++k) dw[i * s.K + k] = taps[k * n + i];
}


// f32: the output is cut into blocks of kBlock columns, spread over the
// threads. Per block and tap, the input columns the tap reads are packed into
// panels (L1/L2-sized, the GEMM's own packing, not an im2col of the whole
// input) and one panel GEMM adds the tap's weights times them. Gradients of
// the weight reduce over time, so there the threads split time instead and
// sum their partial results.
constexpr int64_t kBlock = 256;

// Columns [c0, c1) of dst [M, ldc] += A [M, depth] x src columns shifted by
// `shift` (src column c + shift feeds output column c), src [depth, lds].
void add_shifted(PanelMatrix& P, int64_t M, int64_t depth, const float* A, const float* src, int64_t lds,
                 int64_t shift, int64_t c0, int64_t c1, float* dst, int64_t ldc) {
  if (c1 <= c0) return;
  P.reset(depth);
  pack_panels(P, src + c0 + shift, lds, false, 0, c1 - c0, c0);
  panel_gemm(M, A, depth, P, dst, ldc, true);
}

// One input and one output channel (the vocoder's upsampling filters, run
// over B x n_mels rows): a panel GEMM of 1 x 1 x depth fills one row of its
// tiles and packs a panel per depth block, so the taps are applied directly,
// a row per iteration.
//
// Forward: y[b, t] = bias + sum_k w[k] x[b, t + off_k]. Adjoint (the input's
// gradient): dx[b, t + off_k] += w[k] g[b, t], from zero.
void single_taps(const Conv1dShape& s, const float* w, const float* src, float* dst, float init, bool adjoint) {
  const int64_t src_len = adjoint ? s.To : s.T, dst_len = adjoint ? s.T : s.To;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < s.B; ++b) {
    const float* in = src + b * src_len;
    float* out = dst + b * dst_len;
    std::fill(out, out + dst_len, init);
    for (int64_t k = 0; k < s.K; ++k) {
      int64_t t0, t1;
      conv1d_tap_columns(s, k, &t0, &t1);
      const int64_t off = k * s.dilation - s.pad_left;
      const float wk = w[k];
      if (adjoint) {
#pragma omp simd
        for (int64_t t = t0; t < t1; ++t) out[t + off] += wk * in[t];
      } else {
#pragma omp simd
        for (int64_t t = t0; t < t1; ++t) out[t] += wk * in[t + off];
      }
    }
  }
}

void single_backward_weight(const Conv1dShape& s, const float* g, const float* x, float* dw) {
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  std::vector<float> partial(static_cast<size_t>(threads * s.K), 0.f);
#pragma omp parallel num_threads(threads)
  {
    float* acc = partial.data() + omp_get_thread_num() * s.K;
#pragma omp for schedule(static)
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t k = 0; k < s.K; ++k) {
        int64_t t0, t1;
        conv1d_tap_columns(s, k, &t0, &t1);
        const int64_t off = k * s.dilation - s.pad_left;
        const float* gb = g + b * s.To;
        const float* xb = x + b * s.T + off;
        float sum = 0.f;
#pragma omp simd reduction(+ : sum)
        for (int64_t t = t0; t < t1; ++t) sum += gb[t] * xb[t];
        acc[k] += sum;
      }
  }
  for (int64_t k = 0; k < s.K; ++k) {
    float v = 0.f;
    for (int i = 0; i < threads; ++i) v += partial[i * s.K + k];
    dw[k] = v;
  }
}

void forward_f32(const Conv1dShape& s, const float* x, const float* w, const float* bias, float* y) {
  std::vector<float> taps = taps_of(s, w);  // [K][Cout][Cin]
  const int64_t blocks = (s.To + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < s.B * blocks; ++i) {
    thread_local PanelMatrix P;
    const int64_t b = i / blocks, c0 = (i % blocks) * kBlock, c1 = std::min(s.To, c0 + kBlock);
    float* yb = y + b * s.Cout * s.To;
    for (int64_t o = 0; o < s.Cout; ++o) std::fill(yb + o * s.To + c0, yb + o * s.To + c1, bias ? bias[o] : 0.f);
    for (int64_t k = 0; k < s.K; ++k) {
      int64_t t0, t1;
      conv1d_tap_columns(s, k, &t0, &t1);
      add_shifted(P, s.Cout, s.Cin, taps.data() + k * s.Cout * s.Cin, x + b * s.Cin * s.T, s.T,
                  k * s.dilation - s.pad_left, std::max(c0, t0), std::min(c1, t1), yb, s.To);
    }
  }
}

void backward_input_f32(const Conv1dShape& s, const float* g, const float* w, float* dx) {
  // Tap k's weights transposed: [K][Cin][Cout].
  std::vector<float> taps(static_cast<size_t>(s.K * s.Cin * s.Cout));
  for (int64_t o = 0; o < s.Cout; ++o)
    for (int64_t c = 0; c < s.Cin; ++c)
      for (int64_t k = 0; k < s.K; ++k) taps[(k * s.Cin + c) * s.Cout + o] = w[(o * s.Cin + c) * s.K + k];
  const int64_t blocks = (s.T + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < s.B * blocks; ++i) {
    thread_local PanelMatrix P;
    const int64_t b = i / blocks, c0 = (i % blocks) * kBlock, c1 = std::min(s.T, c0 + kBlock);
    float* dxb = dx + b * s.Cin * s.T;
    for (int64_t c = 0; c < s.Cin; ++c) std::fill(dxb + c * s.T + c0, dxb + c * s.T + c1, 0.f);
    for (int64_t k = 0; k < s.K; ++k) {
      // Input column u receives output column u - off of tap k.
      const int64_t off = k * s.dilation - s.pad_left;
      add_shifted(P, s.Cin, s.Cout, taps.data() + k * s.Cin * s.Cout, g + b * s.Cout * s.To, s.To, -off,
                  std::max(c0, off), std::min(c1, s.To + off), dxb, s.T);
    }
  }
}

void backward_weight_f32(const Conv1dShape& s, const float* g, const float* x, float* dw) {
  const int64_t n = s.Cout * s.Cin;
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  std::vector<std::vector<float>> partial(static_cast<size_t>(threads));
#pragma omp parallel num_threads(threads)
  {
    const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
    std::vector<float>& acc = partial[tid];
    acc.assign(static_cast<size_t>(s.K * n), 0.f);
    thread_local PanelMatrix P;
    // This thread's share of the time steps, in depth blocks the panels hold.
    const int64_t u0 = s.To * tid / nt, u1 = s.To * (tid + 1) / nt;
    constexpr int64_t kDepth = 512;
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t k = 0; k < s.K; ++k) {
        int64_t t0, t1;
        conv1d_tap_columns(s, k, &t0, &t1);
        const int64_t off = k * s.dilation - s.pad_left;
        for (int64_t t = std::max(u0, t0); t < std::min(u1, t1); t += kDepth) {
          const int64_t depth = std::min({kDepth, u1 - t, t1 - t});
          // op(B)[j][c] = x[b, c, t + j + off]: the input rows, transposed into panels.
          P.reset(depth);
          pack_panels(P, x + b * s.Cin * s.T + t + off, s.T, true, 0, s.Cin, 0);
          panel_gemm(s.Cout, g + b * s.Cout * s.To + t, s.To, P, acc.data() + k * n, s.Cin, true);
        }
      }
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < s.K; ++k) {
      float v = 0.f;
      for (const auto& acc : partial)
        if (!acc.empty()) v += acc[k * n + i];
      dw[i * s.K + k] = v;
    }
}

template <class T>
void backward_bias(const Conv1dShape& s, const T* g, T* db) {
#pragma omp parallel for schedule(static)
  for (int64_t o = 0; o < s.Cout; ++o) {
    T acc = 0;
    for (int64_t b = 0; b < s.B; ++b) {
      const T* row = g + (b * s.Cout + o) * s.To;
      T part = 0;
#pragma omp simd reduction(+ : part)
      for (int64_t t = 0; t < s.To; ++t) part += row[t];
      acc += part;
    }
    db[o] = acc;
  }
}

}  // namespace

void conv1d_tap_columns(const Conv1dShape& s, int64_t k, int64_t* t0, int64_t* t1) {
  const int64_t off = k * s.dilation - s.pad_left;
  *t0 = std::max<int64_t>(0, -off);
  *t1 = std::min<int64_t>(s.To, s.T - off);
}

void conv1d_forward(DType dt, const Conv1dShape& s, const void* x, const void* w, const void* bias, void* y) {
  if (dt == DType::f32 && s.Cin == 1 && s.Cout == 1)
    single_taps(s, static_cast<const float*>(w), static_cast<const float*>(x), static_cast<float*>(y),
                bias ? static_cast<const float*>(bias)[0] : 0.f, false);
  else if (dt == DType::f32)
    forward_f32(s, static_cast<const float*>(x), static_cast<const float*>(w), static_cast<const float*>(bias),
            static_cast<float*>(y));
  else
    forward(dt, s, static_cast<const double*>(x), static_cast<const double*>(w), static_cast<const double*>(bias),
            static_cast<double*>(y));
}

void conv1d_backward_input(DType dt, const Conv1dShape& s, const void* g, const void* w, void* dx) {
  if (dt == DType::f32 && s.Cin == 1 && s.Cout == 1)
    single_taps(s, static_cast<const float*>(w), static_cast<const float*>(g), static_cast<float*>(dx), 0.f, true);
  else if (dt == DType::f32)
    backward_input_f32(s, static_cast<const float*>(g), static_cast<const float*>(w), static_cast<float*>(dx));
  else
    backward_input(dt, s, static_cast<const double*>(g), static_cast<const double*>(w), static_cast<double*>(dx));
}

void conv1d_backward_weight(DType dt, const Conv1dShape& s, const void* g, const void* x, void* dw) {
  if (dt == DType::f32 && s.Cin == 1 && s.Cout == 1)
    single_backward_weight(s, static_cast<const float*>(g), static_cast<const float*>(x), static_cast<float*>(dw));
  else if (dt == DType::f32)
    backward_weight_f32(s, static_cast<const float*>(g), static_cast<const float*>(x), static_cast<float*>(dw));
  else
    backward_weight(dt, s, static_cast<const double*>(g), static_cast<const double*>(x), static_cast<double*>(dw));
}

}  // namespace cadenza::kernels

namespace cadenza::kernels {

void conv1d_backward_bias(DType dt, const Conv1dShape& s, const void* g, void* db) {
  if (dt == DType::f32)
    backward_bias(s, static_cast<const float*>(g), static_cast<float*>(db));
  else
    backward_bias(s, static_cast<const double*>(g), static_cast<double*>(db));
}

}  // namespace cadenza::kernels
