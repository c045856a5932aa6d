#include "kernels/cpu/rnn.h"

#include "kernels/math.h"

namespace cadenza::kernels {
namespace {

template <class T>
void lstm_fwd(int64_t B, int64_t H, T* gates, const T* c_prev, T* c, T* h) {
#pragma omp parallel for if (B * H >= 8192) schedule(static)
  for (int64_t b = 0; b < B; ++b) {
    T* g = gates + b * 4 * H;
    const T* cp = c_prev + b * H;
    T* cb = c + b * H;
    T* hb = h + b * H;
    for (int64_t j = 0; j < H; ++j) kmath::lstm_cell_forward(g, H, j, cp[j], cb[j], hb[j]);
  }
}

template <class T>
void lstm_bwd(int64_t B, int64_t H, const T* act, const T* c_prev, const T* c, const T* dh,
              const T* dc_next, T* dgates, T* dc_prev) {
#pragma omp parallel for if (B * H >= 8192) schedule(static)
  for (int64_t b = 0; b < B; ++b) {
    const T* a = act + b * 4 * H;
    T* dg = dgates + b * 4 * H;
    for (int64_t j = 0; j < H; ++j) {
      int64_t k = b * H + j;
      kmath::lstm_cell_backward(a, H, j, c_prev[k], c[k], dh[k], dc_next ? dc_next[k] : T(0), dg,
                                dc_prev[k]);
    }
  }
}

template <class T>
void gru_fwd(int64_t B, int64_t H, const T* gx, const T* gh, const T* h_prev, T* save, T* h) {
#pragma omp parallel for if (B * H >= 8192) schedule(static)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < H; ++j)
      kmath::gru_cell_forward(gx + b * 3 * H, gh + b * 3 * H, H, j, h_prev[b * H + j],
                              save + b * 4 * H, h[b * H + j]);
}

template <class T>
void gru_bwd(int64_t B, int64_t H, const T* save, const T* h_prev, const T* dh, T* dgx, T* dgh,
             T* dhp) {
#pragma omp parallel for if (B * H >= 8192) schedule(static)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < H; ++j)
      kmath::gru_cell_backward(save + b * 4 * H, H, j, h_prev[b * H + j], dh[b * H + j],
                               dgx + b * 3 * H, dgh + b * 3 * H, dhp[b * H + j]);
}

}  // namespace

#define CADENZA_F(T, p) static_cast<T*>(p)
#define CADENZA_C(T, p) static_cast<const T*>(p)

void lstm_cell_forward(DType dt, int64_t B, int64_t H, void* gates, const void* c_prev, void* c,
                       void* h) {
  if (dt == DType::f32)
    lstm_fwd(B, H, CADENZA_F(float, gates), CADENZA_C(float, c_prev), CADENZA_F(float, c), CADENZA_F(float, h));
  else
    lstm_fwd(B, H, CADENZA_F(double, gates), CADENZA_C(double, c_prev), CADENZA_F(double, c), CADENZA_F(double, h));
}

void lstm_cell_backward(DType dt, int64_t B, int64_t H, const void* act, const void* c_prev,
                        const void* c, const void* dh, const void* dc_next, void* dgates,
                        void* dc_prev) {
  if (dt == DType::f32)
    lstm_bwd(B, H, CADENZA_C(float, act), CADENZA_C(float, c_prev), CADENZA_C(float, c), CADENZA_C(float, dh),
             CADENZA_C(float, dc_next), CADENZA_F(float, dgates), CADENZA_F(float, dc_prev));
  else
    lstm_bwd(B, H, CADENZA_C(double, act), CADENZA_C(double, c_prev), CADENZA_C(double, c), CADENZA_C(double, dh),
             CADENZA_C(double, dc_next), CADENZA_F(double, dgates), CADENZA_F(double, dc_prev));
}

void gru_cell_forward(DType dt, int64_t B, int64_t H, const void* gx, const void* gh,
                      const void* h_prev, void* save, void* h) {
  if (dt == DType::f32)
    gru_fwd(B, H, CADENZA_C(float, gx), CADENZA_C(float, gh), CADENZA_C(float, h_prev), CADENZA_F(float, save),
            CADENZA_F(float, h));
  else
    gru_fwd(B, H, CADENZA_C(double, gx), CADENZA_C(double, gh), CADENZA_C(double, h_prev), CADENZA_F(double, save),
            CADENZA_F(double, h));
}

void gru_cell_backward(DType dt, int64_t B, int64_t H, const void* save, const void* h_prev,
                       const void* dh, void* dgx, void* dgh, void* dh_prev_direct) {
  if (dt == DType::f32)
    gru_bwd(B, H, CADENZA_C(float, save), CADENZA_C(float, h_prev), CADENZA_C(float, dh), CADENZA_F(float, dgx),
            CADENZA_F(float, dgh), CADENZA_F(float, dh_prev_direct));
  else
    gru_bwd(B, H, CADENZA_C(double, save), CADENZA_C(double, h_prev), CADENZA_C(double, dh), CADENZA_F(double, dgx),
            CADENZA_F(double, dgh), CADENZA_F(double, dh_prev_direct));
}

}  // namespace cadenza::kernels
