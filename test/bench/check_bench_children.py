#!/usr/bin/env python3
"""The rnc side of the benchmark scripts, run here on a small cpu model.

bench/gpu_train.py and bench/train_throughput.py run each side in a child
process (`--child rnc`) that trains through the C ABI (python/rnc_py/abi.py)
and prints one JSON line. Their other sides need PyTorch, and gpu_train.py a
GPU, neither of which the test machine has; the rnc child needs neither, so
this runs it on the cpu target and checks that it trained: status "ok", a
positive rate per window and, for gpu_train.py, a finite loss and timed
steps that went through rnc_set_dataset / rnc_train_step_indexed with the
host path beside them. A change to a shared helper that breaks a child (as
gpu_train.py broke when timed() learned --cpu-time) fails here instead of
on a lent GPU.

  check_bench_children.py --rnc build/bin/rnc --out-dir DIR
"""
import argparse
import json
import math
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def child(script, args):
    cmd = [sys.executable, os.path.join(ROOT, "bench", script)] + args
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    lines = p.stdout.strip().splitlines()
    if p.returncode != 0 or not lines:
        sys.exit(f"{script}: exit {p.returncode}\n{p.stdout}\n{p.stderr}")
    return json.loads(lines[-1]), p.stderr


def check(name, r, stderr, loss=True):
    if r.get("status", "ok") != "ok":  # train_throughput.py reports none
        sys.exit(f"{name}: status {r.get('status')}: {r.get('error')}\n{stderr}")
    rates = r.get("rates", [])
    if not rates or not all(v > 0 for v in rates):
        sys.exit(f"{name}: rates {rates}")
    if loss and not math.isfinite(r.get("loss", float("nan"))):
        sys.exit(f"{name}: loss {r.get('loss')}")
    print(f"{name}: ok, {len(rates)} windows, {rates[0]:.1f} images/s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rnc", required=True)
    ap.add_argument("--out-dir", required=True)
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    so = os.path.join(args.out_dir, "tiny-b8.so")
    subprocess.run([args.rnc, "compile", "tiny", "--max-batch", "8", "-o", so],
                   check=True, capture_output=True, timeout=600)
    common = ["--child", "rnc", "--so", so, "--batch", "8", "--warmup", "1",
              "--windows", "2", "--steps", "2"]

    r, err = child("gpu_train.py", common + ["--device", "cpu", "--model", "tiny",
                                             "--input", "1x12x12", "--precision", "fp32"])
    check("gpu_train.py --child rnc", r, err)
    note = r.get("note", "")
    if "rnc_train_step_indexed" not in note or not r.get("host_copy_rates"):
        sys.exit(f"gpu_train.py: the timed steps did not go through the dataset "
                 f"in the model: note {note!r}, host rates {r.get('host_copy_rates')}")

    r, err = child("train_throughput.py", common)
    check("train_throughput.py --child rnc", r, err, loss=False)


if __name__ == "__main__":
    main()
