#!/usr/bin/env python3
"""What the CUDA kernels compile to, read without a GPU.

For every kernel in the nvcc objects of a CUDA build (sm_90 by default):
registers, stack frame, static shared memory, and counts from the SASS of
16-byte global and shared loads (LDG.E.128, LDS.128), local-memory traffic
(LDL/STL: spills or run-time-indexed arrays), subroutine calls (CALL.REL:
64-bit division, the slow paths of IEEE division and square root, trig
range reduction) and instructions. Prints a markdown table.

  scripts/cuda_codegen_report.py [BUILD_DIR] [--arch sm_90] [--all]

BUILD_DIR: a build with CADENZA_CUDA=ON (default: build). Without --all only
the f32 (or untemplated) instantiation of each kernel is listed.

cuobjdump and nvdisasm are not in the CUDA toolkit on these machines; when
they are not on PATH, the PyPI wheels nvidia-cuda-cuobjdump and
nvidia-cuda-nvdisasm are fetched once into ~/.cache/cadenza/cuobjdump (pip
download and unzip, nothing installed).
"""
import argparse
import collections
import glob
import os
import re
import shutil
import subprocess
import sys
import zipfile


def cuobjdump():
    """cuobjdump, with nvdisasm (which it runs for -sass) beside it."""
    found = shutil.which("cuobjdump")
    if found and shutil.which("nvdisasm"):
        return found
    cache = os.path.expanduser("~/.cache/cadenza/cuobjdump")
    for tool, wheel in (("cuobjdump", "nvidia-cuda-cuobjdump"), ("nvdisasm", "nvidia-cuda-nvdisasm")):
        if glob.glob(os.path.join(cache, "nvidia", "*", "bin", tool)):
            continue
        os.makedirs(cache, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", cache, wheel], check=True)
        for w in glob.glob(os.path.join(cache, wheel.replace("-", "_") + "-*.whl")):
            zipfile.ZipFile(w).extractall(cache)
        if not glob.glob(os.path.join(cache, "nvidia", "*", "bin", tool)):
            sys.exit(f"cuda_codegen_report: no {tool} in the {wheel} wheel")
    bins = sorted(glob.glob(os.path.join(cache, "nvidia", "*", "bin")))
    for b in bins:
        for t in os.listdir(b):
            os.chmod(os.path.join(b, t), 0o755)
    os.environ["PATH"] = os.pathsep.join(bins + [os.environ.get("PATH", "")])
    return shutil.which("cuobjdump")


def demangle(names):
    out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def short(name):
    name = re.sub(r"cadenza::(kernels::cuda::|kmath::)?(\(anonymous namespace\)::)?", "", name)
    return name.replace("(anonymous namespace)::", "")


def arch_section(text, arch):
    """The part of cuobjdump's output for one arch's ELF code."""
    parts = re.split(r"\n(?=Fatbin (?:elf|ptx) code:)", text)
    return "\n".join(p for p in parts if p.startswith("Fatbin elf code") and f"arch = {arch}\n" in p)


def report(build, arch, everything):
    objs = sorted(glob.glob(os.path.join(build, "kernels", "CMakeFiles", "cadenza_kernels_cuda.dir", "cuda", "*.o")))
    if not objs:
        sys.exit(f"cuda_codegen_report: no nvcc objects under {build}/kernels (configure with -DCADENZA_CUDA=ON)")
    tool = cuobjdump()
    rows = []
    for obj in objs:
        source = os.path.basename(obj).replace(".cu.o", ".cu")
        usage = arch_section(subprocess.run([tool, "--dump-resource-usage", obj], capture_output=True, text=True,
                                            check=True).stdout, arch)
        res = {}
        for m in re.finditer(r"Function (\S+):\n\s+REG:(\d+) STACK:(\d+) SHARED:(\d+) LOCAL:(\d+)", usage):
            res[m.group(1)] = tuple(int(m.group(i)) for i in range(2, 6))
        sass = arch_section(subprocess.run([tool, "-sass", obj], capture_output=True, text=True, check=True).stdout,
                            arch)
        counts = collections.defaultdict(collections.Counter)
        fn = None
        for line in sass.splitlines():
            m = re.search(r"Function : (\S+)", line)
            if m:
                fn = m.group(1)
                continue
            m = re.match(r"\s+/\*[0-9a-f]{4,}\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]*)", line)
            if not m or fn is None:
                continue
            op = m.group(1)
            c = counts[fn]
            c["instructions"] += 1
            if op.startswith("LDG") and op.endswith(".128"):
                c["ldg128"] += 1
            if op.startswith("LDS") and op.endswith(".128"):
                c["lds128"] += 1
            if op.startswith(("LDL", "STL")):
                c["local"] += 1
            if op.startswith("CALL"):
                c["calls"] += 1
        names = sorted(res)
        for name, pretty in zip(names, demangle(names)):
            pretty = short(pretty)
            templ = re.search(r"<([^<>]*)>", pretty)
            if not everything and templ and not re.match(r"(float|unsigned int|[A-Za-z]+F<float)", templ.group(1)):
                continue
            reg, stack, shared, local = res[name]
            c = counts.get(name, collections.Counter())
            kernel = re.sub(r"\(.*", "", pretty).replace("void ", "")
            rows.append((source, kernel, reg, stack + local, shared, c["ldg128"], c["lds128"], c["local"],
                         c["calls"], c["instructions"]))
    print(f"| source | kernel ({arch}) | registers | stack + local bytes | static smem | LDG.128 | LDS.128 | "
          "LDL/STL | CALL | instructions |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print("| " + " | ".join(str(x) for x in r) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--arch", default="sm_90")
    ap.add_argument("--all", action="store_true", help="every instantiation, not only f32")
    a = ap.parse_args()
    report(a.build, a.arch, a.all)


if __name__ == "__main__":
    main()
