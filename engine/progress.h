#pragma once
// A training progress display: a live bar redrawn in place on a terminal,
// plain lines when the output is a file or a pipe (CI logs, `| tee`), where
// carriage returns would pile up into one unreadable line.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace cadenza {

// "1h02m03s", "4m05s", "12s"; "?" for a negative or non-finite duration.
std::string format_duration(double seconds);

class Progress {
 public:
  using Fields = std::vector<std::pair<std::string, std::string>>;

  // Steps run from first_step (a resumed run starts past 0) to total_steps.
  Progress(int64_t total_steps, int64_t first_step = 0, FILE* out = stdout);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Shows `step` of the total with the fields in order, e.g.
  // {{"loss", "2.31"}, {"val_nll", "2.40 nats (3.46 bits)"}, {"tok/s", "51234"}},
  // and an ETA from a smoothed steps/s. On a terminal this redraws the bar
  // (call it every step if you like); otherwise it prints one line per call,
  // so the caller decides how often.
  void update(int64_t step, const Fields& fields);
  // Prints a message (checkpoint saved, interrupted) on its own line without
  // breaking the bar: on a terminal the bar is cleared and drawn again below.
  void log(const std::string& message);
  // Ends the bar's line and prints the steps done and the time taken.
  void finish();

  bool is_tty() const { return tty_; }
  // Tests use this to see the terminal rendering in a file.
  void set_tty(bool tty) { tty_ = tty; }
  // Smoothed steps per second; 0 until two updates have been seen.
  double steps_per_second() const { return rate_; }

 private:
  using Clock = std::chrono::steady_clock;
  std::string render(int64_t step, const Fields& fields, int width) const;
  void write(const std::string& s);

  int64_t total_, first_;
  FILE* out_;
  bool tty_;
  bool bar_shown_ = false, finished_ = false;
  Clock::time_point start_, last_time_;
  int64_t last_step_;
  double rate_ = 0;
  std::string last_line_;  // redrawn after log() on a terminal
};

}  // namespace cadenza
