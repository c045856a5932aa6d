#pragma once
// Flag parsing for the cadenza subcommands: --name value, --name=value and
// boolean --name. Unknown flags and bad values are errors that name the flag.
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace cadenza::cli {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Args {
 public:
  // argv[first..argc) are parsed; `booleans` lists flags that take no value.
  Args(int argc, char** argv, int first, const std::set<std::string>& booleans = {});

  const std::vector<std::string>& positional() const { return positional_; }
  std::string positional_at(size_t i, const char* what) const;
  bool has(const std::string& flag) const;
  std::string get(const std::string& flag, const std::string& fallback = "") const;
  std::string require(const std::string& flag) const;
  int64_t get_int(const std::string& flag, int64_t fallback) const;
  double get_double(const std::string& flag, double fallback) const;
  std::vector<std::string> get_all(const std::string& flag) const;  // repeated flag
  // Throws UsageError if any flag given is not in `known`.
  void allow_only(const std::set<std::string>& known) const;
  // The flags given that are not in `kept`, in order, each once.
  std::vector<std::string> given_except(const std::set<std::string>& kept) const;

 private:
  std::vector<std::string> positional_;
  std::multimap<std::string, std::string> flags_;
};

// On --resume a trainer continues with the options saved in the run; this
// tells stderr which of the flags given are therefore not used (a silent
// --lr 3e-4 next to --resume would look like it took effect).
void warn_ignored_on_resume(const Args& a, const std::set<std::string>& kept);

}  // namespace cadenza::cli
