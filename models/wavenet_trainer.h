#pragma once
// Training and evaluation of WaveNet, a task of the one training loop
// (models/trainer.h): each step draws `batch` random crops of `crop` samples
// from the training clips and minimises the cross-entropy of every next
// mu-law sample; validation is the NLL of fixed crops of the held-out clips,
// in nats per sample (bits per sample beside it).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/trainer.h"
#include "models/wavenet.h"
#include "models/wavenet_data.h"

namespace cadenza::models {

struct WaveNetTrainOptions : LoopOptions {
  int64_t batch = 4;
  int64_t crop = 8000;        // samples per crop (input; the target is shifted by one)
  int64_t valid_crops = 16;   // held-out crops per evaluation (fixed once per run)
  WaveNetTrainOptions() {
    steps = 20000;
    eval_every = 500;
    lr = 1e-3;
  }
};

constexpr int64_t kWaveNetDefaultWarmup = 200;

TrainResult train_wavenet(const WaveNetConfig& cfg, const WaveCorpus& data, WaveNetTrainOptions opt);

// NLL in nats per predicted sample of `model` over whole clips (each from a
// zero history), in windows of `window` samples with the receptive field
// carried in front of each window. -> nats; samples counted in *count.
double evaluate_wavenet(WaveNet& model, const std::vector<WaveClip>& clips, int64_t window = 16000,
                        int64_t* count = nullptr);

// Loads a WaveNet and its config from a checkpoint (eval mode); a checkpoint
// of another family is refused by name.
std::unique_ptr<WaveNet> load_wavenet(const std::string& path);

}  // namespace cadenza::models
