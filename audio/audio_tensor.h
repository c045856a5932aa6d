#pragma once
// Bridges between the audio floor's std::vector buffers and engine tensors:
// audio in as [channels, frames], features out as [features, frames], ready
// for a model (for example WaveNet's local conditioning).
#include <string>

#include "audio/audio.h"
#include "engine/tensor.h"

namespace cadenza::audio {

// b: [C, T] planar -> f32 Tensor [C, T].
Tensor to_tensor(const Buffer& b);

// x: [C, T] or [T] (mono) f32/f64 tensor -> Buffer at sample_rate.
Buffer from_tensor(const Tensor& x, int sample_rate);

// m: [rows, cols] -> f32 Tensor [rows, cols].
Tensor to_tensor(const Matrix& m);

// Loads a file as f32 [C, T]; the rate goes to *sample_rate when given.
Tensor load_tensor(const std::string& path, int* sample_rate = nullptr);

// x: [T] or [1, T] -> log-mel f32 [n_mels, frames] (power_to_db of the power
// mel spectrogram, ref 1, top_db 80): the conditioning features.
Tensor log_mel_tensor(const Tensor& x, int sample_rate, const StftOptions& so = {},
                      const MelOptions& mo = {});

// Any shape, element-wise: f32 samples <-> int classes, through mu-law.
Tensor mu_law_encode_tensor(const Tensor& x,
                            int quantization_channels = 256);  // -> i64, same shape
Tensor mu_law_decode_tensor(const Tensor& q,
                            int quantization_channels = 256);  // -> f32, same shape

}  // namespace cadenza::audio
