#include "kernels/cuda/decoder.h"

#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/scratch.h"
#include "kernels/cuda/stream.h"

namespace cadenza::kernels::cuda {

namespace dec = kmath::dec;
namespace cg = cooperative_groups;

namespace {

constexpr const char* kOp = "lstm decoding";

struct Args {
  dec::Dims d;
  dec::Plan p;
  const float* table;  // [V][4H]
  const float* w_hh;   // [L][4H][H]
  const float* w_ih;   // [L][4H][H] (layer 0's slot unused)
  const float* b;      // [L][4H] (layer 0's unused)
  const float* w_out;  // [V][H]
  const float* b_out;  // [V]
  float* h;            // [L][2][H], the state in buffer `parity`
  float* c;            // [L][H]
  float* logits;       // [V]
  const int32_t* fed;  // [n_fed] the inputs before the first sampled one
  int64_t n_fed, tokens;
  const double* u;  // [tokens]
  double temperature, top_p;
  int64_t top_k;
  int32_t* out;  // [tokens]
  int parity;
};

// Lane 0 gets the warp's dot product in dec::warp_dot_host's order.
__device__ float warp_dot(const float* w, const float* x, int64_t K) {
  float v = dec::lane_partial(w, x, K, threadIdx.x % 32);
  for (int off = 16; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
  return v;
}

// The draw from the logits in shared memory, by every block alike; the
// token lands in *token.
__device__ void draw(const Args& a, const float* logits, uint64_t* keys, double* p, double u, int* token) {
  const int tid = threadIdx.x, nth = blockDim.x;
  const int64_t V = a.d.V, n = a.p.sort_n;
  if (a.temperature <= 0) {
    if (tid == 0) *token = static_cast<int>(dec::first_largest(logits, V));
    __syncthreads();
    return;
  }
  for (int64_t i = tid; i < n; i += nth) keys[i] = i < V ? dec::sort_key(logits[i], i) : ~uint64_t{0};
  __syncthreads();
  // Bitonic sort, ascending: the keys are distinct (the id is in them), so
  // any correct sort gives sample_token's order.
  for (int64_t k = 2; k <= n; k <<= 1)
    for (int64_t j = k >> 1; j > 0; j >>= 1) {
      for (int64_t i = tid; i < n; i += nth) {
        const int64_t ixj = i ^ j;
        if (ixj > i) {
          const bool up = (i & k) == 0;
          const uint64_t x = keys[i], y = keys[ixj];
          if ((x > y) == up) {
            keys[i] = y;
            keys[ixj] = x;
          }
        }
      }
      __syncthreads();
    }
  const int64_t keep = dec::kept(V, a.top_k);
  const double m = logits[dec::key_id(keys[0])] / a.temperature;
  for (int64_t i = tid; i < keep; i += nth) p[i] = dec::draw_weight(logits[dec::key_id(keys[i])], a.temperature, m);
  __syncthreads();
  // dec::draw_sorted's steps: the sums and searches on thread 0 in index
  // order, the divisions (a slow subroutine each in double) by every
  // thread, so the same quotients without some 400 of them in a row.
  __shared__ double total;
  __shared__ int64_t kept_n;
  if (tid == 0) total = dec::weight_sum(p, keep);
  __syncthreads();
  for (int64_t i = tid; i < keep; i += nth) p[i] /= total;
  __syncthreads();
  int64_t drawn = keep;  // how many the cumulative search reads
  if (a.top_p < 1.0) {
    if (tid == 0) {
      kept_n = dec::top_p_prefix(p, keep, a.top_p);
      total = dec::weight_sum(p, kept_n);
    }
    __syncthreads();
    drawn = kept_n;
    for (int64_t i = tid; i < drawn; i += nth) p[i] /= total;
    __syncthreads();
  }
  if (tid == 0) *token = static_cast<int>(dec::cumulative_pick(keys, p, drawn, u));
  __syncthreads();
}

__global__ void __launch_bounds__(dec::kThreads, 1) decoder_kernel(const Args a) {
  extern __shared__ __align__(16) float sm[];
  __shared__ int token;
  const dec::Dims& d = a.d;
  const dec::Plan& p = a.p;
  const int64_t H = d.H, G = 4 * H, U = p.units;
  const int tid = threadIdx.x, nth = blockDim.x, warp = tid / 32, lane = tid % 32;
  const int64_t j0 = blockIdx.x * U, jn = (H - j0) < U ? H - j0 : U;
  const int64_t v0 = dec::share_begin(d.V, blockIdx.x, p.blocks), v1 = dec::share_begin(d.V, blockIdx.x + 1, p.blocks);
  cg::grid_group grid = cg::this_grid();
  // The block's weights, once: gate row q U + u of each layer is row q H +
  // j0 + u of W_hh (and W_ih above layer 0); then its output rows.
  for (int64_t l = 0; l < d.L; ++l)
    for (int64_t i = tid; i < 4 * jn * H; i += nth) {
      const int64_t r = i / H, k = i % H, q = r / jn, u = r % jn, src = (l * G + q * H + j0 + u) * H + k;
      sm[dec::hh_rows_at(p, d, l) + (q * U + u) * H + k] = a.w_hh[src];
      if (l > 0) sm[dec::ih_rows_at(p, d, l) + (q * U + u) * H + k] = a.w_ih[src];
    }
  for (int64_t i = tid; i < (v1 - v0) * H; i += nth) sm[p.out_at + i] = a.w_out[v0 * H + i];
  for (int64_t i = tid; i < d.L * jn; i += nth) sm[p.c_at + (i / jn) * U + i % jn] = a.c[(i / jn) * H + j0 + i % jn];
  float* hprev = sm + p.x_at;
  float* x = hprev + H;
  float* gates = sm + p.gates_at;
  float* logits = sm + p.logits_at;
  uint64_t* keys = reinterpret_cast<uint64_t*>(sm + p.keys_at);
  double* pw = reinterpret_cast<double*>(sm + p.p_at);
  if (tid == 0) token = a.n_fed > 0 ? a.fed[0] : 0;
  __syncthreads();
  int cur = a.parity;
  const int64_t steps = a.n_fed + a.tokens - 1;
  for (int64_t s = 0; s < steps; ++s) {
    const int nxt = 1 - cur;
    const int tok = token;
    for (int64_t l = 0; l < d.L; ++l) {
      const float* hl = a.h + (l * 2 + cur) * H;
      const float* below = l > 0 ? a.h + ((l - 1) * 2 + nxt) * H : nullptr;
      for (int64_t k = tid; k < H; k += nth) {
        hprev[k] = __ldcg(hl + k);
        if (below) x[k] = __ldcg(below + k);
      }
      __syncthreads();
      for (int64_t r = warp; r < 4 * jn; r += dec::kWarps) {
        const int64_t q = r / jn, u = r % jn, row = q * U + u, j = j0 + u;
        const float rec = warp_dot(sm + dec::hh_rows_at(p, d, l) + row * H, hprev, H);
        const float inp = l > 0 ? warp_dot(sm + dec::ih_rows_at(p, d, l) + row * H, x, H) : 0.f;
        if (lane == 0)
          gates[row] = dec::gate_sum(l, rec, inp, l == 0 ? a.table[tok * G + q * H + j] : a.b[l * G + q * H + j]);
      }
      __syncthreads();
      for (int64_t u = tid; u < jn; u += nth) {
        float hv;
        dec::cell(gates[u], gates[U + u], gates[2 * U + u], gates[3 * U + u], sm[p.c_at + l * U + u], hv);
        a.h[(l * 2 + nxt) * H + j0 + u] = hv;
      }
      grid.sync();
    }
    cur = nxt;
    if (s + 1 < a.n_fed) {  // still feeding: the next input is given
      if (tid == 0) token = a.fed[s + 1];
      __syncthreads();
      continue;
    }
    // The logits rows of this block, then every block draws the same token.
    const float* top = a.h + ((d.L - 1) * 2 + cur) * H;
    for (int64_t k = tid; k < H; k += nth) x[k] = __ldcg(top + k);
    __syncthreads();
    for (int64_t v = v0 + warp; v < v1; v += dec::kWarps) {
      const float acc = warp_dot(sm + p.out_at + (v - v0) * H, x, H);
      if (lane == 0) a.logits[v] = a.b_out[v] + acc;
    }
    grid.sync();
    for (int64_t v = tid; v < d.V; v += nth) logits[v] = __ldcg(a.logits + v);
    __syncthreads();
    const int64_t t = s + 1 - a.n_fed;  // the sampled token's index
    draw(a, logits, keys, pw, a.u[t], &token);
    if (blockIdx.x == 0 && tid == 0) a.out[t] = token;
    // The logits are rewritten only after the next token's first barrier,
    // which every block reaches after its reads above.
  }
  for (int64_t i = tid; i < d.L * jn; i += nth) a.c[(i / jn) * H + j0 + i % jn] = sm[p.c_at + (i / jn) * U + i % jn];
}

}  // namespace

struct DecoderDevice::Impl {
  int device = 0;
  dec::Dims d;
  dec::Plan plan;
  int parity = 0;
  DeviceBuffer table, w_hh, w_ih, b, w_out, b_out, h, c, logits, fed, u, out;
};

dec::Plan DecoderDevice::plan_for(const dec::Dims& d, int device) {
  int sms = 0, optin = 0, coop = 0;
  CADENZA_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  CADENZA_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  CADENZA_CUDA_CHECK(cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, device));
  dec::Plan p = dec::plan(d, sms, optin - 256);  // the static token takes a little
  if (!coop) {
    p.fits = false;
    p.why = "the device has no cooperative launch";
  }
  return p;
}

DecoderDevice::DecoderDevice(const dec::Weights& w, int device) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.device = device;
  DeviceGuard guard(device);
  const cudaStream_t stream = current_stream();
  m.d = {w.V, w.H, w.L};
  m.plan = plan_for(m.d, device);
  if (!m.plan.fits)
    throw std::runtime_error("lstm decoding on cuda:" + std::to_string(device) + ": " + m.plan.why + " (hidden " +
                             std::to_string(w.H) + ", " + std::to_string(w.L) + " layers, vocabulary " +
                             std::to_string(w.V) + ")");
  const int64_t V = w.V, H = w.H, L = w.L, G = 4 * H;
  const size_t layer = static_cast<size_t>(G * H) * sizeof(float);
  m.table.resize(static_cast<size_t>(V * G) * sizeof(float), kOp);
  m.table.put(w.table, static_cast<size_t>(V * G) * sizeof(float), 0, stream);
  m.w_hh.resize(L * layer, kOp);
  m.w_ih.resize(L * layer, kOp);
  m.b.resize(static_cast<size_t>(L * G) * sizeof(float), kOp);
  for (int64_t l = 0; l < L; ++l) {
    m.w_hh.put(w.w_hh[l], layer, l * layer, stream);
    if (l > 0) {
      m.w_ih.put(w.w_ih[l], layer, l * layer, stream);
      m.b.put(w.b[l], static_cast<size_t>(G) * sizeof(float), static_cast<size_t>(l * G) * sizeof(float), stream);
    }
  }
  m.w_out.resize(static_cast<size_t>(V * H) * sizeof(float), kOp);
  m.w_out.put(w.w_out, static_cast<size_t>(V * H) * sizeof(float), 0, stream);
  m.b_out.resize(static_cast<size_t>(V) * sizeof(float), kOp);
  m.b_out.put(w.b_out, static_cast<size_t>(V) * sizeof(float), 0, stream);
  m.h.resize(static_cast<size_t>(L * 2 * H) * sizeof(float), kOp);
  m.c.resize(static_cast<size_t>(L * H) * sizeof(float), kOp);
  m.logits.resize(static_cast<size_t>(V) * sizeof(float), kOp);
  reset();
  CADENZA_CUDA_CHECK(cudaStreamSynchronize(stream));  // the caller's weights may go now
}

DecoderDevice::~DecoderDevice() = default;

const dec::Plan& DecoderDevice::plan() const { return impl_->plan; }

void DecoderDevice::reset() {
  Impl& m = *impl_;
  DeviceGuard guard(m.device);
  m.h.zero(current_stream());
  m.c.zero(current_stream());
  m.parity = 0;
}

std::vector<int32_t> DecoderDevice::generate(int64_t tokens, int32_t first, const std::vector<double>& uniforms,
                                             double temperature, int64_t top_k, double top_p,
                                             const std::vector<int32_t>& primer) {
  Impl& m = *impl_;
  const int64_t V = m.d.V;
  std::vector<int32_t> fed = primer.empty() ? std::vector<int32_t>{first} : primer;
  for (int32_t t : fed)
    if (t < 0 || t >= V)
      throw std::out_of_range("Decoder: token " + std::to_string(t) + " is outside the vocabulary [0, " +
                              std::to_string(V) + ")");
  if (tokens < 1) return {};
  if (static_cast<int64_t>(uniforms.size()) < tokens)
    throw std::invalid_argument("lstm decoding: " + std::to_string(tokens) + " tokens need as many uniforms, got " +
                                std::to_string(uniforms.size()));
  DeviceGuard guard(m.device);
  const cudaStream_t stream = current_stream();
  const int64_t n_fed = static_cast<int64_t>(fed.size());
  m.fed.resize(fed.size() * sizeof(int32_t), kOp);
  m.fed.put(fed.data(), fed.size() * sizeof(int32_t), 0, stream);
  m.u.resize(static_cast<size_t>(tokens) * sizeof(double), kOp);
  m.u.put(uniforms.data(), static_cast<size_t>(tokens) * sizeof(double), 0, stream);
  m.out.resize(static_cast<size_t>(tokens) * sizeof(int32_t), kOp);
  Args a;
  a.d = m.d;
  a.p = m.plan;
  a.table = m.table.as<const float>();
  a.w_hh = m.w_hh.as<const float>();
  a.w_ih = m.w_ih.as<const float>();
  a.b = m.b.as<const float>();
  a.w_out = m.w_out.as<const float>();
  a.b_out = m.b_out.as<const float>();
  a.h = m.h.as<float>();
  a.c = m.c.as<float>();
  a.logits = m.logits.as<float>();
  a.fed = m.fed.as<const int32_t>();
  a.n_fed = n_fed;
  a.tokens = tokens;
  a.u = m.u.as<const double>();
  a.temperature = temperature;
  a.top_p = top_p;
  a.top_k = top_k;
  a.out = m.out.as<int32_t>();
  a.parity = m.parity;
  const size_t smem = static_cast<size_t>(m.plan.smem_bytes);
  CADENZA_CUDA_CHECK(cudaFuncSetAttribute(decoder_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          static_cast<int>(smem)));
  int per_sm = 0, sms = 0;
  CADENZA_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, decoder_kernel, dec::kThreads, smem));
  CADENZA_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, m.device));
  if (static_cast<int64_t>(per_sm) * sms < m.plan.blocks)
    throw std::runtime_error("lstm decoding: " + std::to_string(m.plan.blocks) + " blocks of " + std::to_string(smem) +
                             " bytes cannot all be resident on cuda:" + std::to_string(m.device));
  CADENZA_CUDA_CHECK(launch_cooperative(decoder_kernel, dim3(static_cast<unsigned>(m.plan.blocks)),
                                        dim3(dec::kThreads), smem, stream, a));
  CADENZA_CUDA_CHECK(cudaGetLastError());
  std::vector<int32_t> out(static_cast<size_t>(tokens));
  CADENZA_CUDA_CHECK(cudaMemcpyAsync(out.data(), m.out.p, out.size() * sizeof(int32_t), cudaMemcpyDeviceToHost,
                                     stream));
  CADENZA_CUDA_CHECK(cudaStreamSynchronize(stream));
  // Every step flipped the state's buffer.
  m.parity = static_cast<int>((m.parity + n_fed + tokens - 1) % 2);
  return out;
}

}  // namespace cadenza::kernels::cuda
