#!/usr/bin/env bash
# Runs a fuzz target: first every seed file once, then RNC_FUZZ_SECONDS
# (default 30) of fuzzing from them. New inputs go to WORK_DIR.
# Usage: run_fuzzer.sh FUZZER WORK_DIR SEED_DIR...
set -euo pipefail
fuzzer=$1 work=$2
shift 2
rm -rf "$work" && mkdir -p "$work"
"$fuzzer" -runs=0 "$@" 2>"$work/replay.log" || { tail -40 "$work/replay.log"; exit 1; }
echo "$(basename "$fuzzer"): replayed $(cat "$@"/* 2>/dev/null | wc -c) bytes of seeds without a crash"
"$fuzzer" -max_total_time="${RNC_FUZZ_SECONDS:-30}" -timeout=10 -rss_limit_mb=2048 \
  -max_len=4096 "$work" "$@" 2>"$work/fuzz.log" || { tail -40 "$work/fuzz.log"; exit 1; }
tail -1 "$work/fuzz.log"
