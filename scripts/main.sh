#!/usr/bin/env bash
# The main job: install what is missing, build, and summarize ResNet-50 and
# ResNet-18 (torchvision-equivalent specs from models/).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
"$root/build/bin/rnc" summary "$root/models/resnet50.json" --depth 2
"$root/build/bin/rnc" summary "$root/models/resnet18.json"
