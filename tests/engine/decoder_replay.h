#pragma once
// The CUDA decoder's kernel (kernels/cuda/decoder.cu) replayed on the host
// with one thread per block: kernels/decoder_math.h's plan, staging,
// warp-order dot products, gate sums, cells and draw, block after block
// between the kernel's barriers. tests/models/test_decoder_schedule.cpp
// holds it to the CPU Decoder; the GPU check holds the kernel to it.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/decoder_math.h"

namespace cadenza::test {

namespace dec = cadenza::kmath::dec;

// The kernel's loops with one thread per block: each block's shared memory
// is a vector laid out by the plan, filled as the kernel stages it.
struct HostDecoder {
  dec::Weights w;
  dec::Dims d;
  dec::Plan p;
  std::vector<std::vector<float>> sm;  // per block
  std::vector<float> h;                // [L][2][H]
  std::vector<float> logits;           // [V], the kernel's global buffer
  int parity = 0;

  // The plan of a device with `sms` multiprocessors, or the device's own.
  HostDecoder(const dec::Weights& weights, int64_t sms) : HostDecoder(weights, dec::plan({weights.V, weights.H, weights.L}, sms, 227 * 1024)) {}
  HostDecoder(const dec::Weights& weights, const dec::Plan& plan) : w(weights), d{w.V, w.H, w.L}, p(plan) {
    if (!p.fits) throw std::runtime_error(std::string("HostDecoder: ") + p.why);
    h.assign(static_cast<size_t>(d.L * 2 * d.H), 0.f);
    logits.assign(static_cast<size_t>(d.V), 0.f);
    const int64_t H = d.H, G = 4 * H, U = p.units;
    sm.assign(static_cast<size_t>(p.blocks), std::vector<float>(static_cast<size_t>(p.floats), NAN));
    for (int64_t b = 0; b < p.blocks; ++b) {
      const int64_t j0 = b * U, jn = std::min(U, H - j0);
      const int64_t v0 = dec::share_begin(d.V, b, p.blocks), v1 = dec::share_begin(d.V, b + 1, p.blocks);
      float* s = sm[b].data();
      for (int64_t l = 0; l < d.L; ++l)
        for (int64_t i = 0; i < 4 * jn * H; ++i) {
          const int64_t r = i / H, k = i % H, q = r / jn, u = r % jn, src = (q * H + j0 + u) * H + k;
          s[dec::hh_rows_at(p, d, l) + (q * U + u) * H + k] = w.w_hh[l][src];
          if (l > 0) s[dec::ih_rows_at(p, d, l) + (q * U + u) * H + k] = w.w_ih[l][src];
        }
      for (int64_t i = 0; i < (v1 - v0) * H; ++i) s[p.out_at + i] = w.w_out[v0 * H + i];
      for (int64_t i = 0; i < d.L * U; ++i) s[p.c_at + i] = 0.f;
      (void)G;
    }
  }

  std::vector<int32_t> generate(int64_t tokens, int32_t first, const std::vector<double>& us, double temperature,
                                int64_t top_k, double top_p, const std::vector<int32_t>& primer,
                                std::vector<float>* all_logits) {
    const std::vector<int32_t> fed = primer.empty() ? std::vector<int32_t>{first} : primer;
    const int64_t H = d.H, G = 4 * H, U = p.units, n_fed = static_cast<int64_t>(fed.size());
    std::vector<int32_t> out;
    int token = fed[0], cur = parity;
    const int64_t steps = n_fed + tokens - 1;
    for (int64_t s = 0; s < steps; ++s) {
      const int nxt = 1 - cur;
      for (int64_t l = 0; l < d.L; ++l) {
        // Every block reads the state of before the barrier, then writes its units.
        std::vector<float> h_new(static_cast<size_t>(H));
        for (int64_t b = 0; b < p.blocks; ++b) {
          float* sb = sm[b].data();
          const int64_t j0 = b * U, jn = std::min(U, H - j0);
          float* hprev = sb + p.x_at;
          float* x = hprev + H;
          for (int64_t k = 0; k < H; ++k) {
            hprev[k] = h[(l * 2 + cur) * H + k];
            if (l > 0) x[k] = h[((l - 1) * 2 + nxt) * H + k];
          }
          float* gates = sb + p.gates_at;
          for (int64_t r = 0; r < 4 * jn; ++r) {
            const int64_t q = r / jn, u = r % jn, row = q * U + u, j = j0 + u;
            const float rec = dec::warp_dot_host(sb + dec::hh_rows_at(p, d, l) + row * H, hprev, H);
            const float inp = l > 0 ? dec::warp_dot_host(sb + dec::ih_rows_at(p, d, l) + row * H, x, H) : 0.f;
            gates[row] = dec::gate_sum(l, rec, inp, l == 0 ? w.table[token * G + q * H + j] : w.b[l][q * H + j]);
          }
          for (int64_t u = 0; u < jn; ++u) {
            float hv;
            dec::cell(gates[u], gates[U + u], gates[2 * U + u], gates[3 * U + u], sb[p.c_at + l * U + u], hv);
            h_new[j0 + u] = hv;
          }
        }
        std::copy(h_new.begin(), h_new.end(), h.begin() + (l * 2 + nxt) * H);
      }
      cur = nxt;
      if (s + 1 < n_fed) {
        token = fed[s + 1];
        continue;
      }
      for (int64_t b = 0; b < p.blocks; ++b) {
        float* sb = sm[b].data();
        float* x = sb + p.x_at + H;
        for (int64_t k = 0; k < H; ++k) x[k] = h[((d.L - 1) * 2 + cur) * H + k];
        const int64_t v0 = dec::share_begin(d.V, b, p.blocks), v1 = dec::share_begin(d.V, b + 1, p.blocks);
        for (int64_t v = v0; v < v1; ++v) logits[v] = w.b_out[v] + dec::warp_dot_host(sb + p.out_at + (v - v0) * H, x, H);
      }
      if (all_logits) all_logits->insert(all_logits->end(), logits.begin(), logits.end());
      const int64_t t = s + 1 - n_fed;
      if (temperature <= 0) {
        token = static_cast<int>(dec::first_largest(logits.data(), d.V));
      } else {
        std::vector<uint64_t> keys(static_cast<size_t>(d.V));
        for (int64_t i = 0; i < d.V; ++i) keys[i] = dec::sort_key(logits[i], i);
        std::sort(keys.begin(), keys.end());
        const int64_t keep = dec::kept(d.V, top_k);
        std::vector<double> pw(static_cast<size_t>(keep));
        const double m = logits[dec::key_id(keys[0])] / temperature;
        for (int64_t i = 0; i < keep; ++i) pw[i] = dec::draw_weight(logits[dec::key_id(keys[i])], temperature, m);
        token = static_cast<int>(dec::draw_sorted(keys.data(), pw.data(), keep, top_p, us[t]));
      }
      out.push_back(token);
    }
    parity = static_cast<int>((parity + steps) % 2);
    return out;
  }
};

}  // namespace cadenza::test
