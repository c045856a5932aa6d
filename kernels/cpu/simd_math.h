#pragma once
// exp, sigmoid, tanh and WaveNet's gate on SIMD vectors (kernels/cpu/simd.h):
// kmath::fast_expf's range reduction and polynomial lane by lane, so a
// vector lane gives what the scalar kmath function gives for that element,
// at a few FMAs instead of two libm calls. Used by the gated activation and
// by WaveNet generation.
#include <cstring>

#include "kernels/cpu/simd.h"
#include "kernels/math.h"

namespace cadenza::kernels {

inline fvec splat(float v) { return fvec{} + v; }

inline fvec vexp(fvec x) {
  x = x < splat(kmath::kExpLo) ? splat(kmath::kExpLo) : x;
  x = x > splat(kmath::kExpHi) ? splat(kmath::kExpHi) : x;
  fvec t = x * 1.44269504088896341f;
  fvec n = __builtin_convertvector(__builtin_convertvector(t + (t >= 0 ? splat(0.5f) : splat(-0.5f)), ivec), fvec);
  fvec p = kmath::exp_poly(kmath::exp_reduced(x, n));
  ivec bits = (__builtin_convertvector(n, ivec) + 127) << 23;
  fvec scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}
inline fvec vsigmoid(fvec x) { return 1.0f / (1.0f + vexp(-x)); }
inline fvec vtanh(fvec x) { return 2.0f / (1.0f + vexp(-2.0f * x)) - 1.0f; }
// kmath::gate for f32: tanh(a) * sigmoid(s).
inline fvec vgate(fvec a, fvec s) { return vtanh(a) * vsigmoid(s); }

}  // namespace cadenza::kernels
