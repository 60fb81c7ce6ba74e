#!/usr/bin/env bash
# Configures and builds rnc into build/ (Release, Ninja, 2 jobs by default).
# Usage: scripts/build.sh   (RNC_BUILD_DIR, RNC_JOBS override the defaults)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${RNC_BUILD_DIR:-$root/build}"
jobs="${RNC_JOBS:-$(nproc)}"
if [ ! -f "$build/build.ninja" ]; then
  cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
start=$(date +%s)
ninja -C "$build" -j "$jobs"
echo "build: done in $(( $(date +%s) - start )) s ($build)"
