#include "sample_output.h"

#include "audio/audio.h"
#include "midi/render.h"
#include "midi/roll_image.h"
#include "train_flags.h"

#include "cli_checks.h"

namespace cadenza::cli {

std::string numbered(const std::string& path, int i, int count) {
  if (count <= 1) return path;
  auto dot = path.find_last_of('.');
  auto slash = path.find_last_of('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash))
    return path + "-" + std::to_string(i + 1);
  return path.substr(0, dot) + "-" + std::to_string(i + 1) + path.substr(dot);
}

void SampleOutputs::add(CLI::App& cmd, const std::string& family, const std::string& out_help) {
  cmd.add_option("--checkpoint", checkpoint, "a train " + family + " checkpoint (.safetensors)")->required();
  cmd.add_option("--out", out, out_help)->required();
  cmd.add_option("--wav", wav, "also render the sample to this WAV file through FluidSynth");
  cmd.add_option("--png", png, "also draw the sample's piano roll to this PNG file");
  cmd.add_option("--rate", rate, "sample rate of the WAV [default: 16000]")->check(positive_number());
  cmd.add_option("--soundfont", soundfont, "SF2 sound font for the WAV [default: TimGM6mb]")
      ->check(CLI::ExistingFile);
  add_threads_flag(cmd, threads);
}

void SampleOutputs::write(const midi::Score& score, int i, int count, nlohmann::json& item) const {
  if (!png.empty()) {
    std::string path = numbered(png, i, count);
    midi::save_roll_png(score, path);
    item["png"] = path;
  }
  if (!wav.empty()) {
    midi::RenderOptions ro;
    ro.sample_rate = rate;
    if (!soundfont.empty()) ro.soundfont = soundfont;
    std::string path = numbered(wav, i, count);
    audio::save(path, midi::render(score, ro));
    item["wav"] = path;
  }
}

}  // namespace cadenza::cli
