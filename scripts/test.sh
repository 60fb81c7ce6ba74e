#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (ctest: unit tests,
# the lit/FileCheck suite, the malformed-spec corpus and a short fuzz run).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
cd "$root/build"
ctest --output-on-failure -j "${RNC_JOBS:-$(nproc)}"
