// cadenza bench NAME [--json] [--seconds S] [--threads N] | cadenza bench --list
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include <cadenza/cadenza.h>

#include "cli_checks.h"
#include "commands.h"
#include "workloads.h"

namespace cadenza::cli {

std::function<void(const std::vector<Tensor>&)>& bench_grad_hook() {
  static std::function<void(const std::vector<Tensor>&)> hook;
  return hook;
}

namespace {

std::vector<Workload> all_workloads() {
  std::vector<Workload> all = engine_workloads();
  for (auto& w : lstm_workloads()) all.push_back(w);
  for (auto& w : wavenet_workloads()) all.push_back(w);
  for (auto& w : musicgan_workloads()) all.push_back(w);
  return all;
}

void print_list(const std::vector<Workload>& all) {
  for (auto& w : all) std::printf("  %-16s %s\n", w.name.c_str(), w.description.c_str());
}

struct BenchOptions {
  std::string name;
  bool json = false, list = false;
  double seconds = 2.0;
  std::optional<int> threads;
};

void run_bench(const BenchOptions& o, const CLI::App& bench) {
  auto all = all_workloads();
  if (o.list || o.name.empty()) {
    if (!o.list) std::fputs(help_text(bench).c_str(), stderr);
    print_list(all);
    if (!o.list) set_exit_code(2);
    return;
  }
  auto it = std::find_if(all.begin(), all.end(), [&](const Workload& w) { return w.name == o.name; });
  if (it == all.end()) throw UsageError("unknown workload '" + o.name + "' (see cadenza bench --list)");
  if (o.threads) set_num_threads(*o.threads);
  const double budget = o.seconds;
  // Under mpirun: every rank runs the workload in step, rank 0 deciding
  // when to stop, and the gradient steps average over the ranks.
  auto group = process_group();
  const int ranks = group ? group->size() : 1;
  std::shared_ptr<dist::GradientReducer> reducer;
  if (ranks > 1) {
    reducer = std::make_shared<dist::GradientReducer>(group);
    bench_grad_hook() = [reducer](const std::vector<Tensor>& params) { (*reducer)(params); };
  }
  auto more = [&](bool mine) {
    if (ranks == 1) return mine;
    char go = mine ? 1 : 0;
    group->broadcast(&go, 1, 0, "broadcast of the benchmark's next run");
    return go != 0;
  };

  auto run = it->prepare();
  run();  // warm-up
  std::vector<double> times;
  double total = 0;
  while (more(total < budget || times.size() < 3)) {
    auto t0 = std::chrono::steady_clock::now();
    run();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    times.push_back(s);
    total += s;
  }
  std::sort(times.begin(), times.end());
  double median = times[times.size() / 2];
  // With several ranks, the work of all of them (each ran a whole unit).
  double throughput = it->work_per_unit * ranks / median / it->throughput_scale;
  nlohmann::json j = {{"workload", it->name},           {"seconds_per_unit", median},
                      {"throughput", throughput},       {"unit", it->unit},
                      {"throughput_unit", it->throughput_unit},
                      {"threads", get_num_threads()},   {"runs", times.size()},
                      {"ranks", ranks}};
  if (reducer) {
    j["allreduce_s_per_unit"] = reducer->seconds() / static_cast<double>(times.size() + 1);
    j["allreduce_bytes"] = reducer->last_bytes();
    j["buckets"] = reducer->last_buckets();
  }
  if (o.json) {
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s: %s\n  %.6f s per %s (median of %zu), %.2f %s, %d threads", it->name.c_str(),
                it->description.c_str(), median, it->unit.c_str(), times.size(), throughput,
                it->throughput_unit.c_str(), get_num_threads());
    if (ranks > 1) std::printf(" per rank x %d ranks", ranks);
    if (reducer && reducer->last_bytes() > 0) std::printf(" (%.1f MB all-reduced per unit)", reducer->last_bytes() / 1e6);
    std::printf("\n");
  }
}

}  // namespace

void add_bench_command(CLI::App& root) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* bench = root.add_subcommand("bench", "run a benchmark workload (cadenza bench --list)");
  set_option_defaults(*bench);
  bench->footer(
      "Runs a named workload (after one warm-up run) for at least --seconds and reports\n"
      "the median time of one unit and the throughput.\n");
  bench->add_option("NAME", o->name, "the workload (see --list)");
  bench->add_flag("--list", o->list, "list the workloads");
  bench->add_flag("--json", o->json, "one JSON line instead of text");
  bench->add_option("--seconds", o->seconds, "run for at least this long")->check(positive_number());
  bench->add_option("--threads", o->threads, "worker threads")
      ->transform(integer(1, 4096))
      ->default_str("$CADENZA_NUM_THREADS, else all cores");
  on_run(bench, [o, bench] { run_bench(*o, *bench); });
}

}  // namespace cadenza::cli
