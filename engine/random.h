#pragma once
// Seedable counter-based random numbers (Philox 4x32-10). A Generator is a
// (seed, offset) pair: every draw reserves counter blocks, so the same seed
// gives bit-identical streams on any thread count, and the state saves and
// restores exactly.
#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace cadenza {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0x5EEDC0DEull) : seed_(seed) {}
  void manual_seed(uint64_t seed) {
    seed_ = seed;
    offset_ = 0;
  }
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  // Returns the first of `blocks` fresh counter blocks.
  uint64_t reserve(uint64_t blocks) {
    uint64_t o = offset_;
    offset_ += blocks;
    return o;
  }
  // State as an i64 tensor [seed, offset] (for checkpoints).
  Tensor state() const;
  void set_state(const Tensor& state);

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
};

Generator& default_generator();
void manual_seed(uint64_t seed);

// Fill in place (no history). gen = nullptr uses the default generator.
void uniform_(Tensor& t, double lo, double hi, Generator* gen = nullptr);
void normal_(Tensor& t, double mean, double std, Generator* gen = nullptr);

Tensor rand(const Shape& shape, DType dtype = DType::f32, Generator* gen = nullptr);   // [0, 1)
Tensor randn(const Shape& shape, DType dtype = DType::f32, Generator* gen = nullptr);
// `value` (1 unless given) with probability p, else 0, in dtype, drawn on
// `device` (the same values on every device: the uniforms are the same
// bits); a floating dtype takes one kernel (dropout's scaled mask).
Tensor bernoulli(const Shape& shape, double p, DType dtype = DType::f32, Generator* gen = nullptr,
                 Device device = {}, double value = 1.0);
Tensor bernoulli(const Tensor& probs, Generator* gen = nullptr);  // elementwise p
// Uniform integers in [lo, hi).
Tensor randint(int64_t lo, int64_t hi, const Shape& shape, Generator* gen = nullptr);
// One uniform double in [0, 1).
double uniform_double(Generator* gen = nullptr);
// A random permutation of 0..n-1 (Fisher-Yates on the generator's stream).
std::vector<int64_t> randperm(int64_t n, Generator* gen = nullptr);

}  // namespace cadenza
