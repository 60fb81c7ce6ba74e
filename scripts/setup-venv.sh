#!/usr/bin/env bash
# Creates the Python venv the JAX oracle test, the data tests and the benchmark
# use (jax[cpu], numpy, safetensors, Pillow from PyPI); does nothing when it is
# already complete.
# Usage: scripts/setup-venv.sh [DIR]   (default: build/venv)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${1:-$root/build/venv}"
jax_version=0.7.2
numpy_version=2.3.5
safetensors_version=0.8.0
# Pillow 12: its resize always runs the horizontal pass first, as rnc does;
# Pillow 13 sometimes runs the vertical pass first (then pixels may differ by one level).
pillow_version=12.0.0
want="jax==$jax_version jaxlib==$jax_version numpy==$numpy_version safetensors==$safetensors_version pillow==$pillow_version"

check='import importlib.metadata as m, sys
want = dict(p.split("==") for p in sys.argv[1:])
sys.exit(any(m.version(p) != v for p, v in want.items()))'
if [ -x "$dir/bin/python" ] && "$dir/bin/python" -c "$check" $want 2>/dev/null; then
  echo "setup-venv: $dir already has $want"
  exit 0
fi

if [ ! -x "$dir/bin/python" ]; then
  existed=$([ -e "$dir" ] && echo yes || true)
  if ! python3 -m venv "$dir" >/dev/null 2>&1; then
    [ -n "$existed" ] || rm -rf "$dir"   # leave no half-made venv behind
    echo "setup-venv: 'python3 -m venv' failed; install python3-venv (apt-get install python3-venv)" >&2
    exit 1
  fi
fi
echo "setup-venv: installing $want into $dir"
"$dir/bin/python" -m pip install -q --disable-pip-version-check \
  "jax[cpu]==$jax_version" "numpy==$numpy_version" \
  "safetensors==$safetensors_version" "pillow==$pillow_version"
"$dir/bin/python" -c "$check" $want || { echo "setup-venv: $dir lacks $want after pip" >&2; exit 1; }
echo "setup-venv: done"
