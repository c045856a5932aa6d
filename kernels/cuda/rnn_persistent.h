#pragma once
// The persistent small-batch path of kernels/cuda/rnn.h's recurrences: one
// cooperative kernel for all time steps, W_hh on chip, a grid-wide barrier
// per step (kernels/rnn_math.h holds its plan and arithmetic). Each function
// runs the recurrence and returns true when the path applies (B <= 8, the
// weights fit, CADENZA_RNN_PERSISTENT is not 0); it returns false, having
// touched nothing, for the cuBLAS path to run instead, and throws when
// CADENZA_RNN_PERSISTENT=1 asks for it where it cannot run. Arguments and
// layouts as in rnn.h; T >= 1, B * H >= 1, float or double.
#include <cstdint>

namespace cadenza::kernels::cuda {

// act holds x W_ih^T + b (the input projection already added).
template <class T>
bool lstm_recurrent_forward_persistent(int64_t Tn, int64_t B, int64_t H, T* act, const T* w_hh,
                                       const T* h0, const T* c0, T* h_out, T* cells);
template <class T>
bool lstm_recurrent_backward_persistent(int64_t Tn, int64_t B, int64_t H, const T* act,
                                        const T* w_hh, const T* c0, const T* cells, const T* dh_out,
                                        T* dc, T* dh0, T* dgates);
template <class T>
bool gru_recurrent_forward_persistent(int64_t Tn, int64_t B, int64_t H, const T* gx, const T* w_hh,
                                      const T* b_hh, const T* h0, T* h_out, T* save);
template <class T>
bool gru_recurrent_backward_persistent(int64_t Tn, int64_t B, int64_t H, const T* w_hh, const T* h0,
                                       const T* h_out, const T* save, const T* dh_out, T* dgx,
                                       T* dgh, T* dh0);

}  // namespace cadenza::kernels::cuda
