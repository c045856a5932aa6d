#include "args.h"

#include <cstdio>
#include <cstdlib>

namespace cadenza::cli {

Args::Args(int argc, char** argv, int first, const std::set<std::string>& booleans) {
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
      std::string name = a.substr(2), value;
      auto eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      } else if (booleans.count(name)) {
        value = "1";
      } else {
        if (i + 1 >= argc) throw UsageError("flag --" + name + " needs a value");
        value = argv[++i];
      }
      flags_.emplace(name, value);
    } else {
      positional_.push_back(a);
    }
  }
}

std::string Args::positional_at(size_t i, const char* what) const {
  if (i >= positional_.size()) throw UsageError(std::string("missing argument: ") + what);
  return positional_[i];
}

bool Args::has(const std::string& flag) const { return flags_.count(flag) > 0; }

std::vector<std::string> Args::given_except(const std::set<std::string>& kept) const {
  std::vector<std::string> out;
  for (const auto& kv : flags_)
    if (!kept.count(kv.first) && (out.empty() || out.back() != kv.first)) out.push_back(kv.first);
  return out;
}

void warn_ignored_on_resume(const Args& a, const std::set<std::string>& kept) {
  if (!a.has("resume")) return;
  std::vector<std::string> ignored = a.given_except(kept);
  if (ignored.empty()) return;
  std::string list;
  for (const auto& f : ignored) list += (list.empty() ? "--" : ", --") + f;
  std::fprintf(stderr, "cadenza: --resume continues with the options saved in the run; not used: %s\n",
               list.c_str());
}

std::string Args::get(const std::string& flag, const std::string& fallback) const {
  auto it = flags_.find(flag);
  return it == flags_.end() ? fallback : it->second;
}

std::string Args::require(const std::string& flag) const {
  auto it = flags_.find(flag);
  if (it == flags_.end()) throw UsageError("missing required flag --" + flag);
  return it->second;
}

int64_t Args::get_int(const std::string& flag, int64_t fallback) const {
  auto it = flags_.find(flag);
  if (it == flags_.end()) return fallback;
  char* end = nullptr;
  long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0')
    throw UsageError("--" + flag + " expects an integer, got '" + it->second + "'");
  return v;
}

double Args::get_double(const std::string& flag, double fallback) const {
  auto it = flags_.find(flag);
  if (it == flags_.end()) return fallback;
  char* end = nullptr;
  double v = std::strtod(it->second.c_str(), &end);
  if (it->second.empty() || *end != '\0')
    throw UsageError("--" + flag + " expects a number, got '" + it->second + "'");
  return v;
}

std::vector<std::string> Args::get_all(const std::string& flag) const {
  std::vector<std::string> out;
  auto r = flags_.equal_range(flag);
  for (auto it = r.first; it != r.second; ++it) out.push_back(it->second);
  return out;
}

void Args::allow_only(const std::set<std::string>& known) const {
  for (auto& kv : flags_)
    if (!known.count(kv.first)) throw UsageError("unknown flag --" + kv.first);
}

}  // namespace cadenza::cli
