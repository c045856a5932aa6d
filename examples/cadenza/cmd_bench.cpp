// cadenza bench NAME [--json] [--seconds S] [--threads N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include <cadenza/cadenza.h>

#include "args.h"
#include "commands.h"
#include "workloads.h"

namespace cadenza::cli {

static std::vector<Workload> all_workloads() {
  std::vector<Workload> all = engine_workloads();
  for (auto& w : lstm_workloads()) all.push_back(w);
  return all;
}

static const char* kBenchUsage =
    "usage: cadenza bench NAME [--json] [--seconds S] [--threads N]\n"
    "       cadenza bench --list\n"
    "Runs a named workload (after one warm-up run) for at least S seconds\n"
    "(default 2) and reports the median time of one unit and the throughput.\n";

int cmd_bench(int argc, char** argv) {
  Args args(argc, argv, 2, {"json", "list", "help"});
  args.allow_only({"json", "list", "help", "seconds", "threads"});
  auto all = all_workloads();
  if (args.has("help")) {
    std::fputs(kBenchUsage, stdout);
    return 0;
  }
  if (args.has("list") || args.positional().empty()) {
    if (!args.has("list")) std::fputs(kBenchUsage, stderr);
    for (auto& w : all) std::printf("  %-16s %s\n", w.name.c_str(), w.description.c_str());
    return args.has("list") ? 0 : 2;
  }
  std::string name = args.positional()[0];
  auto it = std::find_if(all.begin(), all.end(), [&](const Workload& w) { return w.name == name; });
  if (it == all.end()) throw UsageError("unknown workload '" + name + "' (see cadenza bench --list)");
  if (args.has("threads")) set_num_threads(static_cast<int>(args.get_int("threads", 1)));
  double budget = args.get_double("seconds", 2.0);
  if (!(budget > 0)) throw UsageError("--seconds must be positive");

  auto run = it->prepare();
  run();  // warm-up
  std::vector<double> times;
  double total = 0;
  while (total < budget || times.size() < 3) {
    auto t0 = std::chrono::steady_clock::now();
    run();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    times.push_back(s);
    total += s;
  }
  std::sort(times.begin(), times.end());
  double median = times[times.size() / 2];
  double throughput = it->work_per_unit / median / it->throughput_scale;
  nlohmann::json j = {{"workload", it->name},           {"seconds_per_unit", median},
                      {"throughput", throughput},       {"unit", it->unit},
                      {"throughput_unit", it->throughput_unit},
                      {"threads", get_num_threads()},   {"runs", times.size()}};
  if (args.has("json")) {
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s: %s\n  %.6f s per %s (median of %zu), %.2f %s, %d threads\n", it->name.c_str(),
                it->description.c_str(), median, it->unit.c_str(), times.size(), throughput,
                it->throughput_unit.c_str(), get_num_threads());
  }
  return 0;
}

}  // namespace cadenza::cli
