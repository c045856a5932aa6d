// MuseGAN's metrics on binary rolls, bar by bar.
#include "models/musicgan_metrics.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

namespace cadenza::models {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Mean {
  double sum = 0;
  int64_t n = 0;
  void add(double v) {
    sum += v;
    ++n;
  }
  double get() const { return n ? sum / static_cast<double>(n) : kNaN; }
};

// MuseGAN's drum filter: 1 on the 16th-note grid, 0.3 one step either side.
double drum_weight(int64_t step, int64_t period) {
  const int64_t r = step % period;
  if (r == 0) return 1.0;
  if (r == 1 || r == period - 1) return 0.3;
  return 0.0;
}

}  // namespace

std::vector<double> tonal_centroid(const std::vector<double>& chroma) {
  if (chroma.size() != 12)
    throw Error("tonal_centroid: expected 12 pitch classes, got " + std::to_string(chroma.size()));
  double total = 0;
  for (double v : chroma) total += v;
  std::vector<double> c(6, 0.0);
  if (total <= 0) return c;
  // Circles of fifths, minor thirds and major thirds, radii 1, 1 and 0.5.
  const double step[3] = {7.0 * M_PI / 6.0, 3.0 * M_PI / 2.0, 2.0 * M_PI / 3.0};
  const double radius[3] = {1.0, 1.0, 0.5};
  for (int l = 0; l < 12; ++l) {
    const double w = chroma[l] / total;
    for (int k = 0; k < 3; ++k) {
      c[2 * k] += w * radius[k] * std::sin(l * step[k]);
      c[2 * k + 1] += w * radius[k] * std::cos(l * step[k]);
    }
  }
  return c;
}

MusicMetrics musegan_metrics(const Tensor& roll, const std::vector<bool>& is_drum, int lowest_pitch,
                             int64_t steps_per_bar, int min_qn_steps) {
  if (roll.dim() != 4 && roll.dim() != 5)
    throw Error("musegan_metrics: expected a roll [N, tracks, bars, steps_per_bar, pitches], got " +
                roll.str());
  if (steps_per_bar < 1) throw Error("musegan_metrics: steps_per_bar must be >= 1");
  if (min_qn_steps < 1) throw Error("musegan_metrics: min_qn_steps must be >= 1");
  const int64_t N = roll.size(0), T = roll.size(1), P = roll.size(roll.dim() - 1);
  const int64_t S = steps_per_bar;
  int64_t B = 0;
  if (roll.dim() == 5) {
    if (roll.size(3) != S)
      throw Error("musegan_metrics: the roll " + roll.str() + " has " +
                  std::to_string(roll.size(3)) + " steps per bar, not " + std::to_string(S));
    B = roll.size(2);
  } else {
    if (roll.size(2) % S != 0)
      throw Error("musegan_metrics: " + std::to_string(roll.size(2)) + " steps of " + roll.str() +
                  " are not whole bars of " + std::to_string(S));
    B = roll.size(2) / S;
  }
  if (static_cast<int64_t>(is_drum.size()) != T)
    throw Error("musegan_metrics: " + std::to_string(is_drum.size()) + " drum flags for " +
                std::to_string(T) + " tracks");
  if (lowest_pitch < 0) throw Error("musegan_metrics: lowest_pitch must be >= 0");

  // A split's whole roll can take gigabytes: read it in place when it is
  // already contiguous f32 on the CPU, and copy only otherwise.
  std::vector<float> copy;
  const float* v = nullptr;
  if (roll.dtype() == DType::f32 && roll.is_contiguous() && roll.device().kind == Device::cpu) {
    v = roll.data<float>();
  } else {
    copy = roll.to_vector<float>();
    v = copy.data();
  }
  auto on = [&](int64_t n, int64_t t, int64_t b, int64_t s, int64_t p) {
    return v[(((n * T + t) * B + b) * S + s) * P + p] > 0.5f;
  };
  const int64_t drum_period = S % 16 == 0 ? S / 16 : 0;

  std::vector<Mean> eb(T), upc(T), qn(T), nl(T), dp(T);
  // chroma[((n * B + b) * T + t) * 12 + pc]: sounding steps per pitch class, for TD.
  std::vector<double> chroma(static_cast<size_t>(N * B * T * 12), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t b = 0; b < B; ++b) {
        double* ch = chroma.data() + ((n * B + b) * T + t) * 12;
        int64_t notes = 0, qualified = 0, note_steps = 0;
        std::vector<double> onsets(static_cast<size_t>(S), 0.0);
        for (int64_t p = 0; p < P; ++p) {
          int64_t run = 0;
          for (int64_t s = 0; s <= S; ++s) {
            const bool x = s < S && on(n, t, b, s, p);
            if (x) {
              if (run == 0) onsets[static_cast<size_t>(s)] += 1;
              ++run;
              ch[(lowest_pitch + p) % 12] += 1;
            } else if (run > 0) {
              ++notes;
              note_steps += run;
              if (run >= min_qn_steps) ++qualified;
              run = 0;
            }
          }
        }
        const bool empty = notes == 0;
        eb[t].add(empty ? 100.0 : 0.0);
        if (empty) continue;
        int classes = 0;
        for (int k = 0; k < 12; ++k) classes += ch[k] > 0;
        upc[t].add(classes);
        if (!is_drum[t]) {
          qn[t].add(100.0 * static_cast<double>(qualified) / static_cast<double>(notes));
          nl[t].add(static_cast<double>(note_steps) / static_cast<double>(notes));
        }
        if (is_drum[t] && drum_period > 0) {
          double best = 0;
          for (int64_t phase = 0; phase < drum_period; ++phase) {
            double score = 0;
            for (int64_t s = 0; s < S; ++s)
              score += onsets[static_cast<size_t>(s)] * drum_weight(s + phase, drum_period);
            best = std::max(best, score);
          }
          dp[t].add(100.0 * best / static_cast<double>(notes));
        }
      }

  MusicMetrics m;
  for (int64_t t = 0; t < T; ++t) {
    m.eb.push_back(eb[t].get());
    m.upc.push_back(upc[t].get());
    m.qn.push_back(is_drum[t] ? kNaN : qn[t].get());
    m.nl.push_back(is_drum[t] ? kNaN : nl[t].get());
    m.dp.push_back(is_drum[t] ? dp[t].get() : kNaN);
  }
  for (int64_t a = 0; a < T; ++a)
    for (int64_t c = a + 1; c < T; ++c) {
      if (is_drum[a] || is_drum[c]) continue;
      Mean td;
      for (int64_t nb = 0; nb < N * B; ++nb) {
        const std::vector<double> ca(chroma.begin() + (nb * T + a) * 12,
                                     chroma.begin() + (nb * T + a + 1) * 12);
        const std::vector<double> cc(chroma.begin() + (nb * T + c) * 12,
                                     chroma.begin() + (nb * T + c + 1) * 12);
        double sa = 0, sc = 0;
        for (int k = 0; k < 12; ++k) {
          sa += ca[k];
          sc += cc[k];
        }
        if (sa <= 0 || sc <= 0) continue;
        const std::vector<double> xa = tonal_centroid(ca), xc = tonal_centroid(cc);
        double d2 = 0;
        for (int k = 0; k < 6; ++k) d2 += (xa[k] - xc[k]) * (xa[k] - xc[k]);
        td.add(std::sqrt(d2));
      }
      m.td.emplace_back(static_cast<int>(a), static_cast<int>(c), td.get());
    }
  return m;
}

double relative_distance(double data, double model) {
  if (std::isnan(data) || std::isnan(model)) return kNaN;
  if (data == 0) return model == 0 ? 0.0 : std::numeric_limits<double>::infinity();
  return std::fabs(model - data) / std::fabs(data);
}

namespace {

nlohmann::json num(double x) {
  return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr);
}

std::string name_of(const std::vector<std::string>& names, int i) {
  return i >= 0 && i < static_cast<int>(names.size()) ? names[i] : "Track " + std::to_string(i + 1);
}

void check_same(const MusicMetrics& a, const MusicMetrics& b, const char* who) {
  if (a.eb.size() != b.eb.size() || a.td.size() != b.td.size())
    throw Error(std::string(who) +
                ": the data's and the samples' metrics cover different tracks (" +
                std::to_string(a.eb.size()) + " against " + std::to_string(b.eb.size()) + ")");
}

struct Row {
  const char* name;
  const std::vector<double> MusicMetrics::*field;
  const char* label;  // the table's, with the unit when there is one
};
const Row kRows[] = {{"EB", &MusicMetrics::eb, "EB %"},
                     {"UPC", &MusicMetrics::upc, "UPC"},
                     {"QN", &MusicMetrics::qn, "QN %"},
                     {"NL", &MusicMetrics::nl, "NL"},
                     {"DP", &MusicMetrics::dp, "DP %"}};

}  // namespace

std::string metrics_json(const MusicMetrics& data, const MusicMetrics& samples,
                         const std::vector<std::string>& track_names) {
  check_same(data, samples, "metrics_json");
  nlohmann::json j;
  j["tracks"] = nlohmann::json::array();
  for (size_t t = 0; t < data.eb.size(); ++t)
    j["tracks"].push_back(name_of(track_names, static_cast<int>(t)));
  for (const Row& r : kRows) {
    nlohmann::json d = nlohmann::json::array(), s = nlohmann::json::array(),
                   rd = nlohmann::json::array();
    for (size_t t = 0; t < (data.*r.field).size(); ++t) {
      d.push_back(num((data.*r.field)[t]));
      s.push_back(num((samples.*r.field)[t]));
      rd.push_back(num(relative_distance((data.*r.field)[t], (samples.*r.field)[t])));
    }
    j["metrics"][r.name] = {{"data", d}, {"samples", s}, {"relative_distance", rd}};
  }
  j["TD"] = nlohmann::json::array();
  for (size_t i = 0; i < data.td.size(); ++i) {
    const auto& [a, b, x] = data.td[i];
    const double y = std::get<2>(samples.td[i]);
    j["TD"].push_back({{"a", name_of(track_names, a)},
                       {"b", name_of(track_names, b)},
                       {"data", num(x)},
                       {"samples", num(y)},
                       {"relative_distance", num(relative_distance(x, y))}});
  }
  return j.dump(2);
}

std::string metrics_table(const MusicMetrics& data, const MusicMetrics& samples,
                          const std::vector<std::string>& track_names) {
  check_same(data, samples, "metrics_table");
  std::ostringstream o;
  char line[256];
  auto cell = [](double x) {
    char b[32];
    if (std::isnan(x)) return std::string("-");
    std::snprintf(b, sizeof b, "%.3f", x);
    return std::string(b);
  };
  std::snprintf(line, sizeof line, "%-8s %-24s %10s %10s %10s\n", "metric", "track", "data",
                "samples", "rel.dist");
  o << line;
  for (const Row& r : kRows)
    for (size_t t = 0; t < (data.*r.field).size(); ++t) {
      const double x = (data.*r.field)[t], y = (samples.*r.field)[t];
      if (std::isnan(x) && std::isnan(y)) continue;  // DP of a melodic track, QN of drums
      std::snprintf(line, sizeof line, "%-8s %-24s %10s %10s %10s\n", r.label,
                    name_of(track_names, static_cast<int>(t)).substr(0, 24).c_str(),
                    cell(x).c_str(), cell(y).c_str(), cell(relative_distance(x, y)).c_str());
      o << line;
    }
  for (size_t i = 0; i < data.td.size(); ++i) {
    const auto& [a, b, x] = data.td[i];
    const double y = std::get<2>(samples.td[i]);
    const std::string pair = name_of(track_names, a) + "-" + name_of(track_names, b);
    std::snprintf(line, sizeof line, "%-8s %-24s %10s %10s %10s\n", "TD",
                  pair.substr(0, 24).c_str(), cell(x).c_str(), cell(y).c_str(),
                  cell(relative_distance(x, y)).c_str());
    o << line;
  }
  return o.str();
}

}  // namespace cadenza::models
