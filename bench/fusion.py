#!/usr/bin/env python3
"""What the fusion passes buy: for each model, compiles it with and without
fusion (`rnc compile` and `rnc compile --no-fusion`) in the same run and
prints, per variant, the kernel calls per training step, the planned
training workspace (activation memory; `--no-memory-plan` is not used, so
both variants get the same planner) and the median training-step time on one
fixed random batch through the C ABI (python/rnc_py/abi.py), the batch kept
in the model (rnc_set_dataset: on a GPU no image crosses the bus). Variants
run alternately, window by window, so a change in machine load hits both.

Usage: bench/fusion.py [--models d2l_resnet18:1x96x96:32,resnet50:3x224x224:8]
                       [--windows 5] [--steps 2] [--target cuda [--precision P]]
On a GPU machine without LLVM (the lent one): `--compile-only --out-dir DIR`
here (the .so files and rnc's compile messages, `<so>.log`), then
`--so-dir DIR` there with the same --models, --target and --precision.
With --target cuda and no GPU it prints SKIPPED and exits 77.
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


def variant_so(args, model, shape, batch, fused, out_dir):
    """The .so of one variant and rnc's compile messages about it: compiled
    into out_dir (the messages saved beside it as <so>.log), or with
    --so-dir taken from there, compiled earlier by --compile-only."""
    name = (f"{model}-{shape}-b{batch}-{args.target}-{args.precision or 'default'}-"
            f"{'fused' if fused else 'unfused'}.so")
    so = os.path.join(args.so_dir or out_dir, name)
    if args.so_dir:
        try:
            with open(so + ".log") as f:
                messages = f.read()
        except OSError as e:
            sys.exit(f"bench/fusion.py: {so}.log: {e.strerror} (make it with --compile-only)")
    else:
        cmd = [args.rnc, "compile", model, "--input", shape, "--max-batch", str(batch),
               "--target", args.target, "-o", so]
        if args.precision:
            cmd += ["--precision", args.precision]
        if not fused:
            cmd.append("--no-fusion")
        cmd += args.compile_arg
        print("$ " + " ".join(cmd), flush=True)
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"bench/fusion.py: {r.stderr.strip().splitlines()[-1]}")
        messages = r.stderr
        with open(so + ".log", "w") as f:
            f.write(messages)
    kernels = int(re.search(r"(\d+) kernel calls per training step", messages).group(1))
    mb = float(re.search(r"training workspace ([\d.]+) MB", messages).group(1))
    return so, kernels, mb


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=DEFAULT, help="name:CxHxW:batch,...")
    ap.add_argument("--rnc", default=os.path.join(ROOT, "build/bin/rnc"))
    ap.add_argument("--windows", type=int, default=5)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--target", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--precision", choices=("fp32", "tf32", "bf16"),
                    help="rnc compile --precision (default: the target's)")
    ap.add_argument("--compile-only", action="store_true",
                    help="only compile both variants into --out-dir")
    ap.add_argument("--out-dir", help="where --compile-only puts the .so files")
    ap.add_argument("--so-dir", help="take the .so files --compile-only made there")
    ap.add_argument("--compile-arg", action="append", default=[],
                    help="passed on to rnc compile (e.g. --compile-arg=--cuda-arch "
                         "--compile-arg=90a); not part of the file names")
    args = ap.parse_args()

    if args.compile_only:
        if not args.out_dir:
            sys.exit("bench/fusion.py: --compile-only needs --out-dir")
        os.makedirs(args.out_dir, exist_ok=True)
        for spec in args.models.split(","):
            model, shape, batch = spec.split(":")
            for fused in (True, False):
                variant_so(args, model, shape, int(batch), fused, args.out_dir)
        return 0
    if args.target == "cuda":
        from rnc_py.gpu import gpu_reason
        why = gpu_reason()
        if why:
            print(f"SKIPPED: no CUDA GPU ({why})")
            return 77
    import numpy as np  # with abi: not needed to compile, nor to skip
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
                so, kernels, mb = variant_so(args, model, shape, batch, fused, out_dir)
                m = abi.Model(so)
                m.init(0)
                variants[fused] = dict(model=m, kernels=kernels, mb=mb, times=[])
            x, y = fixed_batch(variants[True]["model"].input_shape,
                               variants[True]["model"].num_classes, batch)
            for v in variants.values():
                m = v["model"]
                if m.has_dataset:  # the batch kept in the model
                    m.set_dataset(x, y)
                    index = np.arange(batch, dtype=np.int32)  # converted once
                    v["step"] = lambda m=m, index=index: m.train_step_indexed(
                        index, 0.01, 0.9, 5e-4)
                else:  # a model compiled before rnc_set_dataset
                    v["step"] = lambda m=m: m.train_step(x, y, 0.01, 0.9, 5e-4)
                v["step"]()  # warm-up: page in the workspace (capture the graph)
            for _ in range(args.windows):
                for v in variants.values():
                    t0 = time.perf_counter()
                    for _ in range(args.steps):
                        v["step"]()  # returns the loss: the step has ended
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
    sys.exit(main())
