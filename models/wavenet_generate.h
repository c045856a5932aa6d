#pragma once
// Fast WaveNet generation (Paine et al. 2016) for a batch of independent
// streams: queues of past activations per layer (kernels/cpu/wavenet_generate.h),
// so a sample costs O(layers). The random numbers are an input, so fast and
// naive generation (and CPU and GPU) pick the same samples for the same
// uniforms; a stream starts from silence, as the full forward pass does.
#include <cstdint>
#include <memory>
#include <vector>

#include "models/wavenet.h"

namespace cadenza::models {

// How the CPU threads share a generation step. `units`: each thread owns a
// share of every layer's gate units and their weights, for all streams, and
// the threads meet once per layer (one stream's step on every core).
// `streams`: each thread runs whole streams with all the weights and never
// waits (many streams). `automatic`: `streams` when every thread gets at
// least one stream. The logits agree to rounding whichever is taken.
enum class WaveNetSplit { automatic, units, streams };
// The products' weights: `f32` as trained, or `bf16` (weights and the
// products' inputs rounded to bf16, f32 sums; half the bytes per sample,
// and vdpbf16ps where the CPU has AVX512_BF16). bf16 logits differ from f32
// by the rounding, so the samples drawn can differ too.
enum class WaveNetPrecision { f32, bf16 };
struct WaveNetGenOptions {
  int threads = 0;  // 0: OpenMP's count
  WaveNetSplit split = WaveNetSplit::automatic;
  WaveNetPrecision precision = WaveNetPrecision::f32;
  // cuda:N: the persistent kernel (kernels/cuda/wavenet_generate.h) on that
  // GPU, which draws the CPU's samples for the same uniforms; on the
  // emulated device (CADENZA_EMULATE_CUDA) the CPU generator runs. The
  // model's weights stay on the host either way.
  Device device;
};

class WaveNetGenerator {
 public:
  // classes: one class id per stream (class-conditioned models), else empty.
  WaveNetGenerator(WaveNet& model, int64_t streams, const std::vector<int64_t>& classes = {},
                   const WaveNetGenOptions& options = {});
  ~WaveNetGenerator();
  // ids: [streams] the current sample of each stream; cond: [streams][n_mels]
  // this step's upsampled mel (vocoders), else null -> logits [streams][quantize].
  void step(const int32_t* ids, const float* cond, float* logits);
  // `steps` steps of every stream, each drawing its next input from its own
  // logits (sample_from_logits): ids [streams] the first inputs; cond
  // [steps][streams][n_mels] (vocoders), else null; stream n's step t draws
  // with uniforms[n * steps + t] into out[n * steps + t]; logits
  // [streams][steps][quantize] out, or null. With whole streams per thread
  // the threads never wait for each other.
  void run(int64_t steps, const int32_t* ids, const float* cond, const double* uniforms, double temperature,
           int32_t* out, float* logits = nullptr);
  int64_t streams() const { return streams_; }

 private:
  struct Impl;  // the weights as the step kernel reads them, and its queues
  WaveNet& model_;
  int64_t streams_;
  std::unique_ptr<Impl> impl_;
};

// `samples` samples for each of `streams` streams, sample t of stream n drawn
// with uniforms[n * samples + t] at `temperature`. mel: [streams, n_mels,
// frames] (vocoders, frames * hop_length >= samples); classes: one per
// stream. logits_out (tests): [streams][samples][quantize].
std::vector<std::vector<int32_t>> generate_wavenet(WaveNet& model, int64_t streams, int64_t samples,
                                                   const std::vector<double>& uniforms, double temperature,
                                                   const Tensor& mel = Tensor(),
                                                   const std::vector<int64_t>& classes = {},
                                                   std::vector<float>* logits_out = nullptr,
                                                   const WaveNetGenOptions& options = {});

// The index drawn from logits [Q] at `temperature` (0: the largest) by the
// inverse CDF at uniform u in [0, 1): the same choice for the same u.
int32_t sample_from_logits(const float* logits, int64_t Q, double temperature, double u);

// The mu-law id of silence (0.0), where every stream starts.
int32_t wavenet_silence_id(const WaveNetConfig& cfg);

}  // namespace cadenza::models
