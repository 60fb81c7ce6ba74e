#!/usr/bin/env bash
# Creates the benchmark-only Python venv with PyTorch (the CPU peer of
# bench/train_throughput.py), numpy and JAX; never used by the tests. PyPI's
# torch wheel is the CUDA build (several GB): it is downloaded once, here.
# Usage: scripts/setup-bench-venv.sh [DIR]   (default: build/bench-venv)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${1:-$root/build/bench-venv}"
torch_version="${RNC_BENCH_TORCH:-2.15.0}"
jax_version=0.7.2
numpy_version=2.3.5
want="torch==$torch_version jax==$jax_version numpy==$numpy_version"

check='import importlib.metadata as m, sys
want = dict(p.split("==") for p in sys.argv[1:])
sys.exit(any(m.version(p) != v for p, v in want.items()))'
if [ -x "$dir/bin/python" ] && "$dir/bin/python" -c "$check" $want 2>/dev/null; then
  echo "setup-bench-venv: $dir already has $want"
  exit 0
fi
if [ ! -x "$dir/bin/python" ]; then
  python3 -m venv "$dir" || {
    echo "setup-bench-venv: 'python3 -m venv $dir' failed; install python3-venv" >&2
    exit 1
  }
fi
echo "setup-bench-venv: installing $want into $dir (PyTorch's wheel and its libraries are several GB)"
"$dir/bin/python" -m pip install -q --disable-pip-version-check \
  "torch==$torch_version" "jax[cpu]==$jax_version" "numpy==$numpy_version"
"$dir/bin/python" -c "$check" $want || { echo "setup-bench-venv: $dir lacks $want after pip" >&2; exit 1; }
echo "setup-bench-venv: done"
