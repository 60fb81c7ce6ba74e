#!/usr/bin/env bash
# Builds rnc-run alone, without LLVM/MLIR (-DRNC_RUNTIME_ONLY=ON), linked
# statically but for glibc (-DRNC_STATIC_RUNTIME=ON), into its own folder,
# and checks that it needs no shared library beyond glibc's: a binary that
# trains a model .so compiled elsewhere on any x86-64 Linux (docs/cuda.md).
# Usage: scripts/build-runtime.sh [BUILD_DIR]   (default: build-runtime)
# Needs CMake, Ninja, a C++ compiler, nlohmann-json, CLI11, libpng and zlib
# (their static .a files, as Debian's -dev packages have them).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build-runtime}"
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DRNC_RUNTIME_ONLY=ON -DRNC_STATIC_RUNTIME=ON "${launcher[@]}" >/dev/null
ninja -C "$build" -j "${RNC_JOBS:-$(nproc)}" rnc-run >/dev/null
bin="$build/bin/rnc-run"
if grep -qE '^(MLIR|LLVM)_DIR:PATH=/' "$build/CMakeCache.txt"; then
  echo "build-runtime: FAILED: $build configured LLVM/MLIR" >&2
  exit 1
fi
bad=0
for lib in $(readelf -d "$bin" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
  case "$lib" in
    libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*|ld-linux*) ;;
    *) echo "build-runtime: FAILED: $bin needs $lib" >&2; bad=1 ;;
  esac
done
[ "$bad" = 0 ] || exit 1
"$bin" --version >/dev/null
echo "build-runtime: $bin ($(du -k "$bin" | cut -f1) KiB; needs only glibc: $(readelf -d "$bin" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' '))"
