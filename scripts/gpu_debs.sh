#!/usr/bin/env bash
# Run here, before a lent GPU machine's first call: downloads the Debian
# packages that scripts/gpu_check.sh's engine-only build needs there (that
# machine has CMake, nvcc and PyTorch but none of our -dev packages, and no
# network) into .gpudeps/, which git ignores. Name .gpudeps in the device
# tool's `carry`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
exclude=$(git rev-parse --git-path info/exclude)
grep -qx '/.gpudeps/' "$exclude" 2>/dev/null || echo '/.gpudeps/' >> "$exclude"
rm -rf .gpudeps && mkdir -p .gpudeps && cd .gpudeps
# Headers (Eigen, nlohmann-json, Catch2) and zlib for the engine and its
# tests; zlib1g holds the library the -dev package's link points at.
apt-get download libeigen3-dev nlohmann-json3-dev catch2 zlib1g-dev zlib1g >/dev/null
du -sh . | awk '{print "gpu_debs: .gpudeps holds " $1}'
ls
