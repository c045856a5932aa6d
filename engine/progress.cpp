#include "engine/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace cadenza {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  // Above ~100 days an ETA means "not in this run"; keep the field short.
  if (seconds >= 100.0 * 86400) return ">99d";
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  const int64_t h = s / 3600, m = s / 60 % 60, sec = s % 60;
  char buf[48];
  if (h > 0) {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm%02llds", static_cast<long long>(h),
                  static_cast<long long>(m), static_cast<long long>(sec));
  } else if (m > 0) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(m),
                  static_cast<long long>(sec));
  } else {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(sec));
  }
  return buf;
}

Progress::Progress(int64_t total_steps, int64_t first_step, FILE* out)
    : total_(total_steps),
      first_(first_step),
      out_(out ? out : stdout),
      tty_(isatty(fileno(out_)) == 1),
      start_(Clock::now()),
      last_time_(start_),
      last_step_(first_step) {}

Progress::~Progress() {
  // Leave the shell prompt on a line of its own if the run ended by an exception.
  if (tty_ && bar_shown_ && !finished_) write("\n");
}

void Progress::write(const std::string& s) {
  // A full disk or closed pipe must not stop training; the metrics files
  // report their own write errors.
  std::fwrite(s.data(), 1, s.size(), out_);
  std::fflush(out_);
}

std::string Progress::render(int64_t step, const Fields& fields, int width) const {
  const double frac =
      total_ > 0 ? std::clamp(static_cast<double>(step) / static_cast<double>(total_), 0.0, 1.0)
                 : 0.0;
  const std::string count = std::to_string(step) + "/" + std::to_string(total_);
  const std::string pct = std::to_string(static_cast<int>(frac * 100)) + "%";
  std::string line;
  if (tty_) {
    constexpr int kBar = 24;
    const int filled = static_cast<int>(frac * kBar);
    line =
        "[" + std::string(filled, '#') + std::string(kBar - filled, '.') + "] " + count + " " + pct;
  } else {
    line = "step " + count + " (" + pct + ")";
  }
  for (const auto& [name, value] : fields) line += "  " + name + " " + value;
  const double eta = rate_ > 0 ? static_cast<double>(total_ - step) / rate_ : -1;
  line += "  eta " + (step >= total_ ? std::string("0s") : format_duration(eta));
  // A line longer than the terminal wraps, and \r then only returns to the
  // start of the last row, leaving a trail of half-drawn bars.
  if (width > 1 && static_cast<int>(line.size()) > width - 1) line.resize(width - 1);
  return line;
}

void Progress::update(int64_t step, const Fields& fields) {
  const Clock::time_point now = Clock::now();
  const double dt = std::chrono::duration<double>(now - last_time_).count();
  const int64_t ds = step - last_step_;
  if (ds > 0 && dt > 0) {
    const double inst = static_cast<double>(ds) / dt;
    // Exponential smoothing in time, not in calls, so the ETA settles at the
    // same pace whether the caller updates every step or every 100.
    constexpr double kTau = 20.0;  // seconds
    rate_ = rate_ == 0 ? inst : rate_ + (1 - std::exp(-dt / kTau)) * (inst - rate_);
    last_time_ = now;
    last_step_ = step;
  }
  if (tty_) {
    int width = 0;
    winsize ws{};
    if (ioctl(fileno(out_), TIOCGWINSZ, &ws) == 0) width = ws.ws_col;
    last_line_ = render(step, fields, width);
    write("\r" + last_line_ + "\x1b[K");  // erase what a longer previous line left
    bar_shown_ = true;
  } else {
    write(render(step, fields, 0) + "\n");
  }
}

void Progress::log(const std::string& message) {
  if (tty_ && bar_shown_) {
    write("\r\x1b[K" + message + "\n" + last_line_ + "\x1b[K");
  } else {
    write(message + "\n");
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  std::string s = tty_ && bar_shown_ ? "\n" : "";
  s += "done: " + std::to_string(last_step_ - first_) + " steps in " + format_duration(elapsed) +
       "\n";
  write(s);
}

}  // namespace cadenza
