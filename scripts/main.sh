#!/usr/bin/env bash
# The main job: install what is missing, build, then train the default model
# (models/fashion_resnet.json) on Fashion-MNIST with `rnc-run train`, which
# compiles it on first use (cached under ~/.cache/rnc) and prints progress.
# The per-epoch metrics go to build/main-job-metrics.jsonl, their plot to
# build/main-job-metrics.svg, the checkpoint to build/main-job.safetensors.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
"$root/build/bin/rnc-run" train --metrics "$root/build/main-job-metrics.jsonl" \
  --checkpoint "$root/build/main-job.safetensors"
