#!/usr/bin/env bash
# 1 process against 2 ranks under mpirun on this machine (docs/distributed.md):
# the same model, data and global batch, one epoch each, images/s of the
# whole job from rnc-run's metrics. 1 process uses every core through
# OpenMP; each of the K ranks gets cores/K OpenMP threads.
# Usage: bench/dist_scaling.sh [MODEL_SPEC] [TRAIN_IMAGES] [BATCH]
#        (default: models/fashion_resnet.json 6400 128)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
spec="${1:-$root/models/fashion_resnet.json}"
images="${2:-6400}"
batch="${3:-128}"
bin="$root/build/bin"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cores="$(nproc)"
"$bin/rnc" compile "$spec" --max-batch "$batch" -o "$work/model.so" 2>/dev/null
common=(--epochs 1 --train-limit "$images" --test-limit 1000 --batch-size "$batch"
        --lr 0.05)
rate() { python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])['images_per_sec'])" "$1"; }
OMP_NUM_THREADS="$cores" "$bin/rnc-run" train "$work/model.so" "${common[@]}" \
  --metrics "$work/one.jsonl" >/dev/null
one="$(rate "$work/one.jsonl")"
OMP_NUM_THREADS=$((cores / 2 > 0 ? cores / 2 : 1)) mpirun -np 2 --oversubscribe \
  --allow-run-as-root --bind-to none -x OMP_NUM_THREADS \
  "$bin/rnc-run" train "$work/model.so" "${common[@]}" --metrics "$work/two.jsonl" >/dev/null
two="$(rate "$work/two.jsonl")"
python3 - "$spec" "$images" "$batch" "$cores" "$one" "$two" <<'PY'
import sys
spec, images, batch, cores, one, two = sys.argv[1:]
one, two = float(one), float(two)
print(f"model {spec}, {images} images, global batch {batch}, {cores} cores")
print(f"1 process ({cores} threads): {one:.1f} images/s")
print(f"2 ranks ({max(int(cores)//2,1)} threads each): {two:.1f} images/s  (2 ranks / 1 process = {two/one:.2f})")
PY
