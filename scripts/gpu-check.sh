#!/usr/bin/env bash
# The whole GPU check of the cuda target in one command of at most 8 minutes,
# for a lent GPU on which nothing can be built (docs/cuda.md, "The GPU
# check"). Runs the programs scripts/gpu-bundle.sh built here and packed into
# gpu-bin/, stage by stage, each under its own timeout and one global
# deadline; a stage that fails never stops the next. Full logs go to $OUT
# (8 files); the last thing printed is a summary table.
#
# Usage: OUT=DIR scripts/gpu-check.sh [STAGE...]
#   STAGEs (default, in this order): env kernels sanitizer steps convs bench
#   mainjob nccl. Not by default: figures, the measurements for bench/RESULTS.md
#   (three models, rnc against PyTorch eager, and the GPU's matmul and copy
#   ceilings; about 4 minutes): `scripts/gpu-check.sh figures`; recipe, the
#   D2L recipe trained on the GPU with its training set on the device
#   (issue 16's 30-second target): `scripts/gpu-check.sh recipe`; fusion,
#   d2l_resnet18's training step with fusion on and off (--no-fusion):
#   `scripts/gpu-check.sh fusion`; profile, where resnet50's training step
#   spends its time op by op (RNC_PROFILE=1): `scripts/gpu-check.sh profile`;
#   tiles, the ResNet-50 convolutions with 8 warps of 32x32 against 4 warps
#   of 64x32 in the 128x64 tiles: `scripts/gpu-check.sh tiles`.
#   Environment: BUDGET (seconds, default 480), RNC_GPU_BIN (default
#   gpu-bin), RNC_GPU_WORK (where the bundle is unpacked, default
#   /tmp/rnc-gpu).
# Exit status: 0 every stage passed; 1 a stage failed or timed out; 77 none
# failed but some were SKIPPED (no GPU: the dry run; no bundle; no tool).
set -u
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
OUT="${OUT:-/tmp/rnc-gpu-check}"
mkdir -p "$OUT"
BUDGET="${BUDGET:-480}"
BIN_DIR="${RNC_GPU_BIN:-gpu-bin}"
WORK="${RNC_GPU_WORK:-/tmp/rnc-gpu}"
DEADLINE=$((SECONDS + BUDGET))
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
export PYTHONUNBUFFERED=1 PYTHONPATH="$root/python${PYTHONPATH:+:$PYTHONPATH}"
DEFAULT_STAGES=(env kernels sanitizer steps convs bench mainjob nccl)
ALL_STAGES=("${DEFAULT_STAGES[@]}" figures recipe fusion profile tiles)
STAGES=("$@")
[ ${#STAGES[@]} -gt 0 ] || STAGES=("${DEFAULT_STAGES[@]}")
for s in "${STAGES[@]}"; do
  case " ${ALL_STAGES[*]} " in *" $s "*) ;; *)
    echo "gpu-check: unknown stage '$s' (stages: ${ALL_STAGES[*]})" >&2; exit 2 ;;
  esac
done

ROWS=()      # the table: stage, status, seconds, detail
GPU=""       # non-empty: why there is no GPU
B=""         # the unpacked bundle, once found

note() { echo "$*" | tee -a "$SUMMARY"; }
row() { ROWS+=("$(printf '%-10s %-8s %5ss  %s' "$1" "$2" "$3" "$4")"); }
# row_from STAGE STATUS T0 LOG DETAIL: a SKIPPED stage shows why instead.
row_from() {
  local detail=$5
  [ "$2" = SKIPPED ] && detail=$(grep -h -m1 '^SKIPPED' "$4" | cut -c1-90)
  row "$1" "$2" $((SECONDS - $3)) "$detail"
}

# run_step CAP LOG CMD...: CMD under `timeout`, at most CAP seconds and never
# past the deadline, appending to LOG; sets RC (124: timed out or no time).
run_step() {
  local cap=$1 log=$2
  shift 2
  local left=$((DEADLINE - SECONDS))
  ((cap > left)) && cap=$left
  if ((cap < 5)); then
    echo "(skipped: the global deadline has passed) $*" >>"$log"
    RC=124
    return
  fi
  echo "\$ $* (timeout ${cap} s)" >>"$log"
  timeout -k 5 "$cap" "$@" >>"$log" 2>&1
  RC=$?
}

# The status of exit codes: ok 0, SKIPPED 77, TIMEOUT 124/137, FAIL else.
status_of() {
  local worst=ok rc
  for rc in "$@"; do
    case $rc in
      0) ;;
      77) [ "$worst" = ok ] && worst=SKIPPED ;;
      124|137) [ "$worst" != FAIL ] && worst=TIMEOUT ;;
      *) worst=FAIL ;;
    esac
  done
  echo "$worst"
}

# --------------------------------------------------------------------------
stage_env() {
  local t0=$SECONDS log="$SUMMARY" missing=0
  note "== env: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(uname -m), $(nproc) cores, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  GPU=$(python3 -c 'from rnc_py.gpu import gpu_reason; print(gpu_reason() or "")' 2>&1)
  if [ -n "$GPU" ]; then note "no GPU: $GPU"; else
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,power.limit \
      --format=csv 2>&1 | tee -a "$SUMMARY"
  fi
  { ldd --version | head -1; python3 -c 'import sys; print("python", sys.version.split()[0])'
    python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())' 2>&1 | tail -1
    command -v compute-sanitizer >/dev/null && compute-sanitizer --version | tail -1 || echo "compute-sanitizer: not found"
  } 2>&1 | sed 's/^/  /' | tee -a "$SUMMARY"
  if [ -f "$BIN_DIR/bundle.tar.xz" ]; then
    rm -rf "$WORK" && mkdir -p "$WORK"
    if python3 - "$BIN_DIR/bundle.tar.xz" "$WORK" <<'EOF' >>"$SUMMARY" 2>&1
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    kw = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    t.extractall(sys.argv[2], **kw)
EOF
    then B="$WORK"; note "bundle: $BIN_DIR/bundle.tar.xz unpacked into $B ($(du -sm "$B" | cut -f1) MB); $(head -3 "$B/MANIFEST" | tr '\n' ' ')"
    else note "bundle: $BIN_DIR/bundle.tar.xz does not unpack"; fi
  else
    note "bundle: none ($BIN_DIR/bundle.tar.xz; make it here with scripts/gpu-bundle.sh)"
  fi
  if [ -n "$B" ]; then
    local f
    for f in "$B"/bin/* "$B"/lib/*.so "$B"/so/*.so; do
      [ -e "$f" ] || continue
      # libnccl.so.2: the machine's, found by the nccl stage.
      if ldd "$f" 2>&1 | grep 'not found' | grep -vq libnccl; then
        note "  ldd $f: $(ldd "$f" | grep 'not found' | tr -s ' \t' ' ' | tr '\n' ';')"
        missing=1
      fi
    done
    if [ "$missing" = 1 ]; then
      export LD_LIBRARY_PATH="$B/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
      note "  retrying with the bundle's lib/ (libgomp) on LD_LIBRARY_PATH"
      missing=0
      for f in "$B"/bin/* "$B"/lib/*.so "$B"/so/*.so; do
        [ -e "$f" ] || continue
        ldd "$f" 2>&1 | grep 'not found' | grep -vq libnccl && { note "  still missing: $f"; missing=1; }
      done
    fi
  fi
  local st=ok detail="GPU: ${GPU:-yes}"
  [ -z "$B" ] && st=SKIPPED && detail="no bundle; $detail"
  [ "$missing" = 1 ] && st=FAIL && detail="libraries missing (see summary.txt)"
  [ -n "$B" ] && [ "$missing" = 0 ] && detail="bundle ok, every library found; $detail"
  row env "$st" $((SECONDS - t0)) "$detail"
}

# Without a GPU or bundle a stage says so and runs nothing; with a bundle
# but no GPU its programs still run and must say SKIPPED themselves.
precheck() {
  if [ -z "$B" ]; then
    row "$1" SKIPPED 0 "no bundle${GPU:+, no GPU}"
    return 1
  fi
  return 0
}

stage_kernels() {
  precheck kernels || return
  local t0=$SECONDS log="$OUT/kernels.log" rcs=() p detail=""
  for p in fp32 tf32 bf16; do
    echo "=== kernels $p" >>"$log"
    run_step 35 "$log" "$B/bin/kernels-test-$p" --case-timeout 30
    rcs+=("$RC")
    detail+="$p $(grep -h 'checks failed' "$log" | tail -1 | cut -d' ' -f1-3 | sed 's/ checks//;s/ of /\//') "
  done
  note "== kernels: every launcher against the CPU kernels (failing checks and crashed cases)"
  grep -hE '^(FAIL|CRASH)|^=== kernels|checks failed|^SKIPPED' "$log" | head -60 | tee -a "$SUMMARY" >/dev/null
  row_from kernels "$(status_of "${rcs[@]}")" "$t0" "$log" "failed/checks: $detail"
}

stage_sanitizer() {
  precheck sanitizer || return
  local t0=$SECONDS log="$OUT/kernels.log" rcs=() tool detail=""
  if ! command -v compute-sanitizer >/dev/null; then
    row sanitizer SKIPPED 0 "no compute-sanitizer"; return
  fi
  if [ -n "$GPU" ]; then
    row sanitizer SKIPPED 0 "no GPU"; return
  fi
  # Small cases of every kernel family, in one process (--no-fork).
  local cases=("conv 5->7" "g32 N=3" "batch_norm C=10" "max_pool2d C=32" "avg_pool2d"
               "linear 512->10" "softmax_cross_entropy K=10" "elementwise" "sgd")
  local caps=(memcheck:25 racecheck:25 synccheck:15)
  for tool in "${caps[@]}"; do
    echo "=== compute-sanitizer --tool ${tool%%:*}" >>"$log"
    run_step "${tool##*:}" "$log" compute-sanitizer --tool "${tool%%:*}" --print-limit 20 \
      --error-exitcode 9 "$B/bin/kernels-test-bf16" --no-fork "${cases[@]}"
    rcs+=("$RC")
    detail+="${tool%%:*} $(grep -h 'ERROR SUMMARY' "$log" | tail -1 | sed 's/.*ERROR SUMMARY: //;s/ errors\?//') "
  done
  note "== sanitizer (bf16, small cases: ${cases[*]})"
  grep -hE '^=== compute|ERROR SUMMARY|^========= (Invalid|Race|Barrier|Error)' "$log" | head -30 | tee -a "$SUMMARY" >/dev/null
  row sanitizer "$(status_of "${rcs[@]}")" $((SECONDS - t0)) "errors: $detail"
}

stage_steps() {
  precheck steps || return
  local t0=$SECONDS log="$OUT/steps.log" rcs=()
  run_step 35 "$log" python3 test/cuda/check_cuda_vs_cpu.py --so-dir "$B/so" --out-dir /tmp/rnc-vs-cpu \
    --models tiny,d2l_resnext18 --precisions fp32,tf32,bf16 --repeat-check
  rcs+=("$RC")
  run_step 45 "$log" python3 test/cuda/check_cuda_vs_cpu.py --so-dir "$B/so" --out-dir /tmp/rnc-vs-cpu \
    --models resnet50 --precisions bf16,fp32
  rcs+=("$RC")
  note "== steps: whole training steps (3, one ragged) against the cpu target"
  grep -hE 'tolerance|^    |^SKIPPED|Error|error:' "$log" | head -40 | tee -a "$SUMMARY" >/dev/null
  row_from steps "$(status_of "${rcs[@]}")" "$t0" "$log" \
    "$(grep -c 'tolerance' "$log") model/precision pairs, $(grep -c ': ok;' "$log") ok"
}

stage_convs() {
  precheck convs || return
  local t0=$SECONDS log="$OUT/convs.log" rcs=()
  run_step 40 "$log" python3 test/cuda/check_rn50_convs.py --lib "$B/lib/rn50-convs-bf16.so" --batch 256
  rcs+=("$RC")
  run_step 20 "$log" python3 test/cuda/check_rn50_convs.py --lib "$B/lib/rn50-convs-fp32.so" --batch 256 --no-time
  rcs+=("$RC")
  note "== convs: the 23 ResNet-50 convolution shapes at batch 256 against cuDNN (bf16 timed, fp32 checked)"
  grep -hE '^FAIL|convolutions of one|shapes in|^SKIPPED|^  ' "$log" | head -40 | tee -a "$SUMMARY" >/dev/null
  row_from convs "$(status_of "${rcs[@]}")" "$t0" "$log" \
    "$(grep -h 'shapes in' "$log" | sed 's/ in [0-9]* s//' | tr '\n' ';')"
}

stage_bench() {
  precheck bench || return
  local t0=$SECONDS log="$OUT/bench.log"
  run_step 70 "$log" python3 bench/gpu_train.py --rnc-so-dir "$B/bench" --configs resnet50-224 \
    --sides rnc,eager --warmup 3 --windows 3 --steps 10 --peak-reps 5 --json "$OUT/bench.json"
  note "== bench: resnet50 training images/s, rnc bf16 (batch on the GPU) vs PyTorch eager (channels_last, AMP bf16)"
  grep -hE '^measured|^\| |images/s \(windows|not measured|^SKIPPED' "$log" | tee -a "$SUMMARY" >/dev/null
  row_from bench "$(status_of "$RC")" "$t0" "$log" \
    "$(grep -h '^| resnet50' "$log" | awk -F'|' '{gsub(/ /,"",$5); gsub(/ /,"",$6); gsub(/ /,"",$8); print "rnc " $5 " img/s, eager " $6 ", ratio " $8}')"
}

stage_mainjob() {
  precheck mainjob || return
  local t0=$SECONDS log="$OUT/mainjob.log"
  run_step 60 "$log" python3 test/cuda/check_cuda_vs_cpu.py --models "" --train --so-dir "$B/so" \
    --rnc-run "$B/bin/rnc-run" --data "$B/fashion-mnist" --out-dir /tmp/rnc-main-job
  cat /tmp/rnc-main-job/main-job-cuda.jsonl >>"$log" 2>/dev/null
  note "== mainjob: rnc-run train on the GPU (fashion_resnet, 4 epochs), against the cpu run's 92.5%"
  grep -hE 'main job|^SKIPPED|error' "$log" | tail -5 | tee -a "$SUMMARY" >/dev/null
  row_from mainjob "$(status_of "$RC")" "$t0" "$log" \
    "$(grep -ho 'test accuracy [0-9.]*% after [0-9]* epochs in [0-9.]* s' "$log" | tail -1)"
}

# The NCCL path: the plugin joined by one rank and its sum captured in a
# graph (nccl-plugin-tests), then two processes sharing the GPU over NCCL
# against one process (nccl-pair; NCCL 2.30+ only). The newest libnccl.so.2
# found (the toolkit's, PyTorch's nvidia-nccl wheel) is used.
stage_nccl() {
  precheck nccl || return
  local t0=$SECONDS log="$OUT/nccl.log" rcs=() lib
  lib=$(python3 test/dist/find_nccl.py 2>>"$log")
  if [ -z "$lib" ]; then
    echo "SKIPPED: no libnccl.so.2 on this machine" >>"$log"
    row_from nccl SKIPPED "$t0" "$log" ""; return
  fi
  run_step 30 "$log" env LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    "$B/bin/nccl-plugin-tests"
  rcs+=("$RC")
  run_step 60 "$log" env LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    NCCL_MULTI_RANK_GPU_ENABLE=1 NCCL_DEBUG=WARN \
    "$B/bin/nccl-pair" "$B/so/nobn-cuda-fp32.so" "$B/lib/librnc-nccl.so" 4 16
  rcs+=("$RC")
  # SyncBN: tiny (batch norm fused into its convs) the same way.
  run_step 60 "$log" env LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    NCCL_MULTI_RANK_GPU_ENABLE=1 NCCL_DEBUG=WARN \
    "$B/bin/nccl-pair" "$B/so/tiny-cuda-fp32.so" "$B/lib/librnc-nccl.so" 3 16 sync
  rcs+=("$RC")
  note "== nccl: the NCCL plugin (1 rank, sum in a graph); 2 ranks on one GPU vs 1 process (nobn; tiny with SyncBN; fp32)"
  grep -hE '^found NCCL|OK \]|FAILED|SKIPPED|nccl-pair|NCCL WARN|error' "$log" | head -30 | tee -a "$SUMMARY" >/dev/null
  row_from nccl "$(status_of "${rcs[@]}")" "$t0" "$log" \
    "$(grep -ho 'nccl-pair: [^,]*\|largest difference [0-9.e+-]*' "$log" | tr '\n' ' ')"
}

stage_figures() {
  precheck figures || return
  local t0=$SECONDS log="$OUT/figures.log"
  run_step 420 "$log" python3 bench/gpu_train.py --rnc-so-dir "$B/bench" \
    --configs resnet50-224,resnext50_32x4d-224,d2l_resnet18-96 --sides rnc,eager \
    --json "$OUT/figures.json"
  note "== figures: training images/s, rnc bf16 (batch on the GPU) vs PyTorch eager; ceilings"
  grep -hE '^(host|GPU|driver|torch|measured)|^\| |images/s \(windows|not measured|^SKIPPED' "$log" \
    | tee -a "$SUMMARY" >/dev/null
  row_from figures "$(status_of "$RC")" "$t0" "$log" "$(grep -c '^| [a-z]' "$log") configs measured"
}

# The D2L recipe (d2l_resnet18 on Fashion-MNIST resized to 96x96, 10 epochs,
# plain SGD at lr 0.05 as the book trains it; batch 128, the bundle's
# compiled maximum, where the book takes 256), the training set copied to
# the device once (--data-on-device). The model comes compiled, so the time
# is rnc-run's whole run: reading and resizing the data, training, the
# evaluations.
stage_recipe() {
  precheck recipe || return
  if [ -n "$GPU" ]; then
    row recipe SKIPPED 0 "no GPU"; return
  fi
  local t0=$SECONDS log="$OUT/recipe.log"
  run_step 300 "$log" "$B/bin/rnc-run" train "$B/bench/d2l_resnet18-96-b128-bf16.so" \
    --data "$B/fashion-mnist" --epochs 10 --batch-size 128 --lr 0.05 --momentum 0 \
    --weight-decay 0 --threads 8 --data-on-device --metrics "$OUT/recipe.jsonl"
  local secs=$((SECONDS - t0))
  note "== recipe: d2l_resnet18 at 96x96, 10 epochs, the training set on the device: $secs s end to end (model precompiled)"
  grep -hE '^data|^epoch|error' "$log" | tail -13 | tee -a "$SUMMARY" >/dev/null
  row_from recipe "$(status_of "$RC")" "$t0" "$log" \
    "$(grep -ho 'test acc [0-9.]*%' "$log" | tail -1) after 10 epochs, $secs s end to end"
}

# What the fusion passes buy on the GPU (issue 16): d2l_resnet18 at 96x96,
# batch 128, bf16, compiled with and without fusion (the bundle's fusion/),
# step times alternated window by window (bench/fusion.py).
stage_fusion() {
  precheck fusion || return
  local t0=$SECONDS log="$OUT/fusion.log"
  run_step 240 "$log" python3 bench/fusion.py --so-dir "$B/fusion" \
    --models d2l_resnet18:1x96x96:128 --target cuda --precision bf16 --windows 5 --steps 5
  note "== fusion: d2l_resnet18 at 96x96, batch 128, bf16, fusion on against --no-fusion"
  grep -hE '^\| |fused|^SKIPPED|error' "$log" | tee -a "$SUMMARY" >/dev/null
  row_from fusion "$(status_of "$RC")" "$t0" "$log" \
    "$(grep -h '^| d2l' "$log" | awk -F'|' '{gsub(/^ +| +$/, "", $5); gsub(/^ +| +$/, "", $6); print "step ms " $5 ", speed-up " $6}')"
}

# Where resnet50's training step (bf16, batch 256, the batch kept in the
# model) spends its time on the GPU, op by op (issue 16: measure first):
# RNC_PROFILE=1 runs the steps uncaptured, synchronized around every op, and
# the model prints the time by op kind and the 25 slowest ops when it is
# destroyed (docs/cuda.md). Launch gaps count, so the total is above a
# captured step's.
stage_profile() {
  precheck profile || return
  if [ -n "$GPU" ]; then
    row profile SKIPPED 0 "no GPU"; return
  fi
  local t0=$SECONDS log="$OUT/profile.log"
  run_step 120 "$log" env RNC_PROFILE=1 RNC_PROFILE_OPS=25 python3 bench/gpu_train.py \
    --child rnc --so "$B/bench/resnet50-224-b256-bf16.so" --batch 256 --warmup 1 \
    --windows 1 --steps 2
  note "== profile: resnet50 bf16 batch 256, time by op kind (RNC_PROFILE=1, synchronized per op)"
  sed -n '/^rnc profile:/,/^{/p' "$log" | grep -v '^{' | tee -a "$SUMMARY" >/dev/null
  row_from profile "$(status_of "$RC")" "$t0" "$log" \
    "$(grep -h -m1 '^rnc profile:' "$log" | cut -c1-80)"
}

# The warp tiles of the forward and data-gradient GEMMs (issue 16): the 23
# ResNet-50 convolution shapes at batch 256, each checked against cuDNN and
# timed, built with the default 8 warps of 32x32 and with 4 warps of 64x32
# (RNC_CUDA_WARPS_128X64=4: twice the MMAs per staged element, 168-255
# registers instead of 94-128, half the warps), one after the other.
stage_tiles() {
  precheck tiles || return
  local t0=$SECONDS log="$OUT/tiles.log" rcs=()
  run_step 60 "$log" python3 test/cuda/check_rn50_convs.py --lib "$B/lib/rn50-convs-bf16.so" --batch 256
  rcs+=("$RC")
  run_step 60 "$log" python3 test/cuda/check_rn50_convs.py --lib "$B/lib/rn50-convs-bf16-w4.so" --batch 256
  rcs+=("$RC")
  note "== tiles: the ResNet-50 convolutions, 8 warps of 32x32 (first) against 4 of 64x32 (second)"
  grep -hE '^FAIL|convolutions of one|shapes in|^SKIPPED|^  ' "$log" | head -90 | tee -a "$SUMMARY" >/dev/null
  row_from tiles "$(status_of "${rcs[@]}")" "$t0" "$log" \
    "$(grep -h 'shapes in' "$log" | sed 's/ in [0-9]* s//' | tr '\n' ';')"
}

# --------------------------------------------------------------------------
# env always runs first: it finds the GPU and unpacks the bundle.
[[ " ${STAGES[*]} " == *" env "* ]] || STAGES=(env "${STAGES[@]}")
for s in "${STAGES[@]}"; do
  "stage_$s"
done

echo
echo "logs: $OUT ($(ls "$OUT" | tr '\n' ' '))"
echo
printf '%-10s %-8s %6s  %s\n' stage status time detail
printf '%s\n' "${ROWS[@]}"
statuses=$(printf '%s\n' "${ROWS[@]}" | awk '{print $2}')
if grep -qE 'FAIL|TIMEOUT' <<<"$statuses"; then
  echo "gpu-check: FAILED ($((SECONDS)) s)"; exit 1
elif grep -q SKIPPED <<<"$statuses"; then
  echo "gpu-check: nothing failed, some stages SKIPPED ($((SECONDS)) s)"; exit 77
fi
echo "gpu-check: every stage passed ($((SECONDS)) s)"
exit 0
