#!/usr/bin/env bash
# Builds, here, everything scripts/gpu-check.sh runs on a lent GPU, where
# nothing of ours can be built (no LLVM, no Debian packages, another CPU):
#
#   gpu-bin/bundle.tar.xz  (git-ignored; the device tool carries gpu-bin/)
#     bin/rnc-run                  runtime only, static but for glibc
#     bin/kernels-test-{fp32,tf32,bf16}   test/cuda/kernels_test.cu, sm_90a
#     lib/rn50-convs-{bf16,fp32}.so       test/cuda/rn50_convs.cu, sm_90a
#     lib/rn50-convs-bf16-w4.so           the same, 4 warps of 64x32 in the
#                                         128x64 tiles (gpu-check.sh tiles)
#     lib/libgomp.so.1             in case the GPU machine lacks it
#     lib/librnc-nccl.so, bin/nccl-plugin-tests, bin/nccl-pair
#                                  the NCCL path (needs the machine's
#                                  libnccl.so.2: the toolkit's or PyTorch's)
#     so/<model>-cuda-<precision>.so      rnc compile --target cuda, sm_90a
#     so/<model>-cpu-fp32.so       rnc compile --march x86-64-v3
#     bench/<config>-b<batch>-bf16.so     links for bench/gpu_train.py
#     fusion/<model>-...-{fused,unfused}.so (+ .log)  bench/fusion.py on
#                                  d2l_resnet18 at 96x96: fusion on and off
#     fashion-mnist/*-ubyte        the main job's data (IDX, unzipped)
#     MANIFEST                     commit, date, tools, every file's size
#
# then checks that no binary needs a library a bare CUDA machine lacks and
# that gpu-bin/ plus the tracked tree stay under the 56 MiB the device call
# may carry (64 MiB in all). Prints the time each part took.
# Usage: scripts/gpu-bundle.sh   (needs build/bin/rnc: scripts/build.sh;
#   RNC_BUILD_DIR, RNC_JOBS (parallel compiles, default: cores) override)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="${RNC_BUILD_DIR:-$root/build}"
par="${RNC_JOBS:-$(nproc)}"
work="$root/build-gpu"
stage="$work/stage"
out="$root/gpu-bin"
nvcc="${RNC_NVCC:-/usr/local/cuda/bin/nvcc}"
data="${RNC_DATA:-/usr/share/datasets/fashion-mnist}"
limit_mib=56
arch=(-gencode=arch=compute_90a,code=sm_90a)
start=$SECONDS
t=$SECONDS
lap() { echo "gpu-bundle: $1 in $((SECONDS - t)) s"; t=$SECONDS; }
die() { echo "gpu-bundle: error: $*" >&2; exit 1; }

[ -x "$nvcc" ] || die "no nvcc at $nvcc (set RNC_NVCC)"
[ -f "$build/build.ninja" ] || die "no build in $build (run scripts/build.sh first)"
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz \
         t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  [ -f "$data/$f" ] || die "no $data/$f (Debian: dataset-fashion-mnist, or set RNC_DATA)"
done
ninja -C "$build" rnc >/dev/null
rnc="$build/bin/rnc"
rm -rf "$stage"
mkdir -p "$stage"/{bin,lib,so,bench,fusion,fashion-mnist} "$work/log"

# The runtime, alone and static.
scripts/build-runtime.sh "$work/runtime"
cp "$work/runtime/bin/rnc-run" "$stage/bin/"
lap "rnc-run (runtime only)"

# Every job below is one line of a list run `jobs` at a time: the test
# programs (nvcc) and the models (rnc compile).
cuda_test() { # NAME SOURCE PRECISION [nvcc flags]
  local name=$1 src=$2 p=$3
  shift 3
  echo "$nvcc -std=c++20 -O2 --expt-relaxed-constexpr -diag-suppress=1675,177" \
    "-Xcompiler=-fopenmp -lgomp -DRNC_CUDA_PRECISION=$p -I$root ${arch[*]} $*" \
    "$root/test/cuda/$src -o $stage/$name"
}
model() { # NAME TARGET PRECISION INPUT MAX_BATCH
  local name=$1 target=$2 p=$3 input=$4 batch=$5
  local flags="--target $target --max-batch $batch"
  [ "$input" = - ] || flags+=" --input $input"
  if [ "$target" = cuda ]; then flags+=" --precision $p --cuda-arch 90a"
  else flags+=" --march x86-64-v3"; p=fp32; fi
  echo "$rnc compile $name $flags -o $stage/so/$name-$target-$p.so"
}
{
  cuda_test bin/kernels-test-fp32 kernels_test.cu 0
  cuda_test bin/kernels-test-tf32 kernels_test.cu 1
  cuda_test bin/kernels-test-bf16 kernels_test.cu 2
  cuda_test lib/rn50-convs-bf16.so rn50_convs.cu 2 -shared -Xcompiler=-fPIC
  cuda_test lib/rn50-convs-fp32.so rn50_convs.cu 0 -shared -Xcompiler=-fPIC
  cuda_test lib/rn50-convs-bf16-w4.so rn50_convs.cu 2 -shared -Xcompiler=-fPIC \
    -DRNC_CUDA_WARPS_128X64=4
  for p in fp32 tf32 bf16; do
    model tiny cuda $p 3x12x12 16
    model d2l_resnext18 cuda $p 1x32x32 16
  done
  model tiny cpu - 3x12x12 16
  model d2l_resnext18 cpu - 1x32x32 16
  model resnet50 cpu - 3x224x224 4
  model resnet50 cuda fp32 3x224x224 4
  model resnet50 cuda bf16 3x224x224 256
  model resnext50_32x4d cuda bf16 3x224x224 256
  model d2l_resnet18 cuda bf16 1x96x96 128
  model fashion_resnet cuda bf16 - 128
  echo "$rnc compile test/dist/Inputs/nobn.json --target cuda --precision fp32" \
    "--cuda-arch 90a --max-batch 16 -o $stage/so/nobn-cuda-fp32.so"
  echo "python3 $root/bench/fusion.py --compile-only --out-dir $stage/fusion --rnc $rnc" \
    "--models d2l_resnet18:1x96x96:128 --target cuda --precision bf16" \
    "--compile-arg=--cuda-arch --compile-arg=90a"
} >"$work/jobs.txt"
n=$(wc -l <"$work/jobs.txt")
echo "gpu-bundle: $n builds, $par at a time (logs in $work/log)"
failed=0 i=0
while IFS= read -r cmd; do
  i=$((i + 1))
  while (($(jobs -rp | wc -l) >= par)); do wait -n || failed=1; done
  (if eval "$cmd" >"$work/log/$i.log" 2>&1; then echo "  ok   ${cmd##* }"
   else echo "  FAIL $cmd"; tail -3 "$work/log/$i.log"; exit 1; fi) &
done <"$work/jobs.txt"
while (($(jobs -rp | wc -l) > 0)); do wait -n || failed=1; done
[ "$failed" = 0 ] || die "a build failed (above)"
lap "$n test programs and models"

# bench/gpu_train.py's names for the three benchmark models.
ln -s ../so/resnet50-cuda-bf16.so "$stage/bench/resnet50-224-b256-bf16.so"
ln -s ../so/resnext50_32x4d-cuda-bf16.so "$stage/bench/resnext50_32x4d-224-b256-bf16.so"
ln -s ../so/d2l_resnet18-cuda-bf16.so "$stage/bench/d2l_resnet18-96-b128-bf16.so"
# fusion/'s fused variant is the same compile as so/'s d2l_resnet18 (cuda
# bf16, sm_90a, 1x96x96, batch 128, fusion on): one copy travels (1.3 MB of
# the 64 MiB a call may carry).
ln -sf ../so/d2l_resnet18-cuda-bf16.so \
  "$stage/fusion/d2l_resnet18-1x96x96-b128-cuda-bf16-fused.so"
# The data travels as plain IDX (the loader reads both): xz packs it 4 MiB
# smaller than its gzip files are.
for f in "$data"/*.gz; do
  gzip -dc "$f" >"$stage/fashion-mnist/$(basename "$f" .gz)"
done
# The NCCL plugin and its two GPU programs (built by scripts/build.sh).
ninja -C "$build" rnc-nccl nccl-plugin-tests nccl-pair >/dev/null
cp "$build/lib/rnc/librnc-nccl.so" "$stage/lib/"
cp "$build/bin/nccl-plugin-tests" "$build/bin/nccl-pair" "$stage/bin/"
gomp=$(g++ -print-file-name=libgomp.so.1)
cp -L "$gomp" "$stage/lib/libgomp.so.1"

# Nothing may need a library a bare CUDA machine lacks: glibc, the C++
# runtime and libgcc come with its compiler, libgomp is in lib/; libcuda is
# the driver's (dlopened, never linked). The cuda runtime is static.
# libnccl.so.2 (the NCCL plugin and its test) comes from the GPU machine.
bad=0
for f in "$stage"/bin/* "$stage"/lib/*.so "$stage"/so/*.so "$stage"/fusion/*.so; do
  for lib in $(readelf -d "$f" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
    case "$lib" in
      libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*|ld-linux*) ;;
      libstdc++.so.6|libgcc_s.so.1|libgomp.so.1) ;;
      libnccl.so.2) [[ "$f" == */librnc-nccl.so || "$f" == */nccl-plugin-tests ]] ||
        { echo "gpu-bundle: $f needs libnccl.so.2" >&2; bad=1; } ;;
      *) echo "gpu-bundle: $f needs $lib, which a bare CUDA machine lacks" >&2; bad=1 ;;
    esac
  done
  if ldd "$f" | grep -q 'not found'; then
    echo "gpu-bundle: $f: $(ldd "$f" | grep 'not found')" >&2; bad=1
  fi
done
[ "$bad" = 0 ] || die "libraries missing (above)"
# The newest glibc and C++ runtime symbols needed (the GPU machine's must be
# as new: Ubuntu 24.04 has glibc 2.39 and GLIBCXX_3.4.33).
need_glibc=$(for f in "$stage"/bin/* "$stage"/lib/*.so "$stage"/so/*.so "$stage"/fusion/*.so; do objdump -T "$f"; done \
  | grep -o 'GLIBC_[0-9.]*' | sort -Vu | tail -1)
need_cxx=$(for f in "$stage"/bin/* "$stage"/lib/*.so "$stage"/so/*.so "$stage"/fusion/*.so; do objdump -T "$f"; done \
  | grep -o 'GLIBCXX_[0-9.]*' | sort -Vu | tail -1)

{
  echo "rnc GPU bundle of commit $(git rev-parse --short HEAD)$([ -z "$(git status --porcelain --untracked-files=no)" ] || echo ' (with uncommitted changes)')"
  echo "built $(date -u '+%Y-%m-%d %H:%M UTC') on $(uname -m), $("$nvcc" --version | tail -1 | sed 's/^Build //'), sm_90a"
  echo "needs $need_glibc, $need_cxx, an NVIDIA driver for CUDA 13"
  (cd "$stage" && find . -type f -o -type l | sort | while read -r f; do
     printf '%10s  %s\n' "$(du -kL "$f" | cut -f1)K" "${f#./}"; done)
} >"$stage/MANIFEST"
lap "checks and manifest"

rm -rf "$out"
mkdir -p "$out"
tar -C "$stage" -cf - . | xz -T"$par" -6 >"$out/bundle.tar.xz"
cp "$stage/MANIFEST" "$out/MANIFEST"
lap "packing"

bundle_kib=$(du -sk "$out" | cut -f1)
tree_kib=$(( $(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1) / 1024 ))
total_mib=$(( (bundle_kib + tree_kib + 1023) / 1024 ))
echo "gpu-bundle: $out: $((bundle_kib / 1024)) MiB packed ($(du -sm "$stage" | cut -f1) MiB unpacked);" \
  "with the tracked tree ($((tree_kib / 1024)) MiB) $total_mib MiB of the $limit_mib MiB allowed"
((total_mib <= limit_mib)) || die "the bundle is too large to carry ($total_mib MiB > $limit_mib MiB)"
echo "gpu-bundle: done in $((SECONDS - start)) s; run it on a GPU with: OUT=DIR scripts/gpu-check.sh (carry gpu-bin)"
