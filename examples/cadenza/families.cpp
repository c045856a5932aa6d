// `cadenza train|sample|eval FAMILY`: one table of model families.
#include <map>
#include <string>

#include "commands.h"

namespace cadenza::cli {

namespace {

std::map<const CLI::App*, std::string>& about_texts() {
  static std::map<const CLI::App*, std::string> texts;
  return texts;
}

class HelpFormatter : public CLI::Formatter {
 public:
  std::string make_usage(const CLI::App* app, std::string name) const override {
    for (const CLI::App* p = app->get_parent(); p; p = p->get_parent()) name = p->get_name() + " " + name;
    return CLI::Formatter::make_usage(app, name);
  }
  std::string make_description(const CLI::App* app) const override {
    auto it = about_texts().find(app);
    return it == about_texts().end() ? CLI::Formatter::make_description(app) : it->second + "\n";
  }
};

}  // namespace

void set_about(CLI::App& cmd, const std::string& text) { about_texts()[&cmd] = text; }

std::shared_ptr<CLI::FormatterBase> help_formatter() { return std::make_shared<HelpFormatter>(); }

const std::vector<Family>& model_families() {
  static const std::vector<Family> families = {
      {"lstm", "the LSTM/GRU over MIDI event tokens (performance or melody)", lstm_train, lstm_sample, lstm_eval},
      {"poly", "the piano-roll LSTM/GRU of the polyphonic benchmark (JSB Chorales, Nottingham, ...)", poly_train, poly_sample, poly_eval},
      {"wavenet", "WaveNet on raw audio (mu-law), unconditioned, class-conditioned or a mel vocoder", wavenet_train, wavenet_sample,
       wavenet_eval},
      {"musicgan", "MusicGAN: a multi-track piano-roll GAN (MuseGAN's hybrid generator, WGAN-GP critic)", musicgan_train,
       musicgan_sample, musicgan_eval},
  };
  return families;
}

void add_model_commands(CLI::App& root) {
  struct Verb {
    const char* name;
    const char* description;
    void (*Family::*setup)(CLI::App&);
  };
  const Verb verbs[] = {
      {"train", "train a model (the one training loop: checkpoints, resume, Ctrl-C, TensorBoard)", &Family::train},
      {"sample", "generate MIDI (and WAV, PNG) from a checkpoint", &Family::sample},
      {"eval", "score a checkpoint on data; prints JSON", &Family::eval},
  };
  for (const Verb& v : verbs) {
    CLI::App* verb = root.add_subcommand(v.name, v.description);
    verb->require_subcommand(1);
    for (const Family& f : model_families()) {
      CLI::App* cmd = verb->add_subcommand(f.name, f.description);
      (f.*(v.setup))(*cmd);
    }
  }
}

}  // namespace cadenza::cli
