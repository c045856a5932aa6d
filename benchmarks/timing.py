"""The timing loop of the PyTorch comparison scripts: one warm-up run, then
runs until `seconds` have passed (at least 3), and one JSON line per
workload with the median, in the format of `cadenza bench NAME --json`.
On a GPU (a script's --device, set in DEVICE) the device is synchronised
around each run, as benchmarks/device_bench.cpp does."""
import json
import statistics
import time

import torch

DEVICE = "cpu"  # where the scripts that take --device put their tensors


def sync():
    if DEVICE != "cpu":
        torch.cuda.synchronize(DEVICE)


def run(name, fn, work, unit, throughput_unit, scale, seconds):
    fn()  # warm-up
    sync()
    times, total = [], 0.0
    while total < seconds or len(times) < 3:
        t0 = time.perf_counter()
        fn()
        sync()
        dt = time.perf_counter() - t0
        times.append(dt)
        total += dt
    med = statistics.median(times)
    print(json.dumps({"workload": name, "seconds_per_unit": med, "throughput": work / med / scale, "unit": unit,
                      "throughput_unit": throughput_unit, "threads": torch.get_num_threads(), "runs": len(times),
                      "torch": torch.__version__, "device": DEVICE,
                      "cudnn": torch.backends.cudnn.version() if DEVICE != "cpu" else None}), flush=True)
