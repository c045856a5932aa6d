#pragma once
// WaveNet's fast generation on a GPU, after nv-wavenet's persistent kernel:
// kernels/cpu/wavenet_generate.h's generator, with the same weights, queues
// and results. One cooperative launch generates every sample of a run: a
// block per residual layer holds that layer's weights in shared memory for
// the whole launch, head blocks hold slices of the output 1x1s, and the
// blocks hand each sample on through flagged slots in global memory
// (kernels/wavenet_generate_math.h describes the schedule and holds the
// arithmetic, which the CPU tests run). Layer 0's block draws each stream's
// next input from the logits with the caller's uniforms, so a run picks the
// samples the CPU generator picks (its `streams` split) for the same
// uniforms. f32 and bf16 weights (WaveNetGenPrecision).
#include <cstdint>
#include <memory>

#include "kernels/cpu/wavenet_generate.h"

namespace cadenza::kernels::cuda {

class WaveNetGenDevice {
 public:
  // Uploads the weights (host pointers, as the CPU generator takes them) to
  // `device` for `streams` streams starting from silence. Throws naming the
  // reason when the model does not fit the device's blocks.
  WaveNetGenDevice(const WaveNetGenWeights& w, int64_t streams,
                   WaveNetGenPrecision precision = WaveNetGenPrecision::f32, int device = 0);
  ~WaveNetGenDevice();
  WaveNetGenDevice(const WaveNetGenDevice&) = delete;
  WaveNetGenDevice& operator=(const WaveNetGenDevice&) = delete;

  // wavenet_generate_run's contract, on host buffers: `steps` samples of
  // every stream in one launch, continuing from the previous run's state.
  void run(int64_t steps, const int32_t* ids, const float* cond, const double* uniforms, double temperature,
           int32_t* out, float* logits);

  int64_t streams() const;
  int64_t steps() const;  // samples generated so far
  const kmath::wg::Plan& plan() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cadenza::kernels::cuda
