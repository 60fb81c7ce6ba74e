#!/usr/bin/env bash
# The install test (see CMakeLists.txt). Usage: install-test.sh BUILD SOURCE WORK
# Checks, each failing the test when wrong:
#  1. `cmake --install` lays out bin/, include/rnc/ and share/rnc/models/;
#  2. the installed tree, moved elsewhere, compiles a shipped model by its bare
#     name with -I pointing into that tree and no path of the source tree on
#     the compiler's command line;
#  3. the installed rnc-run trains the result, and compiles + trains the main
#     job's way (--model, cached build) with the rnc beside it;
#  4. without its include/ folder the installed rnc refuses in one line;
#  5. the same compile and training with the source tree hidden (a private
#     mount namespace; reported, not counted, where the machine forbids it).
set -uo pipefail
build="$1"; src="$2"; work="$3"
data=/usr/share/datasets/fashion-mnist
fails=0
ok()   { echo "ok:   $*"; }
bad()  { echo "FAIL: $*"; fails=$((fails + 1)); }
rm -rf "$work"; mkdir -p "$work"
cmake --install "$build" --prefix "$work/installed" >"$work/install.log" 2>&1 \
  || { cat "$work/install.log"; echo "FAIL: cmake --install"; exit 1; }
for f in bin/rnc bin/rnc-run bin/rnc-opt bin/rnc-translate include/rnc/kernels/init.h \
         include/rnc/kernels/cpu/rnc_cpu.h include/rnc/kernels/cuda/rnc_cuda.cuh \
         include/rnc/runtime/rnc_abi.h share/rnc/models/fashion_resnet.json; do
  [ -e "$work/installed/$f" ] && ok "installed $f" || bad "cmake --install did not install $f"
done
# rnc-run's MPI plugin, where this build has one (libopenmpi-dev installed).
if [ -e "$build/lib/rnc/librnc-mpi.so" ]; then
  f=lib/rnc/librnc-mpi.so
  [ -e "$work/installed/$f" ] && ok "installed $f" || bad "cmake --install did not install $f"
fi
# Moved out of the build folder (which lies in the source tree when that is
# hidden below): nothing may depend on the prefix the tree was installed to.
moved=$(mktemp -d /tmp/rnc-install.XXXXXX) || exit 1
trap 'rm -rf "$moved"' EXIT
mv "$work/installed" "$moved/rnc"
P="$moved/rnc"
work="$moved"
unset RNC_INCLUDE_DIR RNC_COMPILER
export XDG_CACHE_HOME="$work/cache"

compile_and_train() { # $1: label
  local log="$work/$1"
  if ! "$P/bin/rnc" compile tiny --max-batch 16 -v -o "$work/$1.so" >"$log.compile" 2>&1; then
    bad "$1: installed rnc compile tiny: $(tail -1 "$log.compile")"; return
  fi
  grep -q -- "-I$P/include/rnc" "$log.compile" && ok "$1: the model is compiled with -I$P/include/rnc" \
    || bad "$1: the compiler command does not use -I$P/include/rnc: $(grep -- ' -I' "$log.compile" | head -1)"
  grep -q -- "$src" "$log.compile" && bad "$1: the compiler command names the source tree $src" \
    || ok "$1: nothing of the source tree on the compiler's command line"
  if "$P/bin/rnc-run" train "$work/$1.so" --epochs 1 --train-limit 256 --test-limit 128 \
      --batch-size 16 --data "$data" >"$log.train" 2>&1 && grep -q "test acc" "$log.train"; then
    ok "$1: installed rnc-run trained the model ($(grep -o 'test acc [0-9.]*%' "$log.train" | tail -1))"
  else
    bad "$1: installed rnc-run train: $(tail -1 "$log.train")"
  fi
  if "$P/bin/rnc-run" train --model tiny --epochs 1 --train-limit 256 --test-limit 128 \
      --batch-size 16 --data "$data" >"$log.main" 2>&1 && grep -q "compiling tiny" "$log.main"; then
    ok "$1: installed rnc-run --model tiny compiled it with the rnc beside it and trained it"
  else
    bad "$1: installed rnc-run train --model tiny: $(tail -1 "$log.main")"
  fi
  rm -rf "$XDG_CACHE_HOME"
}

compile_and_train moved

# Without the headers: one line that says what is missing and how to fix it.
mv "$P/include" "$P/include.away"
out=$("$P/bin/rnc" compile tiny -o "$work/none.so" 2>&1); rc=$?
if [ $rc -ne 0 ] && [ "$(printf '%s\n' "$out" | grep -c 'cannot find the kernel headers')" = 1 ]; then
  ok "without include/: refused ($(printf '%s\n' "$out" | grep 'cannot find' | cut -c1-100)...)"
else
  bad "without include/: rc=$rc, output: $out"
fi
mv "$P/include.away" "$P/include"

# The source tree hidden under an empty tmpfs, where allowed.
if unshare -m true 2>/dev/null; then
  export -f compile_and_train ok bad
  export P src work data fails
  unshare -m bash -c 'mount -t tmpfs none "$src" && [ ! -e "$src/kernels" ] || exit 3
    compile_and_train hidden; exit $fails'
  rc=$?
  if [ $rc = 3 ]; then echo "note: the source tree could not be hidden (mount refused); step 5 not run"
  else fails=$((fails + rc)); fi
else
  echo "note: no private mount namespace here (unshare -m refused); step 5 not run"
fi

echo "install: $fails failed"
[ $fails -eq 0 ]
