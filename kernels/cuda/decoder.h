#pragma once
// Batch-1 LSTM decoding on a GPU in one persistent cooperative launch
// (kernels/decoder_math.h describes the schedule): models/decoder.h's
// Decoder, with every layer's gate rows of a block's hidden units and a
// share of the output rows resident in shared memory for the whole launch,
// two grid-wide barriers per layer and token, and the draw (sample_token's
// sort, top-k, top-p and inverse CDF) made by every block at once from the
// same uniform. Its state (h, c) carries over between calls, as the
// Decoder's does.
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/decoder_math.h"

namespace cadenza::kernels::cuda {

class DecoderDevice {
 public:
  // Uploads the weights (host pointers) to `device`; throws naming the
  // reason when the plan does not fit the device.
  DecoderDevice(const kmath::dec::Weights& w, int device);
  ~DecoderDevice();
  DecoderDevice(const DecoderDevice&) = delete;
  DecoderDevice& operator=(const DecoderDevice&) = delete;

  // Decoder::generate's contract, with the uniforms drawn ahead (one per
  // sampled token, in order): feeds the primer (all but its last token
  // silently), then samples `tokens` tokens from the primer's last token or
  // from `first`.
  std::vector<int32_t> generate(int64_t tokens, int32_t first, const std::vector<double>& uniforms,
                                double temperature, int64_t top_k, double top_p,
                                const std::vector<int32_t>& primer);
  void reset();  // h, c = 0
  const kmath::dec::Plan& plan() const;
  // The plan for a model of these sizes on `device` (fits == false: the
  // caller takes another path).
  static kmath::dec::Plan plan_for(const kmath::dec::Dims& d, int device);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cadenza::kernels::cuda
