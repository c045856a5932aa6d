#!/usr/bin/env python3
"""The table of a compare_*.sh run: reads its lines of
{"framework": "cadenza"|"pytorch", "result": <bench JSON>} and prints, per
workload, both throughputs and cadenza's ratio.

    ratio_table.py LINES_FILE
"""
import json
import sys


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    by = {}
    for r in rows:
        by.setdefault(r["result"]["workload"], {})[r["framework"]] = r["result"]
    torch_version = next((r["result"].get("torch") for r in rows if r["framework"] == "pytorch"), "?")
    print("| workload | cadenza | PyTorch %s | ratio |" % torch_version)
    print("| --- | --- | --- | --- |")
    for w, d in by.items():
        c, p, name = d["cadenza"], d.get("pytorch"), w
        if p is None and w.endswith("_bf16"):
            # cadenza's bf16 variant against PyTorch's f32 run of the same workload
            p = by.get(w[:-len("_bf16")], {}).get("pytorch")
            name = w + " (PyTorch: f32)"
        for path in ("_cublas", "_persistent", "_fused"):
            if p is None and w.endswith(path):
                # one recurrence path of cadenza's against PyTorch's run of the workload
                p = by.get(w[:-len(path)], {}).get("pytorch")
        if p is None:  # no peer in the run (W3: PyTorch has no cached generation)
            print("| %s | %.2f %s | - | - |" % (name, c["throughput"], c["throughput_unit"]))
            continue
        print("| %s | %.2f %s | %.2f %s | %.2fx |" % (name, c["throughput"], c["throughput_unit"], p["throughput"],
                                                   p["throughput_unit"], c["throughput"] / p["throughput"]))


if __name__ == "__main__":
    main()
