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

models::GradSync& bench_grad_sync() {
  static models::GradSync sync;
  return sync;
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
  double bucket_mb = 25;
};

// The gradients' all-reduce of a training-step workload under mpirun:
// overlapped with backward (made at the first step, on that step's
// parameters), or after it with CADENZA_DIST_OVERLAP=0.
struct BenchReducer {
  std::shared_ptr<dist::Communicator> group;
  int64_t bucket_bytes = 25 << 20;
  std::unique_ptr<dist::GradientReducer> after;
  std::unique_ptr<dist::OverlappedReducer> overlapped;
  bool overlap = true;
  double seconds() const {
    return overlapped ? overlapped->seconds() : after ? after->seconds() : 0;
  }
  int64_t bytes() const {
    return overlapped ? overlapped->last_bytes() : after ? after->last_bytes() : 0;
  }
  int64_t buckets() const {
    return overlapped ? overlapped->last_buckets() : after ? after->last_buckets() : 0;
  }
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
  std::shared_ptr<BenchReducer> reducer;
  if (ranks > 1) {
    reducer = std::make_shared<BenchReducer>();
    reducer->group = group;
    reducer->bucket_bytes = std::max<int64_t>(8, static_cast<int64_t>(o.bucket_mb * (1 << 20)));
    reducer->overlap = dist::overlap_enabled();
    bench_grad_sync().before_backward = [reducer](const std::vector<Tensor>& params,
                                                  const Tensor& loss) {
      if (!reducer->overlap) return;
      if (!reducer->overlapped)
        reducer->overlapped = std::make_unique<dist::OverlappedReducer>(reducer->group, params,
                                                                        reducer->bucket_bytes);
      reducer->overlapped->prepare({loss});
    };
    bench_grad_sync().after_backward = [reducer](const std::vector<Tensor>& params) {
      if (reducer->overlapped) {
        reducer->overlapped->finish();
        return;
      }
      if (!reducer->after)
        reducer->after =
            std::make_unique<dist::GradientReducer>(reducer->group, reducer->bucket_bytes);
      (*reducer->after)(params);
    };
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
    // With overlap: the time in the reduction's own code (hooks, and the
    // wait after backward), not the time the collectives were in flight.
    j["allreduce_s_per_unit"] = reducer->seconds() / static_cast<double>(times.size() + 1);
    j["allreduce_bytes"] = reducer->bytes();
    j["buckets"] = reducer->buckets();
    j["overlap"] = reducer->overlap;
    j["bucket_bytes"] = reducer->bucket_bytes;
    if (reducer->overlapped)
      j["buckets_started_in_backward"] = reducer->overlapped->last_started_in_backward();
  }
  if (o.json) {
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s: %s\n  %.6f s per %s (median of %zu), %.2f %s, %d threads", it->name.c_str(),
                it->description.c_str(), median, it->unit.c_str(), times.size(), throughput,
                it->throughput_unit.c_str(), get_num_threads());
    if (ranks > 1) std::printf(" per rank x %d ranks", ranks);
    if (reducer && reducer->bytes() > 0)
      std::printf(" (%.1f MB all-reduced per unit, %s backward)", reducer->bytes() / 1e6,
                  reducer->overlapped ? "overlapped with" : "after");
    std::printf("\n");
  }
  bench_grad_sync() = {};  // the reducer's hooks go with it
}

}  // namespace

void add_bench_command(CLI::App& root) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* bench = root.add_subcommand("bench", "run a benchmark workload (cadenza bench --list)");
  set_option_defaults(*bench);
  bench->footer(
      "Runs a named workload (after one warm-up run) for at least --seconds and reports\n"
      "the median time of one unit and the throughput. Under mpirun the training\n"
      "steps (W1, W2) average their gradients over the ranks, overlapped with backward\n"
      "(CADENZA_DIST_OVERLAP=0: after it), in buckets of --bucket-mb.\n");
  bench->add_option("NAME", o->name, "the workload (see --list)");
  bench->add_flag("--list", o->list, "list the workloads");
  bench->add_flag("--json", o->json, "one JSON line instead of text");
  bench->add_option("--seconds", o->seconds, "run for at least this long")->check(positive_number());
  bench
      ->add_option("--bucket-mb", o->bucket_mb,
                   "under mpirun: the gradients' all-reduce bucket size in MiB")
      ->check(positive_number())
      ->default_str("25");
  bench->add_option("--threads", o->threads, "worker threads")
      ->transform(integer(1, 4096))
      ->default_str("$CADENZA_NUM_THREADS, else all cores");
  on_run(bench, [o, bench] { run_bench(*o, *bench); });
}

}  // namespace cadenza::cli
