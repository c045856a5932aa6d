// The polyphonic piano-roll model: the benchmark's NLL on a hand-made
// dataset with a known answer, PyTorch goldens for the loss and the whole
// model, the JSON reader's errors, batching, exact resume and sampling.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "../engine/gradcheck.h"
#include "engine/autograd.h"
#include "engine/checkpoint.h"
#include "engine/file_io.h"
#include <numeric>
#include "models/poly_data.h"
#include "models/poly_trainer.h"
#include "models/token_trainer.h"

using namespace cadenza;
using namespace cadenza::models;
namespace fs = std::filesystem;

static std::string poly_tmpdir(const std::string& name) {
  std::string d = std::string(CADENZA_BINARY_DIR) + "/test-tmp/" + name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

static double max_abs_diff(const Tensor& a, const Tensor& b) {
  NoGradGuard ng;
  return max(abs(sub(to_dtype(a, DType::f64), to_dtype(b, DType::f64)))).item();
}

// A model that ignores its input: every weight 0, output bias b. Then each
// key sounds with probability sigmoid(b_k) in every predicted frame.
static void make_constant(PolyModel& m, const std::vector<float>& bias) {
  NoGradGuard ng;
  for (auto& kv : m.named_parameters()) {
    Tensor p = kv.second;
    float* d = p.data<float>();
    for (int64_t i = 0; i < p.numel(); ++i) d[i] = 0;
  }
  float* b = m.output->bias.data<float>();
  for (int64_t k = 0; k < kPolyKeys; ++k) b[k] = bias[k];
}

TEST_CASE("poly: NLL per frame on a hand-made dataset has the known value", "[models][poly]") {
  // p = 0.75 for middle C (60), 0.25 for every other key. Per predicted frame:
  //   {60}:      88 ln(4/3)
  //   {60, 64}:  87 ln(4/3) + ln 4
  //   {}:        87 ln(4/3) + ln 4
  auto d = parse_poly_json(R"({"train": [], "valid": [],
      "test": [[[60], [60], [60, 64]], [[], []], [[72]]]})",
                           "hand-made");
  PolyModelConfig cfg;
  cfg.hidden = 5;
  cfg.layers = 2;
  cfg.dropout = 0;
  PolyModel m(cfg);
  std::vector<float> bias(kPolyKeys, static_cast<float>(-std::log(3.0)));
  bias[60 - kPolyLowPitch] = static_cast<float>(std::log(3.0));
  make_constant(m, bias);
  int64_t frames = 0;
  double nll = evaluate_poly(m, d.test, &frames);
  const double a = std::log(4.0 / 3.0), l4 = std::log(4.0);
  REQUIRE(frames == 3);  // the first frame of a piece is not predicted; a 1-frame piece adds nothing
  const double expected = (88 * a + 2 * (87 * a + l4)) / 3;
  REQUIRE(std::abs(nll - expected) < 1e-5);
  // Every frame weighs the same: the mean of per-piece means would differ.
  const double per_piece = ((88 * a + 87 * a + l4) / 2 + (87 * a + l4)) / 2;
  REQUIRE(std::abs(nll - per_piece) > 0.05);
}

TEST_CASE("poly: loss matches PyTorch's binary_cross_entropy_with_logits (f64 golden)", "[models][poly][golden]") {
  auto g = load_safetensors(std::string(CADENZA_SOURCE_DIR) + "/tests/golden/poly_model.safetensors");
  Tensor logits = g.at("bce.logits").detach();
  logits.requires_grad_(true);
  Tensor loss = poly_frame_nll_sum(logits, g.at("bce.target"), g.at("bce.mask"));
  REQUIRE(std::abs(loss.item() - g.at("bce.loss").item()) < 1e-9 * std::abs(g.at("bce.loss").item()));
  loss.backward();
  REQUIRE(max_abs_diff(logits.grad(), g.at("bce.grad")) < 1e-12);
}

TEST_CASE("poly: the whole model matches PyTorch, scored as the TCN evaluation does", "[models][poly][golden]") {
  auto g = load_safetensors(std::string(CADENZA_SOURCE_DIR) + "/tests/golden/poly_model.safetensors");
  PolyModelConfig cfg;
  cfg.hidden = 9;
  cfg.layers = 2;
  cfg.dropout = 0;
  PolyModel m(cfg);
  nn::StateDict sd;
  for (auto& kv : g.tensors)
    if (kv.first.rfind("param.", 0) == 0) sd.emplace_back(kv.first.substr(6), kv.second);
  m.load_state_dict(sd);
  // Pieces back from the padded golden tensor.
  Tensor padded = g.at("model.pieces");
  Tensor lengths = g.at("model.lengths");
  std::vector<PolyPiece> pieces;
  const int64_t L = padded.size(1);
  for (int64_t i = 0; i < padded.size(0); ++i) {
    PolyPiece p;
    p.frames = lengths.data<int64_t>()[i];
    for (int64_t t = 0; t < p.frames; ++t)
      for (int64_t k = 0; k < kPolyKeys; ++k) p.keys.push_back(padded.data<float>()[(i * L + t) * kPolyKeys + k] > 0.5f);
    pieces.push_back(p);
  }
  const double want = g.at("model.nll").item();
  REQUIRE(std::abs(evaluate_poly(m, pieces) - want) < 1e-5);

  m.train();  // dropout is 0, so training mode computes the same thing
  PolyBatch b = make_poly_batch(pieces, {0, 1, 2});
  REQUIRE(b.frames == 6 + 3 + 1);
  Tensor nll = div(poly_frame_nll_sum(m.forward_frames(b.input), b.target, b.mask),
                   Tensor::scalar(static_cast<double>(b.frames)));
  REQUIRE(std::abs(nll.item() - want) < 1e-5);
  nll.backward();
  for (auto& kv : m.named_parameters()) {
    INFO(kv.first);
    Tensor want_g = g.at("grad." + kv.first);
    double scale = std::max(1.0, max(abs(want_g)).item());
    REQUIRE(max_abs_diff(kv.second.grad(), want_g) < 1e-5 * scale);
  }
}

TEST_CASE("poly: loss gradient check in f64 with odd shapes", "[models][poly][grad]") {
  Tensor target = test::leaf({3, 5, kPolyKeys}, 0, 1, 4).detach();
  Tensor mask = Tensor::from_vector(std::vector<double>{1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0}, {3, 5});
  {
    NoGradGuard ng;
    target = gt(target, Tensor::scalar(0.8, DType::f64));
  }
  test::gradcheck([&](const std::vector<Tensor>& x) { return poly_frame_nll_sum(x[0], target, mask); },
                  {test::leaf({3, 5, kPolyKeys}, -6, 6, 5)});
}

TEST_CASE("poly: the JSON reader names the file, split, piece and frame of bad input", "[models][poly][errors]") {
  auto bad = [](const std::string& text) { return parse_poly_json(text, "bad.json"); };
  REQUIRE_THROWS_WITH(bad("{\"train\": ["), Catch::Contains("'bad.json' is not valid JSON"));
  REQUIRE_THROWS_WITH(bad("[1, 2]"), Catch::Contains("expected a JSON object"));
  REQUIRE_THROWS_WITH(bad(R"({"train": [], "valid": []})"), Catch::Contains("has no \"test\" split"));
  REQUIRE_THROWS_WITH(bad(R"({"train": {}, "valid": [], "test": []})"),
                      Catch::Contains("split train: expected a list of pieces"));
  REQUIRE_THROWS_WITH(bad(R"({"train": [3], "valid": [], "test": []})"),
                      Catch::Contains("split train, piece 0: expected a list of frames"));
  REQUIRE_THROWS_WITH(bad(R"({"train": [], "valid": [[[60], 5]], "test": []})"),
                      Catch::Contains("split valid, piece 0, frame 1: expected a list of MIDI note numbers"));
  REQUIRE_THROWS_WITH(bad(R"({"train": [], "valid": [], "test": [[], [[60], [109]]]})"),
                      Catch::Contains("split test, piece 1, frame 1: note 109 is outside the piano's 21..108"));
  REQUIRE_THROWS_WITH(bad(R"({"train": [[[20]]], "valid": [], "test": []})"), Catch::Contains("note 20 is outside"));
  REQUIRE_THROWS_WITH(bad(R"({"train": [[["60"]]], "valid": [], "test": []})"),
                      Catch::Contains("note \"60\" is not an integer"));
  REQUIRE_THROWS_WITH(bad(R"({"train": [[[60.5]]], "valid": [], "test": []})"), Catch::Contains("not an integer"));
  REQUIRE_THROWS_WITH(bad(R"({"train": [[[[[[60]]]]]], "valid": [], "test": []})"),
                      Catch::Contains("note (a JSON array) is not an integer"));
  REQUIRE_THROWS_WITH(load_poly_json("/nonexistent/poly.json"), Catch::Contains("cannot open poly dataset '/nonexistent/poly.json'"));
  // Lenient where real exports differ: integral floats, a repeated note, empty frames.
  auto d = bad(R"({"train": [[[60.0, 60], []]], "valid": [], "test": []})");
  REQUIRE(d.train[0].frames == 2);
  REQUIRE(d.train[0].keys[60 - kPolyLowPitch] == 1);
  REQUIRE(d.duplicate_notes == 1);
  REQUIRE_NOTHROW(parse_poly_json(R"({"test": []})", "partial.json", false));
}

TEST_CASE("poly: batches pad after each piece and mask the padding", "[models][poly]") {
  auto d = parse_poly_json(R"({"train": [[[21], [22], [23], [108]], [[40], [41]]], "valid": [], "test": []})", "b");
  PolyBatch b = make_poly_batch(d.train, {1, 0});
  REQUIRE(b.input.shape() == Shape{2, 3, kPolyKeys});
  REQUIRE(b.frames == 4);
  const float* m = b.mask.data<float>();
  REQUIRE(std::vector<float>(m, m + 6) == std::vector<float>{1, 0, 0, 1, 1, 1});
  const float* in = b.input.data<float>();
  const float* tg = b.target.data<float>();
  REQUIRE(in[0 * kPolyKeys + (40 - 21)] == 1);                 // piece 1, input frame 0
  REQUIRE(tg[0 * kPolyKeys + (41 - 21)] == 1);                 // piece 1, target frame 1
  REQUIRE(tg[(3 + 2) * kPolyKeys + (108 - 21)] == 1);          // piece 0, last target: key 87
  float pad_sum = 0;
  for (int64_t k = 0; k < 2 * kPolyKeys; ++k) pad_sum += in[kPolyKeys + k] + tg[kPolyKeys + k];
  REQUIRE(pad_sum == 0);
  PolyBatch w = make_poly_batch(d.train, {0}, 1, 2);  // a window from frame 1
  REQUIRE(w.frames == 2);
  REQUIRE(w.input.data<float>()[22 - 21] == 1);
}

TEST_CASE("poly: epoch batches cover every piece once, deterministically", "[models][poly]") {
  std::vector<PolyPiece> pieces(23);
  for (size_t i = 0; i < pieces.size(); ++i) {
    pieces[i].frames = static_cast<int64_t>((i * 7) % 11 + 2);
    pieces[i].keys.assign(pieces[i].frames * kPolyKeys, 0);
  }
  auto a = poly_epoch_batches(pieces, 4, 9, 3), b = poly_epoch_batches(pieces, 4, 9, 3);
  auto c = poly_epoch_batches(pieces, 4, 9, 4);
  REQUIRE(a == b);
  REQUIRE(a != c);
  REQUIRE(a.size() == 6);
  std::vector<int> seen(pieces.size(), 0);
  for (auto& batch : a)
    for (int64_t i : batch) ++seen[i];
  REQUIRE(std::all_of(seen.begin(), seen.end(), [](int n) { return n == 1; }));
}

// Pieces of a learnable pattern: a chord that climbs a semitone per frame.
static PolyDataset pattern_dataset(int pieces, int len) {
  PolyDataset d;
  d.path = "pattern";
  Generator g(5);
  for (int s = 0; s < 3; ++s)
    for (int i = 0; i < pieces; ++i) {
      PolyPiece p;
      p.frames = len + (i % 3);
      p.keys.assign(p.frames * kPolyKeys, 0);
      int root = 20 + static_cast<int>(uniform_double(&g) * 30);
      for (int64_t t = 0; t < p.frames; ++t)
        for (int iv : {0, 4, 7}) p.keys[t * kPolyKeys + (root + t + iv) % kPolyKeys] = 1;
      (s == 0 ? d.train : s == 1 ? d.valid : d.test).push_back(p);
    }
  return d;
}

static PolyModelConfig small_poly(const std::string& cell) {
  PolyModelConfig c;
  c.cell = cell;
  c.hidden = 16;
  c.layers = 2;
  c.dropout = 0.1;
  return c;
}

TEST_CASE("poly: training learns, and resume reproduces an uninterrupted run", "[models][poly]") {
  for (std::string cell : {"lstm", "gru"}) {
    DYNAMIC_SECTION(cell) {
      auto data = pattern_dataset(12, 9);
      PolyTrainOptions o;
      o.batch = 5;
      o.epochs = 4;
      o.lr = 1e-2;
      o.quiet = true;
      o.out_dir = poly_tmpdir("poly_full_" + cell);
      auto full = train_poly(small_poly(cell), data, o);
      REQUIRE(full.steps_done == 12);
      REQUIRE(full.epochs_done == 4);
      REQUIRE(full.losses.back() < full.losses.front());
      REQUIRE(fs::exists(o.out_dir + "/best.safetensors"));
      REQUIRE(fs::exists(o.out_dir + "/metrics.csv"));
      REQUIRE(fs::exists(o.out_dir + "/loss.png"));

      // Interrupted mid-epoch (step 5 of 12), then resumed.
      o.out_dir = poly_tmpdir("poly_resume_" + cell);
      o.stop_at = 5;
      auto first = train_poly(small_poly(cell), data, o);
      REQUIRE(first.interrupted);
      o.stop_at = -1;
      o.resume = true;
      auto second = train_poly(small_poly(cell), data, o);
      std::vector<double> joined = first.losses;
      joined.insert(joined.end(), second.losses.begin(), second.losses.end());
      REQUIRE(joined == full.losses);
      REQUIRE(second.best_val_nll == full.best_val_nll);

      // Resuming on other data is refused by name.
      auto other = pattern_dataset(7, 9);
      REQUIRE_THROWS_WITH(train_poly(small_poly(cell), other, o), Catch::Contains("resume with the same data"));

      auto model = load_poly_model(o.out_dir + "/best.safetensors");
      REQUIRE(model->config.cell == cell);
      REQUIRE(std::abs(evaluate_poly(*model, data.valid) - full.best_val_nll) < 1e-9);
    }
  }
}

TEST_CASE("poly: sampling is a function of the seed and starts from the primer", "[models][poly]") {
  PolyModel m(small_poly("lstm"));
  auto draw = [&](uint64_t seed) {
    Generator g(seed);
    return sample_poly(m, 20, {48, 60, 64}, 1.0, [&] { return uniform_double(&g); });
  };
  auto a = draw(3), b = draw(3), c = draw(4);
  REQUIRE(a == b);
  REQUIRE(a != c);
  REQUIRE(a.size() == 20 * static_cast<size_t>(kPolyKeys));
  REQUIRE(a[48 - kPolyLowPitch] == 1);
  REQUIRE(a[60 - kPolyLowPitch] == 1);
  REQUIRE(a[61 - kPolyLowPitch] == 0);
  // A key with probability ~1 always sounds; one with ~0 never does.
  std::vector<float> bias(kPolyKeys, -40.f);
  bias[0] = 40.f;
  make_constant(m, bias);
  auto d = draw(5);
  for (int64_t t = 1; t < 20; ++t) {
    REQUIRE(d[t * kPolyKeys] == 1);
    REQUIRE(std::accumulate(d.begin() + t * kPolyKeys + 1, d.begin() + (t + 1) * kPolyKeys, 0) == 0);
  }
  REQUIRE_THROWS_WITH(sample_poly(m, 4, {12}, 1.0, [] { return 0.5; }), Catch::Contains("primer note 12"));
}

TEST_CASE("poly: checkpoints that are not poly models are refused by name", "[models][poly][errors]") {
  std::string dir = poly_tmpdir("poly_ckpt");
  PolyModel m(small_poly("gru"));
  save_safetensors(dir + "/plain.safetensors", m.state_dict(), {{"format", "something.else"}});
  REQUIRE_THROWS_WITH(load_poly_model(dir + "/plain.safetensors"),
                      Catch::Contains("is not a cadenza poly model checkpoint"));
  auto data = pattern_dataset(4, 6);
  PolyTrainOptions o;
  o.batch = 2;
  o.epochs = 1;
  o.quiet = true;
  o.out_dir = dir + "/run";
  train_poly(small_poly("gru"), data, o);
  // A truncated checkpoint names the file.
  auto bytes = read_file(o.out_dir + "/latest.safetensors");
  std::ofstream(dir + "/cut.safetensors", std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size() / 2);
  REQUIRE_THROWS_WITH(load_poly_model(dir + "/cut.safetensors"), Catch::Contains("cut.safetensors"));
  // The config must be a poly model's and match the tensors.
  auto ck = load_safetensors(o.out_dir + "/latest.safetensors");
  auto meta = ck.metadata;
  meta["config"] = small_poly("lstm").to_json();
  save_safetensors(dir + "/mismatch.safetensors", ck.tensors, meta);
  REQUIRE_THROWS_WITH(load_poly_model(dir + "/mismatch.safetensors"), Catch::Contains("mismatch.safetensors"));
}

TEST_CASE("poly: transposition keeps every piece on the keyboard", "[models][poly]") {
  auto d = parse_poly_json(R"({"train": [[[21, 30], [25]], [[100], [108]], [[60], [64]], [[], []]],
                               "valid": [], "test": []})", "t");
  for (int64_t epoch = 0; epoch < 20; ++epoch) {
    auto s = poly_epoch_shifts(d.train, 5, 3, epoch);
    REQUIRE(s[0] >= 0);   // already on the lowest key
    REQUIRE(s[1] <= 0);   // already on the highest key
    REQUIRE(std::abs(s[2]) <= 5);
    REQUIRE(s[3] == 0);   // silent
    REQUIRE_NOTHROW(make_poly_batch(d.train, {0, 1, 2, 3}, 0, 0, s));
  }
  REQUIRE(poly_epoch_shifts(d.train, 0, 3, 1) == std::vector<int>(4, 0));
  PolyBatch b = make_poly_batch(d.train, {2}, 0, 0, {-3});
  REQUIRE(b.input.data<float>()[60 - 3 - kPolyLowPitch] == 1);
  REQUIRE(b.target.data<float>()[64 - 3 - kPolyLowPitch] == 1);
  REQUIRE_THROWS_WITH(make_poly_batch(d.train, {1}, 0, 0, {1}), Catch::Contains("off the keyboard"));
}

TEST_CASE("poly: the marginal output-bias init is each key's log-odds over predicted frames", "[models][poly]") {
  // Predicted frames (all but each piece's first): {60}, {60, 64}, {} -> p(60) = 2/3, p(64) = 1/3.
  auto d = parse_poly_json(R"({"train": [[[72], [60], [60, 64]], [[72], []]], "valid": [], "test": []})", "m");
  auto odds = key_log_odds(d.train);
  REQUIRE(std::abs(odds[60 - kPolyLowPitch] - std::log(2.0)) < 1e-6);
  REQUIRE(std::abs(odds[64 - kPolyLowPitch] + std::log(2.0)) < 1e-6);
  REQUIRE(std::abs(odds[72 - kPolyLowPitch] - std::log(1e-4 / (1 - 1e-4))) < 1e-3);  // only in first frames
  // A constant model with that bias scores the training data at its unigram NLL.
  PolyModelConfig cfg;
  cfg.hidden = 4;
  cfg.layers = 1;
  cfg.dropout = 0;
  PolyModel m(cfg);
  make_constant(m, odds);
  const double h = -(2.0 / 3) * std::log(2.0 / 3) - (1.0 / 3) * std::log(1.0 / 3);  // entropy of a 1/3 key
  const double rest = 86 * -std::log(1 - 1e-4);
  REQUIRE(std::abs(evaluate_poly(m, d.train) - (2 * h + rest)) < 1e-3);
}

TEST_CASE("poly: a run that patience stopped stays stopped on resume", "[models][poly]") {
  auto data = pattern_dataset(6, 8);
  PolyTrainOptions o;
  o.batch = 3;
  o.epochs = 200;
  o.lr = 0.3;  // diverges from the best epoch quickly, so patience ends it
  o.patience = 2;
  o.quiet = true;
  o.out_dir = poly_tmpdir("poly_patience");
  auto first = train_poly(small_poly("lstm"), data, o);
  REQUIRE(first.stopped_early);
  REQUIRE(first.epochs_done < 200);
  o.resume = true;
  auto again = train_poly(small_poly("lstm"), data, o);
  REQUIRE(again.stopped_early);
  REQUIRE(again.losses.empty());
  REQUIRE(again.best_val_nll == first.best_val_nll);
}
