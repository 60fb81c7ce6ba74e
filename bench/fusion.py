#!/usr/bin/env python3
"""What the fusion passes buy on the CPU: for each model, compiles it with
and without fusion (`rnc compile` and `rnc compile --no-fusion`) in the same
run and prints, per variant, the kernel calls per training step, the planned
training workspace (activation memory; `--no-memory-plan` is not used, so
both variants get the same planner) and the median training-step time on one
fixed random batch through the C ABI (python/rnc_py/abi.py). Variants run
alternately, window by window, so a change in machine load hits both.

Usage: bench/fusion.py [--models d2l_resnet18:1x96x96:32,resnet50:3x224x224:8]
                       [--windows 5] [--steps 2]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.dirname(__file__))

from train_throughput import fixed_batch, machine_info  # noqa: E402

DEFAULT = "d2l_resnet18:1x96x96:32,resnet50:3x224x224:8"


def compile_variant(rnc, model, shape, batch, fused, out_dir):
    so = os.path.join(out_dir, f"{model}-{shape}-{'fused' if fused else 'unfused'}.so")
    cmd = [rnc, "compile", model, "--input", shape, "--max-batch", str(batch), "-o", so]
    if not fused:
        cmd.append("--no-fusion")
    print("$ " + " ".join(cmd), flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"bench/fusion.py: {r.stderr.strip().splitlines()[-1]}")
    kernels = int(re.search(r"(\d+) kernel calls per training step", r.stderr).group(1))
    mb = float(re.search(r"training workspace ([\d.]+) MB", r.stderr).group(1))
    return so, kernels, mb


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=DEFAULT, help="name:CxHxW:batch,...")
    ap.add_argument("--rnc", default=os.path.join(ROOT, "build/bin/rnc"))
    ap.add_argument("--windows", type=int, default=5)
    ap.add_argument("--steps", type=int, default=2)
    args = ap.parse_args()
    from rnc_py import abi

    print(f"machine: {machine_info()}")
    print(f"command: bench/fusion.py {' '.join(sys.argv[1:])}".rstrip())
    rows = []
    with tempfile.TemporaryDirectory(prefix="rnc-fusion-") as out_dir:
        for spec in args.models.split(","):
            model, shape, batch = spec.split(":")
            batch = int(batch)
            variants = {}
            for fused in (True, False):
                so, kernels, mb = compile_variant(args.rnc, model, shape, batch, fused, out_dir)
                m = abi.Model(so)
                m.init(0)
                variants[fused] = dict(model=m, kernels=kernels, mb=mb, times=[])
            x, y = fixed_batch(variants[True]["model"].input_shape,
                               variants[True]["model"].num_classes, batch)
            for v in variants.values():  # warm-up: page in the workspace
                v["model"].train_step(x, y, 0.01, 0.9, 5e-4)
            for _ in range(args.windows):
                for v in variants.values():
                    t0 = time.perf_counter()
                    for _ in range(args.steps):
                        v["model"].train_step(x, y, 0.01, 0.9, 5e-4)
                    v["times"].append((time.perf_counter() - t0) / args.steps)
            for fused, v in variants.items():
                v["ms"] = 1000 * statistics.median(v["times"])
                v["model"].close()
            f, u = variants[True], variants[False]
            rows.append((f"{model} {shape} batch {batch}", u, f))
            print(f"  {model}: fused {f['ms']:.0f} ms/step, unfused {u['ms']:.0f} ms/step",
                  flush=True)

    print()
    print("| model | kernels/step (no fusion -> fusion) | training workspace MB | step ms | speed-up |")
    print("|---|---|---|---|---|")
    for name, u, f in rows:
        print(f"| {name} | {u['kernels']} -> {f['kernels']} | {u['mb']:.0f} -> {f['mb']:.0f} "
              f"| {u['ms']:.0f} -> {f['ms']:.0f} | {u['ms'] / f['ms']:.2f}x |")


if __name__ == "__main__":
    main()
