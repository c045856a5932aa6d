// The recurrences of the LSTM and GRU layers, parallel over hidden units.
// Eigen runs each thread's GEMMs single-threaded (it does not nest inside an
// OpenMP region), so a step costs one barrier instead of a fork/join per GEMM.
#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/cpu/matmul.h"
#include "kernels/cpu/panel_gemm.h"
#include "kernels/cpu/rnn.h"
#include "kernels/math.h"

namespace cadenza::kernels {
namespace {

// This thread's slice [j0, j1) of H units, in multiples of 8 for vector loads.
void unit_slice(int64_t H, int tid, int nt, int64_t& j0, int64_t& j1) {
  int64_t blocks = (H + 7) / 8;
  int64_t per = blocks / nt, extra = blocks % nt;
  int64_t b0 = tid * per + std::min<int64_t>(tid, extra);
  int64_t b1 = b0 + per + (tid < extra ? 1 : 0);
  j0 = std::min(H, b0 * 8);
  j1 = std::min(H, b1 * 8);
}

// The f32 cell over units [j0, j0 + n) of one batch row, with Eigen's
// vectorised logistic and tanh (the f64 path and CUDA use kmath's scalar
// formulas; the goldens hold both to PyTorch).
using ArrF = Eigen::Array<float, Eigen::Dynamic, 1>;
using MapF = Eigen::Map<ArrF>;
using CMapF = Eigen::Map<const ArrF>;

void lstm_cell_forward_vec(float* g, int64_t H, int64_t j0, int64_t n, const float* c_prev, float* c, float* h) {
  MapF i(g + j0, n), f(g + H + j0, n), gg(g + 2 * H + j0, n), o(g + 3 * H + j0, n);
  i = i.logistic();
  f = f.logistic();
  gg = gg.tanh();
  o = o.logistic();
  MapF cm(c + j0, n);
  cm = f * CMapF(c_prev + j0, n) + i * gg;
  MapF(h + j0, n) = o * cm.tanh();
}

void lstm_cell_backward_vec(const float* act, int64_t H, int64_t j0, int64_t n, const float* c_prev,
                            const float* c, const float* dh_out, const float* dh_next, float* dc, float* dg) {
  CMapF i(act + j0, n), f(act + H + j0, n), g(act + 2 * H + j0, n), o(act + 3 * H + j0, n);
  ArrF tc = CMapF(c + j0, n).tanh();
  ArrF dh = CMapF(dh_out + j0, n) + CMapF(dh_next + j0, n);
  MapF dcm(dc + j0, n);
  ArrF dct = dcm + dh * o * (1.0f - tc * tc);
  MapF(dg + j0, n) = dct * g * i * (1.0f - i);
  MapF(dg + H + j0, n) = dct * CMapF(c_prev + j0, n) * f * (1.0f - f);
  MapF(dg + 2 * H + j0, n) = dct * i * (1.0f - g * g);
  MapF(dg + 3 * H + j0, n) = dh * tc * o * (1.0f - o);
  dcm = dct * f;
}

// f32 recurrences pack their thread's columns of W_hh into panels once per
// call (kernels/cpu/panel_gemm.h); f64 (the gradient checks) uses Eigen.
template <class T>
constexpr bool kPanels = std::is_same_v<T, float>;

// Packs rows [gate * H + j0, + jn) of w [gates * H, H] for every gate, as the
// columns of w^T with output column = row (the forward recurrent GEMM).
template <class T>
void pack_gate_rows(PanelMatrix& P, const T* w, int64_t H, int gates, int64_t j0, int64_t jn) {
  if constexpr (kPanels<T>) {
    P.reset(H);
    for (int gate = 0; gate < gates; ++gate) pack_panels(P, w, H, true, gate * H + j0, jn, gate * H + j0);
  }
}

// Packs columns [j0, j0 + jn) of w [gates * H, H] (the backward GEMM dG W).
template <class T>
void pack_unit_columns(PanelMatrix& P, const T* w, int64_t H, int gates, int64_t j0, int64_t jn) {
  if constexpr (kPanels<T>) {
    P.reset(gates * H);
    pack_panels(P, w, H, false, j0, jn, j0);
  }
}

int team_size(int64_t B, int64_t H) {
  // Below this much work per step the barrier costs more than it saves.
  if (B * H * H < (int64_t(1) << 16)) return 1;
  return std::max(1, std::min<int>(omp_get_max_threads(), static_cast<int>((H + 7) / 8)));
}

template <class T>
void lstm_fwd(int64_t Tn, int64_t B, int64_t H, T* act, const T* w_hh, const T* h0, const T* c0, T* h_out,
              T* cells, const T* x, const T* w_ih, int64_t I) {
  const DType dt = sizeof(T) == 4 ? DType::f32 : DType::f64;
  const int64_t G = 4 * H;
#pragma omp parallel num_threads(team_size(B, H))
  {
    int64_t j0, j1;
    unit_slice(H, omp_get_thread_num(), omp_get_num_threads(), j0, j1);
    const int64_t jn = j1 - j0;
    // Short inputs (sampling, x given) keep Eigen: packing would cost more
    // than the few steps it serves.
    const bool panels = kPanels<T> && !x && jn > 0;
    PanelMatrix P;
    if (panels) pack_gate_rows(P, w_hh, H, 4, j0, jn);
    for (int64_t t = 0; t < Tn; ++t) {
      const T* hp = t == 0 ? h0 : h_out + (t - 1) * B * H;
      const T* cp = t == 0 ? c0 : cells + (t - 1) * B * H;
      T* a = act + t * B * G;
      if (jn > 0) {
        if (x)
          for (int gate = 0; gate < 4; ++gate)  // a[:, gate*H + j0 .. j1] += x_t W_ih[rows]^T
            gemm(dt, false, true, B, jn, I, 1.0, x + t * B * I, I, w_ih + (gate * H + j0) * I, I, 1.0,
                 a + gate * H + j0, G);
        if constexpr (kPanels<T>) {
          if (panels) panel_gemm(B, hp, H, P, a, G, true);
        }
        if (!panels)
          for (int gate = 0; gate < 4; ++gate)  // a[:, gate*H + j0 .. j1] += h W_hh[rows]^T
            gemm(dt, false, true, B, jn, H, 1.0, hp, H, w_hh + (gate * H + j0) * H, H, 1.0,
                 a + gate * H + j0, G);
        for (int64_t b = 0; b < B; ++b) {
          T* g = a + b * G;
          T* c = cells + t * B * H + b * H;
          T* h = h_out + t * B * H + b * H;
          if constexpr (std::is_same_v<T, float>) {
            lstm_cell_forward_vec(g, H, j0, jn, cp + b * H, c, h);
          } else {
            for (int64_t j = j0; j < j1; ++j) kmath::lstm_cell_forward(g, H, j, cp[b * H + j], c[j], h[j]);
          }
        }
      }
#pragma omp barrier
    }
  }
}

template <class T>
void lstm_bwd(int64_t Tn, int64_t B, int64_t H, const T* act, const T* w_hh, const T* c0, const T* cells,
              const T* dh_out, T* dc, T* dh0, T* dgates) {
  const DType dt = sizeof(T) == 4 ? DType::f32 : DType::f64;
  const int64_t G = 4 * H;
  std::vector<T> dh_next(B * H, T(0));
#pragma omp parallel num_threads(team_size(B, H))
  {
    int64_t j0, j1;
    unit_slice(H, omp_get_thread_num(), omp_get_num_threads(), j0, j1);
    const int64_t jn = j1 - j0;
    PanelMatrix P;
    if (jn > 0) pack_unit_columns(P, w_hh, H, 4, j0, jn);
    for (int64_t t = Tn - 1; t >= 0; --t) {
      const T* cp = t == 0 ? c0 : cells + (t - 1) * B * H;
      const T* a = act + t * B * G;
      T* dg = dgates + t * B * G;
      // Phase 1: the cell backward for this thread's units only reads and
      // writes its own columns of dh_next and dc.
      for (int64_t b = 0; b < B; ++b) {
        if constexpr (std::is_same_v<T, float>) {
          lstm_cell_backward_vec(a + b * G, H, j0, jn, cp + b * H, cells + t * B * H + b * H,
                                 dh_out + t * B * H + b * H, dh_next.data() + b * H, dc + b * H, dg + b * G);
        } else {
          for (int64_t j = j0; j < j1; ++j) {
            int64_t k = b * H + j;
            T dh = dh_out[t * B * H + k] + dh_next[k];
            kmath::lstm_cell_backward(a + b * G, H, j, cp[k], cells[t * B * H + k], dh, dc[k], dg + b * G, dc[k]);
          }
        }
      }
#pragma omp barrier
      // Phase 2: dh_next[:, j0:j1] = dG_t (all units) @ W_hh[:, j0:j1].
      if (jn > 0) {
        if constexpr (kPanels<T>)
          panel_gemm(B, dg, G, P, dh_next.data(), H, false);
        else
          gemm(dt, false, false, B, jn, G, 1.0, dg, G, w_hh + j0, H, 0.0, dh_next.data() + j0, H);
      }
      // No barrier: the next phase 1 reads only this thread's columns, and
      // the next phase 2 waits at the next barrier for every dG row.
    }
  }
  std::memcpy(dh0, dh_next.data(), sizeof(T) * B * H);
}

template <class T>
void gru_fwd(int64_t Tn, int64_t B, int64_t H, const T* gx, const T* w_hh, const T* b_hh, const T* h0,
             T* h_out, T* save) {
  const DType dt = sizeof(T) == 4 ? DType::f32 : DType::f64;
  const int64_t G = 3 * H;
  std::vector<T> gh(B * G);
#pragma omp parallel num_threads(team_size(B, H))
  {
    int64_t j0, j1;
    unit_slice(H, omp_get_thread_num(), omp_get_num_threads(), j0, j1);
    const int64_t jn = j1 - j0;
    PanelMatrix P;
    if (jn > 0) pack_gate_rows(P, w_hh, H, 3, j0, jn);
    for (int64_t t = 0; t < Tn; ++t) {
      const T* hp = t == 0 ? h0 : h_out + (t - 1) * B * H;
      if (jn > 0) {
        for (int gate = 0; gate < 3; ++gate) {
          for (int64_t b = 0; b < B; ++b)
            for (int64_t j = j0; j < j1; ++j) gh[b * G + gate * H + j] = b_hh ? b_hh[gate * H + j] : T(0);
          if constexpr (!kPanels<T>)
            gemm(dt, false, true, B, jn, H, 1.0, hp, H, w_hh + (gate * H + j0) * H, H, 1.0,
                 gh.data() + gate * H + j0, G);
        }
        if constexpr (kPanels<T>) panel_gemm(B, hp, H, P, gh.data(), G, true);
        for (int64_t b = 0; b < B; ++b)
          for (int64_t j = j0; j < j1; ++j)
            kmath::gru_cell_forward(gx + t * B * G + b * G, gh.data() + b * G, H, j, hp[b * H + j],
                                    save + t * B * 4 * H + b * 4 * H, h_out[t * B * H + b * H + j]);
      }
#pragma omp barrier
    }
  }
}

template <class T>
void gru_bwd(int64_t Tn, int64_t B, int64_t H, const T* w_hh, const T* h0, const T* h_out, const T* save,
             const T* dh_out, T* dgx, T* dgh, T* dh0) {
  const DType dt = sizeof(T) == 4 ? DType::f32 : DType::f64;
  const int64_t G = 3 * H;
  std::vector<T> dh_next(B * H, T(0));
#pragma omp parallel num_threads(team_size(B, H))
  {
    int64_t j0, j1;
    unit_slice(H, omp_get_thread_num(), omp_get_num_threads(), j0, j1);
    const int64_t jn = j1 - j0;
    PanelMatrix P;
    if (jn > 0) pack_unit_columns(P, w_hh, H, 3, j0, jn);
    for (int64_t t = Tn - 1; t >= 0; --t) {
      const T* hp = t == 0 ? h0 : h_out + (t - 1) * B * H;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t j = j0; j < j1; ++j) {
          int64_t k = b * H + j;
          T dh = dh_out[t * B * H + k] + dh_next[k];
          T direct;
          kmath::gru_cell_backward(save + t * B * 4 * H + b * 4 * H, H, j, hp[k], dh, dgx + t * B * G + b * G,
                                   dgh + t * B * G + b * G, direct);
          dh_next[k] = direct;
        }
#pragma omp barrier
      if (jn > 0) {
        if constexpr (kPanels<T>)
          panel_gemm(B, dgh + t * B * G, G, P, dh_next.data(), H, true);
        else
          gemm(dt, false, false, B, jn, G, 1.0, dgh + t * B * G, G, w_hh + j0, H, 1.0, dh_next.data() + j0, H);
      }
    }
  }
  std::memcpy(dh0, dh_next.data(), sizeof(T) * B * H);
}

}  // namespace

void lstm_cell_forward_f32(float* gates, int64_t H, int64_t j0, int64_t n, const float* c_prev, float* c,
                           float* h) {
  lstm_cell_forward_vec(gates, H, j0, n, c_prev, c, h);
}

#define CADENZA_RNN_DISPATCH(FN, ...)  \
  if (dt == DType::f32) {              \
    using T = float;                   \
    FN(__VA_ARGS__);                   \
  } else {                             \
    using T = double;                  \
    FN(__VA_ARGS__);                   \
  }

void lstm_recurrent_forward(DType dt, int64_t Tn, int64_t B, int64_t H, void* act, const void* w_hh,
                            const void* h0, const void* c0, void* h_out, void* cells, const void* x,
                            const void* w_ih, int64_t I) {
  CADENZA_RNN_DISPATCH(lstm_fwd<T>, Tn, B, H, static_cast<T*>(act), static_cast<const T*>(w_hh),
                       static_cast<const T*>(h0), static_cast<const T*>(c0), static_cast<T*>(h_out),
                       static_cast<T*>(cells), static_cast<const T*>(x), static_cast<const T*>(w_ih), I)
}

void lstm_recurrent_backward(DType dt, int64_t Tn, int64_t B, int64_t H, const void* act,
                             const void* w_hh, const void* c0, const void* cells, const void* dh_out,
                             void* dc, void* dh0, void* dgates) {
  CADENZA_RNN_DISPATCH(lstm_bwd<T>, Tn, B, H, static_cast<const T*>(act), static_cast<const T*>(w_hh),
                       static_cast<const T*>(c0), static_cast<const T*>(cells), static_cast<const T*>(dh_out),
                       static_cast<T*>(dc), static_cast<T*>(dh0), static_cast<T*>(dgates))
}

void gru_recurrent_forward(DType dt, int64_t Tn, int64_t B, int64_t H, const void* gx, const void* w_hh,
                           const void* b_hh, const void* h0, void* h_out, void* save) {
  CADENZA_RNN_DISPATCH(gru_fwd<T>, Tn, B, H, static_cast<const T*>(gx), static_cast<const T*>(w_hh),
                       static_cast<const T*>(b_hh), static_cast<const T*>(h0), static_cast<T*>(h_out),
                       static_cast<T*>(save))
}

void gru_recurrent_backward(DType dt, int64_t Tn, int64_t B, int64_t H, const void* w_hh,
                            const void* h0, const void* h_out, const void* save, const void* dh_out,
                            void* dgx, void* dgh, void* dh0) {
  CADENZA_RNN_DISPATCH(gru_bwd<T>, Tn, B, H, static_cast<const T*>(w_hh), static_cast<const T*>(h0),
                       static_cast<const T*>(h_out), static_cast<const T*>(save), static_cast<const T*>(dh_out),
                       static_cast<T*>(dgx), static_cast<T*>(dgh), static_cast<T*>(dh0))
}

}  // namespace cadenza::kernels
