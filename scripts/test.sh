#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (ctest: unit tests,
# the lit/FileCheck suite, the malformed-spec corpus and a short fuzz run).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
cd "$root/build"
status=0
ctest --output-on-failure -j "${RNC_JOBS:-$(nproc)}" || status=$?
# Skipped tests (the GPU ones without a GPU) say why, here, not only in the log.
grep -h "^SKIPPED" Testing/Temporary/LastTest*.log 2>/dev/null | sort -u \
  | sed 's/^/test.sh: /' || true
exit "$status"
