// The token sequence model: config, sampling, training that learns, exact
// resume, checkpoints that name what is wrong.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include "engine/checkpoint.h"
#include "engine/threading.h"
#include "models/decoder.h"
#include "models/lstm_workloads.h"
#include "models/sequence_model.h"
#include "models/token_trainer.h"

using namespace cadenza;
using namespace cadenza::models;
namespace fs = std::filesystem;

static std::string tmpdir(const std::string& name) {
  std::string d = std::string(CADENZA_BINARY_DIR) + "/test-tmp/" + name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Pieces of a simple grammar: ascending runs a, a+1, ..., a+5 over 12 tokens.
static std::vector<TokenSeq> pattern_pieces(int n, int len, uint64_t seed) {
  Generator g(seed);
  std::vector<TokenSeq> out;
  for (int i = 0; i < n; ++i) {
    TokenSeq p;
    int a = static_cast<int>(uniform_double(&g) * 12);
    for (int k = 0; k < len; ++k) p.push_back((a + k % 6) % 12);
    out.push_back(p);
  }
  return out;
}

static SequenceModelConfig small_config(const std::string& cell) {
  SequenceModelConfig c;
  c.vocab = "test";
  c.vocab_size = 12;
  c.cell = cell;
  c.embed = 8;
  c.hidden = 16;
  c.layers = 2;
  c.dropout = 0.1;
  return c;
}

TEST_CASE("sequence model: config JSON round trip and errors", "[models]") {
  auto c = small_config("gru");
  auto d = SequenceModelConfig::from_json(c.to_json());
  REQUIRE(d.cell == "gru");
  REQUIRE(d.hidden == 16);
  REQUIRE_THROWS_WITH(SequenceModelConfig::from_json("{"), Catch::Contains("not valid JSON"));
  REQUIRE_THROWS_WITH(SequenceModelConfig::from_json(R"({"vocab":"x"})"), Catch::Contains("no field 'vocab_size'"));
  c.cell = "rnn";
  REQUIRE_THROWS_WITH(c.validate(), Catch::Contains("cell must be lstm or gru"));
}

TEST_CASE("sequence model: state_dict names follow the PyTorch module", "[models]") {
  SequenceModel m(small_config("lstm"));
  std::vector<std::string> names;
  for (auto& kv : m.state_dict()) names.push_back(kv.first);
  REQUIRE(names.front() == "embedding.weight");
  REQUIRE(std::find(names.begin(), names.end(), "rnn.weight_hh_l1") != names.end());
  REQUIRE(names.back() == "output.bias");
  Tensor logits = m.forward_tokens(Tensor::zeros({2, 5}, DType::i64));
  REQUIRE(logits.shape() == Shape{2, 5, 12});
}

TEST_CASE("sequence model: the folded embedding projection equals embedding then LSTM/GRU", "[models]") {
  // B T >= vocab_size takes the folded path (a [V, G] gate table); the
  // reference runs the same parameters through the unfolded layers.
  for (std::string cell : {"lstm", "gru"}) {
    INFO(cell);
    SequenceModelConfig c;
    c.vocab_size = 19;
    c.embed = 11;
    c.hidden = 13;
    c.layers = 2;
    c.cell = cell;
    manual_seed(3);
    SequenceModel m(c);
    Generator g(4);
    Tensor ids = randint(0, 19, {3, 9}, &g);
    REQUIRE(ids.numel() >= c.vocab_size);
    RecurrentState st;
    Tensor folded = m.forward_tokens(ids, &st);
    Tensor w = randn(folded.shape(), DType::f32, &g);
    sum(folded * w).backward();
    std::vector<std::vector<float>> grads;
    for (auto& p : m.parameters()) {
      grads.push_back(p.grad().to_vector<float>());
      p.zero_grad();
    }
    auto out = m.rnn->forward_rnn(m.embedding->forward(ids));
    Tensor plain = m.output->forward(out.output);
    sum(plain * w).backward();
    auto a = folded.to_vector<float>(), b = plain.to_vector<float>();
    for (size_t i = 0; i < a.size(); ++i) REQUIRE(a[i] == Approx(b[i]).margin(1e-5));
    auto hs = st.h.to_vector<float>(), hp = out.h_n.to_vector<float>();
    for (size_t i = 0; i < hs.size(); ++i) REQUIRE(hs[i] == Approx(hp[i]).margin(1e-6));
    auto params = m.parameters();
    for (size_t k = 0; k < params.size(); ++k) {
      auto gp = params[k].grad().to_vector<float>();
      REQUIRE(gp.size() == grads[k].size());
      for (size_t i = 0; i < gp.size(); ++i) REQUIRE(grads[k][i] == Approx(gp[i]).margin(1e-5));
    }
  }
}

TEST_CASE("sampling: temperature, top-k and top-p with given uniforms", "[models]") {
  std::vector<float> l{0.0f, 2.0f, 1.0f, -1.0f};
  REQUIRE(sample_token(l.data(), 4, 0.0, 0, 1.0, 0.99) == 1);  // greedy
  REQUIRE(sample_token(l.data(), 4, 1.0, 1, 1.0, 0.99) == 1);  // top-1
  // top-2 keeps tokens 1 and 2: p = e^2/(e^2+e), so u just above picks 2.
  double p1 = std::exp(2.0) / (std::exp(2.0) + std::exp(1.0));
  REQUIRE(sample_token(l.data(), 4, 1.0, 2, 1.0, p1 - 1e-6) == 1);
  REQUIRE(sample_token(l.data(), 4, 1.0, 2, 1.0, p1 + 1e-6) == 2);
  // top-p 0.5: token 1 alone has more than half the mass.
  REQUIRE(sample_token(l.data(), 4, 1.0, 0, 0.5, 0.999) == 1);
  // Full distribution: the smallest u picks the most likely token, the largest the least.
  REQUIRE(sample_token(l.data(), 4, 1.0, 0, 1.0, 0.0) == 1);
  REQUIRE(sample_token(l.data(), 4, 1.0, 0, 1.0, 0.999999) == 3);
}

TEST_CASE("trainer: learns a pattern and beats the unigram baseline", "[models][train]") {
  auto train = pattern_pieces(40, 60, 1), valid = pattern_pieces(8, 60, 2);
  TokenTrainOptions o;
  o.out_dir = tmpdir("learn");
  o.batch = 4;
  o.seq_len = 16;
  o.steps = 120;
  o.lr = 1e-2;
  o.warmup = 10;
  o.eval_every = 40;
  o.quiet = true;
  auto r = train_tokens(small_config("lstm"), train, valid, o);
  double uni = unigram_nll(train, valid, 12);
  INFO("val " << r.final_val_nll << " unigram " << uni);
  REQUIRE(r.final_val_nll < 0.5 * uni);
  REQUIRE(fs::exists(o.out_dir + "/latest.safetensors"));
  REQUIRE(fs::exists(o.out_dir + "/best.safetensors"));
  REQUIRE(fs::exists(o.out_dir + "/metrics.csv"));
  REQUIRE(fs::exists(o.out_dir + "/loss.png"));
  auto m = load_sequence_model(o.out_dir + "/best.safetensors");
  REQUIRE(evaluate_nll(*m, valid, 16, 0) == Approx(r.best_val_nll).epsilon(1e-5));
}

// Batches of 3 x 12 tokens of pattern_pieces, Adam at 5e-3 after 5 warmup steps, quiet.
static TokenTrainOptions short_run(int64_t steps, int64_t eval_every) {
  TokenTrainOptions o;
  o.batch = 3;
  o.seq_len = 12;
  o.steps = steps;
  o.lr = 5e-3;
  o.warmup = 5;
  o.eval_every = eval_every;
  o.transpose = 0;
  o.quiet = true;
  return o;
}

TEST_CASE("trainer: an interrupted run resumes to exactly the same losses", "[models][train]") {
  for (std::string cell : {"lstm", "gru"}) {
    auto train = pattern_pieces(30, 50, 3), valid = pattern_pieces(4, 50, 4);
    TokenTrainOptions o = short_run(40, 10);  // crosses an epoch boundary (41 windows per epoch)
    o.out_dir = tmpdir("full-" + cell);
    auto full = train_tokens(small_config(cell), train, valid, o);
    o.out_dir = tmpdir("split-" + cell);
    o.stop_at = 17;
    auto first = train_tokens(small_config(cell), train, valid, o);
    REQUIRE(first.interrupted);
    REQUIRE(first.steps_done == 17);
    o.stop_at = -1;
    o.resume = true;
    auto second = train_tokens(small_config(cell), train, valid, o);
    REQUIRE(second.steps_done == 40);
    std::vector<double> joined = first.losses;
    joined.insert(joined.end(), second.losses.begin(), second.losses.end());
    REQUIRE(joined == full.losses);
    REQUIRE(second.final_val_nll == full.final_val_nll);
  }
}

// --device cuda through the emulated device (CADENZA_EMULATE_CUDA=1: the
// CPU's kernels under cuda:0's name, host access refused as on a GPU): the
// loop moves the model, the optimizer state and the carried state there,
// every batch follows, checkpoints are written from the host, and a run
// saved on the device resumes on the CPU. The math is the CPU's, so the
// losses equal a CPU run's exactly; any host access the device path missed
// fails the run.
TEST_CASE("trainer: --device cuda (emulated) trains, checkpoints and resumes like the cpu", "[models][train]") {
  const Device gpu{Device::cuda, 0};
  for (std::string cell : {"lstm", "gru"}) {
    auto train = pattern_pieces(30, 50, 3), valid = pattern_pieces(4, 50, 4);
    TokenTrainOptions o = short_run(24, 8);
    o.out_dir = tmpdir("cpu-" + cell);
    auto cpu = train_tokens(small_config(cell), train, valid, o);
    ::unsetenv("CADENZA_EMULATE_CUDA");
    bool have_cuda = true;
    try {
      Tensor::zeros({1}, DType::f32, gpu);
    } catch (const Error& e) {
      have_cuda = false;
      o.device = gpu;
      o.out_dir = tmpdir("nodevice-" + cell);
      REQUIRE_THROWS_WITH(train_tokens(small_config(cell), train, valid, o), Catch::Contains("cuda:0 is not available"));
    }
    if (!have_cuda) ::setenv("CADENZA_EMULATE_CUDA", "1", 1);
    o.device = gpu;
    o.out_dir = tmpdir("gpu-" + cell);
    o.stop_at = 13;
    auto first = train_tokens(small_config(cell), train, valid, o);
    REQUIRE(first.steps_done == 13);
    // The checkpoint holds host tensors; the rest of the run continues on the CPU.
    o.device = Device{};
    o.stop_at = -1;
    o.resume = true;
    auto second = train_tokens(small_config(cell), train, valid, o);
    if (!have_cuda) ::unsetenv("CADENZA_EMULATE_CUDA");
    std::vector<double> joined = first.losses;
    joined.insert(joined.end(), second.losses.begin(), second.losses.end());
    if (have_cuda) {  // a real GPU: its sums round differently
      REQUIRE(joined.size() == cpu.losses.size());
      for (size_t i = 0; i < joined.size(); ++i) REQUIRE(joined[i] == Approx(cpu.losses[i]).epsilon(1e-4));
    } else {
      REQUIRE(joined == cpu.losses);
      REQUIRE(second.final_val_nll == cpu.final_val_nll);
    }
  }
}

TEST_CASE("checkpoints: truncated or foreign files give clear errors", "[models]") {
  std::string d = tmpdir("ckpt");
  SequenceModel m(small_config("lstm"));
  save_sequence_checkpoint(d + "/m.safetensors", m, {}, {});
  REQUIRE(load_sequence_model(d + "/m.safetensors")->config.hidden == 16);
  {
    std::ifstream in(d + "/m.safetensors", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream out(d + "/cut.safetensors", std::ios::binary);
    out << bytes.substr(0, bytes.size() / 2);
  }
  REQUIRE_THROWS_WITH(load_sequence_model(d + "/cut.safetensors"), Catch::Contains("cut.safetensors"));
  save_safetensors(d + "/plain.safetensors", {{"x", Tensor::zeros({2})}});
  REQUIRE_THROWS_WITH(load_sequence_model(d + "/plain.safetensors"), Catch::Contains("no model config"));
  REQUIRE_THROWS_WITH(load_sequence_model(d + "/missing.safetensors"), Catch::Contains("missing.safetensors"));
}

TEST_CASE("decoder: batch-1 steps give the logits of forward_tokens, LSTM and GRU, 1 and 2 threads",
          "[models][decoder]") {
  for (std::string cell : {"lstm", "gru"})
    for (int threads : {1, 2}) {
      INFO(cell << " threads=" << threads);
      SequenceModelConfig c;
      c.vocab_size = 29;
      c.embed = 24;
      c.hidden = 208;  // large enough that two threads split the units
      c.layers = 2;
      c.cell = cell;
      manual_seed(7);
      SequenceModel m(c);
      m.eval();
      int before = get_num_threads();
      set_num_threads(threads);
      Decoder d(m);
      REQUIRE(d.threads() == threads);
      RecurrentState st;
      Tensor ids = Tensor::empty({1, 1}, DType::i64);
      const std::vector<int32_t> seq = {3, 0, 28, 17, 17, 5, 9, 11};
      for (int32_t t : seq) {
        ids.data<int64_t>()[0] = t;
        auto want = m.forward_tokens(ids, &st).contiguous().to_vector<float>();
        const auto& got = d.step(t);
        REQUIRE(got.size() == want.size());
        for (size_t i = 0; i < want.size(); ++i) REQUIRE(got[i] == Approx(want[i]).margin(2e-5));
      }
      // generate() is step() and sample_token() in a loop, primer included.
      const std::vector<int32_t> primer = {4, 8, 15};
      auto uniforms = [] {
        auto n = std::make_shared<int>(0);
        return [n] { return std::fmod(0.37 * ++*n, 1.0); };
      };
      d.reset();
      auto gen = d.generate(12, 0, uniforms(), 0.9, 5, 0.95, primer);
      d.reset();
      auto u = uniforms();
      for (size_t i = 0; i + 1 < primer.size(); ++i) d.step(primer[i]);
      int32_t cur = primer.back();
      std::vector<int32_t> loop;
      for (int i = 0; i < 12; ++i) {
        const auto& l = d.step(cur);
        cur = static_cast<int32_t>(sample_token(l.data(), c.vocab_size, 0.9, 5, 0.95, u()));
        loop.push_back(cur);
      }
      REQUIRE(gen == loop);
      REQUIRE_THROWS_WITH(d.step(29), Catch::Contains("token 29 is outside the vocabulary [0, 29)"));
      REQUIRE_THROWS_WITH(d.generate(3, -1, uniforms(), 1.0, 0, 1.0, {}), Catch::Contains("token -1"));
      set_num_threads(before);
    }
}

// generate() on a device (the emulated one where there is no GPU) runs
// forward_tokens one token at a time there: with the CPU's kernels under the
// device's name, its draws are the host Decoder's, primer included (greedy
// and sampled: the logits agree to 2e-5, far from any tie of these).
TEST_CASE("generate: a model on a device samples the tokens the Decoder samples", "[models][decoder]") {
  const Device gpu{Device::cuda, 0};
  bool have_cuda = true;
  try {
    Tensor::zeros({1}, DType::f32, gpu);
  } catch (const Error&) {
    have_cuda = false;
  }
  if (!have_cuda) ::setenv("CADENZA_EMULATE_CUDA", "1", 1);
  for (std::string cell : {"lstm", "gru"}) {
    INFO(cell);
    SequenceModelConfig c;
    c.vocab_size = 29;
    c.embed = 24;
    c.hidden = 40;
    c.layers = 2;
    c.cell = cell;
    manual_seed(9);
    SequenceModel m(c);
    const std::vector<int32_t> primer = {4, 8, 15, 2};
    for (double temperature : {0.0, 0.8}) {
      auto uniforms = [] {
        auto n = std::make_shared<int>(0);
        return [n] { return std::fmod(0.61 * ++*n, 1.0); };
      };
      m.to(Device{});
      auto want = generate(m, 40, 0, uniforms(), temperature, 0, 1.0, primer);
      m.to(gpu);
      auto got = generate(m, 40, 0, uniforms(), temperature, 0, 1.0, primer);
      REQUIRE(got == want);
      REQUIRE(m.embedding->weight.device() == gpu);  // it stays where the caller put it
      REQUIRE_THROWS_WITH(generate(m, 3, 29, uniforms()), Catch::Contains("token 29 is outside the vocabulary"));
    }
  }
  if (!have_cuda) ::unsetenv("CADENZA_EMULATE_CUDA");
}

TEST_CASE("sampling: the order of equal and negative logits is that of a stable sort", "[models]") {
  // Ties keep the lower id first, -0 ties with +0, and a NaN is never chosen
  // ahead of a number.
  std::vector<float> l = {-1.f, 2.f, -0.f, 2.f, 0.f, -3.5f, std::nanf("")};
  // Greedy-through-top-k: top-1 is the first 2 (id 1), top-2 splits between ids 1 and 3.
  REQUIRE(sample_token(l.data(), 7, 1.0, 1, 1.0, 0.999) == 1);
  REQUIRE(sample_token(l.data(), 7, 1.0, 2, 1.0, 0.49) == 1);
  REQUIRE(sample_token(l.data(), 7, 1.0, 2, 1.0, 0.51) == 3);
  // Top-4 adds the zeros in id order: 2 (the -0) before 4.
  double p2 = std::exp(2.0), p0 = 1.0, s = 2 * p2 + 2 * p0;
  REQUIRE(sample_token(l.data(), 7, 1.0, 4, 1.0, (2 * p2 + 0.5 * p0) / s) == 2);
  REQUIRE(sample_token(l.data(), 7, 1.0, 4, 1.0, (2 * p2 + 1.5 * p0) / s) == 4);
  REQUIRE(sample_token(l.data(), 6, 1.0, 0, 1.0, 0.999999) == 5);  // lowest logit last
}
