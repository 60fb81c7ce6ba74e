#!/usr/bin/env python3
"""Packs a stand-in for gpu-bin/bundle.tar.xz (scripts/gpu-bundle.sh) into
DIR/bundle.tar.xz for the dry run of scripts/gpu-check.sh: the layout of the
real one, with each CUDA test program a script that says SKIPPED (exit 77) as
the real ones do without a GPU, and no model files (the check scripts say
SKIPPED before they look for them). Usage: fake_gpu_bundle.py DIR"""
import io
import os
import sys
import tarfile

SKIP = b"#!/bin/sh\necho 'SKIPPED: no CUDA GPU (fake bundle)'\nexit 77\n"


def add(tar, name, data, mode=0o755):
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


os.makedirs(sys.argv[1], exist_ok=True)
with tarfile.open(os.path.join(sys.argv[1], "bundle.tar.xz"), "w:xz") as tar:
    for p in ("fp32", "tf32", "bf16"):
        add(tar, f"./bin/kernels-test-{p}", SKIP)
    add(tar, "./bin/rnc-run", SKIP)
    add(tar, "./bin/nccl-plugin-tests", SKIP)
    add(tar, "./bin/nccl-pair", SKIP)
    add(tar, "./MANIFEST", b"rnc GPU bundle (fake, for the dry run)\n", 0o644)
