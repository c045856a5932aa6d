#pragma once
// MuseGAN's objective metrics (Dong et al., "MuseGAN", AAAI 2018), computed on
// binary multi-track rolls [N, tracks, bars, steps_per_bar, pitches] (a value
// sounds when > 0.5). Every metric is taken per bar, as MuseGAN takes it: a
// note held over a bar line counts as a note in each bar it sounds in.
//
//  EB  empty bars: % of the N * bars bars of a track with no sounding step.
//  UPC used pitch classes: the number of pitch classes (0..12) sounding in a
//      bar, averaged over the track's non-empty bars. Pitch classes are true
//      chroma, (lowest_pitch + p) mod 12 (MuseGAN's released code grouped
//      runs of adjacent pitches instead).
//  QN  qualified notes: % of the notes (runs of sounding steps of one pitch
//      within a bar) at least `min_qn_steps` long, per non-empty bar, averaged
//      over those bars. MuseGAN counts 3 steps at 96 steps per bar (a 32nd
//      note); the default keeps 3 whatever the grid, so at 48 steps per bar it
//      means a 16th note: pass steps_per_bar / 32 to keep the 32nd. Not taken
//      for drum tracks (NaN), as in MuseGAN.
//  NL  note length: the mean length in steps of the notes QN counts, per
//      non-empty bar, averaged over those bars. Not one of MuseGAN's: QN
//      cannot tell notes of 3 steps from notes of 24 once all are long
//      enough (at 48 steps per bar, a generator that holds each 16th scores
//      100%). Not taken for drum tracks (NaN).
//  DP  drum pattern: % of drum onsets on a 16-beat grid (every 16th note of
//      the bar; the 8-beat grid is part of it), an onset one step off the grid
//      counting 0.3, the best of the grid's phases, per non-empty bar and
//      averaged. Needs steps_per_bar divisible by 16 (NaN otherwise); NaN for
//      tracks that are not drums.
//  TD  tonal distance (Harte, Sandler & Gasser 2006): for each pair of
//      non-drum tracks, the Euclidean distance between the 6-D tonal centroids
//      of the two tracks' normalised chroma (weighted by sounding steps) in a
//      bar, averaged over the bars where both sound (MuseGAN averaged per
//      beat; a bar is the unit of every other metric here).
// A metric with no bar to average over is NaN.
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "engine/tensor.h"

namespace cadenza::models {

struct MusicMetrics {
  std::vector<double> eb, upc, qn, nl;  // per track
  std::vector<double> dp;           // per track, NaN if not a drum track
  std::vector<std::tuple<int, int, double>>
      td;  // (track a, track b, distance), a < b, non-drum pairs
};

// roll: [N, tracks, bars, steps_per_bar, pitches], or [N, tracks, steps, pitches]
// with steps a multiple of steps_per_bar. is_drum: one flag per track.
MusicMetrics musegan_metrics(const Tensor& roll, const std::vector<bool>& is_drum, int lowest_pitch,
                             int64_t steps_per_bar, int min_qn_steps = 3);

// The 6-D tonal centroid of a 12-bin chroma (C = bin 0), normalised to sum 1;
// all zeros for a silent chroma.
std::vector<double> tonal_centroid(const std::vector<double>& chroma);

// |model - data| / data: how far a model's metric is from the data's (0 when
// both are 0, infinity when only data is 0, NaN when either is NaN).
double relative_distance(double data, double model);

// The data's and the samples' metrics side by side, with the relative
// distance of each, as JSON: {"tracks": [...], "metrics": {"EB": {"data":
// [...], "samples": [...], "relative_distance": [...]}, ...}, "TD": [{"a":
// name, "b": name, "data": x, "samples": y, "relative_distance": d}, ...]}.
// NaN is written as null.
std::string metrics_json(const MusicMetrics& data, const MusicMetrics& samples,
                         const std::vector<std::string>& track_names);
// The same as an aligned text table, one row per metric and track.
std::string metrics_table(const MusicMetrics& data, const MusicMetrics& samples,
                          const std::vector<std::string>& track_names);

}  // namespace cadenza::models
