#!/usr/bin/env bash
# Installs the Debian packages rnc needs to build, run and test, skipping
# apt entirely when everything is already there. Usage: scripts/install-deps.sh
set -euo pipefail

packages=(
  build-essential cmake ninja-build git python3 python3-venv python3-pip
  llvm-19-dev libmlir-19-dev mlir-19-tools llvm-19-tools
  nlohmann-json3-dev libfmt-dev libcli11-dev libgtest-dev zlib1g-dev libpng-dev
  libjpeg62-turbo-dev           # JPEG decoding (libjpeg-turbo) for image folders
  libssl-dev                    # SHA-256 of the model .so integrity record (libcrypto)
  clang-19 libclang-rt-19-dev   # libFuzzer for the spec fuzz target
  dataset-fashion-mnist         # training data (/usr/share/datasets/fashion-mnist)
  openmpi-bin libopenmpi-dev    # data-parallel training under mpirun (docs/distributed.md)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} Debian packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
