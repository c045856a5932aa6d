#pragma once
// What the CLI11 subcommands of cadenza share: value checks
// that name the bad value (CLI11 puts the flag in front: "--rate: must be ...")
// and show their range in --help; add_command() (options struct + define + run);
// add_group() (`cadenza midi`, `cadenza audio`); and on_run(), which rejects a
// value flag given twice. Header-only.
#include <CLI/CLI.hpp>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "commands.h"

namespace cadenza::cli {

// A decimal integer within [lo, hi]; --help shows `shown` (default "lo..hi").
// CLI11 2.1.2 converts integers with strtoll(base 0), which reads "010" as 8
// and "0x10" as 16; this takes decimal digits (and a sign) only, as the old
// parser did, and hands CLI11 the value without leading zeros. Add it with
// ->transform(), so that it runs before any other check.
inline CLI::Validator integer(int64_t lo, int64_t hi, std::string shown = "") {
  const std::string range = std::to_string(lo) + ".." + std::to_string(hi);
  const std::string want = shown.empty() ? "within " + range : shown + " (" + range + ")";
  return CLI::Validator(
      [lo, hi, want](std::string& s) -> std::string {
        const size_t digits = !s.empty() && (s[0] == '-' || s[0] == '+') ? 1 : 0;
        if (s.size() == digits || s.find_first_not_of("0123456789", digits) != std::string::npos)
          return "expects an integer, got '" + s + "'";
        errno = 0;
        const long long v = std::strtoll(s.c_str(), nullptr, 10);
        if (errno == ERANGE || v < lo || v > hi) return "must be " + want + ", got " + s;
        s = std::to_string(v);
        return "";
      },
      shown.empty() ? range : shown);
}

// A finite number for which `ok` holds; `want` says which ("within 0..10").
inline CLI::Validator number_if(std::string shown, std::string want,
                                std::function<bool(double)> ok) {
  return CLI::Validator(
      [want, ok](std::string& s) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(s.c_str(), &end);
        if (s.empty() || *end != '\0' || !std::isfinite(v))
          return "expects a number, got '" + s + "'";
        if (!ok(v)) return "must be " + want + ", got " + s;
        return "";
      },
      std::move(shown));
}

inline std::string format_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// A number within [lo, hi].
inline CLI::Validator number(double lo, double hi) {
  const std::string range = format_number(lo) + ".." + format_number(hi);
  return number_if(range, "within " + range, [lo, hi](double v) { return v >= lo && v <= hi; });
}

inline CLI::Validator positive_number() {
  return number_if("positive", "positive", [](double v) { return v > 0; });
}

inline CLI::Validator non_negative_number() {
  return number_if(">=0", "at least 0", [](double v) { return v >= 0; });
}

// One of `values` exactly; --help shows "a|b|c".
inline CLI::Validator one_of(std::vector<std::string> values) {
  std::string shown, want;
  for (size_t i = 0; i < values.size(); ++i) {
    shown += (i ? "|" : "") + values[i];
    want += (i == 0 ? "" : i + 1 == values.size() ? " or " : ", ") + values[i];
  }
  return CLI::Validator(
      [values, want](std::string& s) -> std::string {
        for (const auto& v : values)
          if (s == v) return "";
        return "must be " + want + ", got '" + s + "'";
      },
      shown);
}

// The defaults for the options of `app` and of the subcommands added to it
// afterwards: --help shows each default; a value flag given twice is left to
// on_run() (CLI11's own message for it is "At Most 1 required but received 2").
inline void set_option_defaults(CLI::App& app) {
  app.option_defaults()->always_capture_default()->multi_option_policy(
      CLI::MultiOptionPolicy::TakeLast);
}

// Sets `run` as the callback of `sub`, after rejecting a value flag given more
// than once (--rate 8000 --rate 16000): the old parser silently took the first.
inline void on_run(CLI::App* sub, std::function<void()> run) {
  sub->callback([sub, run] {
    for (const CLI::Option* o : sub->get_options()) {
      if (o->get_type_size() > 0 && o->get_items_expected_max() == 1 && o->count() > 1) {
        throw UsageError(o->get_name() + " given " + std::to_string(o->count()) +
                         " times; give it once");
      }
    }
    run();
  });
}

// Adds the subcommand `name` to `parent`: `define` declares its options (and
// footer) over a fresh Opts, `run` does the work with the values parsed into it.
template <class Opts>
CLI::App* add_command(CLI::App& parent, const std::string& name, const std::string& description,
                      void (*define)(CLI::App&, Opts&), void (*run)(const Opts&)) {
  CLI::App* sub = parent.add_subcommand(name, description);
  auto opts = std::make_shared<Opts>();
  define(*sub, *opts);
  on_run(sub, [opts, run] { run(*opts); });
  return sub;
}

// The --help text of `app` (help_formatter() puts the whole command path,
// "cadenza midi", in its usage line).
inline std::string help_text(const CLI::App& app) { return app.help(); }

// `cadenza NAME SUBCOMMAND ...`: a command made of subcommands, at most one
// per call. Alone (`cadenza midi`) it prints its help on stderr and exits 2.
inline CLI::App* add_group(CLI::App& root, const std::string& name,
                           const std::string& description) {
  CLI::App* group = root.add_subcommand(name, description);
  set_option_defaults(*group);
  group->require_subcommand(0, 1);
  group->callback([group] {
    if (!group->get_subcommands().empty()) return;
    std::fputs(help_text(*group).c_str(), stderr);
    set_exit_code(2);
  });
  return group;
}

}  // namespace cadenza::cli
